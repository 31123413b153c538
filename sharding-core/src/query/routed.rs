//! One-shard routing: [`Routed`], by key or pinned.

use diesel::associations::HasTable;
use diesel::dsl::{Filter, Limit};
use std::time::Duration;

// Diesel names a boxed query's type only here (its `table!` macro's support module).
use diesel::internal::table_macro::{BoxedSelectStatement, FromClause};
use diesel::query_builder::{
    AsChangeset, AsQuery, DeleteStatement, IntoUpdateTarget, QueryId, UpdateStatement,
};
use diesel::query_dsl::methods::{FilterDsl, LimitDsl};
use diesel::{QuerySource, Table};

use super::forward::forward_query_dsl;
use super::multi::MultiRouted;
use super::target::Target;
use super::{KeyPredicates, RouteExplanation};
use crate::access::ShardAccess;
use crate::executor::{self, Job};
use crate::fanout::{FanOut, Parallelism, RunOptions};
use crate::{
    CanExecute, CanLoad, Error, Result, ShardBackend, ShardId, ShardKey, ShardedModel, ShardedPool,
    ShardedTable,
};

/// A Diesel query bound for one shard: the shard that owns a key
/// ([`for_key`](KeyRoutingDsl::for_key)) or a shard you named
/// ([`set_shard`](ShardPinDsl::set_shard)).
///
/// Keep building it with Diesel's methods, then run it with [`load`](Self::load),
/// [`get_result`](Self::get_result), [`first`](Self::first) or
/// [`execute`](Self::execute), passing `&pool` or `&mut sharded_connection`.
#[derive(Debug, Clone)]
#[must_use = "a routed query does nothing until it is run with `.load(&pool)` or `.execute(&pool)`"]
pub struct Routed<Q> {
    query: Q,
    target: Target,
    timeout: Option<Duration>,
}

impl<Q> Routed<Q> {
    fn new(query: Q, target: Target) -> Self {
        Routed {
            query,
            target,
            timeout: None,
        }
    }

    fn map_query<Q2>(self, f: impl FnOnce(Q) -> Q2) -> Routed<Q2> {
        Routed {
            query: f(self.query),
            target: self.target,
            timeout: self.timeout,
        }
    }

    /// Sets this call's deadline: the call returns within `limit` (plus a few
    /// milliseconds), with [`Error::Timeout`] naming the shard if the shard has not
    /// answered by then, **even if the network to it stalls** (bytes stop, nothing is
    /// refused or closed). Overrides the pool's
    /// [`default_timeout`](crate::ShardedPoolBuilder::default_timeout).
    ///
    /// How it holds: the statement is collected into an [`OwnedQuery`](crate::access::OwnedQuery) on your thread
    /// and runs on one of the pool's worker threads while you wait. At the deadline you
    /// get the timeout; the worker stays with the statement until it returns, and then
    /// drops its connection (it is never handed out again), and the statement is cancelled
    /// from another connection (`pg_cancel_backend`, `KILL QUERY`). The limit also bounds
    /// the checkout, and is sent to the server as a statement limit, which ends a
    /// statement that is merely slow: PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`, MySQL `max_execution_time` (`SELECT`s only). SQLite has no
    /// server: the caller still returns at the deadline, and the statement runs on until
    /// it finishes.
    ///
    /// **What is not promised:** a write that timed out may still have committed (the
    /// answer is what did not arrive), so retry writes idempotently.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The Diesel query inside, without its routing.
    pub fn into_query(self) -> Q {
        self.query
    }

