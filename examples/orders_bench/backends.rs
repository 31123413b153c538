//! Per backend: create the shards, build each system, run the workload, clean up.

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::args::Args;
use crate::data::SCHEMA;
use crate::report::Report;
use crate::BoxError;

pub fn run(args: &Args, report: &mut Report) -> Result<(), BoxError> {
    match args.backend.as_str() {
        "sqlite" => sqlite::run(args, report),
        #[cfg(feature = "postgres")]
        "postgres" => postgres::run(args, report),
        #[cfg(feature = "mysql")]
        "mysql" => mysql::run(args, report),
        #[cfg(not(feature = "postgres"))]
        "postgres" => {
            Err("this build has no postgres backend: run with `--features postgres`".into())
        }
        #[cfg(not(feature = "mysql"))]
        "mysql" => Err("this build has no mysql backend: run with `--features mysql`".into()),
        other => Err(format!("unknown backend `{other}`: use sqlite, postgres or mysql").into()),
    }
}

/// Creates the workload's tables on one shard.
fn create_schema<Conn: Connection>(url: &str) -> Result<(), BoxError> {
    let mut conn = Conn::establish(url)?;
    for statement in SCHEMA {
        conn.batch_execute(statement)?;
    }
    Ok(())
}

/// Runs the chosen system over shards at `urls` (shard `i` at `urls[i]`).
macro_rules! run_systems {
    ($args:expr, $report:expr, $urls:expr, $raw_customizer:expr) => {{
        let (args, report, urls): (&Args, &mut Report, &[String]) = ($args, $report, $urls);
        if args.system == "raw-diesel" {
            let mut pools = Vec::with_capacity(urls.len());
            for url in urls {
                let builder =
                    $raw_customizer(diesel::r2d2::Pool::builder().test_on_check_out(false));
                pools.push(
                    builder.build(diesel::r2d2::ConnectionManager::<Conn>::new(url.as_str()))?,
                );
            }
            crate::run(args, &mut raw::System { pools }, report)
        } else {
            // The raw pools' r2d2 defaults: max_size 10, all of them kept open.
            let mut builder = diesel_sharding::ShardedPool::<Conn>::builder().min_idle(None);
            for (i, url) in urls.iter().enumerate() {
                builder = builder.shard(format!("shard_{i}"), url.as_str());
            }
            let mut system = sharded::System {
                pool: builder.build()?,
                sequential_id_search: args.sequential_id_search,
            };
            crate::run(args, &mut system, report)
        }
    }};
}

mod sqlite {
    use super::*;

    pub type Conn = diesel::SqliteConnection;

    pub mod sharded {
        include!("sharded.rs");
    }

    pub mod raw {
        include!("raw.rs");
    }

    /// The per-connection settings WORKLOAD.md asks for, for the raw pools (diesel-sharding
    /// sets the same ones itself).
    #[derive(Debug)]
    struct Pragmas;

    impl diesel::r2d2::CustomizeConnection<Conn, diesel::r2d2::Error> for Pragmas {
        fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
            conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
                .map_err(diesel::r2d2::Error::QueryError)
        }
    }

    pub fn run(args: &Args, report: &mut Report) -> Result<(), BoxError> {
        let dir = tempfile::tempdir()?;
        let urls: Vec<String> = (0..args.shards)
            .map(|i| {
                dir.path()
                    .join(format!("shard_{i}.db"))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        for url in &urls {
            Conn::establish(url)?.batch_execute("PRAGMA journal_mode = WAL")?;
            create_schema::<Conn>(url)?;
        }
        run_systems!(args, report, &urls, |b: diesel::r2d2::Builder<_>| b
            .connection_customizer(Box::new(Pragmas)))
    }
}

/// Drops and creates `bench_shard_0…` on the server behind `admin_url`; returns their URLs.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_shards<Conn: Connection>(
    admin_url: &str,
    shards: usize,
    quote: char,
) -> Result<Vec<String>, BoxError> {
    let mut admin = Conn::establish(admin_url)?;
    let mut urls = Vec::with_capacity(shards);
    for i in 0..shards {
        let name = format!("bench_shard_{i}");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quote}{name}{quote}"))?;
        admin.batch_execute(&format!("CREATE DATABASE {quote}{name}{quote}"))?;
        let url = with_database(admin_url, &name);
        create_schema::<Conn>(&url)?;
        urls.push(url);
    }
    Ok(urls)
}

/// Drops the shard databases again.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn drop_server_shards<Conn: Connection>(
    admin_url: &str,
    shards: usize,
    quote: char,
) -> Result<(), BoxError> {
    let mut admin = Conn::establish(admin_url)?;
    for i in 0..shards {
        admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {quote}bench_shard_{i}{quote}"
        ))?;
    }
    Ok(())
}

/// `url` with its database replaced by `database`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = base[scheme_end..]
        .find('/')
        .map_or(base, |i| &base[..scheme_end + i]);
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    pub type Conn = diesel::PgConnection;

    pub mod sharded {
        include!("sharded.rs");
    }

    pub mod raw {
        include!("raw.rs");
    }

    pub fn run(args: &Args, report: &mut Report) -> Result<(), BoxError> {
        let urls = server_shards::<Conn>(&args.pg_url, args.shards, '"')?;
        let result = run_systems!(args, report, &urls, |b| b);
        drop_server_shards::<Conn>(&args.pg_url, args.shards, '"')?;
        result
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    pub type Conn = diesel::MysqlConnection;

    pub mod sharded {
        include!("sharded.rs");
    }

    pub mod raw {
        include!("raw.rs");
    }

    pub fn run(args: &Args, report: &mut Report) -> Result<(), BoxError> {
        let urls = server_shards::<Conn>(&args.mysql_url, args.shards, '`')?;
        let result = run_systems!(args, report, &urls, |b| b);
        drop_server_shards::<Conn>(&args.mysql_url, args.shards, '`')?;
        result
    }
}
