//! A shard server that goes away and comes back at the same address (a TCP forwarder
//! stands between the pool and the real server).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::Error;

use super::fixture::*;
use crate::common::proxy::{address_of, with_port, Proxy};
use crate::common::*;

fn run_outage(test_on_check_out: bool) {
    let databases = Databases::create(3, false);
    let mut proxy = Proxy::start(address_of(&databases.url(2)));
    let pool = ShardedPool::<Conn>::builder()
        .shard("s0", databases.url(0))
        .shard("s1", databases.url(1))
        .shard("s2", with_port(&databases.url(2), proxy.port()))
        .max_size(3)
        .connection_timeout(Duration::from_millis(500))
        .test_on_check_out(test_on_check_out)
        .build()
        .unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    let key_on = |shard: &str| {
        (1..)
            .find(|k: &i64| pool.shard_for_key(k).unwrap() == shard)
            .unwrap()
    };
    let (k0, k2) = (key_on("s0"), key_on("s2"));
    pool.insert(customer(k0)).unwrap();
    pool.insert(customer(k2)).unwrap();
    let count_on = |key: i64| {
        customers::table
            .for_key(key)
            .count()
            .get_result::<i64, _>(&pool)
    };
    assert_eq!(count_on(k2).unwrap(), 1);

    proxy.stop();
    // Keyed work on the dead shard fails fast, naming it.
    for _ in 0..3 {
        let started = Instant::now();
        let err = count_on(k2).unwrap_err();
        // Bounded by the 500 ms checkout limit; checked with a wide margin only.
        assert_within(started, Duration::from_millis(500));
        assert_eq!(err.shard().map(|s| s.as_str()), Some("s2"), "{err}");
    }
    // The healthy shards keep serving.
    assert_eq!(count_on(k0).unwrap(), 1);
    pool.insert(customer(k0 + 100_000 * 3)).ok();
    // Fan-out follows its policy.
    let err = customers::table
        .count()
        .all_shards()
        .count(&pool)
        .unwrap_err();
    assert!(
        matches!(&err, Error::FanOut { failures } if failures.len() == 1 && failures[0].shard == "s2"),
        "{err}"
    );
    let (partial, failures) = customers::table
        .count()
        .all_shards()
        .allow_partial()
        .count(&pool)
        .unwrap()
        .into_parts();
    assert!(partial >= 1);
    assert_eq!(failures.len(), 1);

    proxy.resume();
    // Back without a restart. Without a checkout test, a connection the outage cut can
    // fail once before the pool drops it; with one, the first call succeeds.
    let attempts = if test_on_check_out { 1 } else { 5 };
    let recovered = (0..attempts).any(|_| count_on(k2).is_ok());
    assert!(recovered, "s2 serves again");
    for _ in 0..10 {
        assert_eq!(count_on(k2).unwrap(), 1);
    }
    assert!(customers::table.count().all_shards().count(&pool).unwrap() >= 2);
}

#[test]
fn a_shard_that_goes_away_fails_alone_and_serves_again_when_back() {
    run_outage(false);
}

#[test]
fn with_checkout_tests_the_first_call_after_an_outage_succeeds() {
    run_outage(true);
}

#[test]
fn a_shard_whose_database_is_missing_fails_the_build_by_name() {
    let databases = Databases::create(1, false);
    let missing = with_database(&databases.url(0), &format!("{}_missing", unique_name()));
    let err = ShardedPool::<Conn>::builder()
        .shard("s0", databases.url(0))
        .shard("gone", missing)
        .connection_timeout(Duration::from_millis(500))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connect { shard, .. } if shard == "gone"),
        "{err}"
    );
}
