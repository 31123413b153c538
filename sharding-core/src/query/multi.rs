//! Several-shard queries by key: [`MultiRouted`].

use diesel::dsl::Filter;
use diesel::query_dsl::methods::{ExecuteDsl, FilterDsl};
use diesel::query_dsl::LoadQuery;
use diesel::RunQueryDsl;

use super::forward::forward_query_dsl;
use super::KeyPredicates;
use crate::executor;
use crate::fanout::exec::{split_results, RunOptions};
use crate::{Error, Result, ShardAccess, ShardId, ShardKey, Sharded};

/// A query for several keys, run on each shard that owns some of them with only that
/// shard's keys. Made by [`for_keys`](crate::KeyRoutingDsl::for_keys).
#[derive(Debug, Clone)]
#[must_use = "a routed query does nothing until it is run with `.load(&pool)` or `.execute(&pool)`"]
pub struct MultiRouted<Q, Col, K> {
    query: Q,
    column: Col,
    keys: Vec<K>,
}

impl<Q, Col, K> MultiRouted<Q, Col, K> {
    pub(crate) fn new(query: Q, column: Col, keys: Vec<K>) -> Self {
        MultiRouted {
            query,
            column,
            keys,
        }
    }

    fn map_query<Q2>(self, f: impl FnOnce(Q) -> Q2) -> MultiRouted<Q2, Col, K> {
        MultiRouted {
            query: f(self.query),
            column: self.column,
            keys: self.keys,
        }
    }
}

impl<Q, Col, K, P> MultiRouted<Q, Col, K>
where
    Q: Clone + FilterDsl<P>,
    Col: KeyPredicates<K, In = P> + Copy,
    K: ShardKey,
{
    /// One query per shard that owns a key, in pool order. Routes every key first, so a
    /// bad key fails before any statement runs.
    fn per_shard<A: ShardAccess>(self, access: &A) -> Result<Vec<(usize, Filter<Q, P>)>> {
        let pool = access.sharded_pool();
        let mut groups: Vec<Vec<K>> = pool.shard_ids().iter().map(|_| Vec::new()).collect();
        for key in self.keys {
            let index = pool.route_key_index(&key, "query")?;
            groups[index].push(key);
        }
        Ok(groups
            .into_iter()
            .enumerate()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(index, keys)| (index, self.query.clone().filter(self.column.key_in(keys))))
            .collect())
    }

    /// Runs the query, in parallel, on each shard that owns some of the keys; rows come
    /// back in shard order, each tagged with its shard. Any failing shard fails the call
    /// with [`Error::FanOut`] naming it.
    pub fn load<'query, U, A>(self, mut access: A) -> Result<Vec<Sharded<U>>>
    where
        A: ShardAccess,
        Filter<Q, P>: Send + RunQueryDsl<A::Connection> + LoadQuery<'query, A::Connection, U>,
        U: Send,
    {
        let items = self.per_shard(&access)?;
        let per_shard = run_all(&mut access, items, executor::rows_of_vec, |q, conn| {
            q.load::<U>(conn)
        })?;
        Ok(per_shard
            .into_iter()
            .flat_map(|(shard, rows)| {
                rows.into_iter()
                    .map(move |row| Sharded::new(shard.clone(), row))
            })
            .collect())
    }

    /// Runs an `UPDATE` or `DELETE`, in parallel, on each shard that owns some of the
    /// keys and returns the total number of rows affected. Each shard's statement commits
    /// on its own.
    pub fn execute<A>(self, access: A) -> Result<usize>
    where
        A: ShardAccess,
        Filter<Q, P>: Send + RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        Ok(self.execute_per_shard(access)?.iter().map(|n| **n).sum())
    }

    /// Like [`execute`](Self::execute), with the count of each shard that ran.
    pub fn execute_per_shard<A>(self, mut access: A) -> Result<Vec<Sharded<usize>>>
    where
        A: ShardAccess,
        Filter<Q, P>: Send + RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        let items = self.per_shard(&access)?;
        let per_shard = run_all(&mut access, items, executor::rows_affected, |q, conn| {
            q.execute(conn)
        })?;
        Ok(per_shard
            .into_iter()
            .map(|(s, n)| Sharded::new(s, n))
            .collect())
    }
}

/// Runs one query per shard in parallel; fails fast, naming every failing shard.
fn run_all<A: ShardAccess, Q: Send, R: Send>(
    access: &mut A,
    items: Vec<(usize, Q)>,
    rows: fn(&R) -> Option<usize>,
    job: impl Fn(Q, &mut A::Connection) -> diesel::QueryResult<R> + Sync,
) -> Result<Vec<(ShardId, R)>> {
    let pool = access.sharded_pool().clone();
    let results = access.run_many(items, RunOptions::default(), rows, &job);
    let (oks, failures) = split_results(results, |i| pool.id(i).clone());
    if failures.is_empty() {
        Ok(oks
            .into_iter()
            .map(|(i, r)| (pool.id(i).clone(), r))
            .collect())
    } else {
        Err(Error::FanOut { failures })
    }
}

forward_query_dsl!(MultiRouted<Q, Col, K>);
