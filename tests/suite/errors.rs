//! Bad input and broken shards give clear, typed errors, and run nothing.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, FnRouter, LookupRouter, RangeRouter, RoutingKey, ShardId, ShardedPoolBuilder};

use super::fixture::*;
use crate::common::*;

/// Two shards whose URLs lead nowhere: a builder error that is not `Connect` proves the
/// builder stopped before connecting.
fn nowhere() -> ShardedPoolBuilder<Conn> {
    ShardedPool::<Conn>::builder()
        .shard("s0", unreachable_url())
        .shard("s1", unreachable_url())
        .connection_timeout(Duration::from_millis(300))
}

#[test]
fn an_empty_shard_set_is_refused() {
    let err = ShardedPool::<Conn>::builder().build().unwrap_err();
    assert!(matches!(err, Error::NoShards));
    assert!(err.to_string().contains("at least one shard"));
}

#[test]
fn duplicate_and_invalid_ids_are_refused_before_connecting() {
    let err = nowhere().shard("s0", unreachable_url()).build().unwrap_err();
    assert!(matches!(&err, Error::DuplicateShard(id) if id == "s0"), "{err}");
    let err = nowhere()
        .shard("x; DROP TABLE orders", unreachable_url())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidShardId { .. }), "{err}");
}

#[test]
fn routers_naming_missing_shards_are_refused_before_connecting() {
    let err = nowhere()
        .router(RangeRouter::new().range(0..10, "s0").range(10..20, "s9"))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRouter { router: "range", .. }), "{err}");
    assert!(err.to_string().contains("`s9`"));
    let err = nowhere()
        .router(LookupRouter::new().key(1_i64, "s0").default_shard("gone"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`gone`"), "{err}");
    let err = nowhere()
        .router(RangeRouter::new().range(0..10, "s0").range(5..20, "s1"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
}

#[test]
fn keys_that_route_nowhere_fail_without_writing() {
    let shards = Shards::with(2, |b| {
        b.router(RangeRouter::new().range(0..100, "s0").range(100..200, "s1"))
    });
    let err = shards.pool.insert(customer(500)).unwrap_err();
    assert!(matches!(err, Error::NoShardForKey { router: "range", .. }), "{err}");
    assert!(err.to_string().contains("500"));
    let err = orders::table
        .for_key(-1_i64)
        .count()
        .get_result::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::NoShardForKey { .. }), "{err}");
    for shard in shards.ids() {
        assert!(shards.customer_ids_on(shard.as_str()).is_empty());
    }
    // Text keys on an integer range router.
    let err = shards
        .pool
        .insert(&Event {
            id: 1,
            tenant: Some("acme".into()),
            body: String::new(),
        })
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedKey { kind: "text", .. }), "{err}");
    assert_eq!(shards.event_count_on("s0") + shards.event_count_on("s1"), 0);
}

#[test]
fn a_router_returning_an_unknown_shard_is_caught() {
    let shards = Shards::with(2, |b| {
        b.router(FnRouter::new(|key: RoutingKey<'_>, shards: &[ShardId]| match key {
            RoutingKey::Int(i) if i < 1_000 => Some(shards[0].clone()),
            _ => Some(ShardId::from("elsewhere")),
        }))
    });
    shards.pool.insert(customer(1)).unwrap();
    let err = shards.pool.insert(customer(5_000)).unwrap_err();
    assert!(
        matches!(&err, Error::RoutedToUnknownShard { shard, .. } if shard == "elsewhere"),
        "{err}"
    );
    assert_eq!(shards.customer_ids_on("s0"), vec![1]);
    assert!(shards.customer_ids_on("s1").is_empty());
}

#[test]
fn an_unreachable_shard_fails_the_build_and_names_itself() {
    let databases = Databases::create(1, super::LOGICAL);
    let err = databases
        .add_to(ShardedPool::<Conn>::builder())
        .shard("dead", unreachable_url())
        .connection_timeout(Duration::from_millis(500))
        .build()
        .unwrap_err();
    assert!(matches!(&err, Error::Connect { shard, .. } if shard == "dead"), "{err}");
    assert!(err.to_string().contains("`dead`"));
}

#[test]
fn with_build_unchecked_healthy_shards_serve_and_the_dead_one_times_out() {
    let databases = Databases::create(1, super::LOGICAL);
    let pool = databases
        .add_to(ShardedPool::<Conn>::builder())
        .shard("dead", unreachable_url())
        .connection_timeout(Duration::from_millis(300))
        .router(FnRouter::new(|key: RoutingKey<'_>, shards: &[ShardId]| match key {
            RoutingKey::Int(i) if i < 100 => Some(shards[0].clone()),
            _ => Some(shards[1].clone()),
        }))
        .build_unchecked()
        .unwrap();
    let mut conn = databases.direct(0);
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL)",
    )
    .unwrap();
    pool.insert(customer(1)).unwrap();
    let started = Instant::now();
    let err = pool.insert(customer(500)).unwrap_err();
    assert_within(started, Duration::from_millis(200));
    assert!(matches!(&err, Error::PoolTimeout { shard, .. } if shard == "dead"), "{err}");
    // The healthy shard still serves.
    let n: i64 = customers::table.count().set_shard("s0").get_result(&pool).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn pool_exhaustion_times_out_with_the_shard_named() {
    let shards = Shards::with(2, |b| b.max_size(1).connection_timeout(Duration::from_millis(300)));
    let mut holder = shards.pool.unit_of_work();
    holder.connection("s0").unwrap();
    let started = Instant::now();
    let err = shards.pool.connection("s0").map(|_| ()).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&err, Error::PoolTimeout { shard, timeout, .. }
            if shard == "s0" && *timeout == Duration::from_millis(300)),
        "{err}"
    );
    assert!(waited >= Duration::from_millis(250), "waited its limit: {waited:?}");
    assert_within(started, Duration::from_millis(300));
    assert!(err.to_string().contains("max_size"), "tells how to fix it: {err}");
    drop(holder);
    shards.pool.connection("s0").unwrap();
}

/// An error either prints its cause or returns it from `source()`, never both, so a
/// report that walks the chain prints each cause once. `ShardFailure` is an error too.
#[test]
fn errors_print_each_cause_once_along_the_chain() {
    use std::error::Error as _;
    let shards = Shards::new(2);
    let err = diesel::sql_query("SELECT * FROM no_such_table")
        .set_shard("s0")
        .execute(&shards.pool)
        .unwrap_err();
    let cause = err.source().expect("the Diesel error is the source").to_string();
    assert!(cause.contains("no_such_table"), "{cause}");
    assert!(!err.to_string().contains(&cause), "{err} repeats {cause}");
    assert!(err.to_string().contains("`s0`"), "{err}");

    let err = diesel::sql_query("SELECT * FROM no_such_table")
        .all_shards()
        .execute(&shards.pool)
        .unwrap_err();
    let Error::FanOut { failures } = &err else { panic!("{err}") };
    for failure in failures {
        let text = failure.to_string();
        assert!(text.contains(failure.shard.as_str()), "{text}");
        assert!(failure.source().is_some());
        assert!(!text.contains("no_such_table"), "{text}");
    }
    // A fan-out has several causes and no single source: its message lists them all.
    assert!(err.source().is_none());
    assert!(err.to_string().contains("no_such_table"), "{err}");
}
