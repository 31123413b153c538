//! Routed, multi-key, pinned and all-shard queries.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, OptionalExtension, RoutingKey, ShardId};

use super::fixture::*;
use crate::common::*;

/// Shards with orders of customers 1..=20, five each (ids `c*100 + 1..=5`), plus, for
/// customer 7, a decoy order 9_999 planted on a shard that does not own 7.
fn seeded() -> Shards {
    let shards = Shards::new(4);
    let rows: Vec<Order> = (1..=20)
        .flat_map(|c| (1..=5).map(move |i| order(c * 100 + i, c)))
        .collect();
    shards.pool.insert_all(&rows).unwrap();
    let decoy = shards.other_shard(7);
    shards.plant_order(decoy.as_str(), &order(9_999, 7));
    shards
}

#[test]
fn for_key_runs_on_the_owning_shard_only() {
    let shards = seeded();
    let rows: Vec<Order> = orders::table
        .order(orders::id)
        .for_key(7_i64)
        .select(Order::as_select())
        .load(&shards.pool)
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
    assert_eq!(
        ids,
        vec![701, 702, 703, 704, 705],
        "no decoy, no other customer"
    );
    let owner = orders::table
        .for_key(7_i64)
        .shard(&shards.pool)
        .unwrap()
        .clone();
    assert_eq!(owner, shards.expected_shard(RoutingKey::Int(7)));
}

#[test]
fn for_key_combines_with_filters_order_limit_and_count() {
    let shards = seeded();
    let top: Vec<i64> = orders::table
        .filter(orders::id.gt(701))
        .for_key(7_i64)
        .order(orders::id.desc())
        .limit(2)
        .select(orders::id)
        .load(&shards.pool)
        .unwrap();
    assert_eq!(top, vec![705, 704]);
    let n: i64 = orders::table
        .for_key(7_i64)
        .count()
        .get_result(&shards.pool)
        .unwrap();
    assert_eq!(n, 5);
    let first: Order = orders::table
        .for_key(7_i64)
        .order(orders::id)
        .select(Order::as_select())
        .first(&shards.pool)
        .unwrap();
    assert_eq!(first.id, 701);
}

#[test]
fn missing_rows_are_not_found_and_optional() {
    let shards = seeded();
    let err = orders::table
        .for_key(999_i64)
        .select(orders::id)
        .first::<i64>(&shards.pool)
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(
        err.shard(),
        Some(&shards.expected_shard(RoutingKey::Int(999)))
    );
    let none = orders::table
        .for_key(999_i64)
        .select(orders::id)
        .first::<i64>(&shards.pool)
        .optional()
        .unwrap();
    assert_eq!(none, None);
}

#[test]
fn for_keys_gives_each_shard_only_its_keys_and_tags_rows() {
    let shards = seeded();
    let rows: Vec<Sharded<Order>> = orders::table
        .for_keys([7_i64, 8, 9, 10])
        .select(Order::as_select())
        .load(&shards.pool)
        .unwrap();
    let mut ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
    ids.sort();
    let expected: Vec<i64> = (7..=10)
        .flat_map(|c| (1..=5).map(move |i| c * 100 + i))
        .collect();
    assert_eq!(
        ids, expected,
        "no decoy 9999 although its shard was queried for other keys"
    );
    for row in &rows {
        assert_eq!(
            row.shard(),
            &shards.expected_shard(RoutingKey::Int(row.customer_id.into()))
        );
    }
    let none: Vec<Sharded<Order>> = orders::table
        .for_keys(Vec::<i64>::new())
        .select(Order::as_select())
        .load(&shards.pool)
        .unwrap();
    assert!(none.is_empty());
}

/// `for_keys` fails fast by default; `allow_partial()` returns the healthy shards' rows
/// with the failing shard named, as a fan-out does.
#[test]
fn for_keys_allows_a_partial_result_when_asked() {
    let shards = seeded();
    let keys = [7_i64, 8, 9, 10];
    let broken = shards.expected_shard(RoutingKey::Int(7));
    shards.direct(broken.as_str()).batch_execute("DROP TABLE orders").unwrap();
    let err = orders::table
        .for_keys(keys)
        .select(orders::id)
        .load::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(&err, Error::FanOut { failures } if failures.len() == 1 && failures[0].shard == broken), "{err}");
    let (rows, failures) = orders::table
        .for_keys(keys)
        .select(orders::id)
        .allow_partial()
        .load::<i64>(&shards.pool)
        .unwrap()
        .into_parts();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].shard, broken);
    let healthy: Vec<i64> = keys
        .iter()
        .filter(|k| shards.expected_shard(RoutingKey::Int((**k).into())) != broken)
        .flat_map(|c| (1..=5).map(move |i| c * 100 + i))
        .collect();
    let mut got: Vec<i64> = rows.into_iter().map(Sharded::into_inner).collect();
    got.sort_unstable();
    assert_eq!(got, healthy, "every healthy owning shard's rows");
    let (updated, failures) = diesel::update(orders::table)
        .set(orders::note.eq("partial"))
        .for_keys(keys)
        .allow_partial()
        .execute(&shards.pool)
        .unwrap()
        .into_parts();
    assert_eq!((updated, failures.len()), (healthy.len(), 1));
}

