//! Fan-out: one query on many shards, run in parallel, with its results merged.

pub(crate) mod exec;
mod id;
mod keyset;
pub(crate) mod limits;
mod merge;
mod policy;

use std::marker::PhantomData;
use std::time::Duration;

use diesel::dsl::Limit;
use diesel::query_dsl::methods::LimitDsl;

pub(crate) use exec::{Parallelism, RunOptions};
pub use id::{AllCandidates, FindAnywhereDsl, IdChooser};
pub use keyset::{
    AfterKeyDescQuery, AfterKeyQuery, FirstPageDescQuery, FirstPageQuery, Keyset, KeysetDesc,
};
pub use merge::Summable;
pub use policy::{AllowPartial, FailFast, FailurePolicy, PartialResult};

use crate::error::ShardFailure;
use crate::executor::{self, Job};
use crate::query::target::Target;
use crate::query::RouteExplanation;
use crate::{
    CanExecute, CanLoad, Error, Result, ShardAccess, ShardBackend, ShardId, Sharded, ShardedPool,
};

/// Each healthy shard's result, and the failures.
pub(crate) type PerShard<R> = (Vec<(ShardId, R)>, Vec<ShardFailure>);

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
/// | [`get_unique`](FanOut::get_unique) | at most one row | the row, or [`Error::Ambiguous`] if two shards have one |
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
    /// the call with [`Error::UnknownShard`] before anything runs.
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
    /// [`Error::PerShardLimit`] before anything runs, as `.order(..).limit(n)` usually
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
    /// [`Error::Timeout`] naming it: under fail-fast the call
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

impl<Q, P: FailurePolicy> FanOut<Q, P> {
    /// Runs the job `job` makes of the query collected for each target shard, under the
    /// fan-out's deadline (or the pool's default).
    fn run<U, A, R>(
        self,
        access: &mut A,
        rows: fn(&R) -> Option<usize>,
        job: fn(A::Owned) -> Job<A::Connection, R>,
    ) -> Result<PerShard<R>>
    where
        A: CanLoad<Q, U>,
        R: Send + 'static,
    {
        let (target, options, per_shard_limits) =
            (self.target, self.options, self.per_shard_limits);
        let query = A::prepare(self.query);
        if !per_shard_limits {
            if let Some(clause) = A::sql(&query).as_deref().and_then(limits::top_level_limit) {
                return Err(Error::PerShardLimit { clause });
            }
        }
        run_collected::<A, P, _>(access, target, options, rows, |pool, index, limit| {
            A::collect(pool, index, &query, limit).map(job)
        })
    }

