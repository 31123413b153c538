//! The one place statements run: every statement on every shard (routed queries,
//! fan-outs, inserts, transactions, migrations, id blocks) goes through [`run`] or a
//! [`Probe`], which time it, apply the statement limit, mark a lost connection broken,
//! tag errors with the shard, and report a [`ShardEvent`] (to the pool's event handler,
//! its counters and, with the `tracing` feature, a span).

pub(crate) mod dispatch;
mod inbox;
mod owned;
pub(crate) mod workers;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::QueryResult;

pub(crate) use dispatch::{run_one, run_tasks, CallSettings, Done, Job, Task};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) use owned::collect_with;
pub use owned::OwnedQuery;

use crate::backend::drop_if_disconnected;
use crate::events::{Operation, Outcome, ShardEvent};
use crate::pool::R2d2PooledConnection;
use crate::{Error, Result, ShardBackend, ShardedPool};

/// Locks `mutex`; a panic on another thread that held it does not poison it for good
/// (the executor's state stays consistent between its short critical sections).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the connection a statement runs on was obtained.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Checkout {
    /// How long the checkout waited.
    pub(crate) wait: Duration,
    /// Whether the connection was switched to the shard's namespace.
    pub(crate) switched: bool,
}

/// One statement being timed and reported; [`finish`](Self::finish) reports it.
pub(crate) struct Probe {
    index: usize,
    operation: Operation,
    checkout: Checkout,
    started: Instant,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Probe {
    /// Starts timing a statement on the shard at `index`.
    pub(crate) fn start<Conn: ShardBackend>(
        pool: &ShardedPool<Conn>,
        index: usize,
        operation: Operation,
        checkout: Checkout,
    ) -> Probe {
        Probe::start_at(pool, index, operation, checkout, Instant::now())
    }

    /// Times a statement on the shard at `index` that began at `started`.
    pub(crate) fn start_at<Conn: ShardBackend>(
        pool: &ShardedPool<Conn>,
        index: usize,
        operation: Operation,
        checkout: Checkout,
        started: Instant,
    ) -> Probe {
        #[cfg(not(feature = "tracing"))]
        let _ = pool;
        Probe {
            index,
            operation,
            checkout,
            started,
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                "shard_statement",
                shard = %pool.id(index),
                operation = operation.as_str(),
                checkout_wait_us = checkout.wait.as_micros() as u64,
                namespace_switched = checkout.switched,
                duration_us = tracing::field::Empty,
                rows = tracing::field::Empty,
                outcome = tracing::field::Empty,
                error = tracing::field::Empty,
            ),
        }
    }

    /// Runs `f` inside the statement's span (with the `tracing` feature).
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        {
            self.span.in_scope(f)
        }
        #[cfg(not(feature = "tracing"))]
        {
            f()
        }
    }

    /// Reports the statement: `Ok(rows)`, or the error (`None` for an error of the
    /// caller's own type, which counts as a failure).
    pub(crate) fn finish<Conn: ShardBackend>(
        self,
        pool: &ShardedPool<Conn>,
        result: std::result::Result<Option<usize>, Option<&Error>>,
    ) {
        let duration = self.started.elapsed();
        self.finish_after(pool, duration, result);
    }

    /// [`finish`](Self::finish), saying the statement took `duration` (a statement
    /// given up on at its deadline is reported as lasting its limit).
    pub(crate) fn finish_after<Conn: ShardBackend>(
        self,
        pool: &ShardedPool<Conn>,
        duration: Duration,
        result: std::result::Result<Option<usize>, Option<&Error>>,
    ) {
        let (rows, outcome, error) = match result {
            Ok(rows) => (rows, Outcome::Success, None),
            Err(Some(error)) if is_timeout::<Conn>(error) => (None, Outcome::TimedOut, Some(error)),
            Err(error) => (None, Outcome::Failed, error),
        };
        let event = ShardEvent {
            shard: pool.id(self.index),
            operation: self.operation,
            checkout_wait: self.checkout.wait,
            namespace_switched: self.checkout.switched,
            duration,
            rows,
            outcome,
            error,
        };
        #[cfg(feature = "tracing")]
        {
            self.span
                .record("duration_us", event.duration.as_micros() as u64);
            if let Some(rows) = rows {
                self.span.record("rows", rows as u64);
            }
            self.span.record(
                "outcome",
                match outcome {
                    Outcome::Success => "success",
                    Outcome::Failed => "failed",
                    Outcome::TimedOut => "timed_out",
                },
            );
            if let Some(error) = error {
                self.span.record(
                    "error",
                    tracing::field::display(crate::error::error_chain(error)),
                );
            }
        }
        pool.record_event(self.index, &event);
    }
}

/// Whether `error` is a timeout: no connection in time, or the statement limit.
fn is_timeout<Conn: ShardBackend>(error: &Error) -> bool {
    match error {
        Error::PoolTimeout { .. } | Error::Timeout { .. } => true,
        other => other.diesel_error().is_some_and(Conn::is_timeout_error),
    }
}

