//! [`OwnedQuery`]: a statement collected into its SQL text and bind values, owned, so
//! that it can run on another thread than the one that built it.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use diesel::backend::Backend;
use diesel::query_builder::{
    AstPass, CollectedQuery, MoveableBindCollector, Query, QueryBuilder, QueryFragment, QueryId,
};
use diesel::{QueryResult, RunQueryDsl};

use crate::{Result, ShardBackend, ShardedPool};

/// A Diesel statement collected into its SQL text and its bind values, owning both.
///
/// The pool's worker threads run statements as `OwnedQuery`s: the query you build
/// (which may borrow from your stack: `.filter(name.eq(&input))`, a boxed query, a
/// join) is collected on your thread, and the owned copy runs on a worker while you
/// wait, at most until the call's deadline. Its SQL type is the original query's, so
/// rows load into the same types.
///
/// [`CanLoad`](crate::CanLoad) and [`CanExecute`](crate::CanExecute), the bounds of
/// `load`, `execute` and the fan-out methods, collect through it; every statement Diesel
/// can load or execute satisfies them.
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::ShardedPool;
/// use sharding_core::access::OwnedQuery;
///
/// diesel::table! { t (id) { id -> Integer, } }
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .build()?;
/// let wanted = vec![1, 2];
/// let query = t::table.select(t::id).filter(t::id.eq_any(&wanted)); // borrows `wanted`
/// let owned = OwnedQuery::collect(&pool, "s0", &query)?;
/// drop(wanted); // the owned copy no longer needs it
/// let mut conn = pool.connection("s0")?;
/// diesel::sql_query("CREATE TABLE t (id INTEGER PRIMARY KEY)").execute(&mut conn)?;
/// let ids: Vec<i32> = owned.load(&mut *conn)?;
/// assert!(ids.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OwnedQuery<ST, DB: Backend> {
    fragment: Arc<dyn QueryFragment<DB> + Send + Sync>,
    _sql_type: PhantomData<fn() -> ST>,
}

impl<ST, DB: Backend> Clone for OwnedQuery<ST, DB> {
    fn clone(&self) -> Self {
        OwnedQuery {
            fragment: Arc::clone(&self.fragment),
            _sql_type: PhantomData,
        }
    }
}

impl<ST, DB> fmt::Debug for OwnedQuery<ST, DB>
where
    DB: Backend + Default,
    DB::QueryBuilder: Default,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The SQL text is shown (it holds no bind values); the binds are not, as they
        // may hold secrets.
        let mut sql = DB::QueryBuilder::default();
        let text = match self.fragment.to_sql(&mut sql, &DB::default()) {
            Ok(()) => sql.finish(),
            Err(_) => "<unprintable>".to_owned(),
        };
        f.debug_struct("OwnedQuery").field("sql", &text).finish()
    }
}

