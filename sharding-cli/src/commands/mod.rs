//! The commands, generic over the backend's connection type.

mod migration;
mod route;
mod shards;
mod transactions;

use std::time::Duration;

use diesel_migrations::MigrationHarness;
use diesel_sharding::{ShardBackend, ShardConfig, ShardedPool};

use crate::cli::{Cli, Command, ShardsAction};

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or configuration: nothing ran.
    Usage(String),
    /// Some shards failed; the report was printed.
    Shards(String),
}

impl From<diesel_sharding::Error> for Failure {
    fn from(e: diesel_sharding::Error) -> Self {
        Failure::Usage(chain(&e))
    }
}

/// An error and its causes, `: `-separated, as a person reads them.
pub(crate) use diesel_sharding::error::error_chain as chain;

pub(crate) fn run<Conn>(cli: &Cli, config: &ShardConfig) -> Result<(), Failure>
where
    Conn: ShardBackend + MigrationHarness<Conn::Backend>,
    shards::VersionQuery: for<'a> diesel::query_dsl::LoadQuery<'a, Conn, Option<String>>,
{
    // Lazy: a shard that is down fails alone instead of failing the whole command.
    let pool: ShardedPool<Conn> = config
        .builder::<Conn>()?
        .connection_timeout(Duration::from_millis(cli.timeout_ms))
        .min_idle(Some(0))
        .build_unchecked()?;
    match &cli.command {
        Command::Migration {
            action,
            shard,
            migration_dir,
        } => {
            let dir = migration_dir
                .clone()
                .or_else(|| config.migrations_dir())
                .unwrap_or_else(|| "migrations".into());
            migration::run(&pool, *action, shard, &dir)
        }
        Command::Shards {
            action: ShardsAction::Check,
        } => shards::check(&pool, config),
        Command::Shards {
            action: ShardsAction::Diff,
        } => shards::diff(&pool, config),
        Command::Transactions { action } => transactions::run(&pool, *action),
        Command::Route {
            key,
            text,
            id,
            uuid,
            bytes,
        } => {
            let kind = match (*uuid, *bytes) {
                (true, _) => route::KeyKind::Uuid,
                (_, true) => route::KeyKind::Bytes,
                _ => route::KeyKind::Auto,
            };
            route::run(&pool, config, key, *text, *id, kind)
        }
    }
}

/// The shards to work on: all, or those named with `--shard`.
pub(crate) fn selected<'p, Conn: ShardBackend>(
    pool: &'p ShardedPool<Conn>,
    only: &[String],
) -> Result<Vec<&'p str>, Failure> {
    if only.is_empty() {
        return Ok(pool.shard_ids().iter().map(|s| s.as_str()).collect());
    }
    only.iter()
        .map(|name| {
            pool.shard_ids()
                .iter()
                .find(|id| id.as_str() == name)
                .map(|id| id.as_str())
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "unknown shard `{name}`: the file has {}",
                        pool.shard_ids()
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect()
}
