//! [`ShardedPoolBuilder`]: configures and builds a [`ShardedPool`].

mod assemble;
mod limits;
mod physical;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};

use crate::events::{HandleEvent, NopEventHandler};
use crate::pool::R2d2Pool;
use crate::redact::Redactor;
#[cfg(feature = "config")]
pub(crate) use limits::{check_max_size, check_min_idle, check_time_limit, check_worker_threads};
pub use limits::{MAX_POOL_SIZE, MAX_TIME_LIMIT};
use physical::PoolSettings;

use crate::fanout::{AllCandidates, IdChooser};
use crate::ids::IdLayout;
use crate::{HashRouter, Result, Router, ShardBackend, ShardId, ShardedPool};

/// Where a shard's connections come from.
enum ShardSource<Conn: ShardBackend> {
    /// Its own pool, to this URL.
    Url(String),
    /// Its own pool, built by the caller.
    Pool(R2d2Pool<Conn>),
    /// A namespace (schema or database) on a shared pool, by the shared pool's name.
    Logical { pool: String, namespace: String },
}

/// Builds a [`ShardedPool`], in the style of `r2d2::Builder`: consuming setters, each
/// documented with its default, then [`build`](Self::build).
///
/// ```
/// use diesel::SqliteConnection;
/// use sharding_core::{ShardedPool, ModuloRouter};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
///     .router(ModuloRouter::new())
///     .max_size(4)
///     .connection_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(pool.shard_ids().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedPoolBuilder<Conn: ShardBackend> {
    shards: Vec<(ShardId, ShardSource<Conn>)>,
    shared_pools: Vec<(String, String)>,
    router: Box<dyn Router>,
    settings: PoolSettings<Conn>,
    insert_batch_rows: usize,
    id_chooser: Box<dyn IdChooser>,
    encoded_ids: Option<IdLayout>,
    /// Values to mask in every message, besides the URLs' own passwords.
    secrets: Redactor,
    events: Box<dyn HandleEvent>,
    worker_threads: Option<usize>,
    default_timeout: Option<Duration>,
    server_statement_limits: bool,
    recover_on_start: Option<Duration>,
    _conn: PhantomData<fn() -> Conn>,
}

impl<Conn: ShardBackend> fmt::Debug for ShardedPoolBuilder<Conn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedPoolBuilder")
            .field(
                "shards",
                &self.shards.iter().map(|s| &s.0).collect::<Vec<_>>(),
            )
            .field("router", &self.router)
            .field("max_size", &self.settings.max_size)
            .field("min_idle", &self.settings.min_idle)
            .field("connection_timeout", &self.settings.connection_timeout)
            .field("test_on_check_out", &self.settings.test_on_check_out)
            .finish_non_exhaustive()
    }
}

impl<Conn: ShardBackend> Default for ShardedPoolBuilder<Conn> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Conn: ShardBackend> ShardedPoolBuilder<Conn> {
    /// A builder with no shards and every setting at its default.
    pub fn new() -> Self {
        ShardedPoolBuilder {
            shards: Vec::new(),
            shared_pools: Vec::new(),
            router: Box::new(HashRouter::new()),
            settings: PoolSettings {
                customizer: None,
                max_size: 10,
                min_idle: Some(0),
                connection_timeout: Duration::from_secs(30),
                test_on_check_out: false,
                idle_timeout: Some(Duration::from_secs(10 * 60)),
                max_lifetime: Some(Duration::from_secs(30 * 60)),
            },
            insert_batch_rows: 500,
            id_chooser: Box::new(AllCandidates),
            encoded_ids: None,
            secrets: Redactor::default(),
            events: Box::new(NopEventHandler),
            worker_threads: None,
            default_timeout: None,
            server_statement_limits: true,
            recover_on_start: None,
            _conn: PhantomData,
        }
    }

    /// Adds a shard named `id` whose database is at `url` (a file path for SQLite).
    ///
    /// Order matters: routers that count shards (hash, modulo) number them in the order
    /// they are added. Add new shards at the end.
    pub fn shard(mut self, id: impl Into<ShardId>, url: impl Into<String>) -> Self {
        self.shards.push((id.into(), ShardSource::Url(url.into())));
        self
    }