impl<ST, DB> OwnedQuery<ST, DB>
where
    DB: Backend,
{
    /// Collects `query` for the shard `shard` of `pool` (on PostgreSQL, user-defined
    /// types are looked up on that shard). `query` is any `SELECT` (or anything that
    /// turns into one, a table say); see [`collect_statement`](Self::collect_statement)
    /// for `INSERT`, `UPDATE` and `DELETE`.
    pub fn collect<Conn, T>(pool: &ShardedPool<Conn>, shard: &str, query: &T) -> Result<Self>
    where
        Conn: ShardBackend<Backend = DB>,
        T: diesel::query_builder::AsQuery<SqlType = ST> + Clone,
        T::Query: QueryFragment<DB>,
    {
        let index = pool.shard_index(shard)?;
        Self::collect_at(
            pool,
            index,
            &query.clone().as_query(),
            pool.default_timeout(),
        )
    }

    /// Collects any statement (`INSERT`, `UPDATE`, `DELETE`, with or without
    /// `RETURNING`, or a `SELECT`) for the shard `shard` of `pool`, with the SQL type you
    /// name.
    pub fn collect_statement<Conn, T>(
        pool: &ShardedPool<Conn>,
        shard: &str,
        statement: &T,
    ) -> Result<Self>
    where
        Conn: ShardBackend<Backend = DB>,
        T: QueryFragment<DB>,
    {
        let index = pool.shard_index(shard)?;
        Self::collect_at(pool, index, statement, pool.default_timeout())
    }

    /// Collects `statement` for the shard at `index`; a user-defined type that must be
    /// looked up first (PostgreSQL) is looked up within `limit`.
    pub(crate) fn collect_at<Conn, T>(
        pool: &ShardedPool<Conn>,
        index: usize,
        statement: &T,
        limit: Option<std::time::Duration>,
    ) -> Result<Self>
    where
        Conn: ShardBackend<Backend = DB>,
        T: QueryFragment<DB> + ?Sized,
    {
        Self::collect_noting_types(pool, index, statement, limit).map(|(query, _)| query)
    }

    /// Collects `statement` for each shard of `indices`, in that order. A statement
    /// that uses no type of a shard's own (a PostgreSQL user-defined type, whose id
    /// differs between shards) is the same on every shard: it is collected once and
    /// shared, so a fan-out renders its SQL and binds once, not once per shard.
    pub(crate) fn collect_each<Conn, T>(
        pool: &ShardedPool<Conn>,
        indices: &[usize],
        statement: &T,
        limit: Option<std::time::Duration>,
    ) -> Vec<(usize, Result<Self>)>
    where
        Conn: ShardBackend<Backend = DB>,
        T: QueryFragment<DB> + ?Sized,
    {
        let mut shared: Option<Self> = None;
        let mut collected = Vec::with_capacity(indices.len());
        for &index in indices {
            let query = match &shared {
                Some(query) => Ok(query.clone()),
                None => Self::collect_noting_types(pool, index, statement, limit).map(
                    |(query, typed)| {
                        if !typed {
                            shared = Some(query.clone());
                        }
                        query
                    },
                ),
            };
            collected.push((index, query));
        }
        collected
    }

    /// Collects `statement` for the shard at `index`, and says whether it looked up
    /// any of the shard's own types.
    fn collect_noting_types<Conn, T>(
        pool: &ShardedPool<Conn>,
        index: usize,
        statement: &T,
        limit: Option<std::time::Duration>,
    ) -> Result<(Self, bool)>
    where
        Conn: ShardBackend<Backend = DB>,
        T: QueryFragment<DB> + ?Sized,
    {
        let types = crate::pool::ShardTypes::new(pool, index, limit);
        let lookups = types.lookups();
        let fragment = Conn::collect_statement(statement, Box::new(types))
            .map_err(crate::Error::on_shard(pool.id(index)))?;
        let mut lookups = lookups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(error) = lookups.failure.take() {
            return Err(error);
        }
        let query = OwnedQuery {
            fragment,
            _sql_type: PhantomData,
        };
        Ok((query, lookups.made))
    }
}

/// Collects `query` with the backend's movable bind collector: what a
/// [`ShardBackend::collect_statement`] of a built-in backend does.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn collect_with<DB, BD>(
    query: &(impl QueryFragment<DB> + ?Sized),
    lookup: &mut DB::MetadataLookup,
) -> QueryResult<Arc<dyn QueryFragment<DB> + Send + Sync>>
where
    DB: Backend + Default,
    DB::QueryBuilder: Default,
    for<'a> DB::BindCollector<'a>: MoveableBindCollector<DB, BindData = BD> + Default,
    BD: Send + Sync + 'static,
    CollectedQuery<BD>: QueryFragment<DB>,
{
    let backend = DB::default();
    let mut sql = DB::QueryBuilder::default();
    query.to_sql(&mut sql, &backend)?;
    let safe_to_cache = query.is_safe_to_cache_prepared(&backend)?;
    let mut binds = <DB::BindCollector<'_> as Default>::default();
    query.collect_binds(&mut binds, lookup, &backend)?;
    let collected = CollectedQuery::new(sql.finish(), safe_to_cache, binds.moveable());
    Ok(Arc::new(collected))
}

impl<ST, DB: Backend> Query for OwnedQuery<ST, DB> {
    type SqlType = ST;
}

impl<ST, DB: Backend> QueryId for OwnedQuery<ST, DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, DB: Backend> QueryFragment<DB> for OwnedQuery<ST, DB> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.fragment.walk_ast(pass)
    }
}

impl<ST, DB: Backend, Conn> RunQueryDsl<Conn> for OwnedQuery<ST, DB> {}
