//! [`ShardedConnection`]: the unit of work, one connection per shard at most.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::associations::HasTable;
use diesel::connection::Connection;
use diesel::insertable::Insertable;
use diesel::query_builder::InsertStatement;
use diesel::query_builder::QueryFragment;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::R2D2Connection;
use diesel::sql_types::Untyped;
use diesel::{QueryResult, RunQueryDsl};

use crate::backend::mark_broken;
use crate::events::Operation;
use crate::executor::{
    self, CallSettings, Checkout, Done, Job, OwnedQuery, Probe, Statement, Task,
};
use crate::fanout::exec::RunOptions;
use crate::insert_batch::{in_batch_transaction, CommitGate, InsertBatch};
use crate::model::TableOf;
use crate::pool::{hand_out, ShardPooledConnection};
use crate::{
    Error, Result, ShardBackend, ShardId, ShardKey, ShardedModel, ShardedPool, TransactionError,
};

/// A unit of work over a [`ShardedPool`], like SQLAlchemy's sharded `Session`.
///
/// It checks out a connection to a shard the first time that shard is used, at most one
/// per shard, and keeps it until it is dropped (or [`release`](Self::release)d), so
/// several statements, or a transaction, on one shard stay on one connection. Queries run
/// through it by passing `&mut conn` where a pool would take `&pool`.
///
/// Logical shards that share a pool each take their own connection from it: size a
/// shared pool for the number of its shards one unit of work touches at once.
///
/// ```
/// use diesel::connection::SimpleConnection;
/// use diesel::SqliteConnection;
/// use sharding_core::ShardedPool;
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .build()?;
/// let mut work = pool.get();
/// assert_eq!(work.held_shards().count(), 0); // nothing checked out yet
/// work.connection("s0")?.batch_execute("CREATE TABLE t (id INTEGER)")?;
/// work.connection("s0")?.batch_execute("INSERT INTO t VALUES (1)")?; // same connection
/// assert_eq!(work.held_shards().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedConnection<Conn: ShardBackend> {
    pool: ShardedPool<Conn>,
    held: Vec<Option<ShardPooledConnection<Conn>>>,
}