/// `for_keys(..).limit(n)` would give n rows per shard: refused before anything runs,
/// unless asked for with `per_shard_limits()`.
#[test]
fn for_keys_refuses_a_limit_that_would_apply_per_shard() {
    let shards = seeded();
    let keys = [7_i64, 8, 9, 10];
    let owners: std::collections::BTreeSet<_> = keys
        .iter()
        .map(|k| shards.expected_shard(RoutingKey::Int((*k).into())))
        .collect();
    let err = orders::table
        .for_keys(keys)
        .select(orders::id)
        .order(orders::id)
        .limit(2)
        .load::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::PerShardLimit { clause: "LIMIT" }), "{err}");
    let per_shard = orders::table
        .for_keys(keys)
        .select(orders::id)
        .order(orders::id)
        .limit(2)
        .per_shard_limits()
        .load::<i64>(&shards.pool)
        .unwrap();
    assert_eq!(per_shard.len(), 2 * owners.len(), "two from each owning shard");
}

/// `explain_route` names the shards a query will touch, and why, and runs nothing.
#[test]
fn explain_route_names_the_shards_and_the_reason_without_running_sql() {
    let shards = seeded();
    let pool = &shards.pool;
    let before: u64 = pool.stats().iter().map(|s| s.statements).sum();
    let owner = shards.expected_shard(RoutingKey::Int(7));
    let keyed = orders::table.for_key(7_i64).explain_route(pool).unwrap();
    assert_eq!(keyed.shards, std::slice::from_ref(&owner));
    let text = keyed.to_string();
    assert!(text.starts_with("key 7 (integer) -> hash router (stable hash 0x"), "{text}");
    let n = shards.ids().len();
    let position = shards.ids().iter().position(|id| *id == owner).unwrap();
    assert!(text.contains(&format!("jump hash over {n} buckets = {position}) -> position {position} of {n}")), "{text}");
    assert_eq!(pool.explain_key(&7_i64).unwrap(), keyed, "the key explains as its query does");
    assert!(text.ends_with(&format!("-> shard {owner}")), "{text}");
    let pinned = orders::table.set_shard("s2").explain_route(pool).unwrap();
    assert_eq!((pinned.shards.as_slice(), pinned.to_string().as_str()), ([ShardId::from("s2")].as_slice(), "pinned with set_shard -> shards s2"));
    let all = orders::table.all_shards().explain_route(pool).unwrap();
    assert_eq!(all.shards, shards.ids());
    let some = orders::table.for_keys([7_i64, 8]).explain_route(pool).unwrap();
    let mut expected: Vec<ShardId> = [7, 8].iter().map(|k| shards.expected_shard(RoutingKey::Int(*k))).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(some.shards, expected);
    assert!(some.to_string().contains(&format!("-> {owner}")), "{some}");
    let err = orders::table.set_shard("nowhere").explain_route(pool).unwrap_err();
    assert!(matches!(err, Error::UnknownShard { .. }), "{err}");
    let after: u64 = pool.stats().iter().map(|s| s.statements).sum();
    assert_eq!(after, before, "nothing ran");
}

#[test]
fn set_shard_pins_any_query_to_one_shard() {
    let shards = seeded();
    let decoy = shards.other_shard(7);
    let pinned: Vec<i64> = orders::table
        .filter(orders::customer_id.eq(7))
        .select(orders::id)
        .set_shard(&decoy)
        .load(&shards.pool)
        .unwrap();
    assert_eq!(pinned, vec![9_999], "only the decoy lives there");
    let direct_count = shards.order_ids_on(decoy.as_str()).len() as i64;
    let n: i64 = orders::table
        .count()
        .set_shard(decoy.as_str())
        .get_result(&shards.pool)
        .unwrap();
    assert_eq!(n, direct_count);

    let err = orders::table
        .count()
        .set_shard("nope")
        .get_result::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownShard { .. }), "{err}");
    assert!(
        err.to_string().contains("`s0`"),
        "lists the known shards: {err}"
    );
}

#[test]
fn all_shards_counts_each_shard_and_concatenates_rows() {
    let shards = seeded();
    let counts = orders::table
        .count()
        .all_shards()
        .get_result_per_shard::<i64>(&shards.pool)
        .unwrap();
    assert_eq!(counts.len(), 4);
    for count in &counts {
        assert_eq!(
            **count as usize,
            shards.order_ids_on(count.shard().as_str()).len()
        );
    }
    assert_eq!(counts.iter().map(|c| **c).sum::<i64>(), 101);

    let sevens: Vec<Sharded<i64>> = orders::table
        .filter(orders::customer_id.eq(7))
        .select(orders::id)
        .all_shards()
        .load(&shards.pool)
        .unwrap();
    assert_eq!(sevens.len(), 6, "five real orders and the decoy");
    let decoy = sevens.iter().find(|r| ***r == 9_999).unwrap();
    assert_eq!(decoy.shard(), &shards.other_shard(7));
}

