//! MySQL and MariaDB shards: databases, on their own pools or on a shared one (logical shards).

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::mysql::Mysql;
use diesel::query_builder::QueryFragment;
use diesel::{Connection, MysqlConnection, QueryResult};

use super::{ShardBackend, TypeLookup};

const EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
                      WHERE table_schema = DATABASE() \
                      AND table_name = 'diesel_sharding_shard_position'";

/// MySQL and MariaDB shards are databases: on their own pool (physical shards) or on
/// a shared pool (logical shards, switched with `USE`). Each switch empties Diesel's
/// prepared-statement cache of that connection, because a MySQL prepared statement
/// stays bound to the database it was prepared in.
impl ShardBackend for MysqlConnection {
    const NAME: &'static str = "mysql";
    const NAMESPACE: Option<&'static str> = Some("database");

    fn check_url(url: &str) -> Result<(), String> {
        if url.starts_with("mysql://") {
            Ok(())
        } else {
            Err("the URL does not start with `mysql://`: write \
                 `mysql://user:password@host:3306/database` (percent-encode `@`, `:`, `/`, `#` \
                 and `%` in the user name and password)"
                .into())
        }
    }

    /// Diesel reports MySQL's lost-connection errors (2006, 2013, …) as `Unknown`, so
    /// they are recognised by their client library messages.
    fn is_connection_error(error: &diesel::result::Error) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => true,
            Error::DatabaseError(_, info) => {
                let message = info.message().to_ascii_lowercase();
                [
                    "server has gone away",
                    "lost connection to",
                    "can't connect to",
                    "connection refused",
                ]
                .iter()
                .any(|needle| message.contains(needle))
            }
            _ => false,
        }
    }

    /// MariaDB's `max_statement_time` (seconds), else MySQL's `max_execution_time`
    /// (milliseconds, `SELECT`s only).
    fn set_statement_timeout(conn: &mut Self, limit: Option<Duration>) -> QueryResult<bool> {
        let secs = limit.map_or(0.0, |d| d.as_secs_f64().max(0.001));
        match conn.batch_execute(&format!("SET SESSION max_statement_time = {secs:.3}")) {
            Ok(()) => Ok(true),
            Err(_) => {
                let ms = limit.map_or(0, |d| d.as_millis().max(1));
                conn.batch_execute(&format!("SET SESSION max_execution_time = {ms}"))?;
                Ok(true)
            }
        }
    }

    /// MariaDB's `max_statement_time` (1969) and MySQL's `max_execution_time` (3024)
    /// errors.
    fn is_timeout_error(error: &diesel::result::Error) -> bool {
        matches!(error, diesel::result::Error::DatabaseError(_, info)
            if info.message().contains("max_statement_time")
                || info.message().contains("maximum statement execution time"))
    }

    /// `USE` the database, then empty Diesel's prepared-statement cache: a MySQL
    /// prepared statement stays bound to the database it was prepared in.
    fn switch_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        conn.batch_execute(&format!("USE `{name}`"))?;
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
        Ok(())
    }

    fn create_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        conn.batch_execute(&format!("CREATE DATABASE IF NOT EXISTS `{name}`"))
    }

    fn recorded_position(conn: &mut Self) -> QueryResult<Option<i64>> {
        super::read_position(conn, EXISTS)
    }

    fn record_position(conn: &mut Self, position: i64) -> QueryResult<()> {
        super::write_position(conn, EXISTS, position)
    }

    fn session_id(conn: &mut Self) -> QueryResult<Option<u64>> {
        super::read_session_id(conn, "SELECT CAST(CONNECTION_ID() AS SIGNED)")
    }

    /// `KILL QUERY`: ends the session's current statement, not its connection.
    fn cancel_statement(id: u64) -> Option<String> {
        Some(format!("KILL QUERY {id}"))
    }

    fn collect_statement<T: QueryFragment<Mysql> + ?Sized>(
        statement: &T,
        _types: Box<dyn TypeLookup>,
    ) -> QueryResult<Arc<dyn QueryFragment<Mysql> + Send + Sync>> {
        crate::executor::collect_with::<Mysql, _>(statement, &mut ())
    }
}