impl<Conn: ShardBackend> fmt::Debug for ShardedConnection<Conn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedConnection")
            .field("held", &self.held_shards().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Gives every held connection back: a logical shard's stays on its namespace for the
/// pool's next statement for that shard.
impl<Conn: ShardBackend> Drop for ShardedConnection<Conn> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<Conn: ShardBackend> ShardedConnection<Conn> {
    pub(crate) fn new(pool: ShardedPool<Conn>) -> Self {
        let held = pool.shard_ids().iter().map(|_| None).collect();
        ShardedConnection { pool, held }
    }

    /// The pool this unit of work draws from.
    pub fn pool(&self) -> &ShardedPool<Conn> {
        &self.pool
    }

    /// The shards this unit of work holds a connection to.
    pub fn held_shards(&self) -> impl Iterator<Item = &ShardId> + '_ {
        self.held
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| self.pool.id(i))
    }

    /// Returns every held connection to its pool.
    pub fn release(&mut self) {
        for index in 0..self.held.len() {
            self.release_at(index);
        }
    }

    /// Whether this unit of work holds a connection to the shard at `index`.
    pub(crate) fn holds(&self, index: usize) -> bool {
        self.held[index].is_some()
    }

    /// Returns the connection to the shard at `index`, if held, to its pool.
    pub(crate) fn release_at(&mut self, index: usize) {
        if let Some(conn) = self.held[index].take() {
            self.pool.give_back(index, conn);
        }
    }

    /// The held connection to the shard at `index`, checked out (waiting at most
    /// `timeout`) if not held yet, and how it was had.
    fn checked_out_within(
        &mut self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<(&mut ShardPooledConnection<Conn>, Checkout)> {
        let mut checkout = Checkout::default();
        // A held connection that broke (a failed limit lift, a lost server) is replaced.
        if self.held[index]
            .as_mut()
            .is_some_and(|conn| R2D2Connection::is_broken(&mut **conn))
        {
            self.held[index] = None;
        }
        if let Some(conn) = self.held[index].as_mut() {
            // User code may have switched it since (a raw connection, a transaction
            // closure): a no-op unless it did, or may have.
            match self.pool.ensure_namespace(index, conn) {
                Ok(switched) => checkout.switched = switched,
                Err(e) => {
                    self.held[index] = None;
                    return Err(e);
                }
            }
        }
        let slot = &mut self.held[index];
        match slot {
            Some(conn) => Ok((conn, checkout)),
            None => {
                let (conn, checkout) = self.pool.checkout_timed(index, timeout)?;
                Ok((slot.insert(conn), checkout))
            }
        }
    }

    /// [`checked_out_within`](Self::checked_out_within), reporting a failed checkout as a
    /// failed `operation`.
    fn checked_out_for(
        &mut self,
        index: usize,
        operation: Operation,
        timeout: Option<Duration>,
    ) -> Result<(&mut ShardPooledConnection<Conn>, Checkout)> {
        let started = std::time::Instant::now();
        let pool = self.pool.clone();
        self.checked_out_within(index, timeout).inspect_err(|e| {
            executor::checkout_failed(&pool, index, operation, started.elapsed(), e);
        })
    }

    /// The held connection to the shard at `index` for user code: checked out (or
    /// re-switched) like any other use, and its namespace forgotten, so that whatever the
    /// code does to it, the next use switches it back to its shard.
    fn handed_out(&mut self, index: usize) -> Result<&mut ShardPooledConnection<Conn>> {
        self.handed_out_for(index, None).map(|(conn, _)| conn)
    }

    /// [`handed_out`](Self::handed_out), reporting a failed checkout as a failed
    /// `operation` when there is one, and saying how the connection was had.
    fn handed_out_for(
        &mut self,
        index: usize,
        operation: Option<Operation>,
    ) -> Result<(&mut ShardPooledConnection<Conn>, Checkout)> {
        let pool = self.pool.clone();
        let (conn, checkout) = match operation {
            Some(operation) => self.checked_out_for(index, operation, None)?,
            None => self.checked_out_within(index, None)?,
        };
        // A connection whose limit could not be lifted is marked broken, and replaced at
        // its next use.
        hand_out(conn).map_err(Error::on_shard(pool.id(index)))?;
        Ok((conn, checkout))
    }

    /// Runs each job on this unit of work's connection to its shard; the missing
    /// connections are checked out by the jobs themselves, in parallel when `options`
    /// allow (so touching N shards costs one checkout wait, not N in a row), and kept.
    pub(crate) fn run_jobs<R: Send + 'static>(
        &mut self,
        jobs: Vec<(usize, Job<Conn, R>)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
    ) -> Vec<(usize, Result<R>)> {
        let wanted: Vec<usize> = jobs.iter().map(|(index, _)| *index).collect();
        if let Some((shards, max_size)) = self.pool_too_small(&wanted) {
            // Every shard asked fails at once, instead of waiting for connections that
            // cannot come while this unit of work holds the others.
            return jobs
                .into_iter()
                .map(|(index, _)| {
                    let error = Error::PoolTooSmall {
                        shards: shards.clone(),
                        max_size,
                    };
                    (index, Err(error))
                })
                .collect();
        }
        let tasks = jobs
            .into_iter()
            .map(|(index, job)| Task {
                index,
                held: self.held[index].take(),
                job,
            })
            .collect();
        let settings = CallSettings {
            operation: Operation::Query,
            options,
            keep: true,
        };
        let pool = self.pool.clone();
        let mut unused = Vec::new();
        let done = executor::run_tasks(&pool, tasks, settings, rows, &mut unused);
        let mut results = Vec::with_capacity(done.len());
        for Done {
            index,
            result,
            conn,
        } in done
        {
            if let Some(conn) = conn {
                self.keep(index, conn);
            }
            results.push((index, result));
        }
        for (index, conn) in unused {
            self.keep(index, conn);
        }
        self.release_broken();
        results
    }

    /// Keeps `conn` as this unit of work's connection to the shard at `index` (a
    /// second one goes back to the pool).
    fn keep(&mut self, index: usize, conn: ShardPooledConnection<Conn>) {
        match &self.held[index] {
            Some(_) => self.pool.give_back(index, conn),
            None => self.held[index] = Some(conn),
        }
    }

    /// The shards and the `max_size` of a physical pool that cannot hold every
    /// connection this unit of work would keep from it (those held plus those of
    /// `wanted` not held), if there is one.
    fn pool_too_small(&self, wanted: &[usize]) -> Option<(Vec<ShardId>, u32)> {
        let mut per_pool: Vec<(usize, Vec<usize>)> = Vec::new();
        let held = (0..self.held.len()).filter(|i| self.holds(*i));
        let mut needed: Vec<usize> = held.chain(wanted.iter().copied()).collect();
        needed.sort_unstable();
        needed.dedup();
        for index in needed {
            let physical = self.pool.physical_pool_of(index);
            match per_pool.iter_mut().find(|(p, _)| *p == physical) {
                Some((_, shards)) => shards.push(index),
                None => per_pool.push((physical, vec![index])),
            }
        }
        per_pool.into_iter().find_map(|(physical, shards)| {
            let max_size = self.pool.physical_pool(physical).max_size();
            (shards.len() > max_size as usize).then(|| {
                let ids = shards.iter().map(|i| self.pool.id(*i).clone()).collect();
                (ids, max_size)
            })
        })
    }

    /// Like `checked_out`, making sure a logical shard's namespace exists first.
    pub(crate) fn checked_out_for_migrations(
        &mut self,
        index: usize,
    ) -> Result<&mut ShardPooledConnection<Conn>> {
        let slot = &mut self.held[index];
        match slot {
            Some(conn) => {
                self.pool.create_namespace(index, conn)?;
                self.pool.ensure_namespace(index, conn)?;
                self.pool.record_position(index, conn)?;
                Ok(conn)
            }
            None => Ok(slot.insert(self.pool.checkout_for_migrations(index)?)),
        }
    }

    pub(crate) fn run_at<R>(
        &mut self,
        index: usize,
        operation: Operation,
        rows: fn(&R) -> Option<usize>,
        f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    ) -> Result<R> {
        let pool = self.pool.clone();
        let (conn, checkout) = self.checked_out_for(index, operation, None)?;
        let statement = Statement {
            index,
            operation,
            checkout,
            timeout: None,
        };
        let result = executor::run(&pool, statement, conn, rows, f);
        if result.is_err() {
            self.release_broken();
        }
        result
    }

    /// Returns every held connection that is broken (cut by the server, or left in a
    /// failed transaction) to its pool, which drops it.
    fn release_broken(&mut self) {
        for slot in &mut self.held {
            if slot
                .as_mut()
                .is_some_and(|conn| R2D2Connection::is_broken(&mut **conn))
            {
                *slot = None;
            }
        }
    }

    /// The connection to `shard`, checked out on first use and kept.
    ///
    /// On a logical shard, what you run on it cannot send later statements elsewhere:
    /// the unit of work switches the connection back to its shard before its next use.
    pub fn connection(&mut self, shard: &str) -> Result<&mut Conn> {
        let index = self.pool.shard_index(shard)?;
        Ok(&mut **self.handed_out(index)?)
    }

    /// The connection to the shard that owns `key`, and that shard's id.
    pub fn connection_for_key<K: ShardKey + ?Sized>(
        &mut self,
        key: &K,
    ) -> Result<(ShardId, &mut Conn)> {
        let index = self.pool.route_key_index(key, "query")?;
        let id = self.pool.id(index).clone();
        Ok((id, &mut **self.handed_out(index)?))
    }

    /// Runs `f` in a transaction on `shard`: committed if `f` returns `Ok`, rolled back
    /// if it returns `Err`.
    ///
    /// The closure is a plain Diesel one: its error type is yours and needs only
    /// `From<diesel::result::Error>`, as with Diesel's `Connection::transaction`. What
    /// stops the transaction from running (an unknown shard, a checkout timeout) comes
    /// back separately, as [`TransactionError::Sharding`]; the closure's error as
    /// [`TransactionError::Transaction`].
    pub fn transaction<T, E, F>(&mut self, shard: &str, f: F) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let index = self
            .pool
            .shard_index(shard)
            .map_err(TransactionError::Sharding)?;
        self.transaction_at(index, f)
    }

    /// Runs `f` in a transaction on `shard` under a deadline: the call returns within
    /// `limit` (plus a few milliseconds), with [`Error::Timeout`] naming the shard if the
    /// transaction has not finished by then, even if the network to the shard stalls.
    ///
    /// `f` runs on one of the pool's worker threads while you wait, so it must own what it
    /// uses (`move |conn| ...`, `Send + 'static`). At the deadline the transaction is
    /// abandoned: it rolls back on the server when its connection is dropped (the worker
    /// drops it once the statement it is blocked in returns), unless its `COMMIT` had
    /// already reached the server: as with any write that timed out, its outcome is then
    /// unknown. Each statement inside also carries `limit` as its server-side statement
    /// limit (PostgreSQL, MySQL, MariaDB). `limit` overrides the pool's
    /// [`default_timeout`](crate::ShardedPoolBuilder::default_timeout), which
    /// [`transaction`](Self::transaction) cannot apply on the client side (its closure
    /// runs on your thread) and applies as the server-side statement limit only.
    ///
    /// A panic in `f` drops the connection (its transaction rolls back) and is resumed on
    /// your thread.
    ///
    /// ```
    /// use diesel::prelude::*;
    /// use diesel::SqliteConnection;
    /// use sharding_core::{Error, ShardedPool};
    /// use std::time::Duration;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .build()?;
    /// let mut work = pool.get();
    /// let rows = work.transaction_within("s0", Duration::from_secs(5), move |conn| {
    ///     diesel::sql_query("CREATE TABLE t (id INTEGER)").execute(conn)?;
    ///     Ok::<_, Error>(diesel::sql_query("INSERT INTO t VALUES (1), (2)").execute(conn)?)
    /// })?;
    /// assert_eq!(rows, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transaction_within<T, E, F>(
        &mut self,
        shard: &str,
        limit: Duration,
        f: F,
    ) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<diesel::result::Error> + Send + 'static,
    {
        let index = self
            .pool
            .shard_index(shard)
            .map_err(TransactionError::Sharding)?;
        let job = executor::job(move |conn: &mut Conn| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Connection::transaction(&mut *conn, f)
            }));
            if outcome.is_err() {
                mark_broken(conn);
            }
            Ok(outcome)
        });
        match self.run_under(index, Operation::Transaction, limit, |_| None, job) {
            Ok(Ok(outcome)) => outcome.map_err(TransactionError::Transaction),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(error) => Err(TransactionError::Sharding(error)),
        }
    }

    /// Runs `f` in a transaction on the shard that owns `key`.
    /// See [`transaction`](Self::transaction).
    pub fn transaction_for_key<K, T, E, F>(
        &mut self,
        key: &K,
        f: F,
    ) -> Result<T, TransactionError<E>>
    where
        K: ShardKey + ?Sized,
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let index = self
            .pool
            .route_key_index(key, "query")
            .map_err(TransactionError::Sharding)?;
        self.transaction_at(index, f)
    }

    fn transaction_at<T, E, F>(&mut self, index: usize, f: F) -> Result<T, TransactionError<E>>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let pool = self.pool.clone();
        let (conn, checkout) = self
            .handed_out_for(index, Some(Operation::Transaction))
            .map_err(TransactionError::Sharding)?;
        // The closure runs on this thread: the pool's default deadline can only bound it
        // as the server-side statement limit (see `transaction_within`). A connection
        // whose limit cannot be set is marked broken, and replaced at its next use.
        pool.limit_statements(conn, pool.default_timeout())
            .map_err(|e| TransactionError::Sharding(Error::on_shard(pool.id(index))(e)))?;
        let probe = Probe::start(&pool, index, Operation::Transaction, checkout);
        // A panic in `f` unwinds through Diesel's `transaction` without a rollback, so the
        // held connection would stay inside the transaction, and the next one would be a
        // savepoint in it, never committed. Drop that connection instead.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            probe.in_scope(|| Connection::transaction(&mut **conn, f))
        }));
        match outcome {
            Ok(result) => {
                probe.finish(&pool, result.as_ref().map(|_| None).map_err(|_| None));
                if result.is_err() {
                    self.release_broken();
                }
                result.map_err(TransactionError::Transaction)
            }
            Err(panic) => {
                probe.finish(&pool, Err(None));
                if let Some(conn) = self.held[index].as_mut() {
                    mark_broken(&mut **conn);
                }
                self.release_at(index);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Inserts one row on the shard its key routes to, and returns the number of rows
    /// inserted (1). Pass the row by reference (`&order`) or by value.
    ///
    /// Under the pool's [`default_timeout`](crate::ShardedPoolBuilder::default_timeout),
    /// the insert runs on a worker and the call returns within that deadline, as a routed
    /// statement with [`Routed::timeout`](crate::Routed::timeout) does.
    pub fn insert<Row>(&mut self, row: Row) -> Result<usize>
    where
        Row: ShardedModel + Insertable<TableOf<Row>>,
        InsertStatement<TableOf<Row>, Row::Values>: ExecuteDsl<Conn> + QueryFragment<Conn::Backend>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let index = self.pool.route_key_index(row.shard_key(), "row")?;
        let statement = diesel::insert_into(<TableOf<Row> as HasTable>::table()).values(row);
        let Some(limit) = self.pool.default_timeout() else {
            return self.run_at(index, Operation::Insert, executor::rows_affected, |conn| {
                ExecuteDsl::execute(statement, conn)
            });
        };
        let owned: OwnedQuery<Untyped, _> =
            OwnedQuery::collect_at(&self.pool, index, &statement, Some(limit))?;
        let job = executor::job(move |conn: &mut Conn| owned.execute(conn));
        self.run_under(
            index,
            Operation::Insert,
            limit,
            executor::rows_affected,
            job,
        )
    }

    /// Runs `job` on a worker on this unit of work's connection to the shard at `index`
    /// (checked out by the job if not held), under the deadline `limit`; the connection
    /// is kept unless it was given up on, or broke.
    fn run_under<R: Send + 'static>(
        &mut self,
        index: usize,
        operation: Operation,
        limit: Duration,
        rows: fn(&R) -> Option<usize>,
        job: Job<Conn, R>,
    ) -> Result<R> {
        let held = self.held[index].take();
        let pool = self.pool.clone();
        let (result, conn) = executor::run_one(&pool, index, operation, limit, held, rows, job);
        if let Some(conn) = conn {
            self.keep(index, conn);
        }
        self.release_broken();
        result
    }

    /// Inserts rows on the shards their keys route to, and returns how many were inserted.
    ///
    /// Rows are grouped per shard (keeping their order); each shard's rows are written in
    /// one transaction, as multi-row `INSERT`s of up to
    /// [`insert_batch_rows`](crate::ShardedPoolBuilder::insert_batch_rows) rows each,
    /// shard after shard in the pool's order.
    ///
    /// **Atomicity is per shard.** If a shard's batch fails, that shard keeps none of its
    /// rows, shards before it keep all of theirs, and later shards are not written: the
    /// error, [`Error::PartialInsert`], names the failing shard and the shards that
    /// committed. If the connection to a shard is lost while its `COMMIT` is in flight,
    /// nobody can know whether that shard's rows were committed: the error is then
    /// [`Error::InsertOutcomeUnknown`], and that shard holds all of its rows or none
    /// (check before retrying them, or retry idempotently). Every row is routed before
    /// anything is written, so a row without a key or with an unroutable key fails the
    /// whole call with nothing written.
    ///
    /// Connections this unit of work did not hold before the call are returned to their
    /// pool as soon as their shard is written, so logical shards on a small shared pool
    /// do not starve each other.
    ///
    /// **Deadline.** Under the pool's
    /// [`default_timeout`](crate::ShardedPoolBuilder::default_timeout) each shard's batch
    /// is collected on your thread and runs on a worker, and the call stops waiting for it
    /// at the deadline, even if the network to the shard stalls. A batch given up on before
    /// its `COMMIT` was sent can no longer commit (its runner rolls it back when it gets
    /// the chance): [`Error::PartialInsert`] with an [`Error::Timeout`] source. One whose
    /// `COMMIT` was in flight is [`Error::InsertOutcomeUnknown`].
    ///
    /// **SQLite:** Diesel writes a batch of a model with default `Insertable` settings one
    /// row per statement on SQLite. Add `#[diesel(treat_none_as_default_value = false)]`
    /// to the model to get true multi-row `INSERT`s (on your thread: under a deadline,
    /// SQLite batches are written one row per statement, in one transaction, as Diesel's
    /// multi-row SQLite statement cannot be collected to run on a worker).
    pub fn insert_all<Rows>(&mut self, rows: Rows) -> Result<usize>
    where
        Rows: IntoIterator,
        Rows::Item: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let mut per_shard: Vec<Vec<Rows::Item>> = self.held.iter().map(|_| Vec::new()).collect();
        for row in rows {
            let index = self.pool.route_key_index(row.shard_key(), "row")?;
            per_shard[index].push(row);
        }
        let batch = self.pool.insert_batch_rows();
        let mut committed = Vec::new();
        let mut inserted = 0;
        for (index, shard_rows) in per_shard.into_iter().enumerate() {
            if shard_rows.is_empty() {
                continue;
            }
            let was_held = self.holds(index);
            let written = self.insert_batch_at(index, shard_rows, batch);
            if !was_held {
                self.release_at(index);
            }
            match written {
                Ok(n) => {
                    inserted += n;
                    committed.push(self.pool.id(index).clone());
                }
                Err(BatchFailure::RolledBack(source)) => {
                    return Err(Error::PartialInsert {
                        shard: self.pool.id(index).clone(),
                        source: Box::new(source),
                        committed,
                    });
                }
                Err(BatchFailure::CommitUnknown(source)) => {
                    return Err(Error::InsertOutcomeUnknown {
                        shard: self.pool.id(index).clone(),
                        source: Box::new(source),
                        committed,
                    });
                }
            }
        }
        Ok(inserted)
    }

    /// Writes one shard's rows in one transaction (on a worker under the pool's default
    /// deadline, if it has one), telling a failure that rolled back from one whose
    /// `COMMIT` was sent but never confirmed (the connection was lost, or the deadline
    /// passed, while it was in flight).
    fn insert_batch_at<Row>(
        &mut self,
        index: usize,
        rows: Vec<Row>,
        batch: usize,
    ) -> std::result::Result<usize, BatchFailure>
    where
        Row: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let gate = Arc::new(CommitGate::default());
        let written = match self.pool.default_timeout() {
            None => self.run_at(index, Operation::Insert, executor::rows_affected, |conn| {
                in_batch_transaction(conn, &gate, |conn| Row::write(rows, batch, conn))
            }),
            Some(limit) => {
                let pool = self.pool.clone();
                let mut statements: Vec<OwnedQuery<Untyped, Conn::Backend>> = Vec::new();
                Row::visit(rows, batch, &mut |statement| {
                    statements.push(OwnedQuery::collect_at(
                        &pool,
                        index,
                        statement,
                        Some(limit),
                    )?);
                    Ok(())
                })
                .map_err(BatchFailure::RolledBack)?;
                let runner = Arc::clone(&gate);
                let job = executor::job(move |conn: &mut Conn| {
                    in_batch_transaction(conn, &runner, |conn| {
                        let mut written = 0;
                        for statement in statements {
                            // Given up on: stop, and roll back.
                            if runner.is_closed() {
                                return Err(diesel::result::Error::RollbackTransaction);
                            }
                            written += statement.execute(conn)?;
                        }
                        Ok(written)
                    })
                });
                self.run_under(
                    index,
                    Operation::Insert,
                    limit,
                    executor::rows_affected,
                    job,
                )
            }
        };
        written.map_err(|error| {
            // Closing the gate stops a batch still running from committing; it stays
            // open only if `COMMIT` was already sent.
            let commit_sent = !gate.close();
            let unconfirmed = matches!(error, Error::Timeout { .. })
                || error
                    .diesel_error()
                    .is_some_and(commit_lost_connection::<Conn>);
            if commit_sent && unconfirmed {
                BatchFailure::CommitUnknown(error)
            } else {
                BatchFailure::RolledBack(error)
            }
        })
    }
}

/// How one shard's batch of `insert_all` failed.
enum BatchFailure {
    /// Nothing of the batch is on the shard.
    RolledBack(Error),
    /// The connection was lost while `COMMIT` was in flight: the batch is all there or
    /// all absent, and nobody can tell which without looking.
    CommitUnknown(Error),
}

/// Whether a failed `COMMIT` failed because the connection was lost (so its outcome is
/// unknown), looking through Diesel's "rollback after failed commit" wrapper.
fn commit_lost_connection<Conn: ShardBackend>(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::RollbackErrorOnCommit { commit_error, .. } => {
            Conn::is_connection_error(commit_error)
        }
        other => Conn::is_connection_error(other),
    }
}
