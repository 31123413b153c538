//! [`ShardAccess`]: what a routed query runs through, a pool or a unit of work.

use diesel::QueryResult;

use crate::backend::drop_if_disconnected;
use crate::fanout::exec::{run_items, with_statement_timeout, RunOptions};
use crate::{Error, Result, ShardBackend, ShardedConnection, ShardedPool};

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

    /// Runs `f` on a connection to the shard at `index` in pool order.
    #[doc(hidden)]
    fn run_at<R>(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut Self::Connection) -> QueryResult<R>,
    ) -> Result<R>;

    /// Runs `job` once per item, on the shard at the item's index, as `options` say
    /// (in parallel or not, time-limited or not). Results come back in shard order.
    #[doc(hidden)]
    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
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
        f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    ) -> Result<R> {
        let mut conn = self.checkout(index)?;
        f(&mut conn)
            .inspect_err(|e| {
                drop_if_disconnected(&mut *conn, e);
            })
            .map_err(Error::on_shard(self.id(index)))
    }

    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
        job: &(dyn Fn(T, &mut Conn) -> QueryResult<R> + Sync),
    ) -> Vec<(usize, Result<R>)> {
        let pool: &ShardedPool<Conn> = self;
        run_items(items, options.parallelism, &|index, item| {
            let mut conn = pool.checkout_within(index, options.timeout)?;
            with_statement_timeout(&mut *conn, options.timeout, |conn| job(item, conn))
                .inspect_err(|e| {
                    drop_if_disconnected(&mut *conn, e);
                })
                .map_err(Error::on_shard(pool.id(index)))
        })
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
        f: impl FnOnce(&mut Conn) -> QueryResult<R>,
    ) -> Result<R> {
        ShardedConnection::run_at(self, index, f)
    }

    fn run_many<T: Send, R: Send>(
        &mut self,
        items: Vec<(usize, T)>,
        options: RunOptions,
        job: &(dyn Fn(T, &mut Conn) -> QueryResult<R> + Sync),
    ) -> Vec<(usize, Result<R>)> {
        ShardedConnection::run_many(self, items, options, job)
    }
}
