//! [`CanLoad`] and [`CanExecute`]: what a pool or unit of work needs to run a query on
//! its shards, each as one bound, so that the methods running routed and fanned-out
//! queries take the row type alone, as Diesel's do: `load::<Order>(&pool)`.

use std::time::Duration;

use diesel::backend::Backend;
use diesel::query_builder::{AsQuery, QueryBuilder, QueryFragment};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::Untyped;
use diesel::{QueryResult, RunQueryDsl};

use crate::access::{BackendOf, ShardAccess};
use crate::executor::{self, Job, OwnedQuery};
use crate::{Result, ShardedPool};

/// A pool or unit of work (`&pool`, `&mut work`) that can load rows of type `U` from the
/// query `Q` on its shards: whenever Diesel itself could `load::<U>` the query on one of
/// them. Implemented for every such pair; you meet it in signatures and error messages.
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::{CanLoad, ShardedPool};
///
/// diesel::table! { orders (id) { id -> BigInt, note -> Text, } }
///
/// fn loads<A: CanLoad<orders::table, (i64, String)>>(_: A) {}
/// # fn demo(pool: ShardedPool<SqliteConnection>) {
/// loads(&pool);
/// loads(&mut pool.unit_of_work());
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "rows of type `{U}` cannot be loaded from this query through `{Self}`",
    label = "pass `&pool` or `&mut work`, for a query whose rows load into `{U}`",
    note = "`{Self}` must be `&ShardedPool` or `&mut ShardedConnection`, and the query must \
            load with Diesel's own `load::<{U}>(&mut conn)` on one shard: check its select \
            clause against `{U}` (field order and SQL types of a `Queryable`, or select \
            `{U}::as_select()` with `Selectable`)"
)]
pub trait CanLoad<Q, U>: ShardAccess {
    /// The query, ready to be collected for each shard.
    #[doc(hidden)]
    type Prepared;
    /// The query collected for one shard.
    #[doc(hidden)]
    type Owned: Send + 'static;

    /// Loads every row of `query` on `conn`, on this thread.
    #[doc(hidden)]
    fn load_here(query: Q, conn: &mut Self::Connection) -> QueryResult<Vec<U>>;

    /// Loads the first row of `query` on `conn`, on this thread.
    #[doc(hidden)]
    fn get_here(query: Q, conn: &mut Self::Connection) -> QueryResult<U>;

    /// Prepares `query` to be collected.
    #[doc(hidden)]
    fn prepare(query: Q) -> Self::Prepared;

    /// The SQL text of the prepared query (bind values left as placeholders).
    #[doc(hidden)]
    fn sql(query: &Self::Prepared) -> Option<String>;

    /// Collects `query` for the shard at `index` (types it uses looked up within `limit`).
    #[doc(hidden)]
    fn collect(
        pool: &ShardedPool<Self::Connection>,
        index: usize,
        query: &Self::Prepared,
        limit: Option<Duration>,
    ) -> Result<Self::Owned>;

    /// Collects `query` for each shard of `indices`, in that order (once for all of
    /// them when it is the same on every shard).
    #[doc(hidden)]
    fn collect_each(
        pool: &ShardedPool<Self::Connection>,
        indices: &[usize],
        query: &Self::Prepared,
        limit: Option<Duration>,
    ) -> Vec<(usize, Result<Self::Owned>)>;

    /// A job loading every row of the collected query.
    #[doc(hidden)]
    fn load_job(query: Self::Owned) -> Job<Self::Connection, Vec<U>>;

    /// A job loading the first row of the collected query.
    #[doc(hidden)]
    fn get_job(query: Self::Owned) -> Job<Self::Connection, U>;
}

