//! Ids that know their shard, blocks of ids per shard, and children that follow their
//! parent.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::connection::{Connection, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::BelongingToDsl;
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, FindAnywhereDsl, RoutingKey};
use diesel_sharding::ids::{BlockIds, IdLayout, IdScheme, ShardEncodedIds, BLOCK_IDS_PER_SHARD};

use super::fixture::*;
use crate::common::*;

/// Counts the statements each shard receives through a unit of work.
fn count_statements(work: &mut ShardedConnection<Conn>, shards: &[ShardId]) -> Vec<Arc<AtomicUsize>> {
    let counters = shards
        .iter()
        .map(|shard| {
            let count = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&count);
            work.connection(shard.as_str()).unwrap().set_instrumentation(
                move |event: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::StartQuery { .. } = event {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                },
            );
            count
        })
        .collect::<Vec<_>>();
    // A connection handed out (to set the instrumentation) is switched back to its
    // logical shard on its next use: run that use now, so that only the statements under
    // test are counted.
    let _ = orders::table.count().all_shards().count(&mut *work).unwrap();
    counters.iter().for_each(|c| c.store(0, Ordering::SeqCst));
    counters
}

#[test]
fn a_get_by_encoded_id_asks_exactly_one_shard() {
    let shards = Shards::with(4, |b| b.encoded_ids(IdLayout::default()));
    let ids = ShardEncodedIds::new(IdLayout::default(), 0).unwrap();
    let mut made = Vec::new();
    for customer_id in 1..=40_i64 {
        let id = shards.pool.new_id_for_key(&ids, &customer_id).unwrap();
        shards
            .pool
            .insert(Note {
                id,
                customer_id,
                body: format!("note of {customer_id}"),
            })
            .unwrap();
        made.push((id, customer_id));
    }
    let mut work = shards.pool.unit_of_work();
    let counters = count_statements(&mut work, &shards.ids());
    for (id, customer_id) in made {
        let before: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        let found: Sharded<Note> = notes::table
            .find_anywhere(id)
            .select(Note::as_select())
            .get_unique(&mut work)
            .unwrap()
            .unwrap();
        let owner = shards.expected_shard(RoutingKey::Int(customer_id.into()));
        assert_eq!((found.customer_id, found.shard()), (customer_id, &owner));
        let asked: Vec<usize> = counters
            .iter()
            .zip(&before)
            .map(|(c, b)| c.load(Ordering::SeqCst) - b)
            .collect();
        assert_eq!(asked.iter().sum::<usize>(), 1, "one statement in all: {asked:?}");
        let position = shards.ids().iter().position(|s| *s == owner).unwrap();
        assert_eq!(asked[position], 1, "on the owner");
    }
    // An ordinary table asks every shard.
    let before: usize = counters.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    let _ = orders::table.find_anywhere(1_i64).select(orders::id).get_unique::<i64>(&mut work).unwrap();
    let after: usize = counters.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    assert_eq!(after - before, 4);
}

#[test]
fn encoded_ids_without_a_declared_layout_are_a_clear_error() {
    let shards = Shards::new(2);
    let err = notes::table
        .find_anywhere(12_345_i64)
        .select(Note::as_select())
        .get_unique(&shards.pool)
        .unwrap_err();
    assert!(err.to_string().contains("encoded_ids"), "{err}");
}

#[test]
fn children_of_a_loaded_parent_are_read_from_its_shard_only() {
    let shards = Shards::new(4);
    let parent = customer(7);
    shards.pool.insert(&parent).unwrap();
    shards.pool.insert_all((1..=5).map(|i| order(700 + i, 7))).unwrap();
    // A stray child on another shard must not be seen.
    shards.plant_order(shards.other_shard(7).as_str(), &order(799, 7));
    let children: Vec<Order> = Order::belonging_to(&parent)
        .select(Order::as_select())
        .order(orders::id)
        .on_shard_of(&parent)
        .load(&shards.pool)
        .unwrap();
    let ids: Vec<i64> = children.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![701, 702, 703, 704, 705]);
    // Children inserted by key land on the parent's shard.
    let owner = shards.expected_shard(RoutingKey::Int(7));
    assert!(shards.order_ids_on(owner.as_str()).starts_with(&[701, 702, 703, 704, 705]));
}

