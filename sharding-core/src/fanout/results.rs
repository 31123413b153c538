//! The shapes a fan-out's result can take: rows, one value per shard, aggregates, groups,
//! a unique row, rows affected, and the start of an ordered merge.

use super::exec::{run_collected, PerShard, Prepared};
use super::{limits, merge, FailurePolicy, FanOut, MergeBy, Summable};
use crate::executor::{self, Job};
use crate::query::target::Target;
use crate::{CanExecute, CanLoad, Error, Result, ShardId, Sharded};

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
        run_collected::<A, P, _>(access, target, options, rows, |pool, indices, limit| {
            jobs_of(A::collect_each(pool, indices, &query, limit), job)
        })
    }

    /// Every shard's rows.
    pub(super) fn run_rows<U: Send + 'static, A: CanLoad<Q, U>>(
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
            |pool, indices, limit| {
                jobs_of(
                    A::collect_each(pool, indices, &query, limit),
                    A::execute_job,
                )
            },
        )
    }

    /// Every row of every shard, tagged with its shard, in shard order.
    pub fn load<U>(self, mut access: impl CanLoad<Q, U>) -> Result<P::Output<Vec<Sharded<U>>>>
    where
        U: Send + 'static,
    {
        let (oks, failures) = self.run_rows(&mut access)?;
        P::finish(Sharded::tag_all(oks), failures)
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
    /// running (they finish on their own). When every shard is asked at once, your
    /// thread runs none of their statements itself: it waits for the first hit, so a slow
    /// shard before the hit's does not hold the call. Unlike [`get_unique`](Self::get_unique) it
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

/// Each shard's job made of its collected statement, or why it could not be collected.
fn jobs_of<O, Conn, R>(
    collected: Vec<(usize, Result<O>)>,
    job: fn(O) -> Job<Conn, R>,
) -> Prepared<Conn, R> {
    collected
        .into_iter()
        .map(|(index, owned)| (index, owned.map(job)))
        .collect()
}
