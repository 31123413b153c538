//! Checking connections out and giving them back: the namespace switch of logical
//! shards, and the idle connections kept on the namespace they last served.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::r2d2::PooledConnection;

use crate::backend::mark_broken;
use crate::executor::Checkout;
use crate::{Error, Result, ShardBackend};

use super::session::CurrentLimit;
use super::{R2d2PooledConnection, ShardedPool};

/// An idle connection of a shared pool, kept aside on the namespace of the logical
/// shard it last served, so that the next statement for that shard needs no switch.
pub(super) struct Stashed<Conn: ShardBackend> {
    shard: usize,
    conn: R2d2PooledConnection<Conn>,
    since: Instant,
}

/// How long a stashed connection may wait for its shard before it goes back to r2d2
/// (r2d2's own idle timeout when it has one and it is shorter).
const STASH_IDLE: Duration = Duration::from_secs(60);

/// The namespace a pooled connection is switched to, kept in the connection's r2d2
/// extensions so that it lives exactly as long as the physical connection.
struct CurrentNamespace(Arc<str>);

/// Readies `conn` for user code: lifts the statement limit a deadline left on its
/// session, and forgets which namespace it is on (the code may switch it: `SET
/// search_path`, `USE`, `DISCARD ALL`), so that the next routed use switches it again.
/// A connection whose limit cannot be lifted is marked broken (the pool drops it).
pub(crate) fn hand_out<Conn: ShardBackend>(
    conn: &mut R2d2PooledConnection<Conn>,
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

impl<Conn: ShardBackend> ShardedPool<Conn> {
    pub(crate) fn checkout(&self, index: usize) -> Result<R2d2PooledConnection<Conn>> {
        self.checkout_within(index, None)
    }

    /// Checks out a connection to the shard at `index`, waiting at most `timeout` (the
    /// pool's connection timeout when `None`), switched to its namespace.
    pub(crate) fn checkout_within(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<R2d2PooledConnection<Conn>> {
        self.checkout_timed(index, timeout).map(|(conn, _)| conn)
    }

    /// Like [`checkout_within`](Self::checkout_within), saying how long it waited and
    /// whether it switched the connection's namespace.
    pub(crate) fn checkout_timed(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<(R2d2PooledConnection<Conn>, Checkout)> {
        self.checkout_ready(index, timeout)
            .map(|(conn, checkout, _)| (conn, checkout))
            .map_err(|(error, _)| error)
    }

    /// Like [`checkout_timed`](Self::checkout_timed); also returns when the connection
    /// was ready, for the statement's timing to begin there, and on failure how long it
    /// waited. A connection that was idle is had before the clock is read (its wait is
    /// zero), so that a keyed statement reads the clock no more often than plain Diesel
    /// on r2d2 does.
    pub(crate) fn checkout_ready(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> std::result::Result<(R2d2PooledConnection<Conn>, Checkout, Instant), (Error, Duration)>
    {
        let (mut conn, wait, got) = match self.idle_connection(index) {
            Some(conn) => (conn, Duration::ZERO, Instant::now()),
            None => self.checkout_waiting(index, timeout)?,
        };
        let switched = match &self.inner.slots[index].namespace {
            Some(namespace) => self
                .switch_to(index, namespace, &mut conn)
                .map_err(|e| (e, wait))?,
            None => false,
        };
        let ready = if switched { Instant::now() } else { got };
        Ok((conn, Checkout { wait, switched }, ready))
    }

    /// A connection for the shard at `index` that needs no waiting: one stashed on its
    /// namespace, or an idle one of r2d2's (tested first if the pool tests on checkout).
    fn idle_connection(&self, index: usize) -> Option<R2d2PooledConnection<Conn>> {
        match self.stash_of(index) {
            Some(physical) => self
                .unstash(physical, Some(index))
                .or_else(|| self.inner.pools[physical].try_get()),
            None => self.inner.pools[self.inner.slots[index].pool].try_get(),
        }
    }

    /// [`checkout_ready`](Self::checkout_ready) when no connection was idle: the
    /// connection, how long it took, and when it was had.
    #[cold]
    #[inline(never)]
    fn checkout_waiting(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> std::result::Result<(R2d2PooledConnection<Conn>, Duration, Instant), (Error, Duration)>
    {
        let started = Instant::now();
        let conn = self
            .wait_for_connection(index, timeout)
            .map_err(|e| (e, started.elapsed()))?;
        let got = Instant::now();
        Ok((conn, got.saturating_duration_since(started), got))
    }

    /// A connection for the shard at `index` when none was idle: r2d2 opens one if it
    /// may, else this waits up to `timeout` (the pool's connection timeout when `None`).
    fn wait_for_connection(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<R2d2PooledConnection<Conn>> {
        match self.stash_of(index) {
            Some(physical) => self.shared_checkout(index, physical, timeout),
            None => self.raw_checkout(index, timeout),
        }
    }

    /// The physical pool whose stash serves the shard at `index`: a logical shard on a
    /// pool that does not test connections on checkout (a stashed connection skips r2d2,
    /// and so its test).
    #[inline]
    pub(super) fn stash_of(&self, index: usize) -> Option<usize> {
        let slot = &self.inner.slots[index];
        let physical = slot.pool;
        (slot.namespace.is_some() && !self.inner.pools[physical].test_on_check_out())
            .then_some(physical)
    }

    /// A connection of a shared pool for the shard at `index`, preferring one already on
    /// its namespace: a stashed one for this shard, else an idle one from r2d2, else one
    /// stashed for another shard; else it waits for r2d2, looking at the stash again
    /// every few milliseconds, up to the timeout.
    pub(super) fn shared_checkout(
        &self,
        index: usize,
        physical: usize,
        timeout: Option<Duration>,
    ) -> Result<R2d2PooledConnection<Conn>> {
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
    pub(super) fn unstash(
        &self,
        physical: usize,
        shard: Option<usize>,
    ) -> Option<R2d2PooledConnection<Conn>> {
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
    #[inline]
    pub(crate) fn give_back(&self, index: usize, conn: R2d2PooledConnection<Conn>) {
        // A physical shard's connection goes straight back to r2d2, where it is dropped.
        if let Some(physical) = self.stash_of(index) {
            self.stash(index, physical, conn);
        }
    }

    /// Keeps `conn` in the stash of the shared pool `physical` for the shard at `index`,
    /// unless it is broken or off its namespace (it then goes back to r2d2).
    fn stash(&self, index: usize, physical: usize, mut conn: R2d2PooledConnection<Conn>) {
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
    ) -> Result<R2d2PooledConnection<Conn>> {
        let slot = &self.inner.slots[index];
        let mut conn = self.raw_checkout(index, None)?;
        if let Some(namespace) = &slot.namespace {
            self.create_namespace(index, &mut conn)?;
            self.switch_to(index, namespace, &mut conn)?;
        }
        self.record_position(index, &mut conn)?;
        Ok(conn)
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
    pub(super) fn raw_checkout(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<R2d2PooledConnection<Conn>> {
        let physical = self.inner.slots[index].pool;
        let pool = &self.inner.pools[physical];
        let timeout = timeout.unwrap_or_else(|| pool.connection_timeout());
        pool.get_timeout(timeout)
            .map_err(|source| self.pool_timeout(index, timeout, &source))
    }

    /// The error of a checkout for the shard at `index` that waited `timeout` in vain,
    /// with r2d2's message (secrets masked).
    pub(super) fn pool_timeout(
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
        conn: &mut R2d2PooledConnection<Conn>,
    ) -> Result<bool> {
        match &self.inner.slots[index].namespace {
            Some(namespace) => self.switch_to(index, namespace, conn),
            None => Ok(false),
        }
    }

    /// Points `conn` at `namespace` unless it is there already; says whether it switched.
    #[inline(never)]
    pub(super) fn switch_to(
        &self,
        index: usize,
        namespace: &Arc<str>,
        conn: &mut R2d2PooledConnection<Conn>,
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
