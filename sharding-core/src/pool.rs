//! [`ShardedPool`]: one r2d2 pool per shard, plus the router.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::insertable::Insertable;
use diesel::migration::MigrationSource;
use diesel::query_builder::{InsertStatement, QueryFragment};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::sql_types::Untyped;
use diesel_migrations::MigrationHarness;

use crate::backend::mark_broken;
use crate::events::{HandleEvent, Operation, ShardCounters, ShardEvent, ShardStats};
use crate::executor::workers::Workers;
use crate::executor::Checkout;
use crate::insert_batch::InsertBatch;
use crate::redact::Redactor;
use crate::shard_id::list_ids;
use crate::{
    Error, IdChooser, IdLayout, MigrationReport, OwnedQuery, Result, Router, RoutingKey,
    ShardBackend, ShardEncodedIds, ShardId, ShardKey, ShardedConnection, ShardedModel,
    ShardedPoolBuilder, TableOf, TransactionError,
};

/// The r2d2 pool of one shard.
pub type ShardPool<Conn> = Pool<ConnectionManager<Conn>>;

/// A connection checked out of one shard's pool; it goes back when dropped.
pub type ShardPooledConnection<Conn> = PooledConnection<ConnectionManager<Conn>>;

pub(crate) struct PoolInner<Conn: ShardBackend> {
    ids: Vec<ShardId>,
    slots: Vec<ShardSlot>,
    pools: Vec<ShardPool<Conn>>,
    /// Per physical pool: what to mask in messages about it.
    redactors: Vec<Redactor>,
    /// Per physical pool: idle connections kept on their logical shard's namespace.
    stashes: Vec<Mutex<Vec<Stashed<Conn>>>>,
    index: HashMap<ShardId, usize>,
    router: Box<dyn Router>,
    id_chooser: Box<dyn IdChooser>,
    encoded_ids: Option<IdLayout>,
    insert_batch_rows: usize,
    namespace_switches: AtomicU64,
    events: Box<dyn HandleEvent>,
    /// Per shard, in pool order.
    counters: Vec<ShardCounters>,
    /// The threads fan-outs and statements with a deadline run on.
    workers: Workers,
    /// The deadline of calls that set none of their own.
    default_timeout: Option<Duration>,
    /// User-defined types' ids (PostgreSQL), per shard, name and schema.
    type_ids: Mutex<HashMap<TypeKey, (u32, u32)>>,
    /// Whether deadlines are also sent to the server as session statement limits.
    server_limits: bool,
    /// Per shard: whether a cancel request is on its way (at most one at a time).
    cancelling: Vec<AtomicBool>,
    /// Per shard: whether its decision log (atomic transactions) is known to exist.
    decision_logs: Vec<AtomicBool>,
    /// Per shard: its tag in atomic transactions' ids, once read.
    branch_tags: Vec<OnceLock<Arc<str>>>,
    /// Per shard: decisions it coordinated whose branches all committed, to delete with
    /// its next decision.
    finished_decisions: Vec<Mutex<Vec<Arc<str>>>>,
}

/// A user-defined type of one shard: shard position, schema, name.
type TypeKey = (usize, Option<String>, String);

/// Where one shard lives: a physical pool, and for a logical shard its namespace there.
pub(crate) struct ShardSlot {
    pub(crate) pool: usize,
    pub(crate) namespace: Option<Arc<str>>,
}

impl ShardSlot {
    pub(crate) fn physical(pool: usize) -> Self {
        ShardSlot {
            pool,
            namespace: None,
        }
    }
}

/// An idle connection of a shared pool, kept aside on the namespace of the logical
/// shard it last served, so that the next statement for that shard needs no switch.
struct Stashed<Conn: ShardBackend> {
    shard: usize,
    conn: ShardPooledConnection<Conn>,
    since: Instant,
}

/// How long a stashed connection may wait for its shard before it goes back to r2d2
/// (r2d2's own idle timeout when it has one and it is shorter).
const STASH_IDLE: Duration = Duration::from_secs(60);

