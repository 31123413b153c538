//! [`ShardAccess`]: what a routed query runs through, a pool or a unit of work.

use diesel::QueryResult;

use crate::events::Operation;
use crate::executor::{self, Statement};
use crate::fanout::exec::{run_until_failure, RunOptions};
use crate::{Result, ShardBackend, ShardedConnection, ShardedPool};

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
/// use sharding_core::{ShardAccess, ShardedConnection, ShardedPool};
///
/// fn takes_either<A: ShardAccess<Connection = SqliteConnection>>(_: A) {}
///
/// # fn demo(pool: ShardedPool<SqliteConnection>) {
/// takes_either(&pool);
/// let mut work: ShardedConnection<SqliteConnection> = pool.get();
/// takes_either(&mut work);
/// # }
/// ```
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

    /// Runs `job` once per item, on the shard at the item's index, as `options` say
    /// (in parallel or not, time-limited or not). Results come back in shard order.
    #[doc(hidden)]
    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
        job: &(dyn Fn(T, &mut Self::Connection) -> QueryResult<R> + Sync),
    ) -> Vec<(usize, Result<R>)>;
}

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
        run_on_pool(self, index, None, rows, f)
    }

    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
        job: &(dyn Fn(T, &mut Conn) -> QueryResult<R> + Sync),
    ) -> Vec<(usize, Result<R>)> {
        let pool: &ShardedPool<Conn> = self;
        run_until_failure(items, options, &|index, item| {
            run_on_pool(pool, index, options.timeout, rows, |conn| job(item, conn))
        })
    }
}

/// One statement on a connection checked out of the pool for it (and returned after).
fn run_on_pool<Conn: ShardBackend, R>(
    pool: &ShardedPool<Conn>,
    index: usize,
    timeout: Option<std::time::Duration>,
    rows: fn(&R) -> Option<usize>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
) -> Result<R> {
    let (mut conn, checkout) = executor::checkout(pool, index, Operation::Query, timeout)?;
    let statement = Statement {
        index,
        operation: Operation::Query,
        checkout,
        timeout,
    };
    let result = executor::run(pool, statement, &mut conn, rows, f);
    pool.give_back(index, conn);
    result
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

    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
        rows: fn(&R) -> Option<usize>,
        job: &(dyn Fn(T, &mut Conn) -> QueryResult<R> + Sync),
    ) -> Vec<(usize, Result<R>)> {
        ShardedConnection::run_many(self, items, options, rows, job)
    }
}