    /// The shard this query would run on in `pool`.
    pub fn shard<'p, Conn: ShardBackend>(
        &self,
        pool: &'p ShardedPool<Conn>,
    ) -> Result<&'p ShardId> {
        Ok(pool.id(self.index(pool)?))
    }

    /// Which shard this query would run on in `pool`, and why, without running it.
    pub fn explain_route<Conn: ShardBackend>(
        &self,
        pool: &ShardedPool<Conn>,
    ) -> Result<RouteExplanation> {
        self.target.explain(pool)
    }

    fn index<Conn: ShardBackend>(&self, pool: &ShardedPool<Conn>) -> Result<usize> {
        self.target.index(pool)
    }

    /// The call's deadline in `pool`: its own, or the pool's default.
    fn deadline<Conn: ShardBackend>(&self, pool: &ShardedPool<Conn>) -> Option<Duration> {
        self.timeout.or(pool.default_timeout())
    }

    /// Runs the query on the caller's thread (no deadline) with `inline`, or as the job
    /// `collected` makes of it, on a worker under the deadline.
    fn run<A: ShardAccess, R: Send + 'static>(
        self,
        mut access: A,
        rows: fn(&R) -> Option<usize>,
        inline: impl FnOnce(Q, &mut A::Connection) -> diesel::QueryResult<R>,
        collected: impl FnOnce(
            Q,
            &ShardedPool<A::Connection>,
            usize,
            Duration,
        ) -> Result<Job<A::Connection, R>>,
    ) -> Result<R> {
        let index = self.index(access.sharded_pool())?;
        let Some(limit) = self.deadline(access.sharded_pool()) else {
            let query = self.query;
            return access.run_at(index, rows, |conn| inline(query, conn));
        };
        let job = collected(self.query, access.sharded_pool(), index, limit)?;
        let options = RunOptions {
            parallelism: Parallelism::Sequential,
            timeout: Some(limit),
            stop_on_failure: true,
            stop_on_rows: false,
        };
        match access.run_jobs(vec![(index, job)], options, rows).pop() {
            Some((_, result)) => result,
            // A single job always leaves a result; this is never reached.
            None => Err(Error::Timeout {
                shard: access.sharded_pool().id(index).clone(),
                limit,
            }),
        }
    }

    /// Runs the query and returns every row, like Diesel's `RunQueryDsl::load`: pass
    /// `&pool` or `&mut work` (a [`ShardedConnection`](crate::ShardedConnection)).
    ///
    /// ```
    /// # use diesel::prelude::*;
    /// # use diesel::SqliteConnection;
    /// # use sharding_core::{KeyRoutingDsl, ShardedPool, ShardedTable};
    /// # diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
    /// # impl ShardedTable for orders::table {
    /// #     type KeyColumn = orders::customer_id;
    /// #     fn key_column() -> Self::KeyColumn { orders::customer_id }
    /// # }
    /// # let dir = tempfile::tempdir()?;
    /// # let pool = ShardedPool::<SqliteConnection>::builder()
    /// #     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    /// #     .build()?;
    /// # diesel::sql_query("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT)")
    /// #     .execute(&mut pool.connection("s0")?)?;
    /// let ids = orders::table.select(orders::id).for_key(42_i64).load::<i64>(&pool)?;
    /// assert!(ids.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load<U: Send + 'static>(self, access: impl CanLoad<Q, U>) -> Result<Vec<U>> {
        self.load_via(access)
    }

    fn load_via<U: Send + 'static, A: CanLoad<Q, U>>(self, access: A) -> Result<Vec<U>> {
        self.run(
            access,
            executor::rows_of_vec,
            A::load_here,
            |q, pool, index, limit| {
                A::collect(pool, index, &A::prepare(q), Some(limit)).map(A::load_job)
            },
        )
    }

    /// The same as [`load`](Self::load), like Diesel's `get_results`.
    pub fn get_results<U: Send + 'static>(self, access: impl CanLoad<Q, U>) -> Result<Vec<U>> {
        self.load_via(access)
    }

    /// Runs the query and returns its first row; no row is an error for which
    /// [`Error::is_not_found`] is true (see [`OptionalExtension`](crate::OptionalExtension)).
    pub fn get_result<U: Send + 'static>(self, access: impl CanLoad<Q, U>) -> Result<U> {
        self.get_via(access)
    }

    fn get_via<U: Send + 'static, A: CanLoad<Q, U>>(self, access: A) -> Result<U> {
        self.run(
            access,
            executor::one_row,
            A::get_here,
            |q, pool, index, limit| {
                A::collect(pool, index, &A::prepare(q), Some(limit)).map(A::get_job)
            },
        )
    }

    /// Adds `LIMIT 1`, runs the query and returns the row, like Diesel's `first`.
    pub fn first<U: Send + 'static>(self, access: impl CanLoad<Limit<Q>, U>) -> Result<U>
    where
        Q: LimitDsl,
    {
        self.map_query(|q| q.limit(1)).get_via(access)
    }

    /// Runs an `UPDATE`, `DELETE` or `INSERT` and returns the number of rows affected.
    pub fn execute(self, access: impl CanExecute<Q>) -> Result<usize> {
        self.execute_via(access)
    }

    fn execute_via<A: CanExecute<Q>>(self, access: A) -> Result<usize> {
        self.run(
            access,
            executor::rows_affected,
            A::execute_here,
            |q, pool, index, limit| A::collect(pool, index, &q, Some(limit)).map(A::execute_job),
        )
    }

    /// Turns a routed `SELECT … WHERE …` into a routed `UPDATE` of the same rows, on the
    /// same shard. Follow with [`set`](Routed::set).
    pub fn update(self) -> Routed<UpdateStatement<Q::Table, Q::WhereClause>>
    where
        Q: IntoUpdateTarget,
    {
        self.map_query(diesel::update)
    }

    /// Turns a routed `SELECT … WHERE …` into a routed `DELETE` of the same rows, on the
    /// same shard.
    pub fn delete(self) -> Routed<DeleteStatement<Q::Table, Q::WhereClause>>
    where
        Q: IntoUpdateTarget,
    {
        self.map_query(diesel::delete)
    }
}

