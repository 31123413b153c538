//! Micro-benchmarks of routing alone: ns per key for each router at 4, 64 and 1024
//! shards, of the derive-generated key extraction, and of the id generators. Run with
//! `cargo bench --bench routing`.

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use diesel_sharding::{
    FnRouter, HashRouter, LookupRouter, ModuloRouter, PgHashRouter, RangeRouter, Router,
    RoutingKey, ShardId, ShardKey, ShardedModel,
};

const KEYS: i64 = 4_096;

fn shards(n: usize) -> Vec<ShardId> {
    (0..n).map(|i| ShardId::from(format!("s{i}"))).collect()
}

fn routers(n: usize) -> Vec<(&'static str, Box<dyn Router>)> {
    let ids = shards(n);
    let width = (KEYS / n as i64).max(1);
    let mut range = RangeRouter::new();
    let mut lookup = LookupRouter::new().default_shard(ids[0].clone());
    for (i, id) in ids.iter().enumerate() {
        let start = i as i64 * width;
        let end = if i + 1 == n { i64::MAX } else { start + width };
        range = range.range(start..end, id.clone());
    }
    for k in 0..KEYS {
        lookup = lookup.key(k, ids[k as usize % n].clone());
    }
    vec![
        ("hash", Box::new(HashRouter::new())),
        ("pg-hash", Box::new(PgHashRouter::new())),
        ("modulo", Box::new(ModuloRouter::new())),
        ("range", Box::new(range)),
        ("lookup", Box::new(lookup)),
        (
            "closure",
            Box::new(FnRouter::new(
                |key: RoutingKey<'_>, shards: &[ShardId]| match key {
                    RoutingKey::Int(i) => Some(shards[(i as usize) % shards.len()].clone()),
                    _ => None,
                },
            )),
        ),
    ]
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(KEYS as u64));
    for n in [4, 64, 1024] {
        let ids = shards(n);
        for (name, router) in routers(n) {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    for k in 0..KEYS {
                        black_box(
                            router
                                .route(RoutingKey::Int(black_box(k).into()), &ids)
                                .ok(),
                        );
                    }
                })
            });
        }
        group.bench_with_input(BenchmarkId::new("hash_position", n), &n, |b, _| {
            let router = HashRouter::new();
            b.iter(|| {
                for k in 0..KEYS {
                    black_box(router.bucket(RoutingKey::Int(black_box(k).into()), n));
                }
            })
        });
    }
    group.finish();
}

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, note -> Text, } }

#[derive(diesel::Insertable, diesel_sharding::ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
    note: String,
}

fn key_extraction(c: &mut Criterion) {
    let rows: Vec<Order> = (0..KEYS)
        .map(|i| Order {
            id: i,
            customer_id: i * 7,
            note: String::new(),
        })
        .collect();
    let mut group = c.benchmark_group("derive");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("shard_key", |b| {
        b.iter(|| {
            for row in &rows {
                black_box(black_box(row).shard_key().routing_key());
            }
        })
    });
    let ids = shards(64);
    group.bench_function("shard_key_then_hash_64", |b| {
        let router = HashRouter::new();
        b.iter(|| {
            for row in &rows {
                if let Some(key) = black_box(row).shard_key().routing_key() {
                    black_box(router.route(key, &ids).ok());
                }
            }
        })
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    group.throughput(Throughput::Elements(1_000));
    let encoded =
        diesel_sharding::ids::ShardEncodedIds::new(diesel_sharding::ids::IdLayout::default(), 1)
            .expect("worker 1 fits");
    group.bench_function("shard_encoded", |b| {
        b.iter(|| {
            for bucket in 0..1_000_u64 {
                black_box(encoded.generate(bucket % 256).ok());
            }
        })
    });
    let uuids = diesel_sharding::ids::UuidV7Ids::new();
    group.bench_function("uuid_v7", |b| {
        b.iter(|| {
            for _ in 0..1_000 {
                black_box(uuids.generate());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, route, key_extraction, ids);
criterion_main!(benches);
