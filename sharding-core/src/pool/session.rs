//! The session a pooled connection has on its server: the statement limit a deadline
//! left on it, and its id for cancel requests.

use std::sync::atomic::Ordering;
use std::time::Duration;

use diesel::r2d2::PooledConnection;

use crate::backend::mark_broken;
use crate::{Error, ShardBackend};

use super::{R2d2PooledConnection, ShardedPool};

/// The server-side statement limit a pooled connection's session has, when it has one
/// (kept like [`CurrentNamespace`], so that a limit is set once per connection, not
/// before and after every statement).
pub(super) struct CurrentLimit(Duration);

/// The server's id of a pooled connection's session, for cancel requests.
struct SessionId(u64);

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Sets the server-side statement limit of `conn`'s session to `limit` unless it
    /// has it already (where the backend can limit statements; a no-op on SQLite).
    #[inline]
    pub(crate) fn limit_statements(
        &self,
        conn: &mut R2d2PooledConnection<Conn>,
        limit: Option<Duration>,
    ) -> diesel::QueryResult<()> {
        // Until a deadline has set a limit on a session of this pool, no connection has
        // one to lift: statements without a deadline skip the lookup.
        if !self.inner.server_limits
            || (limit.is_none() && !self.inner.session_limits_set.load(Ordering::Relaxed))
        {
            return Ok(());
        }
        self.limit_session(conn, limit)
    }

    /// [`limit_statements`](Self::limit_statements) once a limit may be wanted or in
    /// place: looks at the session's limit and sets it if it differs.
    #[inline(never)]
    fn limit_session(
        &self,
        conn: &mut R2d2PooledConnection<Conn>,
        limit: Option<Duration>,
    ) -> diesel::QueryResult<()> {
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
                    self.inner.session_limits_set.store(true, Ordering::Relaxed);
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
    pub(crate) fn session_of(&self, conn: &mut R2d2PooledConnection<Conn>) -> Option<u64> {
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
                    crate::error::error_chain(&e)
                );
            }
            pool.inner.cancelling[index].store(false, Ordering::Release);
            None
        });
    }
}
