//! Events and counters: every statement is reported once, on its shard, with its kind.

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::Error;
use diesel_sharding::events::{HandleEvent, Operation, Outcome, ShardEvent};

use super::fixture::*;
use crate::common::*;

/// What an event said, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    shard: String,
    operation: Operation,
    outcome: Outcome,
    rows: Option<usize>,
}

#[derive(Debug, Default, Clone)]
struct Collect(Arc<Mutex<Vec<Seen>>>);

impl HandleEvent for Collect {
    fn handle_event(&self, event: &ShardEvent<'_>) {
        self.0.lock().unwrap().push(Seen {
            shard: event.shard.to_string(),
            operation: event.operation,
            outcome: event.outcome,
            rows: event.rows,
        });
    }
}

impl Collect {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn count(seen: &[Seen], shard: &str, operation: Operation) -> usize {
        seen.iter().filter(|s| s.shard == shard && s.operation == operation).count()
    }
}

/// A known sequence of operations gives exactly the statements it should, per shard and
/// kind, in the events and in `stats()` alike.
#[test]
fn every_statement_is_reported_once_on_its_shard() {
    let events = Collect::default();
    let shards = Shards::with(3, |b| b.event_handler(events.clone()));
    let pool = &shards.pool;
    let setup = events.take();
    assert!(setup.iter().all(|s| s.operation == Operation::Migration && s.outcome == Outcome::Success));
    assert_eq!(setup.len(), 3, "one migration run per shard");
    let before = pool.stats();

    let (k0, k1, k2) = (shards.key_on("s0"), shards.key_on("s1"), shards.key_on("s2"));
    let k2b = (k2 + 1..).find(|k| shards.expected_shard(diesel_sharding::RoutingKey::Int((*k).into())) == "s2").unwrap();
    pool.insert(customer(k0)).unwrap();
    pool.insert_all([customer(k1), customer(k2), customer(k2b)]).unwrap();
    let mine: Vec<i64> = customers::table.select(customers::id).for_key(k0).load(pool).unwrap();
    assert_eq!(mine, [k0]);
    assert_eq!(customers::table.count().all_shards().count(pool).unwrap(), 4);
    pool.transaction_for_key(&k2, |conn| {
        diesel::update(customers::table.find(k2)).set(customers::name.eq("t")).execute(conn)?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(diesel::sql_query("SELECT * FROM no_such_table").set_shard("s1").execute(pool).is_err());

    let seen = events.take();
    let expect = |shard: &str, operation, n| {
        assert_eq!(Collect::count(&seen, shard, operation), n, "{shard} {operation:?}: {seen:#?}");
    };
    expect("s0", Operation::Insert, 1);
    expect("s1", Operation::Insert, 1);
    expect("s2", Operation::Insert, 1);
    expect("s0", Operation::Query, 2);
    expect("s1", Operation::Query, 2);
    expect("s2", Operation::Query, 1);
    expect("s2", Operation::Transaction, 1);
    assert_eq!(seen.len(), 9);
    // Rows: the s2 batch held two rows, the keyed load returned one.
    assert!(seen.contains(&Seen { shard: "s2".into(), operation: Operation::Insert, outcome: Outcome::Success, rows: Some(2) }));
    assert!(seen.contains(&Seen { shard: "s0".into(), operation: Operation::Query, outcome: Outcome::Success, rows: Some(1) }));
    let failed: Vec<&Seen> = seen.iter().filter(|s| s.outcome != Outcome::Success).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].shard.as_str(), failed[0].outcome), ("s1", Outcome::Failed));

    // The counters agree with the events.
    let after = pool.stats();
    for (b, a) in before.iter().zip(&after) {
        let shard = a.shard.as_str();
        let n = seen.iter().filter(|s| s.shard == shard).count() as u64;
        assert_eq!(a.statements - b.statements, n, "{shard}");
        assert_eq!(a.errors - b.errors, u64::from(shard == "s1"), "{shard}");
        assert_eq!(a.latency.count() - b.latency.count(), n, "{shard}");
    }
}

/// A statement over its limit is reported as timed out, and counted as one.
#[test]
fn a_statement_over_its_limit_is_reported_as_a_timeout() {
    if !STATEMENT_TIMEOUT {
        // SQLite cannot limit a statement: a checkout that runs out of time is its timeout.
        let shards = Shards::with(1, |b| b.max_size(1).connection_timeout(std::time::Duration::from_millis(100)));
        let _held = shards.pool.connection("s0").unwrap();
        let err = orders::table.count().set_shard("s0").get_result::<i64>(&shards.pool).unwrap_err();
        assert!(matches!(err, Error::PoolTimeout { .. }), "{err}");
        assert_eq!(shards.pool.stats()[0].timeouts, 1);
        return;
    }
    let shards = Shards::with(2, with_sleep);
    let failed = diesel::sql_query(sleep_sql(60_000))
        .all_shards()
        .on_shards(["s1"])
        .timeout(std::time::Duration::from_millis(200))
        .allow_partial()
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(failed.failures().len(), 1);
    let stats = shards.pool.stats();
    assert_eq!((stats[0].timeouts, stats[1].timeouts), (0, 1));
}

/// What the events said of each checkout's wait, in order.
#[derive(Debug, Default, Clone)]
struct Waits(Arc<Mutex<Vec<std::time::Duration>>>);

impl HandleEvent for Waits {
    fn handle_event(&self, event: &ShardEvent<'_>) {
        self.0.lock().unwrap().push(event.checkout_wait);
    }
}

/// A statement that found a connection idle reports no checkout wait; one that had to
/// wait for the pool's only connection reports a wait.
#[test]
fn a_checkout_wait_is_reported_only_when_a_statement_waited() {
    let waits = Waits::default();
    let shards = Shards::with(1, |b| b.max_size(1).event_handler(waits.clone()));
    let pool = &shards.pool;
    let count = || orders::table.count().set_shard("s0").get_result::<i64>(pool).unwrap();
    waits.0.lock().unwrap().clear();
    count();
    assert_eq!(*waits.0.lock().unwrap(), [std::time::Duration::ZERO]);

    // The pool's one connection is held until the statement is under way; it may not
    // be waiting yet when the holder lets go, so a few tries are allowed.
    let waited = (0..5).any(|_| {
        waits.0.lock().unwrap().clear();
        let held = pool.connection("s0").unwrap();
        let (under_way, started) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                started.recv().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                drop(held);
            });
            under_way.send(()).unwrap();
            count();
        });
        waits.0.lock().unwrap().last().is_some_and(|w| !w.is_zero())
    });
    assert!(waited, "no statement reported the wait for the held connection");
}