/// The namespace a pooled connection is switched to, kept in the connection's r2d2
/// extensions so that it lives exactly as long as the physical connection.
struct CurrentNamespace(Arc<str>);

/// The server-side statement limit a pooled connection's session has, when it has one
/// (kept like [`CurrentNamespace`], so that a limit is set once per connection, not
/// before and after every statement).
struct CurrentLimit(Duration);

/// The server's id of a pooled connection's session, for cancel requests.
struct SessionId(u64);

/// Readies `conn` for user code: lifts the statement limit a deadline left on its
/// session, and forgets which namespace it is on (the code may switch it: `SET
/// search_path`, `USE`, `DISCARD ALL`), so that the next routed use switches it again.
/// A connection whose limit cannot be lifted is marked broken (the pool drops it).
pub(crate) fn hand_out<Conn: ShardBackend>(
    conn: &mut ShardPooledConnection<Conn>,
) -> diesel::QueryResult<()> {
    PooledConnection::extensions_mut(conn).remove::<CurrentNamespace>();
    if PooledConnection::extensions_mut(conn)
        .remove::<CurrentLimit>()
        .is_some()
    {
        if let Err(e) = Conn::set_statement_timeout(conn, None) {
            mark_broken(&mut **conn);
            return Err(e);
        }
    }
    Ok(())
}

impl<Conn: ShardBackend> PoolInner<Conn> {
    pub(crate) fn new(
        ids: Vec<ShardId>,
        slots: Vec<ShardSlot>,
        pools: Vec<(ShardPool<Conn>, Redactor)>,
        routing: Routing,
        execution: Execution,
    ) -> Self {
        let index = ids.iter().cloned().zip(0..).collect();
        let (pools, redactors): (Vec<_>, _) = pools.into_iter().unzip();
        let stashes = pools.iter().map(|_| Mutex::new(Vec::new())).collect();
        let counters: Vec<ShardCounters> = ids.iter().map(|_| ShardCounters::default()).collect();
        let counters_len = counters.len();
        PoolInner {
            ids,
            slots,
            pools,
            redactors,
            stashes,
            index,
            router: routing.router,
            id_chooser: routing.id_chooser,
            encoded_ids: routing.encoded_ids,
            insert_batch_rows: routing.insert_batch_rows,
            namespace_switches: AtomicU64::new(0),
            events: routing.events,
            counters,
            workers: Workers::new(execution.worker_threads, "diesel-sharding".to_owned()),
            default_timeout: execution.default_timeout,
            type_ids: Mutex::new(HashMap::new()),
            server_limits: execution.server_limits,
            cancelling: (0..counters_len).map(|_| AtomicBool::new(false)).collect(),
            decision_logs: (0..counters_len).map(|_| AtomicBool::new(false)).collect(),
            branch_tags: (0..counters_len).map(|_| OnceLock::new()).collect(),
            finished_decisions: (0..counters_len).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

/// Looks up the user-defined types of a statement being collected for one shard.
pub(crate) struct ShardTypes<Conn: ShardBackend> {
    pool: ShardedPool<Conn>,
    index: usize,
    limit: Option<Duration>,
    failure: Arc<Mutex<Option<Error>>>,
}

impl<Conn: ShardBackend> ShardTypes<Conn> {
    pub(crate) fn new(pool: &ShardedPool<Conn>, index: usize, limit: Option<Duration>) -> Self {
        ShardTypes {
            pool: pool.clone(),
            index,
            limit,
            failure: Arc::default(),
        }
    }

    /// Where the first failed lookup leaves its error.
    pub(crate) fn failure(&self) -> Arc<Mutex<Option<Error>>> {
        Arc::clone(&self.failure)
    }
}

impl<Conn: ShardBackend> crate::backend::TypeLookup for ShardTypes<Conn> {
    fn lookup(&mut self, name: &str, schema: Option<&str>) -> Option<(u32, u32)> {
        match self.pool.type_ids(self.index, name, schema, self.limit) {
            Ok(ids) => Some(ids),
            Err(e) => {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert(e);
                None
            }
        }
    }
}

/// The builder's settings about running statements.
pub(crate) struct Execution {
    pub(crate) worker_threads: usize,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) server_limits: bool,
}

/// The builder's settings that are not about connections: how keys and ids find their
/// shard, how inserts are batched, where events go.
pub(crate) struct Routing {
    pub(crate) router: Box<dyn Router>,
    pub(crate) id_chooser: Box<dyn IdChooser>,
    pub(crate) encoded_ids: Option<IdLayout>,
    pub(crate) insert_batch_rows: usize,
    pub(crate) events: Box<dyn HandleEvent>,
}

/// One logical database spread over several shards: an r2d2 pool per shard and the
/// [`Router`] that decides which shard owns a key.
///
/// Cheap to clone (an `Arc`); share it between threads. Run statements through it
/// directly (each statement checks out a connection and returns it), or take a
/// [`ShardedConnection`] with [`get`](Self::get) to keep one connection per shard for a
/// unit of work.
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
    /// use sharding_core::{IdLayout, ShardEncodedIds, ShardedPool};
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
        let key = key
            .routing_key()
            .ok_or(Error::MissingKey { what: "query" })?;
        let index = self.route_index(key)?;
        Ok(&self.inner.ids[index])
    }

