//! A router from a closure.

use std::fmt;

use super::Router;
use crate::{Error, Result, RoutingKey, ShardId};

/// A router from a closure: given the key and the pool's shards, return the owning
/// shard's id, or `None` when no shard owns the key (reported as
/// [`Error::NoShardForKey`]).
///
/// ```
/// use sharding_core::{FnRouter, Router, RoutingKey, ShardId};
///
/// // Text keys by their first letter: a-m on the first shard, the rest on the second.
/// let router = FnRouter::new(|key: RoutingKey<'_>, shards: &[ShardId]| match key {
///     RoutingKey::Text(s) if s < "n" => Some(shards[0].clone()),
///     RoutingKey::Text(_) => Some(shards[1].clone()),
///     _ => None,
/// });
/// let shards = [ShardId::from("a-m"), ShardId::from("n-z")];
/// assert_eq!(router.route(RoutingKey::Text("kiwi"), &shards)?, "a-m");
/// assert!(router.route(RoutingKey::Int(1), &shards).is_err());
/// # Ok::<(), sharding_core::Error>(())
/// ```
pub struct FnRouter<F> {
    route: F,
}

impl<F> FnRouter<F>
where
    F: Fn(RoutingKey<'_>, &[ShardId]) -> Option<ShardId> + Send + Sync + 'static,
{
    /// Wraps the closure.
    pub fn new(route: F) -> Self {
        FnRouter { route }
    }
}

impl<F> fmt::Debug for FnRouter<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnRouter")
    }
}

impl<F> Router for FnRouter<F>
where
    F: Fn(RoutingKey<'_>, &[ShardId]) -> Option<ShardId> + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        "closure"
    }

    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        (self.route)(key, shards).ok_or_else(|| Error::NoShardForKey {
            router: "closure",
            key: key.to_string(),
            hint: "the routing closure returned None for it".to_owned(),
        })
    }
}
