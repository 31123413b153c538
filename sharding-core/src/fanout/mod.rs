//! Fan-out: one query on many shards, run in parallel, with its results merged.

pub(crate) mod exec;
mod id;
mod keyset;
pub(crate) mod limits;
mod merge;
mod ordered;
mod policy;
mod results;

use std::marker::PhantomData;
use std::time::Duration;

pub(crate) use exec::{run_prepared, Parallelism, PerShard, Prepared, RunOptions};
pub use id::{AllCandidates, FindAnywhereDsl, IdChooser};
pub use keyset::{
    AfterKeyDescQuery, AfterKeyQuery, FirstPageDescQuery, FirstPageQuery, Keyset, KeysetDesc,
};
pub use merge::Summable;
pub use ordered::{MergeBy, Merged};
pub use policy::{AllowPartial, FailFast, FailurePolicy, PartialResult};

use crate::query::target::Target;
use crate::query::RouteExplanation;
use crate::{Result, ShardBackend, ShardId, ShardedPool};

/// A query to run on several shards. Made by
/// [`all_shards`](crate::ShardPinDsl::all_shards) or
/// [`find_anywhere`](FindAnywhereDsl::find_anywhere).
///
/// [`all_shards`](crate::ShardPinDsl::all_shards) turns any Diesel query into a
/// [`FanOut`]. Choose the shards ([`on_shards`](FanOut::on_shards)), how they run
/// ([`sequential`](FanOut::sequential), [`max_parallelism`](FanOut::max_parallelism)),
/// a per-shard time limit ([`timeout`](FanOut::timeout)) and what a failing shard does
/// ([`allow_partial`](FanOut::allow_partial)); then pick the shape of the result:
///
/// | method | per-shard query returns | result |
/// |---|---|---|
/// | [`load`](FanOut::load) | rows | every row, tagged with its shard, in shard order |
/// | [`merge_by`](FanOut::merge_by)`(key).limit(n)` | rows sorted by `key` | one list sorted by `key`, cut to `offset, limit` |
/// | [`count`](FanOut::count) | `COUNT(*)` | the total |
/// | [`sum`](FanOut::sum), [`min`](FanOut::min), [`max`](FanOut::max) | `SUM`/`MIN`/`MAX` | the combined value |
/// | [`avg`](FanOut::avg) | `(SUM(x), COUNT(x))` | the true average (never an average of averages) |
/// | [`merge_groups`](FanOut::merge_groups) | `(key, value)` per group | one row per key, values combined |
/// | [`get_result_per_shard`](FanOut::get_result_per_shard) | one row | one value per shard |
/// | [`get_unique`](FanOut::get_unique) | at most one row | the row, or [`Error::Ambiguous`](crate::Error::Ambiguous) if two shards have one |
/// | [`execute`](FanOut::execute), [`execute_per_shard`](FanOut::execute_per_shard) | rows affected | the total, or each shard's count |
///
/// Each shard uses one connection for the query. With the default [`FailFast`] policy
/// any failing shard fails the call with an error naming every failing shard; with
/// [`AllowPartial`] the healthy shards' result comes back with the failures in a
/// [`PartialResult`].
///
/// There is no implicit fan-out: a query without a key runs on several shards only
/// through `all_shards()`, `for_keys()` or `find_anywhere()`, so a forgotten key filter
/// does not compile rather than silently querying every shard.
///
/// ```
/// # use diesel::prelude::*;
/// use sharding_core::ShardPinDsl;
/// use std::time::Duration;
/// # diesel::table! { orders (id) { id -> BigInt, amount_cents -> BigInt, } }
///
/// let total_orders = orders::table
///     .count()
///     .all_shards()
///     .timeout(Duration::from_secs(2))
///     .allow_partial();
/// // total_orders.count(&pool)? -> PartialResult<i64>
/// ```
#[derive(Debug, Clone)]
#[must_use = "a fan-out does nothing until it is run with `.load(&pool)`, `.count(&pool)`, …"]
pub struct FanOut<Q, P = FailFast> {
    query: Q,
    target: Target,
    options: RunOptions,
    /// Whether `load` accepts a query with its own `LIMIT`/`OFFSET` (one per shard).
    per_shard_limits: bool,
    _policy: PhantomData<fn() -> P>,
}

impl<Q> FanOut<Q, FailFast> {
    pub(crate) fn new(query: Q) -> Self {
        FanOut::with_target(query, Target::All)
    }

    pub(crate) fn with_target(query: Q, target: Target) -> Self {
        FanOut {
            query,
            target,
            options: RunOptions::default(),
            per_shard_limits: false,
            _policy: PhantomData,
        }
    }
}

