//! Routers: which shard owns a key.
//!
//! | router | keys | when to use it |
//! |---|---|---|
//! | [`HashRouter`] (default) | all | even spread, no configuration; adding a shard at the end moves few keys |
//! | [`ModuloRouter`] | all | `key % shards`, to match an existing layout |
//! | [`RangeRouter`] | integers | key ranges you choose (tenants 0..1000 on `s0`, …) |
//! | [`LookupRouter`] | all | an explicit key → shard map with a default |
//! | [`FnRouter`] | all | any rule of your own |

mod func;
mod hash;
mod lookup;
mod modulo;
mod pg_hash;
mod range;

use std::fmt;
use std::sync::Arc;

pub use func::FnRouter;
pub use hash::{stable_hash, HashRouter};
pub use lookup::LookupRouter;
pub use modulo::ModuloRouter;
pub use pg_hash::PgHashRouter;
pub use range::RangeRouter;

use crate::{Error, Result, RoutingKey, ShardId};

/// Decides which shard owns a key.
///
/// A router is given the pool's shards in the order they were added to the builder, and
/// returns the id of the owning shard. The pool checks the id: a router that returns a
/// shard the pool does not have yields [`Error::RoutedToUnknownShard`].
///
/// ```
/// use sharding_core::{Error, Router, RoutingKey, ShardId};
///
/// /// Even keys on the first shard, odd keys on the last.
/// #[derive(Debug)]
/// struct Parity;
///
/// impl Router for Parity {
///     fn name(&self) -> &'static str { "parity" }
///     fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId, Error> {
///         match key {
///             RoutingKey::Int(i) if i % 2 == 0 => Ok(shards[0].clone()),
///             RoutingKey::Int(_) => Ok(shards[shards.len() - 1].clone()),
///             other => Err(Error::UnsupportedKey {
///                 router: "parity", kind: other.kind(), hint: "use integer keys",
///             }),
///         }
///     }
/// }
///
/// let shards = [ShardId::from("a"), ShardId::from("b")];
/// assert_eq!(Parity.route(RoutingKey::Int(3), &shards)?, "b");
/// # Ok::<(), Error>(())
/// ```
pub trait Router: Send + Sync + fmt::Debug + 'static {
    /// A short name for error messages, such as `"hash"`.
    fn name(&self) -> &'static str;

    /// The shard that owns `key`. `shards` is never empty.
    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId>;

    /// Checks the router against the pool's shards when the pool is built, so that a
    /// misconfigured router fails at start-up rather than on the first query.
    /// The default accepts everything.
    fn validate(&self, shards: &[ShardId]) -> Result<()> {
        let _ = shards;
        Ok(())
    }

    /// An optional fast path for routers that compute a position rather than a name
    /// (hash, modulo): the owning shard's index in `shards`, which must agree with
    /// [`route`](Self::route). The default, `None`, makes the pool call `route`.
    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        let _ = (key, shards);
        None
    }

    /// How the router places `key` among `shards`, in words (the hash and the bucket, the
    /// range, the map entry), for [`RouteExplanation`](crate::query::RouteExplanation)s and the
    /// command-line tool's `route`. The default, `None`, explains nothing beyond the
    /// shard chosen.
    ///
    /// ```
    /// use sharding_core::{ModuloRouter, Router, RoutingKey, ShardId};
    ///
    /// let shards = ["a", "b", "c"].map(ShardId::from);
    /// let why = ModuloRouter::new().explain(RoutingKey::Int(7), &shards);
    /// assert_eq!(why.as_deref(), Some("7 mod 3 = 1"));
    /// ```
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        let _ = (key, shards);
        None
    }
}

impl<R: Router + ?Sized> Router for Box<R> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        (**self).route_position(key, shards)
    }
    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        (**self).route(key, shards)
    }
    fn validate(&self, shards: &[ShardId]) -> Result<()> {
        (**self).validate(shards)
    }
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        (**self).explain(key, shards)
    }
}

impl<R: Router + ?Sized> Router for Arc<R> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        (**self).route_position(key, shards)
    }
    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        (**self).route(key, shards)
    }
    fn validate(&self, shards: &[ShardId]) -> Result<()> {
        (**self).validate(shards)
    }
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        (**self).explain(key, shards)
    }
}

/// Checks that every shard a router names is one of the pool's shards.
fn check_named_shards<'a>(
    router: &'static str,
    named: impl IntoIterator<Item = &'a ShardId>,
    shards: &[ShardId],
) -> Result<()> {
    for id in named {
        if !shards.contains(id) {
            return Err(Error::InvalidRouter {
                router,
                reason: format!(
                    "it names shard `{id}`, which this pool does not have (shards: [{}])",
                    crate::shard_id::list_ids(shards)
                ),
            });
        }
    }
    Ok(())
}
