//! Several-shard queries by key: [`MultiRouted`].

use crate::query::target::group_by_shard;
use std::marker::PhantomData;
use std::time::Duration;

use diesel::dsl::Filter;
use diesel::query_dsl::methods::FilterDsl;

use super::forward::forward_query_dsl;
use super::{KeyPredicates, RouteExplanation};
use crate::access::ShardAccess;
use crate::executor;
use crate::fanout::exec::RunOptions;
use crate::fanout::limits::top_level_limit;
use crate::fanout::{run_prepared, AllowPartial, FailFast, FailurePolicy, PerShard, Prepared};
use crate::{CanExecute, CanLoad, Error, Result, ShardBackend, ShardKey, Sharded, ShardedPool};

/// A query for several keys, run on each shard that owns some of them with only that
/// shard's keys. Made by [`for_keys`](crate::KeyRoutingDsl::for_keys).
#[derive(Debug, Clone)]
#[must_use = "a routed query does nothing until it is run with `.load(&pool)` or `.execute(&pool)`"]
pub struct MultiRouted<Q, Col, K, P = FailFast> {
    query: Q,
    column: Col,
    keys: Vec<K>,
    timeout: Option<Duration>,
    /// Whether `load` accepts a query with its own `LIMIT`/`OFFSET` (one per shard).
    per_shard_limits: bool,
    _policy: PhantomData<fn() -> P>,
}

impl<Q, Col, K> MultiRouted<Q, Col, K> {
    pub(crate) fn new(query: Q, column: Col, keys: Vec<K>) -> Self {
        MultiRouted {
            query,
            column,
            keys,
            timeout: None,
            per_shard_limits: false,
            _policy: PhantomData,
        }
    }
}

impl<Q, Col, K, P> MultiRouted<Q, Col, K, P> {
    /// Returns the healthy shards' rows with the failures, instead of failing the whole
    /// call when a shard fails: the result is a [`PartialResult`](crate::PartialResult),
    /// as with [`FanOut::allow_partial`](crate::FanOut::allow_partial). Every owning shard
    /// runs, up to the deadline.
    pub fn allow_partial(self) -> MultiRouted<Q, Col, K, AllowPartial> {
        MultiRouted {
            query: self.query,
            column: self.column,
            keys: self.keys,
            timeout: self.timeout,
            per_shard_limits: self.per_shard_limits,
            _policy: PhantomData,
        }
    }

    /// Sets this call's deadline: every shard answers within `limit`, or the call fails
    /// with [`Error::Timeout`](crate::Error::Timeout) for it, even if the network
    /// stalls. See [`Routed::timeout`](crate::Routed::timeout).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Lets [`load`](Self::load) run a query with its own `LIMIT` or `OFFSET`, which then
    /// applies **on each shard** that owns some of the keys. Without it such a query fails
    /// with [`Error::PerShardLimit`](crate::Error::PerShardLimit) before anything runs.
    pub fn per_shard_limits(mut self) -> Self {
        self.per_shard_limits = true;
        self
    }

    fn map_query<Q2>(self, f: impl FnOnce(Q) -> Q2) -> MultiRouted<Q2, Col, K, P> {
        MultiRouted {
            query: f(self.query),
            column: self.column,
            keys: self.keys,
            timeout: self.timeout,
            per_shard_limits: self.per_shard_limits,
            _policy: PhantomData,
        }
    }
}

