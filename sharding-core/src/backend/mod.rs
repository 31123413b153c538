//! What a database backend must provide to hold shards.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::LoadConnection;
use diesel::connection::TransactionManager;
use diesel::query_builder::QueryFragment;
use diesel::r2d2::R2D2Connection;
use diesel::result::DatabaseErrorKind;
use diesel::QueryResult;

use crate::schema_diff::ShardSchema;

/// A Diesel connection type that can hold shards: [`SqliteConnection`] (feature
/// `sqlite`), `PgConnection` (feature `postgres`) and `MysqlConnection` (feature `mysql`).
///
/// Every hook has a default, so a third-party Diesel connection can hold physical shards
/// by implementing this trait with an empty body; logical shards (several shards on one
/// pool, see [`ShardedPoolBuilder::logical_shard`](crate::ShardedPoolBuilder::logical_shard))
/// need [`NAMESPACE`](Self::NAMESPACE) and the namespace hooks.
///
/// [`SqliteConnection`]: diesel::SqliteConnection
pub trait ShardBackend: R2D2Connection + LoadConnection + Send + 'static {
    /// The backend's name in configuration files: `sqlite`, `postgres` or `mysql`.
    const NAME: &'static str = "custom";

    /// What one logical shard is on this backend (`"schema"` on PostgreSQL,
    /// `"database"` on MySQL), or `None` when the backend has no logical shards.
    const NAMESPACE: Option<&'static str> = None;

    /// Checks a shard's URL before anything connects. Returns what is wrong with it.
    fn check_url(url: &str) -> Result<(), String> {
        let _ = url;
        Ok(())
    }

    /// Runs once per shard before its pool is built by `build()`, with a connection of
    /// its own (SQLite switches the file to WAL here). `build_unchecked()` skips it, so
    /// that it touches no database.
    fn prepare_database(url: &str) -> Result<(), String> {
        let _ = url;
        Ok(())
    }

    /// Runs on every new physical connection (SQLite sets its per-connection pragmas).
    fn on_connect(conn: &mut Self) -> QueryResult<()> {
        let _ = conn;
        Ok(())
    }

    /// Runs on every new physical connection of a pool shared by logical shards, after
    /// [`on_connect`](Self::on_connect).
    fn on_connect_shared(conn: &mut Self) -> QueryResult<()> {
        let _ = conn;
        Ok(())
    }

    /// Limits how long each statement on this connection may run (`None` lifts the
    /// limit). Returns `false` when the backend cannot limit statements (SQLite), in
    /// which case only the checkout is time-limited.
    fn set_statement_timeout(conn: &mut Self, limit: Option<Duration>) -> QueryResult<bool> {
        let _ = (conn, limit);
        Ok(false)
    }

    /// Whether `error` means the connection itself is gone (server restarted, network
    /// cut), so that the pool must drop it rather than hand it out again. The default
    /// recognises Diesel's `ClosedConnection` and `UnableToSendCommand` kinds.
    fn is_connection_error(error: &diesel::result::Error) -> bool {
        matches!(
            error,
            diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _
            )
        )
    }

    /// Whether `error` means the statement ran out of its time limit (see
    /// [`set_statement_timeout`](Self::set_statement_timeout)), so that it is reported
    /// as a timeout rather than a failure. The default says no.
    fn is_timeout_error(error: &diesel::result::Error) -> bool {
        let _ = error;
        false
    }

    /// Points the connection at the logical shard `name` (already validated as a plain
    /// identifier). Only called when [`NAMESPACE`](Self::NAMESPACE) is `Some`.
    fn switch_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        let _ = (conn, name);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend has no logical shards".into(),
        ))
    }

    /// The position in the pool this shard's database was recorded at (see
    /// [`record_position`](Self::record_position)), or `None` if none was recorded. The
    /// default records nothing, so a third-party backend's shards are not checked.
    fn recorded_position(conn: &mut Self) -> QueryResult<Option<i64>> {
        let _ = conn;
        Ok(None)
    }

    /// Records `position`, the shard's place in the pool, in its database (table
    /// `diesel_sharding_shard_position`), unless a position is recorded already. Runs
    /// when the shard is migrated; [`build`](crate::ShardedPoolBuilder::build) then
    /// refuses a pool whose order differs. The default does nothing.
    fn record_position(conn: &mut Self, position: i64) -> QueryResult<()> {
        let _ = (conn, position);
        Ok(())
    }

    /// Creates the logical shard `name` if it does not exist (before migrations).
    fn create_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        let _ = (conn, name);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend has no logical shards".into(),
        ))
    }

    /// Reads the schema of the database `conn` is on (a logical shard's schema or
    /// database), for [`ShardedPool::schema_diff`](crate::ShardedPool::schema_diff). The
    /// default says the backend cannot.
    fn read_schema(conn: &mut Self) -> QueryResult<ShardSchema> {
        let _ = conn;
        Err(diesel::result::Error::QueryBuilderError(
            "this backend cannot read its schema: implement `ShardBackend::read_schema`".into(),
        ))
    }

    /// Whether this backend can prepare transactions, for atomic commits across shards
    /// ([`ShardedPool::atomic`](crate::ShardedPool::atomic)): PostgreSQL and MySQL/MariaDB
    /// can, SQLite cannot.
    const TWO_PHASE: bool = false;

    /// Two-phase commit, step by step, for one shard's branch `branch` of an atomic
    /// transaction. Not public API: implemented by the built-in backends.
    #[doc(hidden)]
    fn two_phase(conn: &mut Self, step: TwoPhaseStep<'_>) -> QueryResult<()> {
        let _ = (conn, step);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend cannot prepare transactions".into(),
        ))
    }

    /// The branches of atomic transactions prepared on the server `conn` is connected to
    /// (for PostgreSQL, in its database), as `(transaction id, branch)` pairs, whichever
    /// pool made them. Not public API.
    #[doc(hidden)]
    fn prepared_branches(conn: &mut Self) -> QueryResult<Vec<(String, String)>> {
        let _ = conn;
        Ok(Vec::new())
    }

    /// Where the data of the shard `conn` is on lives, as text (PostgreSQL: database and
    /// schema; MySQL: database), for the tags of atomic transactions' branches. Not
    /// public API.
    #[doc(hidden)]
    const LOCATION_SQL: &'static str = "SELECT ''";

    /// Runs `sql`, a query of one text column, and returns its values: recovery's reads
    /// of the decision table. Not public API.
    #[doc(hidden)]
    fn load_strings(conn: &mut Self, sql: &str) -> QueryResult<Vec<String>> {
        let _ = (conn, sql);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend cannot load text rows".into(),
        ))
    }

    /// The statement that records `outcome` for the atomic transaction `id` unless one
    /// is recorded already (`ON CONFLICT DO NOTHING`, `INSERT IGNORE`). Not public API.
    #[doc(hidden)]
    fn record_decision_once(id: &str, outcome: &str, participants: &str, at_ms: i64) -> String {
        let _ = (id, outcome, participants, at_ms);
        String::new()
    }

    /// Collects `statement` into its SQL text and owned bind values, so that it can run
    /// on a worker thread (see [`OwnedQuery`](crate::access::OwnedQuery)). The built-in backends
    /// use Diesel's `CollectedQuery`; the default says the backend cannot, so that
    /// fan-outs and calls with a deadline fail on it with that message.
    #[doc(hidden)]
    fn collect_statement<T: QueryFragment<Self::Backend> + ?Sized>(
        statement: &T,
        types: Box<dyn TypeLookup>,
    ) -> QueryResult<Arc<dyn QueryFragment<Self::Backend> + Send + Sync>> {
        let _ = (statement, types);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend cannot collect statements for worker threads: implement \
             `ShardBackend::collect_statement`"
                .into(),
        ))
    }

    /// The server's id of this connection's session (PostgreSQL backend pid, MySQL
    /// connection id), so that a statement given up on at its deadline can be cancelled
    /// from another connection (see [`cancel_statement`](Self::cancel_statement)).
    #[doc(hidden)]
    fn session_id(conn: &mut Self) -> QueryResult<Option<u64>> {
        let _ = conn;
        Ok(None)
    }

    /// The statement that cancels what the session `id` runs, sent on another connection
    /// to the same server; `None` when the backend cannot cancel (SQLite).
    #[doc(hidden)]
    fn cancel_statement(id: u64) -> Option<String> {
        let _ = id;
        None
    }

    /// The ids of the user-defined type `name` (in `schema`) and of its array type, for
    /// [`collect_statement`](Self::collect_statement). Only PostgreSQL has any.
    #[doc(hidden)]
    fn lookup_type(conn: &mut Self, name: &str, schema: Option<&str>) -> QueryResult<(u32, u32)> {
        let _ = (conn, name, schema);
        Err(diesel::result::Error::QueryBuilderError(
            "this backend has no user-defined types".into(),
        ))
    }
}

