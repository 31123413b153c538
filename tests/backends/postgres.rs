//! PostgreSQL: physical shards are databases on the server at `PG_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); logical shards are schemas
//! `shard_0..` in one database. Every database is created for the test and dropped after.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::ShardedPoolBuilder;

use crate::common::{unique_name, with_database};

pub type Conn = diesel::PgConnection;

pub fn admin_url() -> String {
    std::env::var("PG_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn admin() -> Conn {
    let url = admin_url();
    Conn::establish(&url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url}: {e}. Start it, or point PG_DATABASE_URL at a \
             server where this user may create databases"
        )
    })
}

pub struct Databases {
    base: String,
    logical: bool,
    n: usize,
    admin_url: String,
    /// Whether dropping this value drops the databases.
    owned: bool,
}

impl Databases {
    pub fn create(n: usize, logical: bool) -> Databases {
        Databases::create_on(&admin_url(), n, logical)
    }

    /// Creates the databases on the server at `admin_url`.
    pub fn create_on(admin_url: &str, n: usize, logical: bool) -> Databases {
        let base = unique_name();
        let mut admin = Conn::establish(admin_url)
            .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin_url}: {e}"));
        for name in Databases::names(&base, n, logical) {
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
        }
        Databases {
            base,
            logical,
            n,
            admin_url: admin_url.to_owned(),
            owned: true,
        }
    }

    /// A description another process can `attach` to.
    pub fn describe(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.n, self.logical, self.base, self.admin_url
        )
    }

    /// The databases described, without taking ownership (nothing is dropped).
    pub fn attach(description: &str) -> Databases {
        let parts: Vec<&str> = description.splitn(4, '|').collect();
        Databases {
            n: parts[0].parse().expect("count"),
            logical: parts[1] == "true",
            base: parts[2].to_owned(),
            admin_url: parts[3].to_owned(),
            owned: false,
        }
    }

    fn names(base: &str, n: usize, logical: bool) -> Vec<String> {
        if logical {
            vec![base.to_owned()]
        } else {
            (0..n).map(|i| format!("{base}_s{i}")).collect()
        }
    }

    /// The URL of the physical database behind shard `index`.
    pub fn url(&self, index: usize) -> String {
        let name = if self.logical {
            self.base.clone()
        } else {
            format!("{}_s{index}", self.base)
        };
        with_database(&self.admin_url, &name)
    }

    pub fn namespace(&self, index: usize) -> String {
        format!("shard_{index}")
    }

    pub fn add_to(&self, mut builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
        if self.logical {
            builder = builder.shared_pool("main", self.url(0));
        }
        for i in 0..self.n {
            builder = if self.logical {
                builder.logical_shard(format!("s{i}"), "main", self.namespace(i))
            } else {
                builder.shard(format!("s{i}"), self.url(i))
            };
        }
        builder
    }

    pub fn direct(&self, index: usize) -> Conn {
        let mut conn = Conn::establish(&self.url(index)).expect("direct connection");
        if self.logical {
            let ns = self.namespace(index);
            conn.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {ns}; SET search_path TO {ns}"
            ))
            .expect("switch schema");
        }
        conn
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Ok(mut admin) = Conn::establish(&self.admin_url) {
            for name in Databases::names(&self.base, self.n, self.logical) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A URL where nothing listens.
pub fn unreachable_url() -> String {
    "postgres://postgres@127.0.0.1:1/nowhere".to_owned()
}

/// `expr` as a double-precision float.
pub fn as_double(expr: &str) -> String {
    format!("CAST({expr} AS DOUBLE PRECISION)")
}

/// `SUM(column)` as a BIGINT.
pub fn sum_sql(column: &str) -> String {
    format!("SUM({column})::bigint")
}

/// Nothing to register: PostgreSQL has `pg_sleep`.
pub fn with_sleep(builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
    builder
}

/// A query that sleeps `ms` milliseconds and returns one row with a BIGINT column `x`.
pub fn sleep_sql(ms: u64) -> String {
    format!(
        "SELECT {ms}::bigint AS x FROM pg_sleep({})",
        ms as f64 / 1000.0
    )
}

/// A query like `sleep_sql` whose runs `sleepers(marker)` counts while they sleep.
pub fn marked_sleep_sql(ms: u64, marker: &str) -> String {
    format!("/* {marker} */ {}", sleep_sql(ms))
}

/// How many statements of `marked_sleep_sql(_, marker)` the server is running now.
pub fn sleepers(marker: &str) -> usize {
    let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
         AND pid <> pg_backend_pid() AND query LIKE '/* {marker} */%'"
    ))
    .get_result(&mut admin())
    .expect("read pg_stat_activity");
    n as usize
}

/// Whether statements can be time-limited.
pub const STATEMENT_TIMEOUT: bool = true;

/// The server the atomic (two-phase commit) tests use: the second server `scripts/test`
/// starts with `max_prepared_transactions` above zero (this machine's main server has the
/// default, 0, which allows no prepared transaction).
pub fn two_phase_admin_url() -> String {
    std::env::var("PG2_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PG2_DATABASE_URL is not set: the atomic tests need a PostgreSQL server with \
             max_prepared_transactions > 0. Run `scripts/test`, which starts one on port 5433"
        )
    })
}

/// `n` shards for the atomic tests, on [`two_phase_admin_url`].
pub fn two_phase_databases(n: usize, logical: bool) -> Databases {
    Databases::create_on(&two_phase_admin_url(), n, logical)
}

/// The name of the shard's branch tag in atomic transactions, computed as documented:
/// the shard id, `+`, and the low 32 bits of `stable_hash` of `database.schema`.
pub fn branch_tag(conn: &mut Conn, shard: &str) -> String {
    let location: String = diesel::dsl::sql::<diesel::sql_types::Text>(
        "SELECT current_database() || '.' || current_schema()",
    )
    .get_result(conn)
    .expect("location");
    let hash =
        diesel_sharding::router::stable_hash(diesel_sharding::RoutingKey::Text(&location)) as u32;
    format!("{shard}+{hash:08x}")
}

/// How many branches tagged `tag` are prepared on the server `conn` is connected to, read
/// from `pg_prepared_xacts`.
pub fn prepared_branches_tagged(conn: &mut Conn, tag: &str) -> i64 {
    diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "SELECT COUNT(*) FROM pg_prepared_xacts WHERE gid LIKE 'ds:%:{tag}'"
    ))
    .get_result(conn)
    .expect("pg_prepared_xacts")
}

/// Kills `conn`'s own session on the server.
pub fn kill_own_session(conn: &mut Conn) {
    let _ = conn.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())");
}

/// The name `scripts/chaos-server` gives this backend's killable server.
pub const CHAOS_SERVER: &str = "pg";

/// Drops the database `name` on the server at `admin_url`, whoever is connected to it.
pub fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = Conn::establish(admin_url) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}
