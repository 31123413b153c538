//! [`ShardedPool`]: one r2d2 pool per shard, plus the router; its builder, its unit of
//! work and the r2d2 types underneath.

mod checkout;
mod inner;
mod positions;
mod session;
mod types;

pub use crate::builder::{ShardedPoolBuilder, MAX_POOL_SIZE, MAX_TIME_LIMIT};
pub use crate::connection::ShardedConnection;
pub use crate::migrations::MigrationReport;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::insertable::Insertable;
use diesel::migration::MigrationSource;
use diesel::query_builder::{InsertStatement, QueryFragment};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::sql_types::Untyped;
use diesel_migrations::MigrationHarness;

use crate::access::OwnedQuery;
use crate::events::{ShardEvent, ShardStats};
use crate::executor::workers::Workers;
use crate::fanout::IdChooser;
use crate::ids::{IdLayout, ShardEncodedIds};
use crate::insert_batch::InsertBatch;
use crate::model::TableOf;
use crate::shard_id::list_ids;
use crate::{
    Error, Result, Router, RoutingKey, ShardBackend, ShardId, ShardKey, ShardedModel,
    TransactionError,
};

pub(crate) use checkout::hand_out;
pub(crate) use inner::{Execution, PoolInner, Routing, ShardSlot};
pub(crate) use types::ShardTypes;

/// Diesel's r2d2 pool for one database: what a shard (or the logical shards sharing
/// a pool) checks its connections out of. See [`ShardedPoolBuilder::shard_pool`].
pub type R2d2Pool<Conn> = Pool<ConnectionManager<Conn>>;

/// A connection checked out of one shard's pool; it goes back when dropped.
pub type R2d2PooledConnection<Conn> = PooledConnection<ConnectionManager<Conn>>;

/// One logical database spread over several shards: an r2d2 pool per shard and the
/// [`Router`] that decides which shard owns a key.
///
/// Cheap to clone (an `Arc`); share it between threads. Run statements through it
/// directly (each statement checks out a connection and returns it), or take a
/// [`ShardedConnection`] with [`unit_of_work`](Self::unit_of_work) to keep one
/// connection per shard for a unit of work.
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::ShardedPool;
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
///     .build()?;
///
/// let owner = pool.shard_for_key(&42_i64)?;
/// assert!(pool.shard_ids().contains(owner));
///
/// // Plain Diesel on one shard.
/// let mut conn = pool.connection("s1")?;
/// diesel::sql_query("CREATE TABLE t (id INTEGER PRIMARY KEY)").execute(&mut conn)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedPool<Conn: ShardBackend> {
    inner: Arc<PoolInner<Conn>>,
}

impl<Conn: ShardBackend> Clone for ShardedPool<Conn> {
    fn clone(&self) -> Self {
        ShardedPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Conn: ShardBackend> fmt::Debug for ShardedPool<Conn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedPool")
            .field("shards", &self.inner.ids)
            .field("router", &self.inner.router)
            .finish_non_exhaustive()
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Starts configuring a pool. See [`ShardedPoolBuilder`].
    pub fn builder() -> ShardedPoolBuilder<Conn> {
        ShardedPoolBuilder::new()
    }

    pub(crate) fn from_inner(inner: PoolInner<Conn>) -> Self {
        ShardedPool {
            inner: Arc::new(inner),
        }
    }

    /// The shards' ids, in the order they were added to the builder.
    pub fn shard_ids(&self) -> &[ShardId] {
        &self.inner.ids
    }

    /// The router in use.
    pub fn router(&self) -> &dyn Router {
        &*self.inner.router
    }

    /// The layout of this pool's shard-encoding ids, if declared with
    /// [`ShardedPoolBuilder::encoded_ids`].
    pub fn encoded_ids(&self) -> Option<&IdLayout> {
        self.inner.encoded_ids.as_ref()
    }

    /// A new id, from `generator`, for a row whose shard key is `key`: the id names the
    /// shard that owns `key`, so a later get-by-id asks that shard only.
    ///
    /// ```
    /// use diesel::SqliteConnection;
    /// use sharding_core::ShardedPool;
    /// use sharding_core::ids::{IdLayout, ShardEncodedIds};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
    ///     .encoded_ids(IdLayout::default())
    ///     .build()?;
    /// let ids = ShardEncodedIds::new(IdLayout::default(), 0)?;
    /// let id = pool.new_id_for_key(&ids, &42_i64)?;
    /// assert_eq!(ids.layout().shard_of(id, pool.shard_ids())?, pool.shard_for_key(&42_i64)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_id_for_key<K: ShardKey + ?Sized>(
        &self,
        generator: &ShardEncodedIds,
        key: &K,
    ) -> Result<i64> {
        let position = self.route_key_index(key, "row")?;
        generator.generate(position as u64)
    }