#[test]
fn routed_updates_touch_only_the_keys_rows_on_its_shard() {
    let shards = seeded();
    let n = orders::table
        .for_key(7_i64)
        .filter(orders::id.le(702))
        .update()
        .set(orders::note.eq("changed"))
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 2);
    let n = diesel::update(orders::table.filter(orders::id.eq(703)))
        .set(orders::note.eq("changed"))
        .for_key(7_i64)
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 1);

    let owner = shards.expected_shard(RoutingKey::Int(7));
    let changed: Vec<i64> = orders::table
        .filter(orders::note.eq("changed"))
        .select(orders::id)
        .order(orders::id)
        .load(&mut shards.direct(owner.as_str()))
        .unwrap();
    assert_eq!(changed, vec![701, 702, 703]);
    for shard in shards.ids().iter().filter(|s| **s != owner) {
        let elsewhere: i64 = orders::table
            .filter(orders::note.eq("changed"))
            .count()
            .get_result(&mut shards.direct(shard.as_str()))
            .unwrap();
        assert_eq!(elsewhere, 0, "shard {shard}");
    }
}

#[test]
fn routed_deletes_touch_only_the_keys_rows() {
    let shards = seeded();
    let n = diesel::delete(orders::table.filter(orders::id.eq(701)))
        .for_key(7_i64)
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 1);
    let n = orders::table
        .for_key(7_i64)
        .delete()
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 4, "the decoy on another shard survives");
    let decoy = shards.other_shard(7);
    assert!(shards.order_ids_on(decoy.as_str()).contains(&9_999));
    let total: usize = shards
        .ids()
        .iter()
        .map(|s| shards.order_ids_on(s.as_str()).len())
        .sum();
    assert_eq!(total, 101 - 5);
}

#[test]
fn multi_key_updates_and_all_shard_deletes_sum_their_counts() {
    let shards = seeded();
    let n = diesel::update(orders::table)
        .set(orders::amount_cents.eq(0))
        .for_keys([1_i64, 2, 3])
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 15);
    let per_shard = diesel::delete(orders::table.filter(orders::amount_cents.eq(0)))
        .all_shards()
        .execute_per_shard(&shards.pool)
        .unwrap();
    assert_eq!(per_shard.len(), 4);
    assert_eq!(per_shard.iter().map(|n| **n).sum::<usize>(), 15);
    for count in &per_shard {
        let expected = [1_i64, 2, 3]
            .iter()
            .filter(|c| shards.expected_shard(RoutingKey::Int((**c).into())) == *count.shard())
            .count()
            * 5;
        assert_eq!(**count, expected, "shard {}", count.shard());
    }
}

#[test]
fn a_row_loaded_from_several_shards_is_updated_on_its_own_shard() {
    let shards = seeded();
    let mut rows: Vec<Sharded<Order>> = orders::table
        .for_keys([3_i64, 4])
        .select(Order::as_select())
        .load(&shards.pool)
        .unwrap();
    let row = rows.iter_mut().find(|r| r.id == 402).unwrap();
    row.note = "edited".into();
    let n = diesel::update(orders::table.find(row.id))
        .set(orders::note.eq(&row.note))
        .set_shard(row.shard())
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(n, 1);
    let owner = shards.expected_shard(RoutingKey::Int(4));
    let note: String = orders::table
        .find(402_i64)
        .select(orders::note)
        .first(&mut shards.direct(owner.as_str()))
        .unwrap();
    assert_eq!(note, "edited");
}

#[test]
fn text_keys_route_queries_and_a_missing_key_is_an_error() {
    let shards = Shards::new(3);
    for (id, tenant) in [(1, "acme"), (2, "globex"), (3, "acme")] {
        shards
            .pool
            .insert(&Event {
                id,
                tenant: Some(tenant.into()),
                body: format!("e{id}"),
            })
            .unwrap();
    }
    let acme: Vec<i64> = events::table
        .select(events::id)
        .order(events::id)
        .for_key(Some("acme"))
        .load(&shards.pool)
        .unwrap();
    assert_eq!(acme, vec![1, 3]);
    let err = events::table
        .select(events::id)
        .for_key(None::<&str>)
        .load::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::MissingKey { what: "query" }), "{err}");
}

#[test]
fn a_sharded_connection_runs_routed_queries_too() {
    let shards = seeded();
    let mut work = shards.pool.unit_of_work();
    let n: i64 = orders::table
        .for_key(7_i64)
        .count()
        .get_result(&mut work)
        .unwrap();
    let m: i64 = orders::table
        .for_key(7_i64)
        .count()
        .get_result(&mut work)
        .unwrap();
    assert_eq!((n, m), (5, 5));
    assert_eq!(
        work.held_shards().cloned().collect::<Vec<_>>(),
        vec![shards.expected_shard(RoutingKey::Int(7))],
        "one connection, to the owning shard only"
    );
}
