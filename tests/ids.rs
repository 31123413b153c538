//! Id generators, without a database: uniqueness under threads, decoding, UUIDs.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;

use diesel_sharding::ids::{IdLayout, ShardEncodedIds, UuidV7Ids};

/// 8 threads × 100,000 ids from one generator, each thread for its own bucket: no
/// duplicate, and every id decodes to the bucket it was made for.
#[test]
fn eight_threads_of_100k_ids_are_unique_and_decode_to_their_shard() {
    let ids = Arc::new(ShardEncodedIds::new(IdLayout::default(), 5).unwrap());
    let workers: Vec<_> = (0..8_u64)
        .map(|t| {
            let ids = Arc::clone(&ids);
            thread::spawn(move || {
                (0..100_000)
                    .map(|_| (t, ids.generate(t * 31).unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::with_capacity(800_000);
    for worker in workers {
        for (t, id) in worker.join().unwrap() {
            assert!(id > 0);
            let parts = ids.layout().decode(id);
            assert_eq!((parts.bucket, parts.worker), (t * 31, 5));
            assert!(seen.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(seen.len(), 800_000);
}

/// Two processes (two generators with different worker numbers) on the same shard at the
/// same time never collide.
#[test]
fn different_workers_never_collide() {
    let a = ShardEncodedIds::new(IdLayout::default(), 1).unwrap();
    let b = ShardEncodedIds::new(IdLayout::default(), 2).unwrap();
    let (ha, hb) = (
        thread::spawn(move || {
            (0..50_000)
                .map(|_| a.generate(7).unwrap())
                .collect::<Vec<_>>()
        }),
        thread::spawn(move || {
            (0..50_000)
                .map(|_| b.generate(7).unwrap())
                .collect::<Vec<_>>()
        }),
    );
    let mut all: HashSet<i64> = ha.join().unwrap().into_iter().collect();
    let from_b = hb.join().unwrap();
    let before = all.len();
    all.extend(from_b.iter().copied());
    assert_eq!(all.len(), before + from_b.len());
}

#[test]
fn ids_from_one_thread_increase() {
    let ids = ShardEncodedIds::new(IdLayout::default(), 0).unwrap();
    let made: Vec<i64> = (0..10_000).map(|_| ids.generate(3).unwrap()).collect();
    assert!(made.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn uuid_v7_ids_are_unique_versioned_and_time_ordered() {
    let uuids = UuidV7Ids::new();
    let made: Vec<[u8; 16]> = (0..100_000).map(|_| uuids.generate()).collect();
    let unique: HashSet<&[u8; 16]> = made.iter().collect();
    assert_eq!(unique.len(), made.len());
    assert!(made.iter().all(|u| u[6] >> 4 == 7 && u[8] >> 6 == 0b10));
    let millis = |u: &[u8; 16]| {
        u[..6]
            .iter()
            .fold(0_u64, |acc, b| (acc << 8) | u64::from(*b))
    };
    assert!(made.windows(2).all(|w| millis(&w[0]) <= millis(&w[1])));
}
