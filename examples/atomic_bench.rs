//! What an atomic (two-phase) commit across two shards costs against two independent
//! commits of the same writes, measured side by side in one run.
//!
//! ```text
//! cargo run --release --example atomic_bench --features postgres -- postgres://postgres@127.0.0.1:5433/postgres
//! cargo run --release --example atomic_bench --features mysql -- mysql://root@127.0.0.1:3306/mysql
//! ```
//!
//! The server URL names a server where the user may create databases (PostgreSQL needs
//! `max_prepared_transactions` above zero). Two databases are created, used as two shards
//! and dropped. Each round moves one unit between two accounts on different shards, first
//! as two `pool.transaction` calls (one per shard, not atomic), then as one `pool.atomic`;
//! rounds alternate, and the medians of 7 rounds of `OPS` transfers are reported.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::time::{Duration, Instant};

#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel::{connection::SimpleConnection, prelude::*};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel_sharding::{Error, ShardBackend, ShardedPool};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(any(feature = "postgres", feature = "mysql"))]
const OPS: usize = 500;
#[cfg(any(feature = "postgres", feature = "mysql"))]
const ROUNDS: usize = 7;

fn main() -> Result<(), BoxError> {
    let server = std::env::args()
        .nth(1)
        .ok_or("give the server URL: postgres://… or mysql://…")?;
    match server.split("://").next() {
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => bench::<diesel::PgConnection>(&server),
        #[cfg(feature = "mysql")]
        Some("mysql") => bench::<diesel::MysqlConnection>(&server),
        _ => Err("a postgres:// or mysql:// URL, with the matching `--features`".into()),
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn bench<Conn>(server: &str) -> Result<(), BoxError>
where
    Conn: ShardBackend + diesel::connection::LoadConnection,
    diesel::query_builder::SqlQuery: diesel::query_dsl::methods::ExecuteDsl<Conn>,
{
    let root = server.rsplit_once('/').map_or(server, |(root, _)| root);
    let names: Vec<String> = (0..2)
        .map(|i| format!("ds_atomic_bench_{}_{i}", std::process::id()))
        .collect();
    let mut admin = Conn::establish(server)?;
    for name in &names {
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    }
    let result = run::<Conn>(root, &names);
    for name in &names {
        let force = if Conn::NAME == "postgres" {
            " WITH (FORCE)"
        } else {
            ""
        };
        admin.batch_execute(&format!("DROP DATABASE {name}{force}"))?;
    }
    result
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn run<Conn>(root: &str, names: &[String]) -> Result<(), BoxError>
where
    Conn: ShardBackend,
    diesel::query_builder::SqlQuery: diesel::query_dsl::methods::ExecuteDsl<Conn>,
{
    let pool = ShardedPool::<Conn>::builder()
        .shard("a", format!("{root}/{}", names[0]))
        .shard("b", format!("{root}/{}", names[1]))
        .build()?;
    for shard in ["a", "b"] {
        pool.connection(shard)?.batch_execute(
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL); \
             INSERT INTO accounts VALUES (1, 1000000)",
        )?;
    }
    let step = |conn: &mut Conn, delta: i64| -> Result<(), Error> {
        diesel::sql_query(format!(
            "UPDATE accounts SET balance = balance + {delta} WHERE id = 1"
        ))
        .execute(conn)?;
        Ok(())
    };
    let independent = || -> Result<(), BoxError> {
        pool.transaction("a", |c| step(c, -1))?;
        pool.transaction("b", |c| step(c, 1))?;
        Ok(())
    };
    let atomic = || -> Result<(), BoxError> {
        pool.atomic(|tx| {
            step(tx.connection("a")?, -1)?;
            step(tx.connection("b")?, 1)
        })?;
        Ok(())
    };
    let time = |f: &dyn Fn() -> Result<(), BoxError>| -> Result<Duration, BoxError> {
        let started = Instant::now();
        for _ in 0..OPS {
            f()?;
        }
        Ok(started.elapsed() / OPS as u32)
    };
    time(&independent)?;
    time(&atomic)?; // warm-up
    let (mut plain, mut two_phase) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        plain.push(time(&independent)?);
        two_phase.push(time(&atomic)?);
    }
    plain.sort();
    two_phase.sort();
    let (plain, two_phase) = (plain[ROUNDS / 2], two_phase[ROUNDS / 2]);
    println!(
        "{}: two independent commits {:.3} ms, one atomic commit {:.3} ms: ratio {:.2} \
         (median of {ROUNDS} rounds of {OPS})",
        Conn::NAME,
        plain.as_secs_f64() * 1e3,
        two_phase.as_secs_f64() * 1e3,
        two_phase.as_secs_f64() / plain.as_secs_f64()
    );
    Ok(())
}
