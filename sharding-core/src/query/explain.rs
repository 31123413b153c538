//! [`RouteExplanation`]: which shards a query will run on, and why, without running it.

use std::fmt;

use super::target::Target;
use crate::{Result, RoutingKey, ShardBackend, ShardId, ShardKey, ShardedPool};

/// Which shards a routed or fanned-out query will run on, and why, worked out without
/// running any SQL: made by `explain_route` on [`Routed`](crate::Routed),
/// [`FanOut`](crate::FanOut) and [`MultiRouted`](crate::query::MultiRouted). Its `Display` is
/// one line, such as `key 42 (integer) -> hash router (stable hash 0x…, jump hash over 4
/// buckets = 3) -> position 3 of 4 -> shard s3` (the router's part from
/// [`Router::explain`](crate::Router::explain)).
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::{KeyRoutingDsl, ShardPinDsl, ShardedPool, ShardedTable};
///
/// diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
/// impl ShardedTable for orders::table {
///     type KeyColumn = orders::customer_id;
///     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
///     .build()?;
/// let keyed = orders::table.for_key(42_i64).explain_route(&pool)?;
/// assert_eq!(keyed.shards, [pool.shard_for_key(&42_i64)?.clone()]);
/// assert!(keyed.to_string().starts_with("key 42 (integer) -> hash router"));
/// let everywhere = orders::table.all_shards().explain_route(&pool)?;
/// assert_eq!(everywhere.shards.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteExplanation {
    /// The shards the query will touch, in pool order.
    pub shards: Vec<ShardId>,
    /// Why, in words.
    pub reason: String,
}

impl RouteExplanation {
    /// The route of `key` to the shard at `index` of `pool`, by its router.
    pub(crate) fn for_key<Conn: ShardBackend>(
        pool: &ShardedPool<Conn>,
        key: RoutingKey<'_>,
        index: usize,
    ) -> Self {
        let shard = pool.id(index).clone();
        let how = pool
            .router()
            .explain(key, pool.shard_ids())
            .map(|how| format!(" ({how})"))
            .unwrap_or_default();
        RouteExplanation {
            reason: format!(
                "key {key} ({}) -> {} router{how} -> position {index} of {} -> shard {shard}",
                key.kind(),
                pool.router().name(),
                pool.shard_ids().len()
            ),
            shards: vec![shard],
        }
    }

    /// `indices` of `pool`, for `why`.
    pub(crate) fn shards<Conn: ShardBackend>(
        pool: &ShardedPool<Conn>,
        indices: &[usize],
        why: impl fmt::Display,
    ) -> Self {
        let shards: Vec<ShardId> = indices.iter().map(|i| pool.id(*i).clone()).collect();
        let names: Vec<&str> = shards.iter().map(ShardId::as_str).collect();
        RouteExplanation {
            reason: format!("{why} -> shards {}", names.join(", ")),
            shards,
        }
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// How `key` is routed: the router's working (hash and bucket, range, map entry), the
    /// position and the shard, without running SQL. What `explain_route` says of a query
    /// keyed by `key`, and what the command-line tool's `route` prints.
    ///
    /// ```
    /// use diesel::SqliteConnection;
    /// use sharding_core::{ModuloRouter, ShardedPool};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
    ///     .router(ModuloRouter::new())
    ///     .build_unchecked()?;
    /// assert_eq!(
    ///     pool.explain_key(&7_i64)?.to_string(),
    ///     "key 7 (integer) -> modulo router (7 mod 2 = 1) -> position 1 of 2 -> shard s1"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain_key<K: ShardKey + ?Sized>(&self, key: &K) -> Result<RouteExplanation> {
        Target::key(key).explain(self)
    }
}

impl fmt::Display for RouteExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}
