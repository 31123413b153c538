//! SQLite: each shard a file in a fresh temporary directory.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::ShardedPoolBuilder;

pub type Conn = diesel::SqliteConnection;

/// The shards' files; the directory goes away with this value (unless attached).
pub struct Databases {
    dir: std::path::PathBuf,
    _owned: Option<tempfile::TempDir>,
    n: usize,
}

impl Databases {
    pub fn create(n: usize, logical: bool) -> Databases {
        assert!(!logical, "SQLite has no logical shards");
        let owned = tempfile::tempdir().expect("temp dir");
        Databases {
            dir: owned.path().to_owned(),
            _owned: Some(owned),
            n,
        }
    }

    /// A description another process can `attach` to.
    pub fn describe(&self) -> String {
        format!("{}|{}", self.n, self.dir.display())
    }

    /// The databases described, without taking ownership (nothing is removed).
    pub fn attach(description: &str) -> Databases {
        let (n, dir) = description.split_once('|').expect("description");
        Databases {
            dir: dir.into(),
            _owned: None,
            n: n.parse().expect("count"),
        }
    }

    fn path(&self, index: usize) -> String {
        self.dir
            .join(format!("s{index}.db"))
            .to_string_lossy()
            .into_owned()
    }

    /// Adds shards `s0..` in order.
    pub fn add_to(&self, mut builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
        for i in 0..self.n {
            builder = builder.shard(format!("s{i}"), self.path(i));
        }
        builder
    }

    /// A connection to shard `index` that bypasses the pool.
    pub fn direct(&self, index: usize) -> Conn {
        let mut conn = Conn::establish(&self.path(index)).expect("direct connection");
        conn.batch_execute("PRAGMA busy_timeout = 5000;")
            .expect("busy timeout");
        conn
    }
}

/// A shard URL nothing can open: a file in a directory that does not exist.
pub fn unreachable_url() -> String {
    std::env::temp_dir()
        .join("diesel-sharding-no-such-dir")
        .join("x.db")
        .to_string_lossy()
        .into_owned()
}

/// `SUM(column)` as a BIGINT.
pub fn sum_sql(column: &str) -> String {
    format!("SUM({column})")
}

diesel::define_sql_function! {
    /// Sleeps `ms` milliseconds and returns `ms` (registered on test connections).
    fn sleep_ms(ms: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Registers `sleep_ms` on every connection of the pool being built.
pub fn with_sleep(builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
    #[derive(Debug)]
    struct Sleepy;
    impl diesel::r2d2::CustomizeConnection<Conn, diesel::r2d2::Error> for Sleepy {
        fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
            sleep_ms_utils::register_impl(conn, |ms: i64| {
                std::thread::sleep(std::time::Duration::from_millis(ms as u64));
                ms
            })
            .map_err(diesel::r2d2::Error::QueryError)
        }
    }
    builder.connection_customizer(Box::new(Sleepy))
}

/// A query that sleeps `ms` milliseconds and returns one row with a BIGINT column `x`.
pub fn sleep_sql(ms: u64) -> String {
    format!("SELECT sleep_ms({ms}) AS x")
}

/// Whether statements can be time-limited (not on SQLite).
pub const STATEMENT_TIMEOUT: bool = false;
