//! [`error_chain`]: an error and its causes on one line.

/// `error` and its causes (its [`source`](std::error::Error::source) chain), joined by
/// `: `: the whole story on one line, for a log or a command-line message. This crate's
/// errors keep their cause out of their own `Display`, as Rust's convention wants.
///
/// ```
/// use sharding_core::Error;
/// use sharding_core::error::error_chain;
///
/// let err = Error::Query { shard: "s0".into(), source: diesel::result::Error::NotFound };
/// assert_eq!(err.to_string(), "query on shard `s0` failed");
/// assert_eq!(error_chain(&err), "query on shard `s0` failed: Record not found");
/// ```
///
/// A cause whose text its error already printed (errors of other crates often do both)
/// is not printed again.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