    /// Every shard's rows.
    fn run_rows<U: Send + 'static, A: CanLoad<Q, U>>(
        self,
        access: &mut A,
    ) -> Result<PerShard<Vec<U>>> {
        self.run(access, executor::rows_of_vec, A::load_job)
    }

    /// Every shard's first row.
    fn run_one<U: Send + 'static, A: CanLoad<Q, U>>(self, access: &mut A) -> Result<PerShard<U>> {
        self.run(access, executor::one_row, A::get_job)
    }

    /// Runs a statement that returns no rows (`UPDATE`, `DELETE`) on every target shard.
    fn run_statement<A: CanExecute<Q>>(self, access: &mut A) -> Result<PerShard<usize>> {
        let (target, options, query) = (self.target, self.options, self.query);
        run_collected::<A, P, _>(
            access,
            target,
            options,
            executor::rows_affected,
            |pool, index, limit| A::collect(pool, index, &query, limit).map(A::execute_job),
        )
    }

    /// Every row of every shard, tagged with its shard, in shard order.
    pub fn load<U>(self, mut access: impl CanLoad<Q, U>) -> Result<P::Output<Vec<Sharded<U>>>>
    where
        U: Send + 'static,
    {
        let (oks, failures) = self.run_rows(&mut access)?;
        let rows = oks
            .into_iter()
            .flat_map(|(shard, rows)| {
                rows.into_iter()
                    .map(move |row| Sharded::new(shard.clone(), row))
            })
            .collect();
        P::finish(rows, failures)
    }

    /// One row from each shard (a `COUNT(*)`, say), tagged with its shard.
    pub fn get_result_per_shard<U>(
        self,
        mut access: impl CanLoad<Q, U>,
    ) -> Result<P::Output<Vec<Sharded<U>>>>
    where
        U: Send + 'static,
    {
        let (oks, failures) = self.per_shard_limits().run_one(&mut access)?;
        P::finish(
            oks.into_iter().map(|(s, v)| Sharded::new(s, v)).collect(),
            failures,
        )
    }

    /// Runs a one-row query on every shard and combines the healthy shards' values.
    fn combine_one_row<T, R, A>(
        self,
        mut access: A,
        combine: impl FnOnce(Vec<T>) -> R,
    ) -> Result<P::Output<R>>
    where
        A: CanLoad<Q, T>,
        T: Send + 'static,
    {
        let (oks, failures) = self.run_one(&mut access)?;
        P::finish(combine(oks.into_iter().map(|(_, v)| v).collect()), failures)
    }

    /// The sum of every shard's `COUNT(*)`.
    pub fn count(self, access: impl CanLoad<Q, i64>) -> Result<P::Output<i64>> {
        self.combine_one_row(access, |counts: Vec<i64>| counts.into_iter().sum())
    }

    /// The sum of every shard's SQL `SUM` (`None` when no shard had a row).
    pub fn sum<T>(self, access: impl CanLoad<Q, Option<T>>) -> Result<P::Output<Option<T>>>
    where
        T: std::ops::Add<Output = T> + Send + 'static,
    {
        self.combine_one_row(access, merge::sum_options)
    }

    /// The least of every shard's SQL `MIN`. Works for any `PartialOrd` value, floats
    /// included; a value that compares with nothing (NaN) loses to any value that does.
    pub fn min<T>(self, access: impl CanLoad<Q, Option<T>>) -> Result<P::Output<Option<T>>>
    where
        T: PartialOrd + Send + 'static,
    {
        self.combine_one_row(access, |values: Vec<Option<T>>| {
            merge::extreme(values.into_iter().flatten(), std::cmp::Ordering::Less)
        })
    }

    /// The greatest of every shard's SQL `MAX`. Works for any `PartialOrd` value, floats
    /// included; a value that compares with nothing (NaN) loses to any value that does.
    pub fn max<T>(self, access: impl CanLoad<Q, Option<T>>) -> Result<P::Output<Option<T>>>
    where
        T: PartialOrd + Send + 'static,
    {
        self.combine_one_row(access, |values: Vec<Option<T>>| {
            merge::extreme(values.into_iter().flatten(), std::cmp::Ordering::Greater)
        })
    }

    /// The average over every shard, from each shard's `(SUM(x), COUNT(x))`: the total
    /// sum over the total count, never an average of averages. `None` when no shard
    /// has a row.
    pub fn avg<T>(self, access: impl CanLoad<Q, (Option<T>, i64)>) -> Result<P::Output<Option<f64>>>
    where
        T: Summable + 'static,
    {
        self.combine_one_row(access, |pairs: Vec<(Option<T>, i64)>| {
            let count: i64 = pairs.iter().map(|(_, n)| n).sum();
            match merge::sum_options(pairs.into_iter().map(|(s, _)| s)) {
                Some(sum) if count > 0 => Some(sum.to_f64() / count as f64),
                _ => None,
            }
        })
    }

    /// `GROUP BY` across shards: each shard returns `(key, value)` rows; rows with equal
    /// keys are combined with `combine` (`|a, b| a + b` for counts and sums, `max` for
    /// maxima). The result is sorted by key.
    pub fn merge_groups<K, V>(
        self,
        mut access: impl CanLoad<Q, (K, V)>,
        combine: impl Fn(V, V) -> V,
    ) -> Result<P::Output<Vec<(K, V)>>>
    where
        K: Ord + Send + 'static,
        V: Send + 'static,
    {
        let (oks, failures) = self.run_rows(&mut access)?;
        let groups = merge::merge_groups(oks.into_iter().flat_map(|(_, rows)| rows), combine);
        P::finish(groups, failures)
    }

    /// The one row, among all target shards, that the query finds (a lookup by a unique
    /// id), or `None`. More than one row, on one shard or on several, is
    /// [`Error::Ambiguous`], whatever the failure policy.
    pub fn get_unique<U>(
        self,
        mut access: impl CanLoad<Q, U>,
    ) -> Result<P::Output<Option<Sharded<U>>>>
    where
        U: Send + 'static,
    {
        let id = match &self.target {
            Target::Id { id, .. } => id.to_string(),
            _ => "(query)".to_owned(),
        };
        let (oks, failures) = self.run_rows(&mut access)?;
        // Every row counts: two rows on one shard are as ambiguous as one on each of two.
        let mut holders: Vec<(ShardId, U)> = oks
            .into_iter()
            .flat_map(|(shard, rows)| rows.into_iter().map(move |row| (shard.clone(), row)))
            .collect();
        if holders.len() > 1 {
            return Err(Error::Ambiguous {
                id,
                shards: holders.into_iter().map(|(s, _)| s).collect(),
            });
        }
        P::finish(holders.pop().map(|(s, row)| Sharded::new(s, row)), failures)
    }

    /// The first row found, searching the target shards in pool order (SQLAlchemy's
    /// "first hit wins" for an id whose shard is unknown), or `None`.
    ///
    /// Shards run in parallel as usual, but once one returns a row no shard that has not
    /// started is started, and the call returns without waiting for the shards still
    /// running (they finish on their own). Unlike [`get_unique`](Self::get_unique) it
    /// does not check that no other shard holds a row: use it for ids that are unique
    /// across shards by construction.
    ///
    /// How many shards it asks at a time follows each shard's measured answer time (a
    /// low estimate the pool keeps per shard, ignoring moments of contention): every
    /// shard at once when any answers in over 300 µs (the search waits on the network:
    /// one round trip instead of one per shard); one at a time on your thread when all
    /// answer in under 20 µs (in-process SQLite: a thread hand-off would cost more); else
    /// as many as this machine has cores (near servers compete for its CPUs, and a hit on
    /// an early shard spares the later ones). Shards not measured yet count as near.
    /// [`max_parallelism`](Self::max_parallelism) or [`sequential`](Self::sequential)
    /// set the width yourself.
    ///
    /// ```
    /// use diesel::prelude::*;
    /// use diesel::SqliteConnection;
    /// use sharding_core::{FindAnywhereDsl, ShardedPool, ShardedTable};
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
    /// for shard in ["s0", "s1"] {
    ///     diesel::sql_query("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT)")
    ///         .execute(&mut pool.connection(shard)?)?;
    /// }
    /// diesel::sql_query("INSERT INTO orders VALUES (7, 42)").execute(&mut pool.connection("s1")?)?;
    /// let found = orders::table.find_anywhere(7_i64).find_first::<(i64, i64)>(&pool)?;
    /// let found = found.expect("order 7 is on s1");
    /// assert_eq!((found.shard().as_str(), found.0), ("s1", 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn find_first<U>(
        mut self,
        mut access: impl CanLoad<Q, U>,
    ) -> Result<P::Output<Option<Sharded<U>>>>
    where
        U: Send + 'static,
    {
        self.options.stop_on_rows = true;
        // Each shard's first rows are what a search asks for.
        self.per_shard_limits = true;
        let (oks, failures) = self.run_rows(&mut access)?;
        let first = oks
            .into_iter()
            .find_map(|(shard, rows)| rows.into_iter().next().map(|row| Sharded::new(shard, row)));
        P::finish(first, failures)
    }

    /// The total number of rows an `UPDATE` or `DELETE` affected on every shard. Each
    /// shard's statement commits on its own.
    pub fn execute(self, mut access: impl CanExecute<Q>) -> Result<P::Output<usize>> {
        let (oks, failures) = self.run_statement(&mut access)?;
        P::finish(oks.into_iter().map(|(_, n)| n).sum(), failures)
    }

    /// Like [`execute`](Self::execute), with each shard's count.
    pub fn execute_per_shard(
        self,
        mut access: impl CanExecute<Q>,
    ) -> Result<P::Output<Vec<Sharded<usize>>>> {
        let (oks, failures) = self.run_statement(&mut access)?;
        P::finish(
            oks.into_iter().map(|(s, n)| Sharded::new(s, n)).collect(),
            failures,
        )
    }

    /// An ordered merge: each shard's rows, sorted by `key` (the query's `ORDER BY` must
    /// sort the same way), are merged into one sorted list. Finish with
    /// [`limit`](MergeBy::limit). For descending order return `std::cmp::Reverse(k)`.
    pub fn merge_by<U, K, F>(self, key: F) -> MergeBy<Q, P, F>
    where
        F: Fn(&U) -> K,
        K: Ord,
    {
        MergeBy { fan_out: self, key }
    }
}

