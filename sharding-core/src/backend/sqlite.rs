//! SQLite shards: one file each.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::query_builder::QueryFragment;
use diesel::sqlite::Sqlite;
use diesel::{Connection, QueryResult, SqliteConnection};

use super::{ShardBackend, TypeLookup};
use crate::schema_diff::ShardSchema;

const EXISTS: &str = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                      AND name = 'diesel_sharding_shard_position'";

/// The queries [`ShardBackend::read_schema`] runs: rows of (table, kind, name, definition).
const SCHEMA_QUERIES: &[&str] = &[
    "SELECT m.name, 'table', m.name, m.type FROM sqlite_master m \
     WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    "SELECT m.name, 'column', p.name, p.type \
       || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END \
       || COALESCE(' DEFAULT ' || p.dflt_value, '') \
       || CASE WHEN p.pk > 0 THEN ' PRIMARY KEY' ELSE '' END \
     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
     WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    "SELECT m.name, 'index', il.name, \
       CASE WHEN il.\"unique\" THEN 'UNIQUE ' ELSE '' END || '(' \
       || (SELECT group_concat(COALESCE(ii.name, '(expression)'), ', ') \
           FROM pragma_index_info(il.name) ii) || ')' \
       || CASE WHEN il.partial THEN ' PARTIAL ' || COALESCE((SELECT s.sql FROM sqlite_master s \
            WHERE s.type = 'index' AND s.name = il.name), '') ELSE '' END \
     FROM sqlite_master m JOIN pragma_index_list(m.name) il \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    "SELECT m.name, 'constraint', 'foreign key ' || fk.id, \
       'FOREIGN KEY (' || group_concat(fk.\"from\", ', ') || ') REFERENCES ' || fk.\"table\" \
       || ' (' || COALESCE(group_concat(fk.\"to\", ', '), '') || ') ON UPDATE ' || fk.on_update \
       || ' ON DELETE ' || fk.on_delete \
     FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) fk \
     WHERE m.type = 'table' GROUP BY m.name, fk.id",
];

/// SQLite shards are files. Every connection gets `busy_timeout = 5000`,
/// `synchronous = NORMAL` and `foreign_keys = ON`; each file is switched to WAL once.
/// SQLite has no logical shards.
impl ShardBackend for SqliteConnection {
    const NAME: &'static str = "sqlite";

    fn check_url(url: &str) -> Result<(), String> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err("the SQLite path is empty: give a file name such as `shards/s0.db`".into());
        }
        if path == ":memory:" {
            return Err(
                "`:memory:` is private to one connection, so pooled connections would each see \
                 an empty database: use a file, or `file:NAME?mode=memory&cache=shared`"
                    .into(),
            );
        }
        Ok(())
    }

    fn prepare_database(url: &str) -> Result<(), String> {
        let mut conn = SqliteConnection::establish(url).map_err(|e| e.to_string())?;
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
            .map_err(|e| e.to_string())
    }

    /// Also switches the file to WAL, for pools built with `build_unchecked`, which
    /// skips [`prepare_database`](ShardBackend::prepare_database) (a no-op on a file
    /// already in WAL mode).
    fn on_connect(conn: &mut Self) -> QueryResult<()> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON;",
        )
    }

    fn recorded_position(conn: &mut Self) -> QueryResult<Option<i64>> {
        super::read_position(conn, EXISTS)
    }

    fn record_position(conn: &mut Self, position: i64) -> QueryResult<()> {
        super::write_position(conn, EXISTS, position)
    }

    /// Tables and views, columns (`pragma_table_info`), indexes (`pragma_index_list`)
    /// and foreign keys (`pragma_foreign_key_list`) of the main database.
    fn read_schema(conn: &mut Self) -> QueryResult<ShardSchema> {
        crate::schema_diff::read_with(conn, SCHEMA_QUERIES)
    }

    fn load_strings(conn: &mut Self, sql: &str) -> QueryResult<Vec<String>> {
        super::load_text_column(conn, sql)
    }

    fn collect_statement<T: QueryFragment<Sqlite> + ?Sized>(
        statement: &T,
        _types: Box<dyn TypeLookup>,
    ) -> QueryResult<Arc<dyn QueryFragment<Sqlite> + Send + Sync>> {
        crate::executor::collect_with::<Sqlite, _>(statement, &mut ())
    }
}
