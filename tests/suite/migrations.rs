//! Migrations on every shard.

use diesel::connection::SimpleConnection;
use diesel_sharding::Error;

use super::fixture::*;
use crate::common::*;

#[test]
fn migrations_run_once_on_every_shard() {
    let shards = Shards::unmigrated(3, |b| b);
    let report = shards.pool.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(report.shards.len(), 3);
    for name in shard_names(3) {
        assert_eq!(report.applied(&name).unwrap().len(), 1, "shard {name}");
        assert!(shards.has_orders_table(&name), "shard {name}");
        assert!(shards.customer_ids_on(&name).is_empty());
    }
    let again = shards.pool.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(again.total_applied(), 0, "already up to date");
}

#[test]
fn a_failing_shard_is_named_and_the_others_are_migrated() {
    let shards = Shards::unmigrated(3, |b| b);
    // A conflicting table makes the migration fail on s1 only.
    shards.direct("s1").batch_execute("CREATE TABLE customers (x INTEGER)").unwrap();
    let err = shards.pool.run_pending_migrations(MIGRATIONS).unwrap_err();
    match &err {
        Error::Migrations { failures, migrated } => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].shard, "s1");
            let expected: Vec<diesel_sharding::ShardId> = vec!["s0".into(), "s2".into()];
            assert_eq!(migrated, &expected);
        }
        other => panic!("expected Migrations, got {other}"),
    }
    assert!(err.to_string().contains("`s1`"), "{err}");
    assert!(shards.has_orders_table("s0"));
    assert!(shards.has_orders_table("s2"));
    assert!(!shards.has_orders_table("s1"), "s1 stopped at the conflict");
}
