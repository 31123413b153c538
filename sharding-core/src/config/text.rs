//! Where things are in a file's text, and what in it is secret.

/// A redactor for every URL-like secret in a file's text.
pub(super) fn redactor_for_text(text: &str) -> crate::redact::Redactor {
    let mut redactor = crate::redact::Redactor::default();
    for token in text.split(['"', '\'', '\n']) {
        redactor.add_url(token);
    }
    redactor
}

/// The key assigned on 1-based `line` (`url` for `url = 7`), or nothing.
pub(super) fn key_on_line(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| key.trim().to_owned())
        .filter(|key| !key.is_empty() && !key.starts_with('['))
        .unwrap_or_default()
}

/// 1-based line and column of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}