    /// A unit of work: checks out at most one connection per shard, lazily, and keeps
    /// it until dropped. Opens no connection by itself.
    pub fn get(&self) -> ShardedConnection<Conn> {
        ShardedConnection::new(self.clone())
    }

    /// Checks out a connection to one shard, for plain Diesel.
    ///
    /// On a logical shard the connection is on the shard's schema or database. What you
    /// run on it cannot send later statements elsewhere: a connection handed out here
    /// is switched to its shard again the next time the pool hands it out, even if you
    /// ran `SET search_path`, `USE` or `DISCARD ALL` on it.
    pub fn connection(&self, shard: &str) -> Result<ShardPooledConnection<Conn>> {
        let index = self.shard_index(shard)?;
        let mut conn = self.checkout(index)?;
        hand_out(&mut conn).map_err(Error::on_shard(self.id(index)))?;
        Ok(conn)
    }

    /// Checks out a connection to the shard that owns `key`, and names that shard.
    pub fn connection_for_key<K: ShardKey + ?Sized>(
        &self,
        key: &K,
    ) -> Result<(ShardId, ShardPooledConnection<Conn>)> {
        let shard = self.shard_for_key(key)?.clone();
        let conn = self.connection(shard.as_str())?;
        Ok((shard, conn))
    }

    /// A connection to one shard for running migrations with Diesel's
    /// `MigrationHarness`: a logical shard's schema or database is created first if it
    /// does not exist.
    pub fn migration_connection(&self, shard: &str) -> Result<ShardPooledConnection<Conn>> {
        let index = self.shard_index(shard)?;
        let mut conn = self.checkout_for_migrations(index)?;
        hand_out(&mut conn).map_err(Error::on_shard(self.id(index)))?;
        Ok(conn)
    }

