//! PostgreSQL shards: databases, or schemas of one database (logical shards).

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::{Pg, PgMetadataLookup, PgTypeMetadata};
use diesel::query_builder::QueryFragment;
use diesel::{PgConnection, QueryResult};

use super::{ShardBackend, TypeLookup};

/// Diesel's type lookup, answered from the pool's lookups for one shard.
struct Types(Box<dyn TypeLookup>);

impl PgMetadataLookup for Types {
    fn lookup_type(&mut self, type_name: &str, schema: Option<&str>) -> PgTypeMetadata {
        // On failure the pool keeps the error and fails the collection with it; the
        // placeholder never reaches a server.
        let (oid, array_oid) = self.0.lookup(type_name, schema).unwrap_or((0, 0));
        PgTypeMetadata::new(oid, array_oid)
    }
}

/// In the current schema only (a logical shard's), not anywhere on the search path.
const EXISTS: &str = "SELECT COUNT(*) FROM pg_catalog.pg_tables \
                      WHERE schemaname = current_schema() \
                      AND tablename = 'diesel_sharding_shard_position'";

/// PostgreSQL shards are databases (physical shards) or schemas on a shared pool
/// (logical shards). A logical shard's connection has `search_path` set to its schema
/// then `public` (for extensions), so an unqualified table name means that shard's
/// table as long as shard tables are kept out of `public`.
impl ShardBackend for PgConnection {
    const NAME: &'static str = "postgres";
    const NAMESPACE: Option<&'static str> = Some("schema");

    fn check_url(url: &str) -> Result<(), String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(())
        } else {
            Err(
                "the URL does not start with `postgres://` or `postgresql://`: write \
                 `postgres://user:password@host:5432/database` (percent-encode `@`, `:`, `/`, \
                 `#` and `%` in the user name and password)"
                    .into(),
            )
        }
    }

    fn set_statement_timeout(conn: &mut Self, limit: Option<Duration>) -> QueryResult<bool> {
        let ms = limit.map_or(0, |d| d.as_millis().max(1));
        conn.batch_execute(&format!("SET statement_timeout = {ms}"))?;
        Ok(true)
    }

    /// SQLSTATE 57014 with PostgreSQL's statement-timeout message.
    fn is_timeout_error(error: &diesel::result::Error) -> bool {
        matches!(error, diesel::result::Error::DatabaseError(_, info)
            if info.message().contains("statement timeout"))
    }

    /// `SET search_path TO "name", public`: the shard's schema first, so unqualified
    /// tables and new tables are the shard's; `public` after it, so the types and
    /// functions of extensions (installed in `public` by default) resolve as they do
    /// on a physical shard. Keep shard tables out of `public`: a table missing from the
    /// shard's schema but present in `public` would resolve there.
    fn switch_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        conn.batch_execute(&format!("SET search_path TO \"{name}\", public"))
    }

    fn create_namespace(conn: &mut Self, name: &str) -> QueryResult<()> {
        conn.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{name}\""))
    }

    fn recorded_position(conn: &mut Self) -> QueryResult<Option<i64>> {
        super::read_position(conn, EXISTS)
    }

    fn record_position(conn: &mut Self, position: i64) -> QueryResult<()> {
        super::write_position(conn, EXISTS, position)
    }

    fn session_id(conn: &mut Self) -> QueryResult<Option<u64>> {
        super::read_session_id(conn, "SELECT CAST(pg_backend_pid() AS BIGINT)")
    }

    /// `pg_cancel_backend`: cancels the session's current statement only.
    fn cancel_statement(id: u64) -> Option<String> {
        Some(format!("SELECT pg_cancel_backend({id})"))
    }

    fn collect_statement<T: QueryFragment<Pg> + ?Sized>(
        statement: &T,
        types: Box<dyn TypeLookup>,
    ) -> QueryResult<Arc<dyn QueryFragment<Pg> + Send + Sync>> {
        crate::executor::collect_with::<Pg, _>(statement, &mut Types(types))
    }

    fn lookup_type(conn: &mut Self, name: &str, schema: Option<&str>) -> QueryResult<(u32, u32)> {
        let metadata = PgMetadataLookup::lookup_type(conn, name, schema);
        let failed = |e: &dyn std::error::Error| {
            diesel::result::Error::QueryBuilderError(e.to_string().into())
        };
        let oid = metadata.oid().map_err(|e| failed(&e))?;
        let array_oid = metadata.array_oid().map_err(|e| failed(&e))?;
        Ok((oid, array_oid))
    }
}
