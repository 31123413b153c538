//! [`ShardAccess`]: what a routed query runs through, a pool or a unit of work, and the
//! bounds ([`CanLoad`], [`CanExecute`]) a query meets to run there.

use diesel::QueryResult;

use crate::events::Operation;
use crate::executor::{self, CallSettings, Job, Task};
use crate::fanout::exec::RunOptions;
use crate::{Result, ShardBackend, ShardedConnection, ShardedPool};

pub use crate::capability::{CanExecute, CanLoad};
pub use crate::executor::OwnedQuery;

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// Where routed queries run: `&ShardedPool` (each statement checks out a connection
/// and returns it) or `&mut ShardedConnection` (statements reuse the unit of work's
/// connection to each shard). Sealed: this crate implements it for those two.
///
/// ```
/// use diesel::SqliteConnection;
/// use sharding_core::{ShardedConnection, ShardedPool};
/// use sharding_core::access::ShardAccess;
///
/// fn takes_either<A: ShardAccess<Connection = SqliteConnection>>(_: A) {}
///
/// # fn demo(pool: ShardedPool<SqliteConnection>) {
/// takes_either(&pool);
/// let mut work: ShardedConnection<SqliteConnection> = pool.unit_of_work();
/// takes_either(&mut work);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pool or unit of work to run sharded queries through",
    label = "pass `&pool` or `&mut work`",
    note = "routed and fanned-out queries run through `&ShardedPool` or \
            `&mut ShardedConnection` (from `pool.unit_of_work()`)"
)]
pub trait ShardAccess: sealed::Sealed {
    /// The Diesel connection type of the shards.
    type Connection: ShardBackend;

    /// The pool behind this access.
    fn sharded_pool(&self) -> &ShardedPool<Self::Connection>;

    /// Runs `f` on a connection to the shard at `index` in pool order; `rows` tells
    /// the reported event how many rows the result holds.
    #[doc(hidden)]
    fn run_at<R>(
        &mut self,
        index: usize,
        rows: fn(&R) -> Option<usize>,
        f: impl FnOnce(&mut Self::Connection) -> QueryResult<R>,
    ) -> Result<R>;

    /// Runs each job on the shard at its index, as `options` say (in parallel or
    /// not, under a deadline or not). Results come back in the jobs' order; under
    /// fail-fast, jobs after the first failure may have none.
    #[doc(hidden)]
    fn run_jobs<R: Send + 'static>(
        &mut self,
        jobs: Vec<(usize, Job<Self::Connection, R>)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
    ) -> Vec<(usize, Result<R>)>;
}

/// The Diesel backend of the shards a [`ShardAccess`] reaches (`Pg`, `Mysql`, `Sqlite`).
pub type BackendOf<A> = <<A as ShardAccess>::Connection as diesel::Connection>::Backend;

impl<Conn: ShardBackend> sealed::Sealed for &ShardedPool<Conn> {}

impl<Conn: ShardBackend> ShardAccess for &ShardedPool<Conn> {
    type Connection = Conn;

    fn sharded_pool(&self) -> &ShardedPool<Conn> {
        self
    }

    fn run_at<R>(
        &mut self,
        index: usize,
        rows: fn(&R) -> Option<usize>,
        f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    ) -> Result<R> {
        executor::run_checked_out(self, index, Operation::Query, rows, f)
    }

    fn run_jobs<R: Send + 'static>(
        &mut self,
        jobs: Vec<(usize, Job<Conn, R>)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
    ) -> Vec<(usize, Result<R>)> {
        let tasks = jobs
            .into_iter()
            .map(|(index, job)| Task {
                index,
                held: None,
                job,
            })
            .collect();
        let settings = CallSettings {
            operation: Operation::Query,
            options,
            keep: false,
        };
        executor::run_tasks(self, tasks, settings, rows, &mut Vec::new())
            .into_iter()
            .map(|done| (done.index, done.result))
            .collect()
    }
}

impl<Conn: ShardBackend> sealed::Sealed for &mut ShardedConnection<Conn> {}

impl<Conn: ShardBackend> ShardAccess for &mut ShardedConnection<Conn> {
    type Connection = Conn;

    fn sharded_pool(&self) -> &ShardedPool<Conn> {
        self.pool()
    }

    fn run_at<R>(
        &mut self,
        index: usize,
        rows: fn(&R) -> Option<usize>,
        f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    ) -> Result<R> {
        ShardedConnection::run_at(self, index, Operation::Query, rows, f)
    }

    fn run_jobs<R: Send + 'static>(
        &mut self,
        jobs: Vec<(usize, Job<Conn, R>)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
    ) -> Vec<(usize, Result<R>)> {
        ShardedConnection::run_jobs(self, jobs, options, rows)
    }
}