impl<Q, Col, K, Pol: FailurePolicy, P> MultiRouted<Q, Col, K, Pol>
where
    Q: Clone + FilterDsl<P>,
    Col: KeyPredicates<K, In = P> + Copy,
    K: ShardKey,
{
    /// Which shards this query would run on in `pool` (each with the keys it owns), and
    /// why, without running it.
    pub fn explain_route<Conn: ShardBackend>(
        &self,
        pool: &ShardedPool<Conn>,
    ) -> Result<RouteExplanation>
    where
        K: std::fmt::Display,
    {
        let groups = group_by_shard(pool, self.keys.iter())?;
        let owning: Vec<usize> = (0..groups.len())
            .filter(|i| !groups[*i].is_empty())
            .collect();
        let why: Vec<String> = owning
            .iter()
            .map(|i| {
                let keys: Vec<String> = groups[*i].iter().map(ToString::to_string).collect();
                format!("keys {} -> {}", keys.join(", "), pool.id(*i))
            })
            .collect();
        Ok(RouteExplanation::shards(
            pool,
            &owning,
            format!(
                "for_keys by the {} router: {}",
                pool.router().name(),
                why.join("; ")
            ),
        ))
    }

    /// One query per shard that owns a key, in pool order. Routes every key first, so a
    /// bad key fails before any statement runs.
    fn per_shard<Conn: ShardBackend>(
        self,
        pool: &ShardedPool<Conn>,
    ) -> Result<Vec<(usize, Filter<Q, P>)>> {
        Ok(group_by_shard(pool, self.keys)?
            .into_iter()
            .enumerate()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(index, keys)| (index, self.query.clone().filter(self.column.key_in(keys))))
            .collect())
    }

    /// Runs the query, in parallel, on each shard that owns some of the keys; rows come
    /// back in shard order, each tagged with its shard. A failing shard fails the call with
    /// [`Error::FanOut`] naming it, unless the call [allows a partial
    /// result](Self::allow_partial).
    pub fn load<U: Send + 'static>(
        self,
        access: impl CanLoad<Filter<Q, P>, U>,
    ) -> Result<Pol::Output<Vec<Sharded<U>>>> {
        self.load_via(access)
    }

    fn load_via<U: Send + 'static, A: CanLoad<Filter<Q, P>, U>>(
        self,
        mut access: A,
    ) -> Result<Pol::Output<Vec<Sharded<U>>>> {
        let pool = access.sharded_pool().clone();
        let timeout = self.timeout.or(pool.default_timeout());
        let per_shard_limits = self.per_shard_limits;
        let mut prepared = Vec::new();
        for (index, query) in self.per_shard(&pool)? {
            let query = A::prepare(query);
            if !per_shard_limits && prepared.is_empty() {
                if let Some(clause) = A::sql(&query).as_deref().and_then(top_level_limit) {
                    return Err(Error::PerShardLimit { clause });
                }
            }
            prepared.push((
                index,
                A::collect(&pool, index, &query, timeout).map(A::load_job),
            ));
        }
        let (oks, failures) =
            run_all::<_, Pol, _>(&mut access, prepared, timeout, executor::rows_of_vec);
        Pol::finish(Sharded::tag_all(oks), failures)
    }

    /// Runs an `UPDATE` or `DELETE`, in parallel, on each shard that owns some of the
    /// keys and returns the total number of rows affected. Each shard's statement commits
    /// on its own.
    pub fn execute(self, access: impl CanExecute<Filter<Q, P>>) -> Result<Pol::Output<usize>> {
        let (oks, failures) = self.execute_via(access)?;
        Pol::finish(oks.iter().map(|(_, n)| n).sum(), failures)
    }

    /// Like [`execute`](Self::execute), with the count of each shard that ran.
    pub fn execute_per_shard(
        self,
        access: impl CanExecute<Filter<Q, P>>,
    ) -> Result<Pol::Output<Vec<Sharded<usize>>>> {
        let (oks, failures) = self.execute_via(access)?;
        Pol::finish(
            oks.into_iter().map(|(s, n)| Sharded::new(s, n)).collect(),
            failures,
        )
    }

    fn execute_via<A: CanExecute<Filter<Q, P>>>(self, mut access: A) -> Result<PerShard<usize>> {
        let pool = access.sharded_pool().clone();
        let timeout = self.timeout.or(pool.default_timeout());
        let prepared = self
            .per_shard(&pool)?
            .into_iter()
            .map(|(index, statement)| {
                let job = A::collect(&pool, index, &statement, timeout).map(A::execute_job);
                (index, job)
            })
            .collect();
        Ok(run_all::<_, Pol, _>(
            &mut access,
            prepared,
            timeout,
            executor::rows_affected,
        ))
    }
}

/// Runs the job prepared for each shard in parallel, under `timeout` (or the pool's
/// default), stopping at the first failure when the policy fails fast.
fn run_all<A: ShardAccess, Pol: FailurePolicy, R: Send + 'static>(
    access: &mut A,
    prepared: Prepared<A::Connection, R>,
    timeout: Option<Duration>,
    rows: fn(&R) -> Option<usize>,
) -> PerShard<R> {
    let options = RunOptions {
        timeout: timeout.or(access.sharded_pool().default_timeout()),
        stop_on_failure: Pol::STOP_ON_FAILURE,
        ..RunOptions::default()
    };
    run_prepared(access, prepared, options, rows)
}

forward_query_dsl!(MultiRouted<Q, Col, K, Pol>);
