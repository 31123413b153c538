//! MySQL and MariaDB shards: databases, on their own pools or on a shared one (logical shards).

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::mysql::Mysql;
use diesel::query_builder::QueryFragment;
use diesel::{Connection, MysqlConnection, QueryResult};

use super::{ShardBackend, TwoPhaseStep, TypeLookup};
use crate::schema_diff::ShardSchema;

const EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
                      WHERE table_schema = DATABASE() \
                      AND table_name = 'diesel_sharding_shard_position'";

/// The queries [`ShardBackend::read_schema`] runs: rows of (table, kind, name, definition).
/// One query per kind: `UNION`s of `information_schema` columns and literals can fail on
/// mixed collations.
const SCHEMA_QUERIES: &[&str] = &[
    "SELECT TABLE_NAME, 'table', TABLE_NAME, \
       CONCAT(IF(TABLE_TYPE = 'VIEW', 'view', 'table'), \
         IFNULL(CONCAT(' ENGINE ', ENGINE), ''), IFNULL(CONCAT(' COLLATE ', TABLE_COLLATION), '')) \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    "SELECT TABLE_NAME, 'column', COLUMN_NAME, \
       CONCAT(COLUMN_TYPE, IF(IS_NULLABLE = 'NO', ' NOT NULL', ''), \
         IFNULL(CONCAT(' DEFAULT ', COLUMN_DEFAULT), ''), IF(EXTRA = '', '', CONCAT(' ', EXTRA)), \
         IFNULL(CONCAT(' COLLATE ', COLLATION_NAME), '')) \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
    "SELECT TABLE_NAME, 'index', INDEX_NAME, \
       CONCAT(IF(MIN(NON_UNIQUE) = 0, 'UNIQUE ', ''), MAX(INDEX_TYPE), ' (', \
         GROUP_CONCAT(CONCAT(IFNULL(COLUMN_NAME, '(expression)'), \
           IFNULL(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX SEPARATOR ', '), ')') \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
     GROUP BY TABLE_NAME, INDEX_NAME",
    "SELECT tc.TABLE_NAME, 'constraint', tc.CONSTRAINT_NAME, \
       CONCAT(tc.CONSTRAINT_TYPE, \
         IFNULL(CONCAT(' (', (SELECT GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION \
             SEPARATOR ', ') FROM information_schema.KEY_COLUMN_USAGE k \
           WHERE k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME \
             AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME), ')'), ''), \
         IFNULL((SELECT CONCAT(' REFERENCES ', r.REFERENCED_TABLE_NAME, ' ON UPDATE ', \
             r.UPDATE_RULE, ' ON DELETE ', r.DELETE_RULE) \
           FROM information_schema.REFERENTIAL_CONSTRAINTS r \
           WHERE r.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND r.TABLE_NAME = tc.TABLE_NAME \
             AND r.CONSTRAINT_NAME = tc.CONSTRAINT_NAME LIMIT 1), ''), \
         IF(tc.CONSTRAINT_TYPE = 'CHECK', IFNULL((SELECT CONCAT(' ', c.CHECK_CLAUSE) \
           FROM information_schema.CHECK_CONSTRAINTS c \
           WHERE c.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
             AND c.CONSTRAINT_NAME = tc.CONSTRAINT_NAME LIMIT 1), ''), '')) \
     FROM information_schema.TABLE_CONSTRAINTS tc WHERE tc.CONSTRAINT_SCHEMA = DATABASE()",
];

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

    /// Tables and views, columns, indexes and constraints of the current database, from
    /// `information_schema` (`CHECK` clauses need MySQL 8.0.16 or MariaDB 10.2).
    fn read_schema(conn: &mut Self) -> QueryResult<ShardSchema> {
        crate::schema_diff::read_with(conn, SCHEMA_QUERIES)
    }

    const TWO_PHASE: bool = true;
    const LOCATION_SQL: &'static str = "SELECT IFNULL(DATABASE(), '')";

    /// `XA START` (through Diesel's transaction manager), `XA END` + `XA PREPARE`,
    /// `XA END` + `XA COMMIT ... ONE PHASE`, `XA COMMIT`, `XA ROLLBACK`.
    fn two_phase(conn: &mut Self, step: TwoPhaseStep<'_>) -> QueryResult<()> {
        use diesel::connection::AnsiTransactionManager;
        let result = match step {
            TwoPhaseStep::Begin(branch) => {
                return AnsiTransactionManager::begin_transaction_sql(
                    conn,
                    &format!("XA START {}", branch.xa_xid()),
                )
            }
            TwoPhaseStep::Prepare(branch) => {
                let xid = branch.xa_xid();
                conn.batch_execute(&format!("XA END {xid}; XA PREPARE {xid}"))
            }
            TwoPhaseStep::CommitOnePhase(branch, first) => {
                let xid = branch.xa_xid();
                conn.batch_execute(&format!("{first}XA END {xid}; XA COMMIT {xid} ONE PHASE"))
            }
            TwoPhaseStep::Rollback(branch) => {
                let xid = branch.xa_xid();
                // `XA END` fails when the branch was ended already (a failed prepare).
                let _ = conn.batch_execute(&format!("XA END {xid}"));
                conn.batch_execute(&format!("XA ROLLBACK {xid}"))
            }
            TwoPhaseStep::CommitPrepared(branch) => {
                return conn.batch_execute(&format!("XA COMMIT {}", branch.xa_xid()))
            }
            TwoPhaseStep::RollbackPrepared(branch) => {
                return conn.batch_execute(&format!("XA ROLLBACK {}", branch.xa_xid()))
            }
        };
        if result.is_ok() {
            super::forget_transaction(conn);
        }
        result
    }

    /// From `XA RECOVER`: every prepared branch on the server, whatever its database.
    fn prepared_branches(conn: &mut Self) -> QueryResult<Vec<(String, String)>> {
        use diesel::sql_types::{BigInt, Binary};
        use diesel::RunQueryDsl;
        let rows: Vec<(i64, i64, i64, Vec<u8>)> =
            diesel::dsl::sql::<(BigInt, BigInt, BigInt, Binary)>("XA RECOVER").load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, id_len, branch_len, data)| {
                let id_len = usize::try_from(id_len).ok()?;
                let branch_len = usize::try_from(branch_len).ok()?;
                let id = std::str::from_utf8(data.get(..id_len)?).ok()?;
                let branch = std::str::from_utf8(data.get(id_len..id_len + branch_len)?).ok()?;
                id.starts_with("ds:")
                    .then(|| (id.to_owned(), branch.to_owned()))
            })
            .collect())
    }

    fn record_decision_once(id: &str, outcome: &str, participants: &str, at_ms: i64) -> String {
        crate::atomic::insert_decision_sql(id, outcome, participants, at_ms).replacen(
            "INSERT INTO",
            "INSERT IGNORE INTO",
            1,
        )
    }

    fn load_strings(conn: &mut Self, sql: &str) -> QueryResult<Vec<String>> {
        super::load_text_column(conn, sql)
    }

    fn collect_statement<T: QueryFragment<Mysql> + ?Sized>(
        statement: &T,
        _types: Box<dyn TypeLookup>,
    ) -> QueryResult<Arc<dyn QueryFragment<Mysql> + Send + Sync>> {
        crate::executor::collect_with::<Mysql, _>(statement, &mut ())
    }
}