    /// Adds a shard served by an r2d2 pool you built yourself. The pool settings of this
    /// builder do not apply to it, nor do the backend's per-connection settings (SQLite
    /// pragmas): configure them on your pool.
    pub fn shard_pool(
        mut self,
        id: impl Into<ShardId>,
        pool: Pool<ConnectionManager<Conn>>,
    ) -> Self {
        self.shards.push((id.into(), ShardSource::Pool(pool)));
        self
    }

    /// Declares a pool named `name`, to the database at `url`, that several logical
    /// shards share (see [`logical_shard`](Self::logical_shard)). The pool settings of
    /// this builder apply to it.
    pub fn shared_pool(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.shared_pools.push((name.into(), url.into()));
        self
    }

    /// Adds a logical shard named `id`: the schema (PostgreSQL) or database (MySQL)
    /// `namespace`, reached through the shared pool `pool`.
    ///
    /// Many logical shards can share one pool: a connection is switched to a shard's
    /// namespace when it is checked out for that shard and is not there already
    /// (`SET search_path` / `USE`), and the pool remembers each connection's namespace, so
    /// repeated use of one shard switches nothing. Logical and physical shards mix freely
    /// in one pool, and moving a logical shard to a server of its own later changes only
    /// this configuration.
    ///
    /// `namespace` must be a plain identifier (letters, digits, `_`); anything else is
    /// refused by [`build`](Self::build) before any connection is made. SQLite has no
    /// logical shards.
    ///
    /// **What is safe.** A connection you get in hand (from
    /// [`ShardedPool::connection`], [`ShardedConnection::connection`](crate::ShardedConnection::connection)
    /// or a transaction closure) may be switched by your code (`SET search_path`, `USE`,
    /// `DISCARD ALL`): the pool forgets its namespace when it hands it to you and
    /// switches it back before the next routed statement uses it. The one thing the pool
    /// cannot see is SQL text that switches namespace sent *as a routed query*
    /// (`sql_query("USE other").set_shard(..)`): don't. On PostgreSQL the search path is
    /// the shard's schema, then `public` (for extensions' types and functions): keep
    /// shard tables out of `public`.
    pub fn logical_shard(
        mut self,
        id: impl Into<ShardId>,
        pool: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        self.shards.push((
            id.into(),
            ShardSource::Logical {
                pool: pool.into(),
                namespace: namespace.into(),
            },
        ));
        self
    }

    /// Sets the router that decides which shard owns a key.
    /// Defaults to [`HashRouter`], which needs no configuration.
    pub fn router(mut self, router: impl Router) -> Self {
        self.router = Box::new(router);
        self
    }