/// Runs `f` as one statement on the shard at `index`, on `conn`: under the statement's
/// server-side limit (where the backend has one), marking the connection broken if it
/// was lost, tagging an error with the shard, and reporting the statement with
/// `rows(result)`.
pub(crate) fn run<Conn, R>(
    pool: &ShardedPool<Conn>,
    statement: Statement,
    conn: &mut R2d2PooledConnection<Conn>,
    rows: fn(&R) -> Option<usize>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
) -> Result<R>
where
    Conn: ShardBackend,
{
    let (result, probe) = execute(pool, statement, conn, f);
    probe.finish(pool, result.as_ref().map(rows).map_err(Some));
    result
}

/// [`run`] without the report: the caller decides whether to
/// [`finish`](Probe::finish) the returned probe (a worker whose caller gave up does not).
pub(crate) fn execute<Conn, R>(
    pool: &ShardedPool<Conn>,
    statement: Statement,
    conn: &mut R2d2PooledConnection<Conn>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
) -> (Result<R>, Probe)
where
    Conn: ShardBackend,
{
    execute_from(pool, statement, conn, f, Instant::now())
}

/// [`execute`] of a statement whose timing begins at `started`.
fn execute_from<Conn, R>(
    pool: &ShardedPool<Conn>,
    statement: Statement,
    conn: &mut R2d2PooledConnection<Conn>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    started: Instant,
) -> (Result<R>, Probe)
where
    Conn: ShardBackend,
{
    let probe = Probe::start_at(
        pool,
        statement.index,
        statement.operation,
        statement.checkout,
        started,
    );
    let result = probe.in_scope(|| {
        pool.limit_statements(conn, statement.timeout)
            .and_then(|()| f(&mut **conn))
            .map_err(|e| failed_on(pool, statement.index, conn, e))
    });
    (result, probe)
}

/// The error of a statement that failed on the shard at `index`, marking `conn` broken
/// if it was lost. Out of line: a statement's own code stays short.
#[cold]
#[inline(never)]
fn failed_on<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    conn: &mut R2d2PooledConnection<Conn>,
    error: diesel::result::Error,
) -> Error {
    drop_if_disconnected(&mut **conn, &error);
    Error::on_shard(pool.id(index))(error)
}

/// Checks a connection to the shard at `index` out of the pool for one `operation`,
/// reporting the operation as failed when no connection could be had. Also returns
/// when the connection was ready.
pub(crate) fn checkout<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    operation: Operation,
    timeout: Option<Duration>,
) -> Result<(R2d2PooledConnection<Conn>, Checkout, Instant)> {
    pool.checkout_ready(index, timeout)
        .map_err(|(error, waited)| {
            checkout_failed(pool, index, operation, waited, &error);
            error
        })
}

/// Reports a statement that never ran because no connection could be had.
#[cold]
#[inline(never)]
pub(crate) fn checkout_failed<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    operation: Operation,
    wait: Duration,
    error: &Error,
) {
    let probe = Probe::start(
        pool,
        index,
        operation,
        Checkout {
            wait,
            switched: false,
        },
    );
    probe.finish(pool, Err(Some(error)));
}

/// What one statement is: where, what kind, how its connection was had, its limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement {
    pub(crate) index: usize,
    pub(crate) operation: Operation,
    pub(crate) checkout: Checkout,
    pub(crate) timeout: Option<Duration>,
}

/// Runs `job` on a connection to the shard at `index` checked out for it: on a worker
/// under the pool's default deadline when it has one, else on this thread.
pub(crate) fn run_pooled<Conn, R>(
    pool: &ShardedPool<Conn>,
    index: usize,
    operation: Operation,
    rows: fn(&R) -> Option<usize>,
    job: Job<Conn, R>,
) -> Result<R>
where
    Conn: ShardBackend,
    R: Send + 'static,
{
    match pool.default_timeout() {
        Some(limit) => run_one(pool, index, operation, limit, None, rows, job).0,
        None => run_checked_out(pool, index, operation, rows, job),
    }
}

/// Runs `f` as one statement on this thread, on a connection to the shard at `index`
/// checked out for it and given back after.
pub(crate) fn run_checked_out<Conn, R>(
    pool: &ShardedPool<Conn>,
    index: usize,
    operation: Operation,
    rows: fn(&R) -> Option<usize>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
) -> Result<R>
where
    Conn: ShardBackend,
{
    let (mut conn, checkout, ready) = checkout(pool, index, operation, None)?;
    let statement = Statement {
        index,
        operation,
        checkout,
        timeout: None,
    };
    let (result, probe) = execute_from(pool, statement, &mut conn, f, ready);
    probe.finish(pool, result.as_ref().map(rows).map_err(Some));
    pool.give_back(index, conn);
    result
}

/// Boxes `f` as a [`Job`].
pub(crate) fn job<Conn, R>(
    f: impl FnOnce(&mut Conn) -> QueryResult<R> + Send + 'static,
) -> Job<Conn, R> {
    Box::new(f)
}

/// Rows of a `load`. (A `&Vec`, not a slice: it must fit `fn(&R)` with `R = Vec<T>`.)
#[allow(clippy::ptr_arg)]
pub(crate) fn rows_of_vec<T>(rows: &Vec<T>) -> Option<usize> {
    Some(rows.len())
}

/// Rows of an `execute`.
pub(crate) fn rows_affected(rows: &usize) -> Option<usize> {
    Some(*rows)
}

/// Rows of a `get_result` or `first`: one.
pub(crate) fn one_row<T>(_: &T) -> Option<usize> {
    Some(1)
}
