//! Command-line options.

pub const USAGE: &str = "usage: orders_bench [--system diesel-sharding|raw-diesel] \
[--backend sqlite|postgres|mysql] [--shards S] [--customers C] [--orders O] \
[--pg-url URL] [--mysql-url URL] [--id-search parallel|unique|sequential] \
[--id-width N] [--delay-us D] [--layout physical|logical] [--only PHASE,PHASE..]";

/// How diesel-sharding searches for an id whose shard is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSearch {
    /// All shards in parallel, the first hit wins (`find_first`), as the workload says.
    Parallel,
    /// All shards in parallel, checking that only one holds the id (`get_unique`).
    Unique,
    /// One shard after another, first hit wins.
    Sequential,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub system: String,
    pub backend: String,
    pub shards: usize,
    pub customers: i64,
    pub orders: i64,
    pub pg_url: String,
    pub mysql_url: String,
    /// How diesel-sharding searches for an id whose shard is unknown.
    pub id_search: IdSearch,
    /// With a parallel id search: how many shards are asked at once (0: all).
    pub id_width: usize,
    /// Remote-shard mode: every shard is reached through an in-process TCP proxy that
    /// holds each chunk this many microseconds, each way (0: direct).
    pub delay_us: u64,
    /// `logical`: diesel-sharding with the shards as schemas (PostgreSQL) or databases
    /// (MySQL) behind one shared pool.
    pub logical: bool,
    /// `--only`: the phases after the two inserts to run (empty: all of them). For
    /// quick comparisons of one phase; a full run is what BENCHMARKS.md reports.
    pub only: Vec<String>,
}

/// The phases that read or change the rows the two insert phases wrote.
pub const LATER_PHASES: [&str; 6] = [
    "get_keyed",
    "get_by_id",
    "fanout_filter",
    "fanout_count",
    "update_keyed",
    "delete_fanout",
];

impl Args {
    /// Whether the phase `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == name)
    }
}

impl Args {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            system: "diesel-sharding".into(),
            backend: "sqlite".into(),
            shards: 4,
            customers: 2_000,
            orders: 20_000,
            pg_url: std::env::var("PG_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            mysql_url: std::env::var("MYSQL_DATABASE_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
            id_search: IdSearch::Parallel,
            id_width: 0,
            delay_us: 0,
            logical: false,
            only: Vec::new(),
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--system" => parsed.system = value()?,
                "--backend" => parsed.backend = value()?,
                "--shards" => parsed.shards = number(&flag, &value()?)?,
                "--customers" => parsed.customers = number(&flag, &value()?)?,
                "--orders" => parsed.orders = number(&flag, &value()?)?,
                "--pg-url" => parsed.pg_url = value()?,
                "--mysql-url" => parsed.mysql_url = value()?,
                "--id-search" => {
                    parsed.id_search = match value()?.as_str() {
                        "parallel" => IdSearch::Parallel,
                        "unique" => IdSearch::Unique,
                        "sequential" => IdSearch::Sequential,
                        other => {
                            return Err(format!(
                                "--id-search is parallel, unique or sequential, not `{other}`"
                            ))
                        }
                    }
                }
                "--delay-us" => parsed.delay_us = number(&flag, &value()?)?,
                "--id-width" => parsed.id_width = number(&flag, &value()?)?,
                "--layout" => {
                    parsed.logical = match value()?.as_str() {
                        "physical" => false,
                        "logical" => true,
                        other => {
                            return Err(format!("--layout is physical or logical, not `{other}`"))
                        }
                    }
                }
                "--only" => {
                    parsed.only = value()?.split(',').map(str::to_owned).collect();
                    if let Some(bad) = parsed
                        .only
                        .iter()
                        .find(|p| !LATER_PHASES.contains(&p.as_str()))
                    {
                        return Err(format!(
                            "--only takes phases among {}, not `{bad}`",
                            LATER_PHASES.join(", ")
                        ));
                    }
                }
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        if !matches!(parsed.system.as_str(), "diesel-sharding" | "raw-diesel") {
            return Err(format!("unknown system `{}`", parsed.system));
        }
        if parsed.logical && (parsed.system != "diesel-sharding" || parsed.backend == "sqlite") {
            return Err(
                "--layout logical is for diesel-sharding on postgres or mysql (it is \
                        compared with the physical layout)"
                    .into(),
            );
        }
        if parsed.delay_us > 0 && parsed.backend == "sqlite" {
            return Err("--delay-us needs a server backend (postgres or mysql)".into());
        }
        if parsed.shards == 0 || parsed.customers < 1 || parsed.orders < 1 {
            return Err("--shards, --customers and --orders must be at least 1".into());
        }
        Ok(parsed)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a positive number, not `{value}`"))
}
