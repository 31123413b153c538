//! What a database backend must provide to hold shards.

use diesel::connection::LoadConnection;
use diesel::r2d2::R2D2Connection;
use diesel::QueryResult;

/// A Diesel connection type that can hold shards: [`SqliteConnection`] (feature `sqlite`),
/// and in later releases `PgConnection` and `MysqlConnection`.
///
/// The two hooks have do-nothing defaults, so a third-party Diesel connection can be
/// sharded by implementing this trait with an empty body.
///
/// [`SqliteConnection`]: diesel::SqliteConnection
pub trait ShardBackend: R2D2Connection + LoadConnection + Send + 'static {
    /// Checks a shard's URL before anything connects. Returns what is wrong with it.
    fn check_url(url: &str) -> Result<(), String> {
        let _ = url;
        Ok(())
    }

    /// Runs once per shard before its pool is built, with a connection of its own
    /// (SQLite switches the file to WAL here).
    fn prepare_database(url: &str) -> Result<(), String> {
        let _ = url;
        Ok(())
    }

    /// Runs on every new physical connection (SQLite sets its per-connection pragmas).
    fn on_connect(conn: &mut Self) -> QueryResult<()> {
        let _ = conn;
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, QueryResult, SqliteConnection};

    use super::ShardBackend;

    /// SQLite shards are files. Every connection gets `busy_timeout = 5000`,
    /// `synchronous = NORMAL` and `foreign_keys = ON`; each file is switched to WAL once.
    impl ShardBackend for SqliteConnection {
        fn check_url(url: &str) -> Result<(), String> {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() {
                return Err(
                    "the SQLite path is empty: give a file name such as `shards/s0.db`".into(),
                );
            }
            if path == ":memory:" {
                return Err(
                    "`:memory:` is private to one connection, so pooled connections would each see \
                     an empty database: use a file, or `file:NAME?mode=memory&cache=shared`"
                        .into(),
                );
            }
            Ok(())
        }

        fn prepare_database(url: &str) -> Result<(), String> {
            let mut conn = SqliteConnection::establish(url).map_err(|e| e.to_string())?;
            conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
                .map_err(|e| e.to_string())
        }

        fn on_connect(conn: &mut Self) -> QueryResult<()> {
            conn.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
        }
    }
}
