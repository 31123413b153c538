//! Keeping secrets out of messages: every text that may hold a database URL, or an error
//! a driver wrote about one, goes through a [`Redactor`] before it reaches an error,
//! `Debug` output or a log line.
//!
//! A secret is found by shape, not by trusting the URL to be well formed: the userinfo
//! password of anything URL-like (`scheme://user:secret@host`, `scheme:/user:secret@…`,
//! `user:secret@host`), a `password=` keyword or query parameter (libpq's
//! `host=… password=secret`, `…?password=secret`), and any value the caller declares
//! secret (such as one substituted from an environment variable). Each secret is
//! replaced by `***` as given, percent-encoded and percent-decoded.

use std::fmt;

/// What replaces a secret.
const MASK: &str = "***";

/// The secrets of some URLs, and a way to mask them in any text.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for the secrets of `url`.
    pub(crate) fn for_url(url: &str) -> Redactor {
        let mut redactor = Redactor::default();
        redactor.add_url(url);
        redactor
    }

    /// Adds the secrets of `url`.
    pub(crate) fn add_url(&mut self, url: &str) {
        for secret in secrets_in(url) {
            self.add_secret(secret);
        }
    }

    /// Adds `value` itself as a secret (and its encoded and decoded forms).
    pub(crate) fn add_secret(&mut self, value: &str) {
        if value.is_empty() || value == MASK {
            return;
        }
        for form in [
            value.to_owned(),
            percent_encode_userinfo(value),
            percent_decode(value),
        ] {
            if !form.is_empty() && !self.secrets.contains(&form) {
                self.secrets.push(form);
            }
        }
        // Longest first, so that a secret containing another is masked whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Adds every secret of `other`.
    pub(crate) fn extend(&mut self, other: &Redactor) {
        for secret in &other.secrets {
            self.add_secret(secret);
        }
    }

    /// `text` with every secret masked, and the passwords of any URL-like part of it too.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        let found: Vec<String> = secrets_in(&out)
            .into_iter()
            .filter(|s| *s != MASK)
            .map(str::to_owned)
            .collect();
        for secret in found {
            out = out.replace(&secret, MASK);
        }
        out
    }

    /// An error whose message is `error`'s (and its sources'), redacted.
    pub(crate) fn error(&self, error: &dyn std::error::Error) -> RedactedError {
        RedactedError(self.redact(&crate::error::error_chain(error)))
    }
}

/// An error from a lower layer (the pool, the driver), its message redacted of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedError(String);

impl RedactedError {
    /// The redacted message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedactedError {}

/// The secrets visible in `text`, found by shape (see the module docs).
fn secrets_in(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    // `password=value` as a keyword (libpq) or a query parameter.
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("password") {
        let start = from + at + "password".len();
        from = start;
        let rest = text[start..].trim_start();
        let Some(value) = rest.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let value = if let Some(quoted) = value.strip_prefix('\'') {
            quoted.split('\'').next().unwrap_or("")
        } else {
            value
                .split(|c: char| c.is_whitespace() || c == '&' || c == '"' || c == ';')
                .next()
                .unwrap_or("")
        };
        if !value.is_empty() {
            found.push(value);
        }
    }
    // `user:secret@host` in any word that has an `@`: the secret runs from the first `:`
    // after any `scheme:` and slashes to the last `@` of the word.
    for word in text
        .split(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '<' | '>' | '(' | ')'))
    {
        let Some(last_at) = word.rfind('@') else {
            continue;
        };
        let userinfo = &word[..last_at];
        let userinfo = strip_scheme(userinfo);
        if let Some((_user, secret)) = userinfo.split_once(':') {
            if !secret.is_empty() {
                found.push(secret);
            }
        }
    }
    found
}

/// `text` without a leading `scheme:` and the slashes after it.
fn strip_scheme(text: &str) -> &str {
    let scheme_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(0);
    let rest = &text[scheme_len..];
    // A scheme is letters followed by `:` and at least one `/`; `user:pw` is not one.
    match rest.strip_prefix(':') {
        Some(after) if scheme_len > 0 && after.starts_with('/') => after.trim_start_matches('/'),
        _ if scheme_len > 0 && rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => text,
    }
}

/// `value` percent-encoded for the userinfo of a URL: everything but unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
pub(crate) fn percent_encode_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `value` with `%XX` sequences decoded (invalid ones kept as they are).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "S3cr3t";

    #[test]
    fn finds_passwords_in_every_shape() {
        for text in [
            "postgres://u:S3cr3t@127.0.0.1:1/db",
            "postgres:/u:S3cr3t@127.0.0.1:1/db",
            "postgres//u:S3cr3t@127.0.0.1/db",
            "u:S3cr3t@host/db",
            "mysql:/root:S3cr3t@h/db",
            "host=127.0.0.1 password=S3cr3t dbname=x",
            "host=h password = 'S3cr3t' user=u",
            "postgres://h/db?user=u&password=S3cr3t&sslmode=off",
            "error near \"u:S3cr3t@h\"",
        ] {
            let out = Redactor::default().redact(text);
            assert!(!out.contains(SECRET), "{text} -> {out}");
        }
    }

    #[test]
    fn masks_declared_secrets_in_all_their_forms() {
        let mut r = Redactor::default();
        r.add_secret("p@ss/w#rd%");
        assert_eq!(r.redact("a p@ss/w#rd% b"), "a *** b");
        assert_eq!(r.redact("a p%40ss%2Fw%23rd%25 b"), "a *** b");
        let r = Redactor::for_url("mysql://root:p%40ss@h/db");
        assert_eq!(r.redact("bad p@ss here"), "bad *** here");
    }

    #[test]
    fn leaves_plain_text_alone() {
        let r = Redactor::default();
        assert_eq!(r.redact("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(r.redact("shard `s0` timed out"), "shard `s0` timed out");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_encode_userinfo("a@b"), "a%40b");
    }
}