    /// The id chooser in use (see [`ShardedPoolBuilder::id_chooser`]).
    pub fn id_chooser(&self) -> &dyn IdChooser {
        &*self.inner.id_chooser
    }

    /// The shard that owns `key`, according to the router.
    ///
    /// Fails with [`Error::MissingKey`] for a `None` key, with the router's error when
    /// no shard owns the key, and with [`Error::RoutedToUnknownShard`] when the router
    /// names a shard this pool does not have.
    pub fn shard_for_key<K: ShardKey + ?Sized>(&self, key: &K) -> Result<&ShardId> {
        let index = self.route_key_index(key, "query")?;
        Ok(&self.inner.ids[index])
    }

    /// A unit of work: checks out at most one connection per shard, lazily, and keeps
    /// it until dropped. Opens no connection by itself, so it cannot fail; a shard that
    /// is down fails the first statement sent to it, naming the shard.
    ///
    /// ```
    /// # use diesel::SqliteConnection;
    /// # let dir = tempfile::tempdir()?;
    /// # let pool = sharding_core::ShardedPool::<SqliteConnection>::builder()
    /// #     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    /// #     .build()?;
    /// let mut work = pool.unit_of_work();
    /// assert_eq!(work.held_shards().count(), 0); // nothing checked out yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unit_of_work(&self) -> ShardedConnection<Conn> {
        ShardedConnection::new(self.clone())
    }

    /// Renamed [`unit_of_work`](Self::unit_of_work): unlike r2d2's `Pool::get`, it checks
    /// nothing out and cannot fail.
    #[deprecated(
        note = "renamed `unit_of_work()`: it checks nothing out and cannot fail, unlike r2d2's \
                `get`; for one shard's r2d2 connection use `connection(shard)`"
    )]
    pub fn get(&self) -> ShardedConnection<Conn> {
        self.unit_of_work()
    }

    /// Checks out a connection to one shard, for plain Diesel.
    ///
    /// On a logical shard the connection is on the shard's schema or database. What you
    /// run on it cannot send later statements elsewhere: a connection handed out here
    /// is switched to its shard again the next time the pool hands it out, even if you
    /// ran `SET search_path`, `USE` or `DISCARD ALL` on it.
    pub fn connection(&self, shard: &str) -> Result<R2d2PooledConnection<Conn>> {
        let index = self.shard_index(shard)?;
        let mut conn = self.checkout(index)?;
        hand_out(&mut conn).map_err(Error::on_shard(self.id(index)))?;
        Ok(conn)
    }

    /// Checks out a connection to the shard that owns `key`, and names that shard.
    pub fn connection_for_key<K: ShardKey + ?Sized>(
        &self,
        key: &K,
    ) -> Result<(ShardId, R2d2PooledConnection<Conn>)> {
        let shard = self.shard_for_key(key)?.clone();
        let conn = self.connection(shard.as_str())?;
        Ok((shard, conn))
    }

    /// A connection to one shard for running migrations with Diesel's
    /// `MigrationHarness`: a logical shard's schema or database is created first if it
    /// does not exist.
    pub fn migration_connection(&self, shard: &str) -> Result<R2d2PooledConnection<Conn>> {
        let index = self.shard_index(shard)?;
        let mut conn = self.checkout_for_migrations(index)?;
        hand_out(&mut conn).map_err(Error::on_shard(self.id(index)))?;
        Ok(conn)
    }

    /// The r2d2 pool of one shard (for its [`state`](Pool::state), say). A logical
    /// shard's pool is shared with the other logical shards on it, and its `state()`
    /// counts the idle connections kept on a namespace ([`kept_idle`](Self::kept_idle))
    /// as in use.
    pub fn shard_pool(&self, shard: &str) -> Result<&R2d2Pool<Conn>> {
        Ok(&self.inner.pools[self.inner.slots[self.shard_index(shard)?].pool])
    }

    /// How many idle connections of `shard`'s pool are kept aside on the namespace of the
    /// logical shard they last served (0 for a physical shard). They serve the next
    /// statements without a switch, and go back to r2d2 after 60 s unused.
    pub fn kept_idle(&self, shard: &str) -> Result<usize> {
        let physical = self.inner.slots[self.shard_index(shard)?].pool;
        let stash = self.inner.stashes[physical]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(stash.len())
    }

    /// The schema or database of a logical shard, `None` for a physical shard.
    pub fn shard_namespace(&self, shard: &str) -> Result<Option<&str>> {
        Ok(self.inner.slots[self.shard_index(shard)?]
            .namespace
            .as_deref())
    }

    /// How many times a pooled connection was switched to another logical shard's
    /// namespace since the pool was built (`SET search_path` / `USE` statements run).
    pub fn namespace_switches(&self) -> u64 {
        self.inner.namespace_switches.load(Ordering::Relaxed)
    }

    /// The deadline of calls that set none of their own
    /// ([`ShardedPoolBuilder::default_timeout`]), if there is one.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.inner.default_timeout
    }

    /// How many worker threads this pool keeps at most for fan-outs and calls with a
    /// deadline ([`ShardedPoolBuilder::worker_threads`]).
    pub fn worker_threads(&self) -> usize {
        self.inner.workers.size()
    }

    /// How many worker threads this pool has started since it was built. Workers are
    /// started on demand and kept: this stays put however many calls run, except when a
    /// shard stalls (a worker stuck on it is replaced, so that the others keep serving).
    ///
    /// ```
    /// use diesel::SqliteConnection;
    /// use sharding_core::{ShardPinDsl, ShardedPool};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
    ///     .build()?;
    /// let count = || diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT 1").all_shards().count(&pool);
    /// count()?;
    /// let started = pool.worker_threads_started();
    /// for _ in 0..100 {
    ///     count()?;
    /// }
    /// assert_eq!(pool.worker_threads_started(), started);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_threads_started(&self) -> u64 {
        self.inner.workers.threads_started()
    }

    /// Waits, at most `limit`, for the statements still running on this pool's worker
    /// threads, then drops this handle; returns whether none was left running.
    ///
    /// A statement can outlive the call that started it in two cases: the shards a
    /// [`find_first`](crate::FanOut::find_first) search no longer waits for once it has
    /// its hit, and a statement given up on at its deadline, which runs on until the
    /// server or the network lets it go (its connection is then dropped). Call `close`
    /// before a process exits, so that such statements finish, and their connections
    /// close, before the process tears down its TLS libraries: libpq can abort a process
    /// that exits while another thread closes a TLS connection.
    ///
    /// The pool itself closes when its last handle (this one or a clone) is dropped.
    /// What `close` cannot wait for is a connection r2d2 is opening on its own threads.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diesel::SqliteConnection;
    /// use sharding_core::ShardedPool;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .build()?;
    /// assert!(pool.close(Duration::from_secs(5)), "nothing was running");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self, limit: Duration) -> bool {
        self.inner.workers.wait_idle(limit)
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.inner.workers
    }

    /// Each shard's counters since the pool was built: statements, errors, timeouts,
    /// namespace switches, rows and a latency histogram, in pool order.
    ///
    /// ```
    /// use diesel::SqliteConnection;
    /// use sharding_core::{ShardPinDsl, ShardedPool};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
    ///     .build()?;
    /// diesel::sql_query("SELECT 1").set_shard("s1").execute(&pool)?;
    /// let stats = pool.stats();
    /// assert_eq!((stats[0].statements, stats[1].statements), (0, 1));
    /// assert!(stats[1].latency.quantile(0.99).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Vec<ShardStats> {
        self.inner
            .counters
            .iter()
            .zip(&self.inner.ids)
            .map(|(counters, id)| counters.snapshot(id))
            .collect()
    }

    /// Notes how long one of a search's statements took on the shard at `index`.
    pub(crate) fn note_search(&self, index: usize, took: Duration) {
        self.inner.counters[index].note_search(took);
    }

    /// A low estimate of a search statement's time on the shard at `index`.
    pub(crate) fn search_floor(&self, index: usize) -> Option<Duration> {
        self.inner.counters[index].search_floor()
    }

    /// Counts a statement and hands it to the event handler.
    pub(crate) fn record_event(&self, index: usize, event: &ShardEvent<'_>) {
        self.inner.counters[index].record(event);
        self.inner.events.handle_event(event);
    }

    /// Inserts one row on the shard its key routes to.
    /// See [`ShardedConnection::insert`].
    pub fn insert<Row>(&self, row: Row) -> Result<usize>
    where
        Row: ShardedModel + Insertable<TableOf<Row>>,
        InsertStatement<TableOf<Row>, Row::Values>: ExecuteDsl<Conn> + QueryFragment<Conn::Backend>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        self.unit_of_work().insert(row)
    }

    /// Inserts rows on the shards their keys route to, one transaction per shard.
    /// See [`ShardedConnection::insert_all`] for batching and atomicity.
    pub fn insert_all<Rows>(&self, rows: Rows) -> Result<usize>
    where
        Rows: IntoIterator,
        Rows::Item: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        self.unit_of_work().insert_all(rows)
    }

    /// Runs `f` in a transaction on `shard`. See [`ShardedConnection::transaction`].
    pub fn transaction<T, E, F>(&self, shard: &str, f: F) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.unit_of_work().transaction(shard, f)
    }

    /// Runs `f` in a transaction on `shard` under a deadline that holds even if the
    /// network stalls. See [`ShardedConnection::transaction_within`].
    pub fn transaction_within<T, E, F>(
        &self,
        shard: &str,
        limit: Duration,
        f: F,
    ) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<diesel::result::Error> + Send + 'static,
    {
        self.unit_of_work().transaction_within(shard, limit, f)
    }

    /// Runs `f` in a transaction on the shard that owns `key`.
    /// See [`ShardedConnection::transaction`].
    pub fn transaction_for_key<K, T, E, F>(&self, key: &K, f: F) -> Result<T, TransactionError<E>>
    where
        K: ShardKey + ?Sized,
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.unit_of_work().transaction_for_key(key, f)
    }

    /// Runs the pending migrations on every shard.
    /// See [`ShardedConnection::run_pending_migrations`].
    pub fn run_pending_migrations<S>(&self, source: S) -> Result<MigrationReport>
    where
        S: MigrationSource<Conn::Backend>,
        Conn: MigrationHarness<Conn::Backend>,
    {
        self.unit_of_work().run_pending_migrations(source)
    }

    pub(crate) fn insert_batch_rows(&self) -> usize {
        self.inner.insert_batch_rows
    }

    pub(crate) fn shard_index(&self, shard: &str) -> Result<usize> {
        self.inner
            .index
            .get(shard)
            .copied()
            .ok_or_else(|| Error::UnknownShard {
                shard: ShardId::from(shard),
                known: list_ids(&self.inner.ids),
            })
    }

    /// The position of the shard that owns `key`. The common case (a router that gives
    /// a position in range) stays short; the rest is out of line, so that a keyed
    /// statement's own code takes few instruction-cache lines.
    #[inline]
    pub(crate) fn route_index(&self, key: RoutingKey<'_>) -> Result<usize> {
        match self.inner.router.route_position(key, &self.inner.ids) {
            Some(Ok(i)) if i < self.inner.ids.len() => Ok(i),
            position => self.route_index_otherwise(key, position),
        }
    }

    /// [`route_index`](Self::route_index) for a router that routes by name, or a
    /// position out of range, or an error.
    #[inline(never)]
    fn route_index_otherwise(
        &self,
        key: RoutingKey<'_>,
        position: Option<Result<usize>>,
    ) -> Result<usize> {
        // `route_index` took every position in range.
        match position {
            Some(Ok(i)) => {
                return Err(Error::RoutedToUnknownShard {
                    router: self.inner.router.name(),
                    key: key.to_string(),
                    shard: ShardId::from(format!("#{i}")),
                    known: list_ids(&self.inner.ids),
                })
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        let shard = self.inner.router.route(key, &self.inner.ids)?;
        self.inner
            .index
            .get(&shard)
            .copied()
            .ok_or_else(|| Error::RoutedToUnknownShard {
                router: self.inner.router.name(),
                key: key.to_string(),
                shard,
                known: list_ids(&self.inner.ids),
            })
    }

    pub(crate) fn route_key_index<K: ShardKey + ?Sized>(
        &self,
        key: &K,
        what: &'static str,
    ) -> Result<usize> {
        self.route_index(key.routing_key().ok_or(Error::MissingKey { what })?)
    }

    /// The tag of the shard at `index` in atomic transactions, if read already.
    pub(crate) fn branch_tag(&self, index: usize) -> &OnceLock<Arc<str>> {
        &self.inner.branch_tags[index]
    }

    /// Takes the decisions the shard at `index` coordinated that are no longer needed (at
    /// most 100: one statement's worth).
    pub(crate) fn take_finished_decisions(&self, index: usize) -> Vec<Arc<str>> {
        let mut queue = self.inner.finished_decisions[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let keep = queue.len().saturating_sub(100);
        queue.split_off(keep)
    }

    /// Notes decisions the shard at `index` coordinated that are no longer needed.
    pub(crate) fn finished_decisions(&self, index: usize, ids: Vec<Arc<str>>) {
        self.inner.finished_decisions[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ids);
    }

    /// Whether the shard at `index` is known to have its decision log table.
    pub(crate) fn decision_log_ready(&self, index: usize) -> &AtomicBool {
        &self.inner.decision_logs[index]
    }

    pub(crate) fn id(&self, index: usize) -> &ShardId {
        &self.inner.ids[index]
    }

    /// The index of the physical pool behind the shard at `index`.
    pub(crate) fn physical_pool_of(&self, index: usize) -> usize {
        self.inner.slots[index].pool
    }

    /// The physical pool at `physical`.
    pub(crate) fn physical_pool(&self, physical: usize) -> &R2d2Pool<Conn> {
        &self.inner.pools[physical]
    }
}
