//! [`ShardFailure`]: one shard's error within a call on several shards.

use super::Error;
use crate::ShardId;

/// One shard's failure inside a multi-shard operation.
///
/// Its `Display` names the shard; [`source`](std::error::Error::source) is the
/// [`Error`] itself.
///
/// ```
/// use sharding_core::{Error, ShardFailure};
///
/// let failure = ShardFailure { shard: "s1".into(), error: Error::NoShards };
/// assert_eq!(failure.to_string(), "shard `s1` failed");
/// assert!(std::error::Error::source(&failure).is_some());
/// ```
#[derive(Debug)]
pub struct ShardFailure {
    /// The shard that failed.
    pub shard: ShardId,
    /// Why it failed.
    pub error: Error,
}

impl std::fmt::Display for ShardFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard `{}` failed", self.shard)
    }
}

impl std::error::Error for ShardFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