    /// The r2d2 pool of one shard (for its [`state`](Pool::state), say). A logical
    /// shard's pool is shared with the other logical shards on it, and its `state()`
    /// counts the idle connections kept on a namespace ([`kept_idle`](Self::kept_idle))
    /// as in use.
    pub fn shard_pool(&self, shard: &str) -> Result<&ShardPool<Conn>> {
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

    pub(crate) fn workers(&self) -> &Workers {
        &self.inner.workers
    }

    /// Sets the server-side statement limit of `conn`'s session to `limit` unless it
    /// has it already (where the backend can limit statements; a no-op on SQLite).
    pub(crate) fn limit_statements(
        &self,
        conn: &mut ShardPooledConnection<Conn>,
        limit: Option<Duration>,
    ) -> diesel::QueryResult<()> {
        if !self.inner.server_limits {
            return Ok(());
        }
        let current = PooledConnection::extensions(conn)
            .get::<CurrentLimit>()
            .map(|l| l.0);
        if current == limit {
            return Ok(());
        }
        // Forget the old limit first: if setting fails, the session's limit is unknown.
        PooledConnection::extensions_mut(conn).remove::<CurrentLimit>();
        match Conn::set_statement_timeout(conn, limit) {
            Ok(true) => {
                if let Some(limit) = limit {
                    PooledConnection::extensions_mut(conn).insert(CurrentLimit(limit));
                }
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                mark_broken(&mut **conn);
                Err(e)
            }
        }
    }

    /// The server's id of `conn`'s session, asked once per connection, where the backend
    /// can cancel statements (`None` elsewhere, or if it cannot be had).
    pub(crate) fn session_of(&self, conn: &mut ShardPooledConnection<Conn>) -> Option<u64> {
        if let Some(id) = PooledConnection::extensions(conn).get::<SessionId>() {
            return Some(id.0);
        }
        Conn::cancel_statement(0)?;
        let id = Conn::session_id(conn).ok().flatten()?;
        PooledConnection::extensions_mut(conn).insert(SessionId(id));
        Some(id)
    }

    /// Asks the shard at `index`, from another connection, to cancel what the session
    /// `session` runs: the statement a caller gave up on at its deadline. Sent from a
    /// worker and waited for by nobody; at most one per shard at a time, so a shard
    /// whose network stalls holds at most one more worker. Failures are only logged.
    pub(crate) fn cancel(&self, index: usize, session: u64, limit: Duration) {
        let Some(sql) = Conn::cancel_statement(session) else {
            return;
        };
        if self.inner.cancelling[index].swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        let workers = self.workers();
        workers.submit(workers.handle(), move || {
            let sent = pool
                .checkout_timed(index, Some(limit))
                .and_then(|(mut conn, _)| {
                    let sent =
                        diesel::connection::SimpleConnection::batch_execute(&mut *conn, &sql)
                            .map_err(Error::on_shard(pool.id(index)));
                    pool.give_back(index, conn);
                    sent
                });
            if let Err(e) = sent {
                log::debug!(
                    "diesel-sharding: could not cancel a statement on shard `{}`: {}",
                    pool.id(index),
                    crate::error_chain(&e)
                );
            }
            pool.inner.cancelling[index].store(false, Ordering::Release);
            None
        });
    }

    /// The id of the user-defined type `name` (in `schema`) on the shard at `index`:
    /// remembered, or looked up on a connection to the shard (on a worker within
    /// `limit` when there is one).
    pub(crate) fn type_ids(
        &self,
        index: usize,
        name: &str,
        schema: Option<&str>,
        limit: Option<Duration>,
    ) -> Result<(u32, u32)> {
        let key = (index, schema.map(str::to_owned), name.to_owned());
        let known = self
            .inner
            .type_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = known.get(&key) {
            return Ok(*ids);
        }
        drop(known);
        let ids = match limit {
            Some(limit) => {
                let (name, schema) = (name.to_owned(), schema.map(str::to_owned));
                let job = crate::executor::job(move |conn: &mut Conn| {
                    Conn::lookup_type(conn, &name, schema.as_deref())
                });
                crate::executor::run_one(self, index, Operation::Query, limit, None, |_| None, job)
                    .0?
            }
            None => {
                let mut conn = self.checkout(index)?;
                let ids = Conn::lookup_type(&mut conn, name, schema)
                    .map_err(Error::on_shard(self.id(index)));
                self.give_back(index, conn);
                ids?
            }
        };
        self.inner
            .type_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, ids);
        Ok(ids)
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
        self.get().insert(row)
    }