/// SQLAlchemy's weather/report pattern: a child table with no shard-key column is
/// written and read on its parent's shard, routed through the parent.
#[test]
fn a_child_without_a_key_column_is_written_on_its_parents_shard() {
    diesel::table! {
        /// Not a sharded table: its rows follow the customer they report on.
        reports (id) {
            id -> BigInt,
            customer_ref -> BigInt,
            body -> Text,
        }
    }
    let shards = Shards::new(4);
    for shard in shards.ids() {
        shards
            .direct(shard.as_str())
            .batch_execute("CREATE TABLE reports (id BIGINT PRIMARY KEY, customer_ref BIGINT NOT NULL, body TEXT NOT NULL)")
            .unwrap();
    }
    let parent = customer(7);
    shards.pool.insert(&parent).unwrap();
    let written = diesel::insert_into(reports::table)
        .values((reports::id.eq(1), reports::customer_ref.eq(parent.id), reports::body.eq("sunny")))
        .on_shard_of(&parent)
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(written, 1);
    let owner = shards.expected_shard(RoutingKey::Int(7));
    for shard in shards.ids() {
        let here: i64 = reports::table.count().get_result(&mut shards.direct(shard.as_str())).unwrap();
        assert_eq!(here, i64::from(shard == owner), "shard {shard}");
    }
    let read: Vec<String> = reports::table
        .filter(reports::customer_ref.eq(parent.id))
        .select(reports::body)
        .on_shard_of(&parent)
        .load(&shards.pool)
        .unwrap();
    assert_eq!(read, ["sunny"]);
    // Updates and deletes follow the parent the same way.
    let changed = diesel::update(reports::table.find(1_i64))
        .set(reports::body.eq("rain"))
        .on_shard_of(&parent)
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(changed, 1);
    let gone = diesel::delete(reports::table.find(1_i64)).on_shard_of(&parent).execute(&shards.pool).unwrap();
    assert_eq!(gone, 1);
}

#[test]
fn block_ids_come_from_each_shards_own_range_and_map_back() {
    let shards = Shards::with(3, |b| b.id_chooser(BlockIds::chooser(&shard_names(3))));
    BlockIds::create_table(&shards.pool).unwrap();
    let first = BlockIds::new("notes", 10).unwrap();
    let second = BlockIds::new("notes", 10).unwrap(); // another process, same table
    let mut seen = HashSet::new();
    for customer_id in 1..=60_i64 {
        let scheme = if customer_id % 2 == 0 { &first } else { &second };
        let id = scheme.next_id_for_key(&shards.pool, &customer_id).unwrap();
        assert!(seen.insert(id), "duplicate {id}");
        let owner = shards.expected_shard(RoutingKey::Int(customer_id.into()));
        let position = shards.ids().iter().position(|s| *s == owner).unwrap() as i64;
        assert!(id > position * BLOCK_IDS_PER_SHARD && id <= (position + 1) * BLOCK_IDS_PER_SHARD);
        shards
            .pool
            .insert(Note {
                id,
                customer_id,
                body: String::new(),
            })
            .unwrap();
        // The chooser finds it on its shard (orders' find_anywhere uses the pool's chooser).
        let found = orders::table.find_anywhere(id).shards(&shards.pool).unwrap();
        assert_eq!(found, vec![&owner]);
    }
    // A fresh scheme continues after what was reserved: ids survive restarts.
    let restarted = BlockIds::new("notes", 10).unwrap();
    let next = restarted.next_id(&shards.pool, 0).unwrap();
    assert!(seen.iter().filter(|id| **id <= BLOCK_IDS_PER_SHARD).all(|id| *id < next));
}

/// Every id scheme refuses a shard position the pool does not have, instead of
/// panicking or making an id for a shard that does not exist.
#[test]
fn id_schemes_refuse_a_position_beyond_the_pool() {
    use diesel_sharding::ids::{IdScheme, UuidV7Ids};
    let shards = Shards::new(2);
    BlockIds::create_table(&shards.pool).unwrap();
    let encoded = ShardEncodedIds::new(IdLayout::default(), 0).unwrap();
    let blocks = BlockIds::new("notes", 10).unwrap();
    let uuids = UuidV7Ids::new();
    for position in [2, 255, usize::MAX] {
        let errors = [
            encoded.next_id(&shards.pool, position).map(|_| ()).unwrap_err(),
            blocks.next_id(&shards.pool, position).map(|_| ()).unwrap_err(),
            IdScheme::<Conn>::next_id(&uuids, &shards.pool, position).map(|_| ()).unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(err, Error::UnknownShard { .. }), "{err}");
        }
    }
    assert!(encoded.next_id(&shards.pool, 1).is_ok());
}

/// Shards keep the positions they were migrated at: a pool that lists them in another
/// order is refused at build, naming the shard, before any id or key goes astray.
#[test]
fn a_pool_with_its_shards_reordered_is_refused_at_build() {
    let shards = Shards::new(3);
    let databases = &shards.databases;
    let swapped = |b: diesel_sharding::ShardedPoolBuilder<Conn>| {
        if super::LOGICAL {
            b.shared_pool("main", databases.url(0))
                .logical_shard("s0", "main", databases.namespace(1))
                .logical_shard("s1", "main", databases.namespace(0))
                .logical_shard("s2", "main", databases.namespace(2))
        } else {
            b.shard("s0", databases.url(1)).shard("s1", databases.url(0)).shard("s2", databases.url(2))
        }
    };
    let err = swapped(ShardedPool::<Conn>::builder()).build().unwrap_err();
    match &err {
        Error::ShardMoved { shard, position, recorded } => {
            assert_eq!((shard.as_str(), *position, *recorded), ("s0", 0, 1), "{err}");
        }
        other => panic!("expected ShardMoved, got {other}"),
    }
    // Migrating through the reordered pool is refused too, and changes nothing.
    let unchecked = swapped(ShardedPool::<Conn>::builder()).build_unchecked().unwrap();
    assert!(unchecked.run_pending_migrations(MIGRATIONS).is_err());
    // The original order still builds.
    databases.add_to(ShardedPool::<Conn>::builder()).build().unwrap();
}