impl<T: QuerySource, U> Routed<UpdateStatement<T, U>> {
    /// The `SET` clause of a routed update, like Diesel's `UpdateStatement::set`.
    pub fn set<V>(self, values: V) -> Routed<UpdateStatement<T, U, V::Changeset>>
    where
        T: Table,
        V: AsChangeset<Target = T>,
        UpdateStatement<T, U, V::Changeset>: AsQuery,
    {
        self.map_query(|q| q.set(values))
    }
}

forward_query_dsl!(Routed<Q>);

/// `column = key`, as built by [`KeyPredicates`].
pub type KeyEq<Col, K> = <Col as KeyPredicates<K>>::Eq;

/// The shard-key column of a query's table.
pub type KeyColumnOf<Q> = <<Q as HasTable>::Table as ShardedTable>::KeyColumn;

/// Routes queries on a sharded table (and `SELECT`s built from one) by shard key.
///
/// Implemented for every Diesel table that implements [`ShardedTable`] (which
/// `#[derive(ShardedModel)]` does) and every single-table `SELECT` built on one. For `UPDATE`
/// and `DELETE` statements see [`StatementRoutingDsl`].
///
/// The key is type-checked against the key column's SQL type: passing a `String` for a
/// `BigInt` key, or an `i32` for it, does not compile.
pub trait KeyRoutingDsl: Sized + HasTable<Table: ShardedTable> {
    /// Adds `WHERE key_column = key` and routes the query to the shard that owns `key`.
    fn for_key<K>(self, key: K) -> Routed<Filter<Self, KeyEq<KeyColumnOf<Self>, K>>>
    where
        K: ShardKey,
        KeyColumnOf<Self>: KeyPredicates<K>,
        Self: FilterDsl<KeyEq<KeyColumnOf<Self>, K>>,
    {
        let target = Target::key(&key);
        Routed::new(
            self.filter(<Self::Table as ShardedTable>::key_column().key_eq(key)),
            target,
        )
    }

    /// Runs the query on each shard that owns one of `keys`, adding
    /// `WHERE key_column IN (that shard's keys)`; each row comes back tagged with its
    /// shard.
    fn for_keys<K, I>(self, keys: I) -> MultiRouted<Self, KeyColumnOf<Self>, K>
    where
        I: IntoIterator<Item = K>,
        K: ShardKey,
    {
        MultiRouted::new(
            self,
            <Self::Table as ShardedTable>::key_column(),
            keys.into_iter().collect(),
        )
    }
}

impl<Q> KeyRoutingDsl for Q where Q: HasTable<Table: ShardedTable> {}

/// The shard-key column of an `UPDATE` or `DELETE` statement's table.
pub type StatementKeyColumn<S> = <<S as StatementRoutingDsl>::Table as ShardedTable>::KeyColumn;