    /// Inserts rows on the shards their keys route to, one transaction per shard.
    /// See [`ShardedConnection::insert_all`] for batching and atomicity.
    pub fn insert_all<Rows>(&self, rows: Rows) -> Result<usize>
    where
        Rows: IntoIterator,
        Rows::Item: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        self.get().insert_all(rows)
    }

    /// Runs `f` in a transaction on `shard`. See [`ShardedConnection::transaction`].
    pub fn transaction<T, E, F>(&self, shard: &str, f: F) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.get().transaction(shard, f)
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
        self.get().transaction_within(shard, limit, f)
    }

    /// Runs `f` in a transaction on the shard that owns `key`.
    /// See [`ShardedConnection::transaction`].
    pub fn transaction_for_key<K, T, E, F>(&self, key: &K, f: F) -> Result<T, TransactionError<E>>
    where
        K: ShardKey + ?Sized,
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.get().transaction_for_key(key, f)
    }

    /// Runs the pending migrations on every shard.
    /// See [`ShardedConnection::run_pending_migrations`].
    pub fn run_pending_migrations<S>(&self, source: S) -> Result<MigrationReport>
    where
        S: MigrationSource<Conn::Backend>,
        Conn: MigrationHarness<Conn::Backend>,
    {
        self.get().run_pending_migrations(source)
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

    pub(crate) fn route_index(&self, key: RoutingKey<'_>) -> Result<usize> {
        if let Some(position) = self.inner.router.route_position(key, &self.inner.ids) {
            return match position {
                Ok(i) if i < self.inner.ids.len() => Ok(i),
                Ok(i) => Err(Error::RoutedToUnknownShard {
                    router: self.inner.router.name(),
                    key: key.to_string(),
                    shard: ShardId::from(format!("#{i}")),
                    known: list_ids(&self.inner.ids),
                }),
                Err(e) => Err(e),
            };
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

    pub(crate) fn checkout(&self, index: usize) -> Result<ShardPooledConnection<Conn>> {
        self.checkout_within(index, None)
    }

    /// Checks out a connection to the shard at `index`, waiting at most `timeout` (the
    /// pool's connection timeout when `None`), switched to its namespace.
    pub(crate) fn checkout_within(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<ShardPooledConnection<Conn>> {
        self.checkout_timed(index, timeout).map(|(conn, _)| conn)
    }

    /// Like [`checkout_within`](Self::checkout_within), saying how long it waited and
    /// whether it switched the connection's namespace.
    pub(crate) fn checkout_timed(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<(ShardPooledConnection<Conn>, Checkout)> {
        let started = Instant::now();
        let mut conn = match self.stash_of(index) {
            Some(physical) => self.shared_checkout(index, physical, timeout)?,
            None => self.raw_checkout(index, timeout)?,
        };
        let wait = started.elapsed();
        let switched = match &self.inner.slots[index].namespace {
            Some(namespace) => self.switch_to(index, namespace, &mut conn)?,
            None => false,
        };
        Ok((conn, Checkout { wait, switched }))
    }

    /// The physical pool whose stash serves the shard at `index`: a logical shard on a
    /// pool that does not test connections on checkout (a stashed connection skips r2d2,
    /// and so its test).
    fn stash_of(&self, index: usize) -> Option<usize> {
        let slot = &self.inner.slots[index];
        let physical = slot.pool;
        (slot.namespace.is_some() && !self.inner.pools[physical].test_on_check_out())
            .then_some(physical)
    }

    /// A connection of a shared pool for the shard at `index`, preferring one already on
    /// its namespace: a stashed one for this shard, else an idle one from r2d2, else one
    /// stashed for another shard; else it waits for r2d2, looking at the stash again
    /// every few milliseconds, up to the timeout.
    fn shared_checkout(
        &self,
        index: usize,
        physical: usize,
        timeout: Option<Duration>,
    ) -> Result<ShardPooledConnection<Conn>> {
        if let Some(conn) = self.unstash(physical, Some(index)) {
            return Ok(conn);
        }
        let pool = &self.inner.pools[physical];
        let timeout = timeout.unwrap_or_else(|| pool.connection_timeout());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(conn) = pool.try_get() {
                return Ok(conn);
            }
            if let Some(conn) = self.unstash(physical, None) {
                return Ok(conn);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match pool.get_timeout(left.min(Duration::from_millis(10))) {
                Ok(conn) => return Ok(conn),
                Err(source) if left <= Duration::from_millis(10) => {
                    return Err(self.pool_timeout(index, timeout, &source))
                }
                Err(_) => continue,
            }
        }
    }

    /// Takes a stashed connection of `physical`: the newest for `shard`, or with `None`
    /// the newest for any shard. Stale ones go back to r2d2 on the way.
    fn unstash(
        &self,
        physical: usize,
        shard: Option<usize>,
    ) -> Option<ShardPooledConnection<Conn>> {
        let mut stash = self.inner.stashes[physical]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let idle = self.inner.pools[physical]
            .idle_timeout()
            .map_or(STASH_IDLE, |t| t.min(STASH_IDLE));
        stash.retain(|s| s.since.elapsed() < idle);
        let position = match shard {
            Some(shard) => stash.iter().rposition(|s| s.shard == shard)?,
            None => stash.len().checked_sub(1)?,
        };
        Some(stash.remove(position).conn)
    }

    /// Hands back a connection a statement for the shard at `index` used: kept on its
    /// namespace for that shard's next statement (logical shards), or returned to r2d2.
    /// A connection that is broken or inside a transaction always goes back to r2d2,
    /// which drops it.
    pub(crate) fn give_back(&self, index: usize, mut conn: ShardPooledConnection<Conn>) {
        let Some(physical) = self.stash_of(index) else {
            return;
        };
        if diesel::r2d2::R2D2Connection::is_broken(&mut *conn)
            || PooledConnection::extensions(&conn)
                .get::<CurrentNamespace>()
                .is_none()
        {
            return;
        }
        let mut stash = self.inner.stashes[physical]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        stash.push(Stashed {
            shard: index,
            conn,
            since: Instant::now(),
        });
        // Never keep more than the pool may hold minus one, so that r2d2 always has a
        // connection to give (or to open) while some are stashed.
        let keep = self.inner.pools[physical].max_size().saturating_sub(1) as usize;
        if stash.len() > keep {
            let excess = stash.len() - keep;
            stash.drain(..excess);
        }
    }

    /// A connection for migrating a shard: a logical shard's namespace is created first.
    pub(crate) fn checkout_for_migrations(
        &self,
        index: usize,
    ) -> Result<ShardPooledConnection<Conn>> {
        let slot = &self.inner.slots[index];
        let mut conn = self.raw_checkout(index, None)?;
        if let Some(namespace) = &slot.namespace {
            self.create_namespace(index, &mut conn)?;
            self.switch_to(index, namespace, &mut conn)?;
        }
        self.record_position(index, &mut conn)?;
        Ok(conn)
    }

    /// Records the shard's position in its database, or refuses to go on if it records
    /// another one ([`Error::ShardMoved`]).
    pub(crate) fn record_position(&self, index: usize, conn: &mut Conn) -> Result<()> {
        self.check_position(index, conn)?;
        Conn::record_position(conn, index as i64).map_err(Error::on_shard(self.id(index)))
    }

    /// Fails with [`Error::ShardMoved`] when the shard's database records another
    /// position than `index`.
    pub(crate) fn check_position(&self, index: usize, conn: &mut Conn) -> Result<()> {
        match Conn::recorded_position(conn).map_err(Error::on_shard(self.id(index)))? {
            Some(recorded) if recorded != index as i64 => Err(Error::ShardMoved {
                shard: self.id(index).clone(),
                position: index,
                recorded,
            }),
            _ => Ok(()),
        }
    }

    /// Checks every shard's recorded position (see [`Error::ShardMoved`]). A shard that
    /// cannot be reached or read (a logical shard whose namespace does not exist yet)
    /// is not checked.
    pub(crate) fn check_positions(&self) -> Result<()> {
        for index in 0..self.inner.ids.len() {
            let Ok(mut conn) = self.checkout(index) else {
                continue;
            };
            match self.check_position(index, &mut conn) {
                Err(e @ Error::ShardMoved { .. }) => return Err(e),
                _ => continue,
            }
        }
        Ok(())
    }

    /// The index of the physical pool behind the shard at `index`.
    pub(crate) fn physical_pool_of(&self, index: usize) -> usize {
        self.inner.slots[index].pool
    }

    /// The physical pool at `physical`.
    pub(crate) fn physical_pool(&self, physical: usize) -> &ShardPool<Conn> {
        &self.inner.pools[physical]
    }

    /// Whether `position` names a shard of this pool; an [`Error::UnknownShard`] if not.
    pub(crate) fn check_index(&self, position: usize) -> Result<()> {
        if position < self.inner.ids.len() {
            Ok(())
        } else {
            Err(Error::UnknownShard {
                shard: ShardId::from(format!("#{position}")),
                known: list_ids(&self.inner.ids),
            })
        }
    }

    /// Creates a logical shard's namespace if it does not exist; nothing for a physical shard.
    pub(crate) fn create_namespace(&self, index: usize, conn: &mut Conn) -> Result<()> {
        match &self.inner.slots[index].namespace {
            Some(namespace) => {
                Conn::create_namespace(conn, namespace).map_err(Error::on_shard(self.id(index)))
            }
            None => Ok(()),
        }
    }

    /// A connection from the shard's physical pool, not yet switched.
    fn raw_checkout(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<ShardPooledConnection<Conn>> {
        let physical = self.inner.slots[index].pool;
        let pool = &self.inner.pools[physical];
        let timeout = timeout.unwrap_or_else(|| pool.connection_timeout());
        pool.get_timeout(timeout)
            .map_err(|source| self.pool_timeout(index, timeout, &source))
    }

    /// The error of a checkout for the shard at `index` that waited `timeout` in vain,
    /// with r2d2's message (secrets masked).
    fn pool_timeout(
        &self,
        index: usize,
        timeout: Duration,
        source: &diesel::r2d2::PoolError,
    ) -> Error {
        let physical = self.inner.slots[index].pool;
        Error::PoolTimeout {
            shard: self.inner.ids[index].clone(),
            timeout,
            source: self.inner.redactors[physical].error(source),
        }
    }

    /// Makes sure a connection held for the shard at `index` (by a unit of work) is on
    /// the shard's namespace: switches it again if user code had it in hand since.
    pub(crate) fn ensure_namespace(
        &self,
        index: usize,
        conn: &mut ShardPooledConnection<Conn>,
    ) -> Result<bool> {
        match &self.inner.slots[index].namespace {
            Some(namespace) => self.switch_to(index, namespace, conn),
            None => Ok(false),
        }
    }

    /// Points `conn` at `namespace` unless it is there already; says whether it switched.
    fn switch_to(
        &self,
        index: usize,
        namespace: &Arc<str>,
        conn: &mut ShardPooledConnection<Conn>,
    ) -> Result<bool> {
        let current = PooledConnection::extensions(conn).get::<CurrentNamespace>();
        if current.is_some_and(|c| c.0 == *namespace) {
            return Ok(false);
        }
        // Forget the old namespace first: if the switch fails half-way, the connection's
        // namespace is unknown and the next checkout switches again.
        PooledConnection::extensions_mut(conn).remove::<CurrentNamespace>();
        if let Err(e) = Conn::switch_namespace(conn, namespace) {
            // A connection whose switch failed (most often because the server is gone) is
            // never handed out again: r2d2 drops it when it is returned.
            mark_broken(&mut **conn);
            return Err(Error::on_shard(self.id(index))(e));
        }
        PooledConnection::extensions_mut(conn).insert(CurrentNamespace(Arc::clone(namespace)));
        self.inner
            .namespace_switches
            .fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}
