//! `migration run | revert | list | pending`.

use std::path::Path;

use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use diesel_sharding::{ShardBackend, ShardedPool};

use super::{selected, Failure};
use crate::cli::MigrationAction;
use crate::table;

type Outcome = Result<(String, String), String>;

pub(crate) fn run<Conn>(
    pool: &ShardedPool<Conn>,
    action: MigrationAction,
    only: &[String],
    dir: &Path,
) -> Result<(), Failure>
where
    Conn: ShardBackend + MigrationHarness<Conn::Backend>,
{
    let source = FileBasedMigrations::from_path(dir).map_err(|e| {
        Failure::Usage(format!(
            "cannot read migrations from `{}`: {e}",
            dir.display()
        ))
    })?;
    let shards = selected(pool, only)?;
    let mut rows = Vec::new();
    let mut failed = 0;
    for shard in shards {
        println!("{shard}: {} …", verb(action));
        let outcome = on_shard(pool, shard, action, &source);
        let row = match outcome {
            Ok((status, version)) => {
                println!("{shard}: {status}");
                vec![shard.to_owned(), "ok".to_owned(), version, status]
            }
            Err(e) => {
                failed += 1;
                println!("{shard}: FAILED: {e}");
                vec![shard.to_owned(), "FAILED".to_owned(), "?".to_owned(), e]
            }
        };
        rows.push(row);
    }
    println!();
    table::print(&["shard", "status", "version", "detail"], &rows);
    if failed > 0 {
        Err(Failure::Shards(format!("{failed} shard(s) failed")))
    } else {
        Ok(())
    }
}

fn verb(action: MigrationAction) -> &'static str {
    match action {
        MigrationAction::Run => "running pending migrations",
        MigrationAction::Revert => "reverting the latest migration",
        MigrationAction::List => "listing migrations",
        MigrationAction::Pending => "listing pending migrations",
    }
}

fn on_shard<Conn>(
    pool: &ShardedPool<Conn>,
    shard: &str,
    action: MigrationAction,
    source: &FileBasedMigrations,
) -> Outcome
where
    Conn: ShardBackend + MigrationHarness<Conn::Backend>,
{
    let mut conn = pool
        .migration_connection(shard)
        .map_err(|e| super::chain(&e))?;
    let conn: &mut Conn = &mut conn;
    let text = |e: Box<dyn std::error::Error + Send + Sync>| super::chain(&*e);
    let status = match action {
        MigrationAction::Run => {
            let applied = conn.run_pending_migrations(source.clone()).map_err(text)?;
            if applied.is_empty() {
                "up to date".to_owned()
            } else {
                format!("applied {}", join(applied.iter().map(ToString::to_string)))
            }
        }
        MigrationAction::Revert => {
            let reverted = conn.revert_last_migration(source.clone()).map_err(text)?;
            format!("reverted {reverted}")
        }
        MigrationAction::List | MigrationAction::Pending => {
            let applied: Vec<String> = conn
                .applied_migrations()
                .map_err(text)?
                .iter()
                .map(ToString::to_string)
                .collect();
            let all: Vec<Box<dyn Migration<Conn::Backend>>> =
                MigrationSource::<Conn::Backend>::migrations(source).map_err(text)?;
            let pending: Vec<String> = all
                .iter()
                .map(|m| m.name().version().to_string())
                .filter(|v| !applied.contains(v))
                .collect();
            if matches!(action, MigrationAction::Pending) {
                format!("pending: {}", join(pending.into_iter()))
            } else {
                format!(
                    "applied: {}; pending: {}",
                    join(applied.iter().rev().cloned()),
                    join(pending.into_iter())
                )
            }
        }
    };
    let version = conn
        .applied_migrations()
        .map_err(text)?
        .first()
        .map_or_else(|| "none".to_owned(), ToString::to_string);
    Ok((status, version))
}

fn join(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