impl<Q, P> FanOut<Q, P> {
    fn map_query<Q2>(self, f: impl FnOnce(Q) -> Q2) -> FanOut<Q2, P> {
        FanOut {
            query: f(self.query),
            target: self.target,
            options: self.options,
            per_shard_limits: self.per_shard_limits,
            _policy: PhantomData,
        }
    }
}

crate::query::forward_query_dsl!(FanOut<Q, P>);

impl<Q, P: FailurePolicy> FanOut<Q, P> {
    fn with_policy<P2>(self) -> FanOut<Q, P2> {
        FanOut {
            query: self.query,
            target: self.target,
            options: self.options,
            per_shard_limits: self.per_shard_limits,
            _policy: PhantomData,
        }
    }

    /// Runs on these shards only (in pool order) instead of all. An unknown id fails
    /// the call with [`Error::UnknownShard`](crate::Error::UnknownShard) before anything runs.
    pub fn on_shards<I, S>(mut self, shards: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<ShardId>,
    {
        self.target = Target::Shards(shards.into_iter().map(Into::into).collect());
        self
    }

    /// Runs one shard after another: on the caller's thread, or with a deadline on one
    /// worker at a time. Defaults to parallel.
    pub fn sequential(mut self) -> Self {
        self.options.parallelism = Parallelism::Sequential;
        self
    }

    /// Lets [`load`](Self::load), [`merge_groups`](Self::merge_groups),
    /// [`get_unique`](Self::get_unique) and the aggregates run a query with its own
    /// `LIMIT` or `OFFSET`, which then applies **on each shard**: up to n rows from every
    /// shard, concatenated. ([`find_first`](Self::find_first) and
    /// [`get_result_per_shard`](Self::get_result_per_shard) are per shard by nature and
    /// accept one anyway.) Without it such a fan-out fails with
    /// [`Error::PerShardLimit`](crate::Error::PerShardLimit) before anything runs, as `.order(..).limit(n)` usually
    /// means the first n rows overall, which only
    /// [`merge_by(..).limit(n)`](Self::merge_by) gives.
    pub fn per_shard_limits(mut self) -> Self {
        self.per_shard_limits = true;
        self
    }

    /// Runs at most `n` shards at once (at least 1), on the pool's worker threads.
    /// Defaults to all shards at once, except for [`find_first`](Self::find_first),
    /// whose default width follows how fast the shards answer.
    pub fn max_parallelism(mut self, n: usize) -> Self {
        self.options.parallelism = Parallelism::Parallel(Some(n.max(1)));
        self
    }

    /// Sets this call's deadline: the call returns within `limit` (plus a few
    /// milliseconds) even if the network to some shard stalls (bytes stop, nothing is
    /// refused or closed). A shard that has not answered by then counts as failed with
    /// [`Error::Timeout`](crate::Error::Timeout) naming it: under fail-fast the call
    /// fails, under [`allow_partial`](Self::allow_partial) the other shards' results
    /// come back with it. The limit also bounds each shard's checkout, and is sent as
    /// each shard's server-side statement limit where the backend has one (PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`, MySQL `max_execution_time`).
    /// Defaults to the pool's
    /// [`default_timeout`](crate::ShardedPoolBuilder::default_timeout), else none.
    ///
    /// Every fan-out runs its shards on the pool's worker threads; a shard given up on
    /// keeps its worker until its statement returns, and its connection is then
    /// dropped. See [`Routed::timeout`](crate::Routed::timeout) for what a deadline does
    /// and does not promise.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.options.timeout = Some(limit);
        self
    }

    /// Returns the healthy shards' result with the list of failing shards instead of
    /// failing: see [`PartialResult`].
    pub fn allow_partial(self) -> FanOut<Q, AllowPartial> {
        self.with_policy()
    }

    /// Fails the whole call if any shard fails (the default).
    pub fn fail_fast(self) -> FanOut<Q, FailFast> {
        self.with_policy()
    }

    /// The Diesel query inside.
    pub fn into_query(self) -> Q {
        self.query
    }

    /// The shards this fan-out would run on in `pool`, in pool order.
    pub fn shards<'p, Conn: ShardBackend>(
        &self,
        pool: &'p ShardedPool<Conn>,
    ) -> Result<Vec<&'p ShardId>> {
        Ok(self
            .indices(pool)?
            .into_iter()
            .map(|i| pool.id(i))
            .collect())
    }

    /// Which shards this fan-out would run on in `pool`, and why, without running it.
    pub fn explain_route<Conn: ShardBackend>(
        &self,
        pool: &ShardedPool<Conn>,
    ) -> Result<RouteExplanation> {
        self.target.explain(pool)
    }

    fn indices<Conn: ShardBackend>(&self, pool: &ShardedPool<Conn>) -> Result<Vec<usize>> {
        self.target.indices(pool)
    }
}
