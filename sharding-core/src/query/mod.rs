//! Routed queries: Diesel queries that know which shard(s) to run on.
//!
//! * [`KeyRoutingDsl::for_key`] adds `WHERE key_column = key` and runs on the key's shard;
//! * [`KeyRoutingDsl::for_keys`] runs on each shard with only that shard's keys;
//! * [`ShardPinDsl::set_shard`] runs any query on the shard you name;
//! * [`ShardPinDsl::all_shards`] runs any query on every shard, in parallel, with its
//!   results merged (see [`FanOut`](crate::FanOut)).
//!
//! The wrappers keep Diesel's query builder: `.filter()`, `.order()`, `.limit()`,
//! `.select()`, `.count()`… still work after routing.

mod explain;
mod forward;
pub(crate) use forward::forward_query_dsl;
mod multi;
mod routed;
pub(crate) mod target;

pub use explain::RouteExplanation;
pub use multi::MultiRouted;
pub use routed::{
    KeyColumnOf, KeyEq, KeyRoutingDsl, Routed, ShardPinDsl, StatementKeyColumn, StatementRoutingDsl,
};

use diesel::dsl::{Eq, EqAny};
use diesel::expression::AsExpression;
use diesel::sql_types::{SingleValue, SqlType};
use diesel::ExpressionMethods;

/// Builds `column = key` and `column IN (keys)` for routed queries. Implemented for every
/// column whose SQL type the key converts to (that is where a key of the wrong type is
/// refused at compile time); you never implement it.
pub trait KeyPredicates<K>: Sized {
    /// `column = key`.
    type Eq;
    /// `column IN (keys)`.
    type In;

    /// `self = key`.
    fn key_eq(self, key: K) -> Self::Eq;

    /// `self IN (keys)`.
    fn key_in(self, keys: Vec<K>) -> Self::In;
}

impl<Col, K> KeyPredicates<K> for Col
where
    Col: ExpressionMethods,
    Col::SqlType: SqlType + SingleValue,
    K: AsExpression<Col::SqlType>,
{
    type Eq = Eq<Col, K>;
    type In = EqAny<Col, Vec<K>>;

    fn key_eq(self, key: K) -> Self::Eq {
        self.eq(key)
    }

    fn key_in(self, keys: Vec<K>) -> Self::In {
        self.eq_any(keys)
    }
}