/// One step of a shard's branch of an atomic transaction, for
/// [`ShardBackend::two_phase`]. Not public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TwoPhaseStep<'a> {
    /// Starts the branch (`BEGIN`, `XA START`), tracked by Diesel's transaction manager
    /// so that nested `transaction` calls become savepoints.
    Begin(&'a crate::atomic::Branch),
    /// Prepares it (`PREPARE TRANSACTION`, `XA END` + `XA PREPARE`); after it, the
    /// connection is outside any transaction.
    Prepare(&'a crate::atomic::Branch),
    /// Commits it without preparing (`COMMIT`, `XA COMMIT ... ONE PHASE`), after the
    /// statements given (`;`-terminated, possibly none), in the same round trip.
    CommitOnePhase(&'a crate::atomic::Branch, &'a str),
    /// Rolls it back before it was prepared.
    Rollback(&'a crate::atomic::Branch),
    /// Commits it once prepared, from any connection to the same database.
    CommitPrepared(&'a crate::atomic::Branch),
    /// Rolls it back once prepared, from any connection to the same database.
    RollbackPrepared(&'a crate::atomic::Branch),
}

/// Tells Diesel's transaction manager that `conn` is outside any transaction, after a
/// statement Diesel does not know ended it (`PREPARE TRANSACTION`, `XA COMMIT`).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn forget_transaction<Conn: ShardBackend>(conn: &mut Conn) {
    *<Conn::TransactionManager as TransactionManager<Conn>>::transaction_manager_status_mut(conn) =
        Default::default();
}

/// Looks up user-defined types (PostgreSQL) for a statement being collected into an
/// [`OwnedQuery`](crate::access::OwnedQuery). Not public API.
#[doc(hidden)]
pub trait TypeLookup {
    /// The type's id and its array type's id, or `None` if it cannot be looked up.
    fn lookup(&mut self, name: &str, schema: Option<&str>) -> Option<(u32, u32)>;
}

/// Marks `conn` broken, so that r2d2 drops it when it is returned instead of handing it
/// out again (its state is unknown: a session setting that could not be undone, a
/// transaction a panic left open).
pub(crate) fn mark_broken<Conn: ShardBackend>(conn: &mut Conn) {
    <Conn::TransactionManager as TransactionManager<Conn>>::transaction_manager_status_mut(conn)
        .set_in_error();
}

/// If `error` says the connection is gone, marks `conn` broken so that r2d2 drops it
/// when it is returned instead of handing it out again. Returns whether it did.
pub(crate) fn drop_if_disconnected<Conn: ShardBackend>(
    conn: &mut Conn,
    error: &diesel::result::Error,
) -> bool {
    if Conn::is_connection_error(error) {
        mark_broken(conn);
        true
    } else {
        false
    }
}

/// The table that records a shard's position in its pool.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const POSITION_TABLE: &str = "diesel_sharding_shard_position";

/// Reads the recorded position, if the table (found by `exists_sql`) is there.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn read_position<C>(conn: &mut C, exists_sql: &str) -> QueryResult<Option<i64>>
where
    C: diesel::Connection,
    diesel::expression::SqlLiteral<diesel::sql_types::BigInt>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, i64>,
{
    use diesel::{OptionalExtension, RunQueryDsl};
    let exists: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(exists_sql).get_result(conn)?;
    if exists == 0 {
        return Ok(None);
    }
    diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT position FROM {POSITION_TABLE}"))
        .get_result(conn)
        .optional()
}

/// The values of `sql`, a query of one text column.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn load_text_column<C>(conn: &mut C, sql: &str) -> QueryResult<Vec<String>>
where
    C: diesel::Connection,
    diesel::expression::SqlLiteral<diesel::sql_types::Text>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, String>,
{
    use diesel::RunQueryDsl;
    diesel::dsl::sql::<diesel::sql_types::Text>(sql).load(conn)
}

/// The session id that `id_sql` (one `BIGINT`) reads.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn read_session_id<C>(conn: &mut C, id_sql: &str) -> QueryResult<Option<u64>>
where
    C: diesel::Connection,
    diesel::expression::SqlLiteral<diesel::sql_types::BigInt>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, i64>,
{
    use diesel::RunQueryDsl;
    let id: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(id_sql).get_result(conn)?;
    Ok(u64::try_from(id).ok())
}

/// Records `position` unless a position is recorded already.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn write_position<C>(conn: &mut C, exists_sql: &str, position: i64) -> QueryResult<()>
where
    C: diesel::Connection,
    diesel::expression::SqlLiteral<diesel::sql_types::BigInt>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, i64>,
{
    if read_position(conn, exists_sql)?.is_some() {
        return Ok(());
    }
    conn.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {POSITION_TABLE} (position BIGINT NOT NULL); \
         INSERT INTO {POSITION_TABLE} (position) VALUES ({position})"
    ))
}

/// Whether `name` may name a schema or database: 1 to 63 ASCII letters, digits and `_`,
/// not starting with a digit. Such names need no escaping; they are quoted anyway.
pub(crate) fn invalid_namespace(name: &str) -> Option<&'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => Some("it is empty"),
        _ if name.len() > 63 => Some("it is longer than 63 characters"),
        Some(b'0'..=b'9') => Some("it starts with a digit"),
        _ if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            Some("it may only hold ASCII letters, digits and `_`")
        }
        _ => None,
    }
}

#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
mod postgres;

#[cfg(feature = "mysql")]
mod mysql;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_must_be_plain_identifiers() {
        assert_eq!(invalid_namespace("shard_0"), None);
        assert_eq!(invalid_namespace("Tenant7"), None);
        assert!(invalid_namespace("").is_some());
        assert!(invalid_namespace("0abc").is_some());
        assert!(invalid_namespace("x; DROP TABLE orders").is_some());
        assert!(invalid_namespace("a\"b").is_some());
        assert!(invalid_namespace("a`b").is_some());
        assert!(invalid_namespace(&"a".repeat(64)).is_some());
        assert!(invalid_namespace(&"a".repeat(63)).is_none());
    }
}
