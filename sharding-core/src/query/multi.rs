//! Several-shard queries: [`MultiRouted`] (by keys) and [`AllShards`].

use diesel::dsl::Filter;
use diesel::query_dsl::methods::{ExecuteDsl, FilterDsl};
use diesel::query_dsl::LoadQuery;
use diesel::RunQueryDsl;

use super::forward::forward_query_dsl;
use super::KeyPredicates;
use crate::{Error, Result, ShardAccess, ShardKey, Sharded};

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

    /// Runs the query on each shard that owns some of the keys; rows come back in shard
    /// order, each tagged with its shard.
    pub fn load<'query, U, A>(self, mut access: A) -> Result<Vec<Sharded<U>>>
    where
        A: ShardAccess,
        Filter<Q, P>: RunQueryDsl<A::Connection> + LoadQuery<'query, A::Connection, U>,
    {
        let mut rows = Vec::new();
        for (index, query) in self.per_shard(&access)? {
            let shard = access.sharded_pool().id(index).clone();
            let loaded = access.run_at(index, |conn| query.load::<U>(conn))?;
            rows.extend(
                loaded
                    .into_iter()
                    .map(|row| Sharded::new(shard.clone(), row)),
            );
        }
        Ok(rows)
    }

    /// Runs an `UPDATE` or `DELETE` on each shard that owns some of the keys and returns
    /// the total number of rows affected. Each shard's statement commits on its own.
    pub fn execute<A>(self, access: A) -> Result<usize>
    where
        A: ShardAccess,
        Filter<Q, P>: RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        Ok(self.execute_per_shard(access)?.iter().map(|n| **n).sum())
    }

    /// Like [`execute`](Self::execute), with the count of each shard that ran.
    pub fn execute_per_shard<A>(self, mut access: A) -> Result<Vec<Sharded<usize>>>
    where
        A: ShardAccess,
        Filter<Q, P>: RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        let mut counts = Vec::new();
        for (index, query) in self.per_shard(&access)? {
            let n = access.run_at(index, |conn| query.execute(conn))?;
            counts.push(Sharded::new(access.sharded_pool().id(index).clone(), n));
        }
        Ok(counts)
    }
}

forward_query_dsl!(MultiRouted<Q, Col, K>);

/// A query run on every shard, one after another. Made by
/// [`all_shards`](crate::ShardPinDsl::all_shards).
///
/// Rows are concatenated in shard order and tagged with their shard; `ORDER BY` and
/// `LIMIT` apply per shard, and aggregates such as `COUNT(*)` give one value per shard.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is run with `.load(&pool)` or `.execute(&pool)`"]
pub struct AllShards<Q> {
    query: Q,
}

impl<Q> AllShards<Q> {
    pub(crate) fn new(query: Q) -> Self {
        AllShards { query }
    }

    fn map_query<Q2>(self, f: impl FnOnce(Q) -> Q2) -> AllShards<Q2> {
        AllShards {
            query: f(self.query),
        }
    }

    fn each_shard<A: ShardAccess, R>(
        self,
        mut access: A,
        mut f: impl FnMut(Q, &mut A::Connection) -> diesel::QueryResult<R>,
    ) -> Result<Vec<Sharded<R>>>
    where
        Q: Clone,
    {
        let count = access.sharded_pool().shard_ids().len();
        let mut out = Vec::with_capacity(count);
        for index in 0..count {
            let query = self.query.clone();
            let value = access.run_at(index, |conn| f(query, conn))?;
            out.push(Sharded::new(access.sharded_pool().id(index).clone(), value));
        }
        Ok(out)
    }

    /// Runs the query on every shard; rows come back in shard order, tagged with their
    /// shard. The first failing shard stops the run and its error names it.
    pub fn load<'query, U, A>(self, access: A) -> Result<Vec<Sharded<U>>>
    where
        A: ShardAccess,
        Q: Clone + RunQueryDsl<A::Connection> + LoadQuery<'query, A::Connection, U>,
    {
        let per_shard = self.each_shard(access, |q, conn| q.load::<U>(conn))?;
        Ok(per_shard
            .into_iter()
            .flat_map(|rows| {
                let (shard, rows) = rows.into_parts();
                rows.into_iter()
                    .map(move |row| Sharded::new(shard.clone(), row))
            })
            .collect())
    }

    /// Runs a one-row query (a `COUNT(*)`, say) on every shard: one value per shard.
    pub fn get_result_per_shard<'query, U, A>(self, access: A) -> Result<Vec<Sharded<U>>>
    where
        A: ShardAccess,
        Q: Clone + RunQueryDsl<A::Connection> + LoadQuery<'query, A::Connection, U>,
    {
        self.each_shard(access, |q, conn| q.get_result::<U>(conn))
    }

    /// Runs an `UPDATE` or `DELETE` on every shard and returns the total rows affected.
    /// Each shard's statement commits on its own.
    pub fn execute<A>(self, access: A) -> Result<usize>
    where
        A: ShardAccess,
        Q: Clone + RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        Ok(self.execute_per_shard(access)?.iter().map(|n| **n).sum())
    }

    /// Like [`execute`](Self::execute), with each shard's count.
    pub fn execute_per_shard<A>(self, access: A) -> Result<Vec<Sharded<usize>>>
    where
        A: ShardAccess,
        Q: Clone + RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection>,
    {
        self.each_shard(access, |q, conn| q.execute(conn))
    }
}

forward_query_dsl!(AllShards<Q>);

#[allow(dead_code)]
fn _assert_error_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Error>();
}
