//! [`ShardId`]: the name of one shard.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The name of one shard, such as `"s0"` or `"eu-1"`.
///
/// Cheap to clone (an `Arc<str>`), compared and hashed by its text. Ids are checked
/// when a pool is built: they must be 1 to 64 characters of ASCII letters, digits,
/// `_`, `-` or `.`.
///
/// ```
/// use sharding_core::ShardId;
///
/// let id = ShardId::from("s1");
/// assert_eq!(id.as_str(), "s1");
/// assert_eq!(id, "s1");
/// assert_eq!(id.to_string(), "s1");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(Arc<str>);

impl ShardId {
    /// The longest id a pool accepts, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Creates an id from any string. Validity is checked when the pool is built.
    ///
    /// ```
    /// # use sharding_core::ShardId;
    /// let id = ShardId::new(format!("s{}", 3));
    /// assert_eq!(id, "s3");
    /// ```
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        ShardId(id.into())
    }

    /// The id as text.
    ///
    /// ```
    /// # use sharding_core::ShardId;
    /// assert_eq!(ShardId::from("eu-1").as_str(), "eu-1");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this very id (a clone of it), not only an equal one.
    pub(crate) fn is(&self, other: &ShardId) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Why this id cannot name a shard, or `None` if it can.
    pub(crate) fn invalid_reason(&self) -> Option<&'static str> {
        if self.0.is_empty() {
            Some("a shard id must not be empty")
        } else if self.0.len() > Self::MAX_LEN {
            Some("a shard id must be at most 64 characters long")
        } else if !self
            .0
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            Some("a shard id may only hold ASCII letters, digits, `_`, `-` and `.`")
        } else {
            None
        }
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for ShardId {
    fn from(id: &str) -> Self {
        ShardId(id.into())
    }
}

impl From<String> for ShardId {
    fn from(id: String) -> Self {
        ShardId(id.into())
    }
}

impl From<&String> for ShardId {
    fn from(id: &String) -> Self {
        ShardId(id.as_str().into())
    }
}

impl From<&ShardId> for ShardId {
    fn from(id: &ShardId) -> Self {
        id.clone()
    }
}

impl AsRef<str> for ShardId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ShardId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ShardId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ShardId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// Formats shard ids as `` `a`, `b` `` for error messages.
pub(crate) fn list_ids(ids: &[ShardId]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ids() {
        assert!(ShardId::from("s0").invalid_reason().is_none());
        assert!(ShardId::from("eu-west_1.a").invalid_reason().is_none());
        assert!(ShardId::from("").invalid_reason().is_some());
        assert!(ShardId::from("a b").invalid_reason().is_some());
        assert!(ShardId::from("x; DROP TABLE t").invalid_reason().is_some());
        assert!(ShardId::new("a".repeat(65)).invalid_reason().is_some());
        assert!(ShardId::new("a".repeat(64)).invalid_reason().is_none());
    }
}
