//! One r2d2 pool per physical source: the settings they share, the redacting error
//! handler and the per-connection setup.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};

use super::limits::{check_max_size, check_min_idle, check_time_limit};
use crate::error::BoxError;
use crate::pool::R2d2Pool;
use crate::redact::Redactor;
use crate::{Error, Result, ShardBackend, ShardId};

/// The r2d2 settings every pool of a builder shares (its own pools and shared ones).
pub(super) struct PoolSettings<Conn> {
    pub(super) customizer: Option<Arc<dyn CustomizeConnection<Conn, diesel::r2d2::Error>>>,
    pub(super) max_size: u32,
    pub(super) min_idle: Option<u32>,
    pub(super) connection_timeout: Duration,
    pub(super) test_on_check_out: bool,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) max_lifetime: Option<Duration>,
}

impl<Conn: ShardBackend> PoolSettings<Conn> {
    /// Refuses settings r2d2 would panic on, or that cannot work.
    pub(super) fn check(&self) -> Result<()> {
        let invalid =
            |setting: &'static str| move |reason: String| Error::InvalidSetting { setting, reason };
        check_max_size(self.max_size).map_err(invalid("max_size"))?;
        check_min_idle(self.min_idle, self.max_size).map_err(invalid("min_idle"))?;
        check_time_limit(self.connection_timeout, "give the time a checkout may wait")
            .map_err(invalid("connection_timeout"))?;
        if let Some(idle) = self.idle_timeout {
            check_time_limit(idle, "pass `None` to keep idle connections open")
                .map_err(invalid("idle_timeout"))?;
        }
        if let Some(lifetime) = self.max_lifetime {
            check_time_limit(lifetime, "pass `None` to let connections live on")
                .map_err(invalid("max_lifetime"))?;
        }
        Ok(())
    }

    /// Builds one r2d2 pool; `label` names it in errors.
    pub(super) fn build(
        &self,
        label: &ShardId,
        url: &str,
        shared: bool,
        connect_now: bool,
        redactor: &Redactor,
    ) -> Result<R2d2Pool<Conn>> {
        if connect_now {
            Conn::prepare_database(url).map_err(|e| Error::Connect {
                shard: label.clone(),
                source: Box::new(redactor.error(&*BoxError::from(e))),
            })?;
        }
        let builder = Pool::builder()
            .max_size(self.max_size)
            .min_idle(self.min_idle)
            .connection_timeout(self.connection_timeout)
            .test_on_check_out(self.test_on_check_out)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            .error_handler(Box::new(RedactingErrorHandler {
                label: label.clone(),
                redactor: redactor.clone(),
            }))
            .connection_customizer(Box::new(OnConnect {
                shared,
                user: self.customizer.clone(),
            }));
        let manager = ConnectionManager::<Conn>::new(url);
        if connect_now {
            let unreachable = |e: diesel::r2d2::PoolError| Error::Connect {
                shard: label.clone(),
                source: Box::new(redactor.error(&e)),
            };
            let pool = builder.build(manager).map_err(unreachable)?;
            // r2d2 opened `min_idle` connections; with none, open one here to prove the
            // database reachable. It stays idle for the first statement.
            if self.min_idle == Some(0) {
                drop(pool.get().map_err(unreachable)?);
            }
            Ok(pool)
        } else {
            Ok(builder.build_unchecked(manager))
        }
    }
}

/// Logs the errors r2d2 meets while opening connections (as r2d2's own default handler
/// does, at `error` level through the `log` crate), with secrets masked.
#[derive(Debug)]
struct RedactingErrorHandler {
    label: ShardId,
    redactor: Redactor,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for RedactingErrorHandler {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        log::error!(
            "shard `{}`: could not open a connection: {}",
            self.label,
            self.redactor.error(&error)
        );
    }
}

/// Runs [`ShardBackend::on_connect`] (and, on shared pools,
/// [`ShardBackend::on_connect_shared`]) on each new physical connection.
struct OnConnect<Conn> {
    shared: bool,
    user: Option<Arc<dyn CustomizeConnection<Conn, diesel::r2d2::Error>>>,
}

impl<Conn> fmt::Debug for OnConnect<Conn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnConnect")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<Conn: ShardBackend> CustomizeConnection<Conn, diesel::r2d2::Error> for OnConnect<Conn> {
    fn on_acquire(&self, conn: &mut Conn) -> std::result::Result<(), diesel::r2d2::Error> {
        Conn::on_connect(conn).map_err(diesel::r2d2::Error::QueryError)?;
        if self.shared {
            Conn::on_connect_shared(conn).map_err(diesel::r2d2::Error::QueryError)?;
        }
        match &self.user {
            Some(user) => user.on_acquire(conn),
            None => Ok(()),
        }
    }

    fn on_release(&self, conn: Conn) {
        if let Some(user) = &self.user {
            user.on_release(conn);
        }
    }
}
