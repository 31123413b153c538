//! `key % shards`.

use super::{stable_hash, Router};
use crate::{Result, RoutingKey, ShardId};

/// Routes integer key `k` to shard number `k mod n` (Euclidean, so negative keys work too),
/// counting shards in the order they were added; text and binary keys use
/// [`stable_hash`] `mod n`.
///
/// Use it to match a layout that already exists. Adding a shard moves almost every key:
/// prefer [`HashRouter`](crate::HashRouter) for new deployments.
///
/// ```
/// use sharding_core::{ModuloRouter, Router, RoutingKey, ShardId};
///
/// let shards: Vec<ShardId> = ["s0", "s1", "s2", "s3"].into_iter().map(ShardId::from).collect();
/// assert_eq!(ModuloRouter::new().route(RoutingKey::Int(42), &shards)?, "s2");
/// assert_eq!(ModuloRouter::new().route(RoutingKey::Int(-1), &shards)?, "s3");
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct ModuloRouter {
    _private: (),
}

impl ModuloRouter {
    /// Creates the router.
    pub fn new() -> Self {
        ModuloRouter { _private: () }
    }

    /// The index of the owning shard among `shard_count` shards.
    ///
    /// ```
    /// # use sharding_core::{ModuloRouter, RoutingKey};
    /// assert_eq!(ModuloRouter::new().bucket(RoutingKey::Int(10), 4), 2);
    /// ```
    pub fn bucket(&self, key: RoutingKey<'_>, shard_count: usize) -> usize {
        let n = shard_count.max(1);
        match key {
            RoutingKey::Int(i) => i.rem_euclid(n as i128) as usize,
            other => (stable_hash(other) % n as u64) as usize,
        }
    }
}

impl Router for ModuloRouter {
    fn name(&self) -> &'static str {
        "modulo"
    }

    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        Some(Ok(self.bucket(key, shards.len())))
    }

    /// `k mod n = b` for an integer; `stable hash 0x… mod n = b` otherwise.
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        let (n, bucket) = (shards.len(), self.bucket(key, shards.len()));
        Some(match key {
            RoutingKey::Int(i) => format!("{i} mod {n} = {bucket}"),
            other => format!(
                "stable hash {:#018x} mod {n} = {bucket}",
                stable_hash(other)
            ),
        })
    }

    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        shards
            .get(self.bucket(key, shards.len()))
            .cloned()
            .ok_or(crate::Error::NoShards)
    }
}
