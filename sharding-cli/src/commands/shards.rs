//! `shards check` and `shards diff`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::{Nullable, Text};
use diesel::RunQueryDsl;

/// The query that reads the latest applied migration.
pub(crate) type VersionQuery = SqlLiteral<Nullable<Text>>;
use diesel_sharding::schema_diff::SchemaDiff;
use diesel_sharding::{ShardBackend, ShardConfig, ShardId, ShardedPool};

use super::Failure;
use crate::table;

/// Checks every shard, read-only: it creates nothing (no SQLite file, no migrations
/// table) and reports a version it cannot read as an error, not as "none".
pub(crate) fn check<Conn>(pool: &ShardedPool<Conn>, config: &ShardConfig) -> Result<(), Failure>
where
    Conn: ShardBackend,
    VersionQuery: for<'a> LoadQuery<'a, Conn, Option<String>>,
{
    let files = config.database_files()?;
    let mut rows = Vec::new();
    let mut down = 0;
    let mut versions = BTreeSet::new();
    for shard in pool.shard_ids() {
        let started = Instant::now();
        let probe = match missing_file(&files, shard) {
            Some(missing) => Err(missing),
            None => probe::<Conn>(pool, shard, started),
        };
        match probe {
            Ok((latency, version)) => {
                versions.insert(version.clone());
                rows.push(vec![
                    shard.to_string(),
                    "up".to_owned(),
                    format!("{:.1} ms", latency.as_secs_f64() * 1000.0),
                    version,
                    String::new(),
                ]);
            }
            Err(e) => {
                down += 1;
                rows.push(vec![
                    shard.to_string(),
                    "DOWN".to_owned(),
                    "-".to_owned(),
                    "?".to_owned(),
                    e,
                ]);
            }
        }
    }
    table::print(&["shard", "status", "latency", "version", "error"], &rows);
    if down > 0 {
        return Err(Failure::Shards(format!("{down} shard(s) down")));
    }
    if versions.len() > 1 {
        return Err(Failure::Shards(format!(
            "the shards disagree on the schema version: {}; run `migration run`",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    println!(
        "all {} shards up, at version {}",
        pool.shard_ids().len(),
        versions.into_iter().next().unwrap_or_default()
    );
    Ok(())
}

/// Reads every shard's schema and prints how the shards differ, read-only like
/// [`check`]. A shard that cannot be read is reported and the others are compared.
pub(crate) fn diff<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    config: &ShardConfig,
) -> Result<(), Failure> {
    let files = config.database_files()?;
    let mut schemas = Vec::new();
    let mut unread = Vec::new();
    for shard in pool.shard_ids() {
        let schema = match missing_file(&files, shard) {
            Some(missing) => Err(missing),
            None => pool
                .read_schema(shard.as_str())
                .map_err(|e| super::chain(&e)),
        };
        match schema {
            Ok(schema) => schemas.push((shard, schema)),
            // One line per shard: server messages may hold line breaks.
            Err(e) => unread.push(format!(
                "shard `{shard}`: cannot read its schema: {}",
                e.split_whitespace().collect::<Vec<_>>().join(" ")
            )),
        }
    }
    let diff = SchemaDiff::between(schemas.iter().map(|(shard, schema)| (*shard, schema)));
    print!("{diff}");
    for line in &unread {
        println!("{line}");
    }
    let drifted: BTreeSet<&ShardId> = diff.drifts().iter().map(|d| &d.shard).collect();
    match (diff.drifts().len(), unread.len()) {
        (0, 0) => {
            println!(
                "no drift: all {} shards hold the same schema",
                diff.shards_compared()
            );
            Ok(())
        }
        (0, down) => Err(Failure::Shards(format!(
            "no drift between the {} shards read, but {down} shard(s) could not be read",
            diff.shards_compared()
        ))),
        (drifts, down) => Err(Failure::Shards(format!(
            "{drifts} difference(s) on {} of the {} shards read{}; bring them in line with \
             `migration run` or a migration that repairs them",
            drifted.len(),
            diff.shards_compared(),
            if down > 0 {
                format!(", and {down} shard(s) could not be read")
            } else {
                String::new()
            }
        ))),
    }
}

/// Why `shard` is not opened: its SQLite file does not exist (opening it would create it).
fn missing_file(files: &[(String, PathBuf)], shard: &ShardId) -> Option<String> {
    files
        .iter()
        .find(|(id, path)| id == shard.as_str() && !path.exists())
        .map(|(_, path)| {
            format!(
                "the database file {} does not exist (`migration run` creates it)",
                path.display()
            )
        })
}

/// Connects to one shard, runs `SELECT 1`, and reads the latest migration version
/// without creating the migrations table.
fn probe<Conn>(
    pool: &ShardedPool<Conn>,
    shard: &ShardId,
    started: Instant,
) -> Result<(Duration, String), String>
where
    Conn: ShardBackend,
    VersionQuery: for<'a> LoadQuery<'a, Conn, Option<String>>,
{
    let mut conn = pool
        .connection(shard.as_str())
        .map_err(|e| super::chain(&e))?;
    conn.batch_execute("SELECT 1")
        .map_err(|e| format!("`SELECT 1` failed: {e}"))?;
    let latency = started.elapsed();
    let latest = sql::<Nullable<Text>>("SELECT MAX(version) FROM __diesel_schema_migrations")
        .get_result::<Option<String>>(&mut *conn);
    let version = match latest {
        Ok(Some(version)) => version,
        Ok(None) => "none".to_owned(),
        Err(e) if is_missing_table(&e) => "none".to_owned(),
        Err(e) => return Err(format!("cannot read the migration version: {e}")),
    };
    Ok((latency, version))
}

/// Whether `error` says the migrations table does not exist (SQLite, PostgreSQL, MySQL).
fn is_missing_table(error: &diesel::result::Error) -> bool {
    let message = error.to_string().to_ascii_lowercase();
    message.contains("__diesel_schema_migrations")
        && (message.contains("no such table")
            || message.contains("does not exist")
            || message.contains("doesn't exist"))
}
