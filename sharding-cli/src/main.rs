//! `diesel-sharding`: migrations, health checks and routing for every shard of a
//! configuration file.
//!
//! ```text
//! diesel-sharding --config shards.toml migration run
//! diesel-sharding --config shards.toml migration list --shard s1
//! diesel-sharding --config shards.toml shards check
//! diesel-sharding --config shards.toml shards diff
//! diesel-sharding --config shards.toml route 42
//! ```
//!
//! Exit status: 0 when everything succeeded, 1 when some shard failed (the others still
//! ran and are reported), 2 for a usage or configuration error.

mod cli;
mod commands;
mod table;

use std::process::ExitCode;

use clap::Parser;
use diesel_sharding::ShardConfig;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ShardConfig::from_path(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match config.backend() {
        #[cfg(feature = "sqlite")]
        "sqlite" => commands::run::<diesel::SqliteConnection>(&cli, &config),
        #[cfg(feature = "postgres")]
        "postgres" => commands::run::<diesel::PgConnection>(&cli, &config),
        #[cfg(feature = "mysql")]
        "mysql" => commands::run::<diesel::MysqlConnection>(&cli, &config),
        other => Err(commands::Failure::Usage(format!(
            "this build of diesel-sharding has no `{other}` backend: install it with \
             `cargo install sharding-cli --features {other}`"
        ))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(commands::Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(commands::Failure::Shards(message)) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}
