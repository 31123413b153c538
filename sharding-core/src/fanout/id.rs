//! Get by id when the shard is unknown (SQLAlchemy's `id_chooser`).

use std::fmt;

use diesel::dsl::Find;
use diesel::query_dsl::methods::FindDsl;

use super::FanOut;
use crate::query::target::Target;
use crate::{Result, Router, RoutingKey, ShardId, ShardKey, ShardedTable};

/// Narrows the shards that may hold a row, given only its id: used by
/// [`find_anywhere`](FindAnywhereDsl::find_anywhere). Set one with
/// [`ShardedPoolBuilder::id_chooser`](crate::ShardedPoolBuilder::id_chooser).
///
/// Every [`Router`] is an id chooser that names one shard: a [`RangeRouter`] for id
/// ranges per shard, a [`LookupRouter`] for a directory, an [`FnRouter`] for ids that
/// encode their shard. The default, [`AllCandidates`], asks every shard.
///
/// [`RangeRouter`]: crate::RangeRouter
/// [`LookupRouter`]: crate::LookupRouter
/// [`FnRouter`]: crate::FnRouter
///
/// ```
/// use sharding_core::{RangeRouter, RoutingKey, ShardId};
/// use sharding_core::fanout::{AllCandidates, IdChooser};
///
/// let shards: Vec<ShardId> = ["s0", "s1"].into_iter().map(ShardId::from).collect();
/// assert_eq!(AllCandidates.candidates(RoutingKey::Int(7), &shards)?, shards);
/// let by_range = RangeRouter::new().range(0..1_000, "s0").range(1_000.., "s1");
/// assert_eq!(by_range.candidates(RoutingKey::Int(1_500), &shards)?, vec![ShardId::from("s1")]);
/// # Ok::<(), sharding_core::Error>(())
/// ```
pub trait IdChooser: Send + Sync + fmt::Debug + 'static {
    /// The shards that may hold the row with this id.
    fn candidates(&self, id: RoutingKey<'_>, shards: &[ShardId]) -> Result<Vec<ShardId>>;
}

/// The default id chooser: any shard may hold any id.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllCandidates;

impl IdChooser for AllCandidates {
    fn candidates(&self, _id: RoutingKey<'_>, shards: &[ShardId]) -> Result<Vec<ShardId>> {
        Ok(shards.to_vec())
    }
}

impl<R: Router> IdChooser for R {
    fn candidates(&self, id: RoutingKey<'_>, shards: &[ShardId]) -> Result<Vec<ShardId>> {
        Ok(vec![self.route(id, shards)?])
    }
}

/// Looks a row up by primary key on every shard that may hold it.
///
/// ```
/// # use diesel::prelude::*;
/// use sharding_core::FindAnywhereDsl;
/// # diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
/// # impl sharding_core::ShardedTable for orders::table {
/// #     type KeyColumn = orders::customer_id;
/// #     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// # }
/// let lookup = orders::table.find_anywhere(42_i64);
/// // lookup.get_unique::<i64>(&pool)? runs `WHERE id = 42` on the candidate shards
/// // in parallel and fails if two shards hold the id.
/// ```
pub trait FindAnywhereDsl: ShardedTable + Sized {
    /// `table.find(id)`, to run on the shards that may hold `id`: for a table whose ids
    /// encode their shard (`#[sharded(encoded_id)]`), the one shard the id names (per the
    /// pool's [`encoded_ids`](crate::ShardedPoolBuilder::encoded_ids) layout); otherwise
    /// those the pool's [`IdChooser`] names (all shards by default). Finish with
    /// [`FanOut::get_unique`].
    fn find_anywhere<Id>(self, id: Id) -> FanOut<Find<Self, Id>>
    where
        Id: ShardKey,
        Self: FindDsl<Id>,
    {
        let target = Target::id(&id, Self::ENCODED_ID);
        FanOut::with_target(self.find(id), target)
    }
}

impl<T: ShardedTable> FindAnywhereDsl for T {}
