//! MySQL/MariaDB: physical shards are databases on the server at `MYSQL_DATABASE_URL`
//! (default `mysql://root@127.0.0.1:3306/mysql`); logical shards are databases
//! `<base>_s0..` reached through one shared pool whose home database is `<base>`. Every
//! database is created for the test and dropped after.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::ShardedPoolBuilder;

use crate::common::{unique_name, with_database};

pub type Conn = diesel::MysqlConnection;

pub fn admin_url() -> String {
    std::env::var("MYSQL_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned())
}

pub fn admin() -> Conn {
    let url = admin_url();
    Conn::establish(&url).unwrap_or_else(|e| {
        panic!(
            "MySQL/MariaDB is not reachable at {url}: {e}. Start it, or point MYSQL_DATABASE_URL \
             at a server where this user may create databases"
        )
    })
}

pub struct Databases {
    base: String,
    logical: bool,
    n: usize,
    /// Whether dropping this value drops the databases.
    owned: bool,
}

impl Databases {
    pub fn create(n: usize, logical: bool) -> Databases {
        let base = unique_name();
        let mut admin = admin();
        let first = if logical {
            base.clone()
        } else {
            format!("{base}_s0")
        };
        admin
            .batch_execute(&format!("CREATE DATABASE `{first}`"))
            .expect("create database");
        if !logical {
            for i in 1..n {
                admin
                    .batch_execute(&format!("CREATE DATABASE `{base}_s{i}`"))
                    .expect("create database");
            }
        }
        Databases {
            base,
            logical,
            n,
            owned: true,
        }
    }

    /// A description another process can `attach` to.
    pub fn describe(&self) -> String {
        format!("{}|{}|{}", self.n, self.logical, self.base)
    }

    /// The databases described, without taking ownership (nothing is dropped).
    pub fn attach(description: &str) -> Databases {
        let parts: Vec<&str> = description.splitn(3, '|').collect();
        Databases {
            n: parts[0].parse().expect("count"),
            logical: parts[1] == "true",
            base: parts[2].to_owned(),
            owned: false,
        }
    }

    pub fn url(&self, index: usize) -> String {
        if self.logical {
            with_database(&admin_url(), &self.base)
        } else {
            with_database(&admin_url(), &self.namespace(index))
        }
    }

    /// The database of shard `index` (on the shared pool when logical).
    pub fn namespace(&self, index: usize) -> String {
        format!("{}_s{index}", self.base)
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
            conn.batch_execute(&format!("CREATE DATABASE IF NOT EXISTS `{ns}`; USE `{ns}`"))
                .expect("switch database");
        }
        conn
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Ok(mut admin) = Conn::establish(&admin_url()) {
            for i in 0..self.n {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.namespace(i)));
            }
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.base));
        }
    }
}

/// A URL where nothing listens.
pub fn unreachable_url() -> String {
    "mysql://root@127.0.0.1:1/nowhere".to_owned()
}

/// `expr` as a double-precision float.
pub fn as_double(expr: &str) -> String {
    format!("CAST({expr} AS DOUBLE)")
}

/// `SUM(column)` as a BIGINT.
pub fn sum_sql(column: &str) -> String {
    format!("CAST(SUM({column}) AS SIGNED)")
}

/// Nothing to register: MySQL has `SLEEP`.
pub fn with_sleep(builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
    builder
}

/// A query that sleeps `ms` milliseconds and returns one row with a BIGINT column `x`.
pub fn sleep_sql(ms: u64) -> String {
    format!(
        "SELECT CAST(SLEEP({}) AS SIGNED) + {ms} AS x",
        ms as f64 / 1000.0
    )
}

/// A query like `sleep_sql` whose runs `sleepers(marker)` counts while they sleep.
pub fn marked_sleep_sql(ms: u64, marker: &str) -> String {
    format!(
        "SELECT CAST(SLEEP({}) AS SIGNED) + {ms} AS x, '{marker}' AS marker",
        ms as f64 / 1000.0
    )
}

/// How many statements of `marked_sleep_sql(_, marker)` the server is running now.
pub fn sleepers(marker: &str) -> usize {
    let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
         AND INFO LIKE 'SELECT CAST(SLEEP(%''{marker}'' AS marker'"
    ))
    .get_result(&mut admin())
    .expect("read the process list");
    n as usize
}

/// Whether statements can be time-limited.
pub const STATEMENT_TIMEOUT: bool = true;

/// The server the atomic (two-phase commit) tests use: the main one (XA needs no setting).
pub fn two_phase_databases(n: usize, logical: bool) -> Databases {
    Databases::create(n, logical)
}

/// The name of the shard's branch tag in atomic transactions, computed as documented:
/// the shard id, `+`, and the low 32 bits of `stable_hash` of the database name.
pub fn branch_tag(conn: &mut Conn, shard: &str) -> String {
    let location: String = diesel::dsl::sql::<diesel::sql_types::Text>("SELECT DATABASE()")
        .get_result(conn)
        .expect("location");
    let hash =
        diesel_sharding::router::stable_hash(diesel_sharding::RoutingKey::Text(&location)) as u32;
    format!("{shard}+{hash:08x}")
}

/// How many branches tagged `tag` are prepared on the server `conn` is connected to, read
/// from `XA RECOVER`.
pub fn prepared_branches_tagged(conn: &mut Conn, tag: &str) -> i64 {
    use diesel::sql_types::{BigInt, Binary};
    let rows: Vec<(i64, i64, i64, Vec<u8>)> =
        diesel::dsl::sql::<(BigInt, BigInt, BigInt, Binary)>("XA RECOVER")
            .load(conn)
            .expect("XA RECOVER");
    rows.iter()
        .filter(|(_, id_len, branch_len, data)| {
            let (id_len, branch_len) = (*id_len as usize, *branch_len as usize);
            data.get(id_len..id_len + branch_len) == Some(tag.as_bytes())
        })
        .count() as i64
}

/// Kills `conn`'s own session on the server.
pub fn kill_own_session(conn: &mut Conn) {
    let id: i64 =
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT CAST(CONNECTION_ID() AS SIGNED)")
            .get_result(conn)
            .expect("connection id");
    let _ = conn.batch_execute(&format!("KILL {id}"));
}

/// The server the atomic tests put their first shards on: the main one.
pub fn two_phase_admin_url() -> String {
    admin_url()
}

/// The name `scripts/chaos-server` gives this backend's killable server.
pub const CHAOS_SERVER: &str = "mariadb";

/// Drops the database `name` on the server at `admin_url`.
pub fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = Conn::establish(admin_url) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
    }
}
