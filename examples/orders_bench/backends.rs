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

/// Where the shards are: one URL each (physical), or namespaces behind one URL (logical).
pub struct Layout {
    /// Shard `i`'s database (physical), or, for a logical layout, the shared pool's.
    pub urls: Vec<String>,
    /// For a logical layout: shard `i`'s schema or database on `urls[0]`.
    pub namespaces: Option<Vec<String>>,
}

/// Runs the chosen system over the shards of `layout`.
macro_rules! run_systems {
    ($args:expr, $report:expr, $layout:expr, $raw_customizer:expr) => {{
        let (args, report, layout): (&Args, &mut Report, &Layout) = ($args, $report, $layout);
        let urls = &layout.urls;
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
            match &layout.namespaces {
                None => {
                    for (i, url) in urls.iter().enumerate() {
                        builder = builder.shard(format!("shard_{i}"), url.as_str());
                    }
                }
                Some(namespaces) => {
                    // One pool as large as the physical layout's pools together.
                    let size = u32::try_from(10 * namespaces.len()).unwrap_or(u32::MAX);
                    builder = builder.max_size(size).shared_pool("main", urls[0].as_str());
                    for (i, namespace) in namespaces.iter().enumerate() {
                        builder =
                            builder.logical_shard(format!("shard_{i}"), "main", namespace.as_str());
                    }
                }
            }
            let mut system = sharded::System {
                pool: builder.build()?,
                id_search: args.id_search,
                id_width: args.id_width,
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
        let layout = Layout {
            urls,
            namespaces: None,
        };
        run_systems!(args, report, &layout, |b: diesel::r2d2::Builder<_>| b
            .connection_customizer(Box::new(Pragmas)))
    }
}

/// Drops and creates the shards on the server behind `admin_url`: databases
/// `bench_shard_0…`, or for a logical layout on PostgreSQL (`quote` `"`) schemas of that
/// name in the database `bench_logical`. In remote-shard mode the URLs lead through a
/// delaying proxy.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_shards<Conn: Connection>(
    args: &Args,
    admin_url: &str,
    quote: char,
) -> Result<Layout, BoxError> {
    let mut admin = Conn::establish(admin_url)?;
    let names: Vec<String> = (0..args.shards)
        .map(|i| format!("bench_shard_{i}"))
        .collect();
    let schemas = args.logical && quote == '"';
    let mut urls = Vec::with_capacity(args.shards);
    if schemas {
        admin.batch_execute("DROP DATABASE IF EXISTS bench_logical WITH (FORCE)")?;
        admin.batch_execute("CREATE DATABASE bench_logical")?;
        let url = with_database(admin_url, "bench_logical");
        let mut conn = Conn::establish(&url)?;
        for name in &names {
            conn.batch_execute(&format!("CREATE SCHEMA {name}; SET search_path TO {name}"))?;
            for statement in SCHEMA {
                conn.batch_execute(statement)?;
            }
        }
        urls.push(url);
    } else {
        for name in &names {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quote}{name}{quote}"))?;
            admin.batch_execute(&format!("CREATE DATABASE {quote}{name}{quote}"))?;
            let url = with_database(admin_url, name);
            create_schema::<Conn>(&url)?;
            urls.push(url);
        }
        if args.logical {
            urls.truncate(1);
        }
    }
    if args.delay_us > 0 {
        let delay = std::time::Duration::from_micros(args.delay_us);
        let port = crate::delay::start(crate::delay::address_of(admin_url)?, delay)?;
        urls = urls
            .iter()
            .map(|url| crate::delay::via_port(url, port))
            .collect();
    }
    Ok(Layout {
        urls,
        namespaces: args.logical.then_some(names),
    })
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
    if quote == '"' {
        admin.batch_execute("DROP DATABASE IF EXISTS bench_logical WITH (FORCE)")?;
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
        let layout = server_shards::<Conn>(args, &args.pg_url, '"')?;
        let result = run_systems!(args, report, &layout, |b| b);
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
        let layout = server_shards::<Conn>(args, &args.mysql_url, '`')?;
        let result = run_systems!(args, report, &layout, |b| b);
        drop_server_shards::<Conn>(&args.mysql_url, args.shards, '`')?;
        result
    }
}
