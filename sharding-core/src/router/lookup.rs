//! An explicit key → shard map.

use std::collections::HashMap;

use super::{check_named_shards, Router};
use crate::key::OwnedKey;
use crate::{Error, Result, RoutingKey, ShardId};

/// Routes by an explicit map from keys to shards, with an optional default for keys not
/// in the map. Without a default, an unmapped key fails with [`Error::NoShardForKey`].
///
/// Handy for tenants placed by hand (a big customer on its own shard).
///
/// ```
/// use sharding_core::{LookupRouter, Router, RoutingKey, ShardId};
///
/// let router = LookupRouter::new()
///     .key(42_i64, "big")
///     .key("acme", "big")
///     .default_shard("rest");
/// let shards: Vec<ShardId> = ["big", "rest"].into_iter().map(ShardId::from).collect();
/// assert_eq!(router.route(RoutingKey::Int(42), &shards)?, "big");
/// assert_eq!(router.route(RoutingKey::Text("acme"), &shards)?, "big");
/// assert_eq!(router.route(RoutingKey::Int(7), &shards)?, "rest");
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct LookupRouter {
    map: HashMap<OwnedKey, ShardId>,
    default: Option<ShardId>,
}

impl LookupRouter {
    /// Creates an empty map with no default.
    pub fn new() -> Self {
        LookupRouter::default()
    }

    /// Sends `key` to `shard`. A later call for the same key replaces the earlier one.
    pub fn key(mut self, key: impl Into<OwnedKey>, shard: impl Into<ShardId>) -> Self {
        self.map.insert(key.into(), shard.into());
        self
    }

    /// Sends every key not in the map to `shard`. Defaults to none: unmapped keys fail.
    pub fn default_shard(mut self, shard: impl Into<ShardId>) -> Self {
        self.default = Some(shard.into());
        self
    }
}

impl Router for LookupRouter {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn route(&self, key: RoutingKey<'_>, _shards: &[ShardId]) -> Result<ShardId> {
        self.map
            .get(&key.to_owned_key())
            .or(self.default.as_ref())
            .cloned()
            .ok_or_else(|| Error::NoShardForKey {
                router: self.name(),
                key: key.to_string(),
                hint: "map it with `LookupRouter::key`, or set a `default_shard`".to_owned(),
            })
    }

    fn validate(&self, shards: &[ShardId]) -> Result<()> {
        check_named_shards("lookup", self.map.values().chain(&self.default), shards)
    }

    /// `listed` or `not listed: the default shard`.
    fn explain(&self, key: RoutingKey<'_>, _shards: &[ShardId]) -> Option<String> {
        if self.map.contains_key(&key.to_owned_key()) {
            Some("listed".to_owned())
        } else {
            self.default
                .as_ref()
                .map(|_| "not listed: the default shard".to_owned())
        }
    }
}
