//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Migrations, health checks and routing for every shard of a diesel-sharding pool.
#[derive(Debug, Parser)]
#[command(name = "diesel-sharding", version)]
pub(crate) struct Cli {
    /// The shard configuration file (TOML).
    #[arg(long, short, default_value = "shards.toml")]
    pub(crate) config: PathBuf,

    /// How long to wait for each shard's connection, in milliseconds (at least 1).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=31_536_000_000))]
    pub(crate) timeout_ms: u64,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run, revert or inspect migrations on every shard.
    Migration {
        #[command(subcommand)]
        action: MigrationAction,
        /// Only this shard (repeat for several).
        #[arg(long, global = true)]
        shard: Vec<String>,
        /// The migrations directory; defaults to the file's `migrations` entry, else
        /// `migrations`.
        #[arg(long, global = true)]
        migration_dir: Option<PathBuf>,
    },
    /// Check the shards.
    Shards {
        #[command(subcommand)]
        action: ShardsAction,
    },
    /// List or finish the atomic transactions (two-phase commits) a crash left prepared.
    Transactions {
        #[command(subcommand)]
        action: TransactionsAction,
    },
    /// Which shard owns a key (or, with --id, which shard an encoded id names).
    Route {
        /// The key: an integer (negative ones too), or text.
        #[arg(allow_negative_numbers = true)]
        key: String,
        /// Treat the key as text even if it looks like an integer.
        #[arg(long, conflicts_with = "id")]
        text: bool,
        /// The key is an id made by ShardEncodedIds (needs an `[ids]` section).
        #[arg(long)]
        id: bool,
        /// The key is a UUID, routed as its 16 bytes (like a `uuid::Uuid` key column).
        #[arg(long, conflicts_with_all = ["id", "text", "bytes"])]
        uuid: bool,
        /// The key is hex bytes (`0xdeadbeef`), like a binary key column.
        #[arg(long, conflicts_with_all = ["id", "text"])]
        bytes: bool,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum MigrationAction {
    /// Run the pending migrations.
    Run,
    /// Revert the latest migration.
    Revert,
    /// List the applied and pending migrations.
    List,
    /// List the pending migrations.
    Pending,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum TransactionsAction {
    /// The prepared branches on every shard and their coordinators' decisions
    /// (read-only); fails if a shard cannot be read.
    List,
    /// Commit the decided branches, roll back the undecided ones older than
    /// --older-than-ms; fails if a shard could not be recovered or branches are left.
    Recover {
        /// Undecided transactions younger than this are left alone: their writer may
        /// still be running. Milliseconds.
        #[arg(long, default_value_t = 60_000)]
        older_than_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum ShardsAction {
    /// Connectivity, latency and schema version of each shard; fails if a shard is down
    /// or the shards disagree on the version.
    Check,
    /// Compare the schemas of the shards (tables, columns and their types, indexes,
    /// constraints, latest migration) and list every difference; fails on drift or when a
    /// shard cannot be read. Read-only.
    Diff,
}
