//! Migrations on every shard.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use diesel_sharding::{Error, ShardedPool};

use crate::common::*;

fn unmigrated(dir: &tempfile::TempDir, n: usize) -> ShardedPool<SqliteConnection> {
    let mut builder = ShardedPool::<SqliteConnection>::builder();
    for name in shard_names(n) {
        builder = builder.shard(
            name.as_str(),
            dir.path().join(format!("{name}.db")).to_string_lossy(),
        );
    }
    builder.build().unwrap()
}

fn has_table(dir: &tempfile::TempDir, shard: &str, table: &str) -> bool {
    let mut conn = direct(&dir.path().join(format!("{shard}.db")).to_string_lossy());
    diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
    ))
    .get_result::<i64>(&mut conn)
    .unwrap()
        == 1
}

#[test]
fn migrations_run_once_on_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let pool = unmigrated(&dir, 3);
    let report = pool.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(report.shards.len(), 3);
    for name in shard_names(3) {
        assert_eq!(report.applied(&name).unwrap().len(), 1, "shard {name}");
        assert!(has_table(&dir, &name, "orders"));
        assert!(has_table(&dir, &name, "customers"));
    }
    let again = pool.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(again.total_applied(), 0, "already up to date");
}

#[test]
fn a_failing_shard_is_named_and_the_others_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let pool = unmigrated(&dir, 3);
    // A conflicting table makes the migration fail on s1 only.
    direct(&dir.path().join("s1.db").to_string_lossy())
        .batch_execute("CREATE TABLE customers (x INTEGER)")
        .unwrap();
    let err = pool.run_pending_migrations(MIGRATIONS).unwrap_err();
    match &err {
        Error::Migrations { failures, migrated } => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].shard, "s1");
            assert_eq!(
                migrated,
                &vec!["s0".into(), "s2".into()] as &Vec<diesel_sharding::ShardId>
            );
        }
        other => panic!("expected Migrations, got {other}"),
    }
    assert!(err.to_string().contains("`s1`"), "{err}");
    assert!(has_table(&dir, "s0", "orders"));
    assert!(has_table(&dir, "s2", "orders"));
    assert!(
        !has_table(&dir, "s1", "orders"),
        "s1's migration was rolled back"
    );
}
