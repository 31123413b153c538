//! What only SQLite shards do.

use diesel::SqliteConnection;
use diesel_sharding::{Error, ShardedPool};

#[test]
fn an_in_memory_sqlite_shard_is_refused_with_advice() {
    let err = ShardedPool::<SqliteConnection>::builder()
        .shard("s0", ":memory:")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { shard, .. } if shard == "s0"),
        "{err}"
    );
    assert!(err.to_string().contains("mode=memory"), "{err}");
}

#[test]
fn sqlite_has_no_logical_shards() {
    let err = ShardedPool::<SqliteConnection>::builder()
        .shared_pool("main", "x.db")
        .logical_shard("s0", "main", "shard_0")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("no logical shards"), "{err}");
    assert!(!std::path::Path::new("x.db").exists(), "nothing was opened");
}

#[test]
fn every_connection_gets_the_documented_pragmas() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let pool = ShardedPool::<SqliteConnection>::builder()
        .shard("s0", dir.path().join("s0.db").to_string_lossy())
        .build()
        .unwrap();
    let mut conn = pool.connection("s0").unwrap();
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut conn)
        .unwrap();
    let sync: Sync = diesel::sql_query("PRAGMA synchronous")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
    assert_eq!(sync.synchronous, 1, "NORMAL");
}
