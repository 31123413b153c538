//! [`ShardedConnection`]: the unit of work, one connection per shard at most.

mod insert;
mod transaction;

use std::fmt;
use std::time::Duration;

use diesel::r2d2::R2D2Connection;
use diesel::QueryResult;

use crate::events::Operation;
use crate::executor::{self, CallSettings, Checkout, Done, Job, Statement, Task};
use crate::fanout::exec::RunOptions;
use crate::pool::{hand_out, R2d2PooledConnection};
use crate::{Error, Result, ShardBackend, ShardId, ShardKey, ShardedPool};

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
/// let mut work = pool.unit_of_work();
/// assert_eq!(work.held_shards().count(), 0); // nothing checked out yet
/// work.connection("s0")?.batch_execute("CREATE TABLE t (id INTEGER)")?;
/// work.connection("s0")?.batch_execute("INSERT INTO t VALUES (1)")?; // same connection
/// assert_eq!(work.held_shards().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedConnection<Conn: ShardBackend> {
    pool: ShardedPool<Conn>,
    held: Vec<Option<R2d2PooledConnection<Conn>>>,
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
    ) -> Result<(&mut R2d2PooledConnection<Conn>, Checkout)> {
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
    ) -> Result<(&mut R2d2PooledConnection<Conn>, Checkout)> {
        let started = std::time::Instant::now();
        let pool = self.pool.clone();
        self.checked_out_within(index, timeout).inspect_err(|e| {
            executor::checkout_failed(&pool, index, operation, started.elapsed(), e);
        })
    }

    /// The held connection to the shard at `index` for user code: checked out (or
    /// re-switched) like any other use, and its namespace forgotten, so that whatever the
    /// code does to it, the next use switches it back to its shard.
    fn handed_out(&mut self, index: usize) -> Result<&mut R2d2PooledConnection<Conn>> {
        self.handed_out_for(index, None).map(|(conn, _)| conn)
    }

    /// [`handed_out`](Self::handed_out), reporting a failed checkout as a failed
    /// `operation` when there is one, and saying how the connection was had.
    fn handed_out_for(
        &mut self,
        index: usize,
        operation: Option<Operation>,
    ) -> Result<(&mut R2d2PooledConnection<Conn>, Checkout)> {
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
    fn keep(&mut self, index: usize, conn: R2d2PooledConnection<Conn>) {
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
    ) -> Result<&mut R2d2PooledConnection<Conn>> {
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

    /// Runs `job` on a worker on this unit of work's connection to the shard at `index`
    /// (checked out by the job if not held), under the deadline `limit`; the connection
    /// is kept unless it was given up on, or broke.
    pub(super) fn run_under<R: Send + 'static>(
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
}