/// Runs on every shard of `target` the job `make` makes for it.
fn run_collected<A, P, R>(
    access: &mut A,
    target: Target,
    options: RunOptions,
    rows: fn(&R) -> Option<usize>,
    make: impl Fn(&ShardedPool<A::Connection>, usize, Option<Duration>) -> Result<Job<A::Connection, R>>,
) -> Result<PerShard<R>>
where
    A: ShardAccess,
    P: FailurePolicy,
    R: Send + 'static,
{
    let pool = access.sharded_pool().clone();
    let indices = target.indices(&pool)?;
    let options = RunOptions {
        stop_on_failure: P::STOP_ON_FAILURE,
        timeout: options.timeout.or(pool.default_timeout()),
        ..options
    };
    let prepared = indices
        .into_iter()
        .map(|index| (index, make(&pool, index, options.timeout)))
        .collect();
    Ok(run_prepared(access, prepared, options, rows))
}

/// Per shard (by position), the job to run there, or why it could not be prepared.
pub(crate) type Prepared<Conn, R> = Vec<(usize, Result<Job<Conn, R>>)>;

/// Runs the job prepared for each shard as `options` say (a shard whose job could not be
/// prepared counts as failed), and returns the successes and the failures, each with its
/// shard, in pool order.
pub(crate) fn run_prepared<A, R>(
    access: &mut A,
    prepared: Prepared<A::Connection, R>,
    options: RunOptions,
    rows: fn(&R) -> Option<usize>,
) -> PerShard<R>
where
    A: ShardAccess,
    R: Send + 'static,
{
    let pool = access.sharded_pool().clone();
    let mut jobs = Vec::with_capacity(prepared.len());
    let mut results = Vec::new();
    for (index, job) in prepared {
        match job {
            Ok(job) => jobs.push((index, job)),
            Err(e) => results.push((index, Err(e))),
        }
    }
    results.extend(access.run_jobs(jobs, options, rows));
    results.sort_by_key(|(index, _)| *index);
    let (oks, failures) = exec::split_results(results, |i| pool.id(i).clone());
    (
        oks.into_iter()
            .map(|(i, r)| (pool.id(i).clone(), r))
            .collect(),
        failures,
    )
}

