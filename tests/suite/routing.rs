//! Inserts land on the shard their key routes to, and on no other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{Connection, InstrumentationEvent};
use diesel_sharding::{Error, RoutingKey};

use super::fixture::*;
use crate::common::*;

#[test]
fn insert_puts_each_row_on_its_owning_shard_only() {
    let shards = Shards::new(4);
    for id in 1..=60 {
        assert_eq!(shards.pool.insert(customer(id)).unwrap(), 1);
    }
    let mut seen = 0;
    for shard in shards.ids() {
        let ids = shards.customer_ids_on(shard.as_str());
        for id in &ids {
            assert_eq!(
                shards.expected_shard(RoutingKey::Int((*id).into())),
                shard,
                "customer {id}"
            );
        }
        seen += ids.len();
    }
    assert_eq!(seen, 60, "every row is on exactly one shard");
    // With 60 keys over 4 shards, the hash router uses every shard.
    assert!(shards
        .ids()
        .iter()
        .all(|s| !shards.customer_ids_on(s.as_str()).is_empty()));
}

#[test]
#[allow(clippy::needless_borrows_for_generic_args)]
fn insert_by_value_and_by_reference_route_alike() {
    let shards = Shards::new(3);
    shards.pool.insert(customer(5)).unwrap();
    shards.pool.insert(&customer(6)).unwrap();
    let owner5 = shards.expected_shard(RoutingKey::Int(5));
    let owner6 = shards.expected_shard(RoutingKey::Int(6));
    assert!(shards.customer_ids_on(owner5.as_str()).contains(&5));
    assert!(shards.customer_ids_on(owner6.as_str()).contains(&6));
}

/// Pools whose `insert_all` runs on the caller's thread, and on workers under a
/// deadline (the pool's default).
fn insert_all_pools(n: usize, configure: fn(Builder) -> Builder) -> [(&'static str, Shards); 2] {
    [
        ("no deadline", Shards::with(n, configure)),
        ("default deadline", Shards::with(n, move |b| configure(b).default_timeout(Duration::from_secs(60)))),
    ]
}

type Builder = diesel_sharding::ShardedPoolBuilder<Conn>;

#[test]
fn insert_all_groups_rows_by_shard() {
    for (how, shards) in insert_all_pools(4, |b| b) {
        insert_all_groups_rows_by_shard_in(&shards, how);
    }
}

fn insert_all_groups_rows_by_shard_in(shards: &Shards, how: &str) {
    let rows: Vec<Order> = (1..=300).map(|i| order(i, i % 37 + 1)).collect();
    assert_eq!(shards.pool.insert_all(&rows).unwrap(), 300);
    let mut total = 0;
    for shard in shards.ids() {
        let on_shard = shards.order_ids_on(shard.as_str());
        let expected: Vec<i64> = rows
            .iter()
            .filter(|o| shards.expected_shard(RoutingKey::Int(o.customer_id.into())) == shard)
            .map(|o| o.id)
            .collect();
        assert_eq!(on_shard, expected, "{how}: shard {shard}");
        total += on_shard.len();
    }
    assert_eq!(total, 300, "{how}");
}

#[test]
fn insert_all_writes_multi_row_statements_in_batches() {
    for (how, shards) in insert_all_pools(2, |b| b.insert_batch_rows(100)) {
        // Under a deadline, SQLite writes one row per statement: Diesel's multi-row
        // SQLite statement cannot be collected to run on a worker.
        let sqlite = std::any::type_name::<Conn>().contains("Sqlite");
        let per_statement = if sqlite && how == "default deadline" { 1 } else { 100 };
        insert_all_writes_batches_in(&shards, how, per_statement);
    }
}

fn insert_all_writes_batches_in(shards: &Shards, how: &str, per_statement: usize) {
    let mut work = shards.pool.unit_of_work();
    let statements: Vec<Arc<AtomicUsize>> = shards
        .ids()
        .iter()
        .map(|shard| {
            let count = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&count);
            work.connection(shard.as_str())
                .unwrap()
                .set_instrumentation(move |event: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::StartQuery { query, .. } = event {
                        if query.to_string().starts_with("INSERT") {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            count
        })
        .collect();
    let rows: Vec<Order> = (1..=1_000).map(|i| order(i, i)).collect();
    assert_eq!(work.insert_all(&rows).unwrap(), 1_000);
    for (shard, count) in shards.ids().iter().zip(&statements) {
        let rows_here = shards.order_ids_on(shard.as_str()).len();
        assert!(rows_here > 0);
        assert_eq!(
            count.load(Ordering::SeqCst),
            rows_here.div_ceil(per_statement),
            "{how}: shard {shard}: one INSERT per {per_statement} rows"
        );
    }
}

#[test]
fn text_keys_route_and_a_missing_key_writes_nothing() {
    let shards = Shards::new(3);
    let ok = Event {
        id: 1,
        tenant: Some("acme".into()),
        body: "hello".into(),
    };
    shards.pool.insert(&ok).unwrap();
    let owner = shards.expected_shard(RoutingKey::Text("acme"));
    let mut conn = shards.direct(owner.as_str());
    use diesel::prelude::*;
    assert_eq!(
        events::table.count().get_result::<i64>(&mut conn).unwrap(),
        1
    );

    let batch = vec![
        Event {
            id: 2,
            tenant: Some("globex".into()),
            body: "a".into(),
        },
        Event {
            id: 3,
            tenant: None,
            body: "no tenant".into(),
        },
    ];
    let err = shards.pool.insert_all(&batch).unwrap_err();
    assert!(matches!(err, Error::MissingKey { what: "row" }), "{err}");
    let total: i64 = shards
        .ids()
        .iter()
        .map(|s| {
            events::table
                .count()
                .get_result::<i64>(&mut shards.direct(s.as_str()))
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1, "nothing of the failed batch was written");
}

#[test]
fn insert_all_is_atomic_per_shard_and_reports_committed_shards() {
    for (how, shards) in insert_all_pools(2, |b| b) {
        insert_all_is_atomic_per_shard_in(&shards, how);
    }
}

fn insert_all_is_atomic_per_shard_in(shards: &Shards, how: &str) {
    let ids = shards.ids();
    // Find customers owned by each shard.
    let on = |shard: &str| {
        (1..)
            .find(|k: &i64| shards.expected_shard(RoutingKey::Int((*k).into())) == shard)
            .unwrap()
    };
    let (c0, c1) = (on(ids[0].as_str()), on(ids[1].as_str()));
    // Order 500 already exists on the second shard: its batch must fail as a whole.
    shards.plant_order(ids[1].as_str(), &order(500, c1));
    let rows = vec![order(1, c0), order(2, c0), order(3, c1), order(500, c1)];
    let err = shards.pool.insert_all(&rows).unwrap_err();
    match &err {
        Error::PartialInsert {
            shard, committed, ..
        } => {
            assert_eq!(shard, &ids[1]);
            assert_eq!(committed, &vec![ids[0].clone()]);
        }
        other => panic!("{how}: expected PartialInsert, got {other}"),
    }
    assert!(err.to_string().contains(ids[1].as_str()));
    assert_eq!(shards.order_ids_on(ids[0].as_str()), vec![1, 2]);
    assert_eq!(
        shards.order_ids_on(ids[1].as_str()),
        vec![500],
        "order 3 was rolled back"
    );
}