impl<'query, A, Q, U> CanLoad<Q, U> for A
where
    A: ShardAccess,
    Q: AsQuery + RunQueryDsl<A::Connection> + LoadQuery<'query, A::Connection, U>,
    Q::Query: QueryFragment<BackendOf<A>>,
    Q::SqlType: 'static,
    OwnedQuery<Q::SqlType, BackendOf<A>>: LoadQuery<'static, A::Connection, U>,
    U: Send + 'static,
    BackendOf<A>: Default,
    <BackendOf<A> as Backend>::QueryBuilder: Default,
{
    type Prepared = Q::Query;
    type Owned = OwnedQuery<Q::SqlType, BackendOf<A>>;

    fn load_here(query: Q, conn: &mut A::Connection) -> QueryResult<Vec<U>> {
        RunQueryDsl::load(query, conn)
    }

    fn get_here(query: Q, conn: &mut A::Connection) -> QueryResult<U> {
        RunQueryDsl::get_result(query, conn)
    }

    fn prepare(query: Q) -> Q::Query {
        query.as_query()
    }

    fn sql(query: &Q::Query) -> Option<String> {
        let mut sql = <BackendOf<A> as Backend>::QueryBuilder::default();
        query.to_sql(&mut sql, &BackendOf::<A>::default()).ok()?;
        Some(sql.finish())
    }

    fn collect(
        pool: &ShardedPool<A::Connection>,
        index: usize,
        query: &Q::Query,
        limit: Option<Duration>,
    ) -> Result<Self::Owned> {
        OwnedQuery::collect_at(pool, index, query, limit)
    }

    fn collect_each(
        pool: &ShardedPool<A::Connection>,
        indices: &[usize],
        query: &Q::Query,
        limit: Option<Duration>,
    ) -> Vec<(usize, Result<Self::Owned>)> {
        OwnedQuery::collect_each(pool, indices, query, limit)
    }

    fn load_job(query: Self::Owned) -> Job<A::Connection, Vec<U>> {
        executor::job(move |conn| RunQueryDsl::load(query, conn))
    }

    fn get_job(query: Self::Owned) -> Job<A::Connection, U> {
        executor::job(move |conn| RunQueryDsl::get_result(query, conn))
    }
}

/// A pool or unit of work that can run the statement `Q` (an `UPDATE`, `DELETE` or
/// `INSERT`, or raw SQL) on its shards: whenever Diesel itself could `execute` it on one
/// of them. Implemented for every such pair; you meet it in signatures and error messages.
#[diagnostic::on_unimplemented(
    message = "this statement cannot be executed through `{Self}`",
    label = "pass `&pool` or `&mut work`, with a statement Diesel can execute",
    note = "`{Self}` must be `&ShardedPool` or `&mut ShardedConnection`, and the statement \
            must run with Diesel's own `.execute(&mut conn)` on one shard"
)]
pub trait CanExecute<Q>: ShardAccess {
    /// The statement collected for one shard.
    #[doc(hidden)]
    type Owned: Send + 'static;

    /// Runs `statement` on `conn`, on this thread.
    #[doc(hidden)]
    fn execute_here(statement: Q, conn: &mut Self::Connection) -> QueryResult<usize>;

    /// Collects `statement` for the shard at `index`.
    #[doc(hidden)]
    fn collect(
        pool: &ShardedPool<Self::Connection>,
        index: usize,
        statement: &Q,
        limit: Option<Duration>,
    ) -> Result<Self::Owned>;

    /// Collects `statement` for each shard of `indices`, in that order (once for all of
    /// them when it is the same on every shard).
    #[doc(hidden)]
    fn collect_each(
        pool: &ShardedPool<Self::Connection>,
        indices: &[usize],
        statement: &Q,
        limit: Option<Duration>,
    ) -> Vec<(usize, Result<Self::Owned>)>;

    /// A job running the collected statement.
    #[doc(hidden)]
    fn execute_job(statement: Self::Owned) -> Job<Self::Connection, usize>;
}

impl<A, Q> CanExecute<Q> for A
where
    A: ShardAccess,
    Q: RunQueryDsl<A::Connection> + ExecuteDsl<A::Connection> + QueryFragment<BackendOf<A>>,
    OwnedQuery<Untyped, BackendOf<A>>: ExecuteDsl<A::Connection>,
{
    type Owned = OwnedQuery<Untyped, BackendOf<A>>;

    fn execute_here(statement: Q, conn: &mut A::Connection) -> QueryResult<usize> {
        RunQueryDsl::execute(statement, conn)
    }

    fn collect(
        pool: &ShardedPool<A::Connection>,
        index: usize,
        statement: &Q,
        limit: Option<Duration>,
    ) -> Result<Self::Owned> {
        OwnedQuery::collect_at(pool, index, statement, limit)
    }

    fn collect_each(
        pool: &ShardedPool<A::Connection>,
        indices: &[usize],
        statement: &Q,
        limit: Option<Duration>,
    ) -> Vec<(usize, Result<Self::Owned>)> {
        OwnedQuery::collect_each(pool, indices, statement, limit)
    }

    fn execute_job(statement: Self::Owned) -> Job<A::Connection, usize> {
        executor::job(move |conn| RunQueryDsl::execute(statement, conn))
    }
}