/// An ordered merge waiting for its limit. See [`FanOut::merge_by`].
#[derive(Debug)]
#[must_use = "finish the merge with `.limit(n)`"]
pub struct MergeBy<Q, P, F> {
    fan_out: FanOut<Q, P>,
    key: F,
}

impl<Q, P: FailurePolicy, F> MergeBy<Q, P, F> {
    /// Keeps at most `limit` rows of the merged list. Each shard is asked for
    /// `offset + limit` rows, so memory stays within shards × (offset + limit) rows.
    pub fn limit(self, limit: u32) -> Merged<Q, P, F> {
        Merged::first(self.fan_out, self.key, limit, false)
    }
}

/// An ordered merge with its window. See [`FanOut::merge_by`].
#[derive(Debug)]
#[must_use = "a merged fan-out does nothing until it is run with `.load(&pool)`"]
pub struct Merged<Q, P, F> {
    fan_out: FanOut<Q, P>,
    key: F,
    offset: u32,
    limit: u32,
    /// Whether each shard's rows come greatest key first (a descending keyset).
    descending: bool,
}

impl<Q, P: FailurePolicy, F> Merged<Q, P, F> {
    /// The first `limit` rows of `fan_out`'s rows merged by `key`, least key first or,
    /// `descending`, greatest first.
    fn first(fan_out: FanOut<Q, P>, key: F, limit: u32, descending: bool) -> Self {
        Merged {
            fan_out,
            key,
            offset: 0,
            limit,
            descending,
        }
    }

    /// Skips the first `offset` rows of the merged list. Defaults to 0.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// Runs `query LIMIT offset+limit` on every shard and merges the results by key.
    pub fn load<U, K>(
        self,
        mut access: impl CanLoad<Limit<Q>, U>,
    ) -> Result<P::Output<Vec<Sharded<U>>>>
    where
        F: Fn(&U) -> K,
        K: Ord,
        Q: LimitDsl,
        U: Send + 'static,
    {
        let window = i64::from(self.offset) + i64::from(self.limit);
        // The window is pushed to every shard on purpose; the merge cuts it globally.
        let fan_out = self
            .fan_out
            .per_shard_limits()
            .map_query(|q| q.limit(window));
        let (oks, failures) = fan_out.run_rows(&mut access)?;
        let (offset, limit) = (self.offset as usize, self.limit as usize);
        let merged = if self.descending {
            let key = &self.key;
            merge::k_way_merge(oks, |row: &U| std::cmp::Reverse(key(row)), offset, limit)?
        } else {
            merge::k_way_merge(oks, &self.key, offset, limit)?
        };
        P::finish(merged, failures)
    }
}
