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

    /// The "URL" of shard `index`: its file.
    pub fn url(&self, index: usize) -> String {
        self.path(index)
    }

    /// SQLite has no logical shards: never called (the suite asks only when `LOGICAL`).
    pub fn namespace(&self, index: usize) -> String {
        format!("shard_{index}")
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

/// `expr` as a double-precision float.
pub fn as_double(expr: &str) -> String {
    format!("CAST({expr} AS REAL)")
}

/// `SUM(column)` as a BIGINT.
pub fn sum_sql(column: &str) -> String {
    format!("SUM({column})")
}

diesel::define_sql_function! {
    /// Sleeps `ms` milliseconds and returns `ms` (registered on test connections).
    fn sleep_ms(ms: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

diesel::define_sql_function! {
    /// Sleeps `ms` milliseconds counted as one of the sleepers marked `marker`.
    fn sleep_marked(ms: diesel::sql_types::BigInt, marker: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

/// How many `sleep_marked` calls with each marker are sleeping now (this process only:
/// SQLite runs in it).
static SLEEPERS: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

fn add_sleeper(marker: &str, delta: isize) {
    let mut all = SLEEPERS.lock().unwrap_or_else(|e| e.into_inner());
    match all.iter_mut().find(|(m, _)| m == marker) {
        Some((_, n)) => *n = n.saturating_add_signed(delta),
        None => all.push((marker.to_owned(), delta.max(0) as usize)),
    }
}

/// How many statements of `marked_sleep_sql(_, marker)` are running right now.
pub fn sleepers(marker: &str) -> usize {
    let all = SLEEPERS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().find(|(m, _)| m == marker).map_or(0, |(_, n)| *n)
}

/// A query like `sleep_sql` whose runs `sleepers(marker)` counts while they sleep.
pub fn marked_sleep_sql(ms: u64, marker: &str) -> String {
    format!("SELECT sleep_marked({ms}, '{marker}') AS x")
}

/// Registers `sleep_ms` and `sleep_marked` on every connection of the pool being built.
pub fn with_sleep(builder: ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn> {
    #[derive(Debug)]
    struct Sleepy;
    impl diesel::r2d2::CustomizeConnection<Conn, diesel::r2d2::Error> for Sleepy {
        fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
            sleep_ms_utils::register_impl(conn, |ms: i64| {
                std::thread::sleep(std::time::Duration::from_millis(ms as u64));
                ms
            })
            .map_err(diesel::r2d2::Error::QueryError)?;
            sleep_marked_utils::register_impl(conn, |ms: i64, marker: String| {
                add_sleeper(&marker, 1);
                std::thread::sleep(std::time::Duration::from_millis(ms as u64));
                add_sleeper(&marker, -1);
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