    /// Sets the most connections each shard's pool keeps. Defaults to 10; must be 1 to
    /// [`MAX_POOL_SIZE`] ([`build`](Self::build) fails with [`Error::InvalidSetting`](crate::Error::InvalidSetting)
    /// otherwise).
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.settings.max_size = max_size;
        self
    }

    /// Sets how many idle connections each shard's pool keeps open (`None`: `max_size`,
    /// r2d2's default). Defaults to `Some(0)`: connections are opened when a checkout
    /// needs one (the checkout waits for it) and then kept idle, and
    /// [`build`](Self::build) opens one per pool itself to prove every shard reachable.
    /// Must not exceed `max_size`.
    ///
    /// Between 1 and `max_size - 1`, r2d2 opens connections on its own threads in the
    /// background to keep that many idle. A process that exits while one is still being
    /// opened can crash in libpq's TLS or Kerberos teardown at exit (seen in 3 to 13 of
    /// 100 exits of a short program on PostgreSQL with TLS, plain r2d2 included), which is
    /// why the default is 0.
    pub fn min_idle(mut self, min_idle: Option<u32>) -> Self {
        self.settings.min_idle = min_idle;
        self
    }

    /// Sets how long a checkout waits for a connection before failing with
    /// [`Error::PoolTimeout`](crate::Error::PoolTimeout), and how long [`build`](Self::build) waits for each shard.
    /// Defaults to 30 seconds; must be above zero and at most [`MAX_TIME_LIMIT`].
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connection_timeout = timeout;
        self
    }

    /// Sets whether each checkout first runs a test query on the connection.
    ///
    /// Defaults to `false`, unlike r2d2 and Diesel (`true`): the test doubles the round
    /// trips of short keyed queries. Connections that failed are still dropped on return
    /// (Diesel marks them broken), so the cost of `false` is that a connection cut by the
    /// server since its last use fails once. Set `true` where shards drop idle
    /// connections often.
    pub fn test_on_check_out(mut self, test: bool) -> Self {
        self.settings.test_on_check_out = test;
        self
    }

    /// Sets how long a connection may sit idle before it is closed (`None`: never).
    /// Defaults to 10 minutes; a `Some` must be above zero and at most [`MAX_TIME_LIMIT`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// Sets the longest a connection lives (`None`: no limit). Defaults to 30 minutes; a
    /// `Some` must be above zero and at most [`MAX_TIME_LIMIT`].
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.settings.max_lifetime = lifetime;
        self
    }

    /// Sets the most rows one `INSERT` statement of
    /// [`insert_all`](crate::ShardedConnection::insert_all) carries. Defaults to 500.
    /// Lower it for wide rows: every backend limits the bind parameters of one statement.
    pub fn insert_batch_rows(mut self, rows: usize) -> Self {
        self.insert_batch_rows = rows.max(1);
        self
    }

    /// Runs your own setup on every new connection of every shard (after the backend's
    /// own, such as SQLite's pragmas), like r2d2's `connection_customizer`. Defaults to
    /// none.
    pub fn connection_customizer(
        mut self,
        customizer: Box<dyn CustomizeConnection<Conn, diesel::r2d2::Error>>,
    ) -> Self {
        self.settings.customizer = Some(Arc::from(customizer));
        self
    }

    /// Sets how [`find_anywhere`](crate::FindAnywhereDsl::find_anywhere) narrows the
    /// shards that may hold an id. Defaults to [`AllCandidates`]: every shard is asked.
    /// Any [`Router`] is also an id chooser (for ids that encode their shard, or id
    /// ranges per shard).
    pub fn id_chooser(mut self, chooser: impl IdChooser) -> Self {
        self.id_chooser = Box::new(chooser);
        self
    }

    /// Declares the layout of the shard-encoding ids this pool's `#[sharded(encoded_id)]`
    /// tables use: their [`find_anywhere`](crate::FindAnywhereDsl::find_anywhere) reads
    /// the owning shard from the id. Defaults to none (such lookups fail with a
    /// configuration error).
    pub fn encoded_ids(mut self, layout: IdLayout) -> Self {
        self.encoded_ids = Some(layout);
        self
    }

    /// Sets the handler that receives a [`ShardEvent`](crate::events::ShardEvent) for every
    /// statement (shard, operation, checkout wait, namespace switch, duration, rows,
    /// outcome), like r2d2's `event_handler`. Defaults to [`NopEventHandler`]. The
    /// pool's own counters ([`ShardedPool::stats`]) are kept either way.
    pub fn event_handler(mut self, handler: impl HandleEvent) -> Self {
        self.events = Box::new(handler);
        self
    }

    /// Sets how many worker threads the pool keeps for running shards in parallel
    /// (fan-outs, `for_keys`, id searches) and for calls with a deadline. They all start
    /// the first time one is needed and are kept: no call starts a thread of its own. A
    /// worker stuck on a stalled shard past its caller's deadline is replaced while it is
    /// stuck (at most 64 replacements at once).
    ///
    /// A fan-out without a deadline also runs shards on the caller's thread, so it
    /// progresses even when every worker is busy; calls with a deadline run only on
    /// workers, so give the pool at least as many workers as calls with deadlines run
    /// at once (times the shards each touches). Defaults to twice the number of shards,
    /// at least 16, at most the connections all shards' pools may hold together (the most
    /// statements that can run at once) and at most 256. Must be 1 to 4096.
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = Some(threads);
        self
    }

    /// Sets the deadline of every call that sets none of its own (routed queries,
    /// fan-outs, `for_keys`, `insert`, each shard's batch of `insert_all`, each
    /// [`BlockIds`](crate::ids::BlockIds) reservation): see [`Routed::timeout`](crate::Routed::timeout) for what a
    /// deadline promises. Defaults to none: calls wait as long as the server and the
    /// network take. Must be above zero and at most [`MAX_TIME_LIMIT`].
    pub fn default_timeout(mut self, limit: Duration) -> Self {
        self.default_timeout = Some(limit);
        self
    }

    /// Sets whether a call's deadline is also sent to the server as the session's
    /// statement limit (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`,
    /// MySQL `max_execution_time`), so that a statement that is merely slow stops on the
    /// server by itself. Defaults to `true`.
    ///
    /// Either way, a statement given up on at its deadline is cancelled from another
    /// connection (`pg_cancel_backend`, `KILL QUERY`). Turn the limits off behind a
    /// transaction-pooling proxy (PgBouncer in transaction mode), where a session setting
    /// would leak to other clients: the cancel request is then what stops the statement.
    pub fn server_statement_limits(mut self, on: bool) -> Self {
        self.server_statement_limits = on;
        self
    }

    /// Makes [`build`](Self::build) finish the atomic transactions a crash left prepared
    /// ([`ShardedPool::recover_transactions`] with `older_than`) before it returns the
    /// pool; it fails with [`Error::FanOut`](crate::Error::FanOut) if a shard could not be recovered. Off by
    /// default; [`build_unchecked`](Self::build_unchecked), which connects to nothing,
    /// skips it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diesel::SqliteConnection;
    /// use sharding_core::ShardedPool;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .recover_transactions_on_start(Duration::from_secs(60))
    ///     .build()?; // SQLite has no prepared transactions: nothing to recover
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recover_transactions_on_start(mut self, older_than: Duration) -> Self {
        self.recover_on_start = Some(older_than);
        self
    }

    /// Declares `value` secret: it is masked (`***`) in every error message and log line
    /// of the pool, like the passwords of the shards' URLs. For values that reach a URL
    /// some other way than its password, such as a token in a query parameter.
    pub fn secret(mut self, value: impl AsRef<str>) -> Self {
        self.secrets.add_secret(value.as_ref());
        self
    }

    /// Validates the configuration, opens a connection to every shard (`min_idle` of
    /// them when that is more), checks
    /// that every shard is where it was when it was migrated, and returns the pool.
    ///
    /// **Shard order.** Routers that count shards (hash, modulo), encoded ids and id
    /// blocks number the shards by their position in the pool, so reordering shards
    /// would send keys to the wrong ones. Migrating a shard through the pool records
    /// its position in its database (table `diesel_sharding_shard_position`), and
    /// `build` refuses a pool where a shard's position differs, with
    /// [`Error::ShardMoved`](crate::Error::ShardMoved).
    ///
    /// Fails without touching any database when the configuration is wrong (no shards,
    /// a duplicate or invalid id, a bad URL, a router naming a missing shard), and with
    /// [`Error::Connect`](crate::Error::Connect) naming the shard when one cannot be reached in
    /// `connection_timeout`.
    pub fn build(self) -> Result<ShardedPool<Conn>> {
        self.build_inner(true)
    }

    /// Like [`build`](Self::build), but does not wait for any connection: a pool with an
    /// unreachable shard still serves the others (whose checkouts then fail with
    /// [`Error::PoolTimeout`](crate::Error::PoolTimeout)). Connections are opened on
    /// first use (no SQLite file is created until then); with a `min_idle` above 0, r2d2
    /// opens that many per pool in the background.
    pub fn build_unchecked(self) -> Result<ShardedPool<Conn>> {
        self.build_inner(false)
    }
}