/// Routes by shard key the queries Diesel gives no [`HasTable`] for: `UPDATE` and
/// `DELETE` statements on a sharded table, and boxed `SELECT`s on one
/// (`orders::table.into_boxed()` with its dynamic filters):
/// `diesel::update(orders::table.filter(..)).set(..).for_key(&42).execute(&pool)`.
///
/// ```
/// # use diesel::prelude::*;
/// use sharding_core::StatementRoutingDsl;
/// # diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, amount_cents -> BigInt, } }
/// # impl sharding_core::ShardedTable for orders::table {
/// #     type KeyColumn = orders::customer_id;
/// #     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// # }
/// # let min_cents: Option<i64> = Some(500);
/// // A filter built at run time, then routed to customer 7's shard.
/// let mut query = orders::table.select(orders::id).into_boxed::<diesel::sqlite::Sqlite>();
/// if let Some(min) = min_cents {
///     query = query.filter(orders::amount_cents.ge(min));
/// }
/// let routed = query.for_key(7_i64);
/// // routed.load::<i64>(&pool)?
/// ```
///
/// A boxed query cannot be cloned, so it has no [`for_keys`](Self::for_keys) (which
/// runs one copy per shard): build the query once per key, or filter with
/// `key.eq_any(keys)` and fan it out with [`all_shards`](ShardPinDsl::all_shards).
/// See [`KeyRoutingDsl`] for other `SELECT`s.
pub trait StatementRoutingDsl: Sized {
    /// The statement's table.
    type Table: ShardedTable;

    /// Adds `WHERE key_column = key` and routes the statement to the shard that owns `key`.
    fn for_key<K>(self, key: K) -> Routed<Filter<Self, KeyEq<StatementKeyColumn<Self>, K>>>
    where
        K: ShardKey,
        StatementKeyColumn<Self>: KeyPredicates<K>,
        Self: FilterDsl<KeyEq<StatementKeyColumn<Self>, K>>,
    {
        let target = Target::key(&key);
        Routed::new(
            self.filter(<Self::Table as ShardedTable>::key_column().key_eq(key)),
            target,
        )
    }

    /// Runs the statement on each shard that owns one of `keys`, adding
    /// `WHERE key_column IN (that shard's keys)`.
    fn for_keys<K, I>(self, keys: I) -> MultiRouted<Self, StatementKeyColumn<Self>, K>
    where
        I: IntoIterator<Item = K>,
        K: ShardKey,
    {
        MultiRouted::new(
            self,
            <Self::Table as ShardedTable>::key_column(),
            keys.into_iter().collect(),
        )
    }
}

impl<T: ShardedTable, U, V, Ret> StatementRoutingDsl for UpdateStatement<T, U, V, Ret> {
    type Table = T;
}

impl<T: ShardedTable, U, Ret> StatementRoutingDsl for DeleteStatement<T, U, Ret> {
    type Table = T;
}

impl<'a, ST, T: ShardedTable, DB, GB> StatementRoutingDsl
    for BoxedSelectStatement<'a, ST, FromClause<T>, DB, GB>
{
    type Table = T;
}

/// Runs any Diesel query or statement on a shard you choose, or on every shard.
/// Implemented for everything Diesel can run (every type with a `QueryId`: tables,
/// `SELECT`s, boxed queries, `INSERT`/`UPDATE`/`DELETE`, `sql_query`), and nothing else:
/// `42.set_shard("s0")` does not compile, nor does routing a query twice.
pub trait ShardPinDsl: Sized + QueryId {
    /// Runs the query on `shard`, whatever its keys (SQLAlchemy's
    /// `Query.set_shard`). An unknown shard id fails with [`Error::UnknownShard`] when
    /// the query runs.
    fn set_shard(self, shard: impl Into<ShardId>) -> Routed<Self> {
        Routed::new(self, Target::Shard(shard.into()))
    }

    /// Runs the query or statement on the shard that owns `row` (a parent whose shard its
    /// children share), without adding a filter: for Diesel's
    /// `Child::belonging_to(&parent)`, so that the children of a loaded parent are read
    /// from the parent's shard only, and for children whose table has no shard-key column
    /// (SQLAlchemy's weather/report pattern), written there too:
    /// `diesel::insert_into(reports::table).values(&report).on_shard_of(&location).execute(&pool)`.
    fn on_shard_of<Row: ShardedModel + ?Sized>(self, row: &Row) -> Routed<Self> {
        Routed::new(self, Target::key(&row.shard_key()))
    }

    /// Runs the query on every shard (in parallel by default), for a result merged in
    /// the shape you choose: see [`FanOut`].
    fn all_shards(self) -> FanOut<Self> {
        FanOut::new(self)
    }
}

impl<Q: QueryId> ShardPinDsl for Q {}
