//! Transactions of the unit of work: plain Diesel closures on one shard, with or without
//! a deadline.

use std::time::Duration;

use diesel::connection::Connection;

use crate::backend::mark_broken;
use crate::events::Operation;
use crate::executor::{self, Probe};
use crate::{Error, Result, ShardBackend, ShardKey, TransactionError};

use super::ShardedConnection;

impl<Conn: ShardBackend> ShardedConnection<Conn> {
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
    /// let mut work = pool.unit_of_work();
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
}
