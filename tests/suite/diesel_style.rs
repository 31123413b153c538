//! The suite written the way a Diesel user writes Diesel code: dynamic filters on boxed
//! queries, joins, `load::<T>`, plain transaction closures, `ORDER BY` + `LIMIT` across
//! shards and keyset pages, through the public API only.

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, RoutingKey, TransactionError};

use super::fixture::*;
use crate::common::*;

/// The shards' Diesel backend.
type Db = <Conn as diesel::Connection>::Backend;

/// 20 customers with 5 orders each, on 4 shards.
fn shop() -> Shards {
    let shards = Shards::new(4);
    let customers: Vec<Customer> = (1..=20).map(customer).collect();
    shards.pool.insert_all(&customers).unwrap();
    let orders: Vec<Order> = (1..=20)
        .flat_map(|c| (1..=5).map(move |i| order(c * 100 + i, c)))
        .collect();
    shards.pool.insert_all(&orders).unwrap();
    shards
}

/// What a search form sends: every field optional.
#[derive(Default)]
struct Search {
    min_cents: Option<i64>,
    note_like: Option<&'static str>,
}

/// Builds the dynamic filter the way Diesel's guide does, with `into_boxed`.
fn orders_matching<'a>(search: &Search) -> orders::BoxedQuery<'a, Db> {
    let mut query = orders::table.into_boxed();
    if let Some(min) = search.min_cents {
        query = query.filter(orders::amount_cents.ge(min));
    }
    if let Some(pattern) = search.note_like {
        query = query.filter(orders::note.like(pattern));
    }
    query
}

#[test]
fn boxed_dynamic_filters_run_on_one_shard_or_on_all() {
    let shards = shop();
    let search = Search {
        min_cents: Some(50_000),
        ..Search::default()
    };
    // Routed to customer 7's shard by a filter on the key, pinned with `on_shard_of`.
    let owner = customer(7);
    let mine: Vec<Order> = orders_matching(&search)
        .filter(orders::customer_id.eq(owner.id))
        .order(orders::id)
        .select(Order::as_select())
        .on_shard_of(&owner)
        .load::<Order>(&shards.pool)
        .unwrap();
    let expected: Vec<i64> = (701..=705)
        .filter(|id| order(*id, 7).amount_cents >= 50_000)
        .collect();
    assert_eq!(mine.iter().map(|o| o.id).collect::<Vec<_>>(), expected);
    // Or the boxed query routed by key directly: `for_key` adds the key filter.
    let direct: Vec<i64> = orders_matching(&search)
        .select(orders::id)
        .order(orders::id)
        .for_key(owner.id)
        .load::<i64>(&shards.pool)
        .unwrap();
    assert_eq!(direct, expected);
    // Or routed by key first, then boxed and filtered dynamically.
    let mut keyed = orders::table.select(orders::id).for_key(7_i64).into_boxed();
    if let Some(min) = search.min_cents {
        keyed = keyed.filter(orders::amount_cents.ge(min));
    }
    let keyed: Vec<i64> = keyed.order(orders::id).load::<i64>(&shards.pool).unwrap();
    assert_eq!(keyed, expected);

    // The same boxed filter on every shard.
    let everywhere: Vec<Sharded<i64>> = orders_matching(&Search {
        note_like: Some("order-10%"),
        ..Search::default()
    })
    .select(orders::id)
    .all_shards()
    .load::<i64>(&shards.pool)
    .unwrap();
    let mut ids: Vec<i64> = everywhere.into_iter().map(Sharded::into_inner).collect();
    ids.sort_unstable();
    let expected: Vec<i64> = (1..=20)
        .flat_map(|c| (1..=5).map(move |i| c * 100 + i))
        .filter(|id| format!("order-{id}").starts_with("order-10"))
        .collect();
    assert_eq!(ids, expected);
}

#[test]
fn joins_run_on_the_shard_that_holds_both_sides() {
    let shards = shop();
    let owner = customer(9);
    let rows: Vec<(i64, String)> = orders::table
        .inner_join(customers::table)
        .filter(customers::id.eq(owner.id))
        .select((orders::id, customers::name))
        .order(orders::id)
        .on_shard_of(&owner)
        .load::<(i64, String)>(&shards.pool)
        .unwrap();
    let expected: Vec<(i64, String)> = (901..=905).map(|id| (id, owner.name.clone())).collect();
    assert_eq!(rows, expected);
    // Across shards, each joins its own rows: as many rows as orders.
    let per_region: Vec<(String, i64)> = orders::table
        .inner_join(customers::table)
        .group_by(customers::region)
        .select((customers::region, diesel::dsl::count_star()))
        .all_shards()
        .merge_groups(&shards.pool, |a, b| a + b)
        .unwrap();
    assert_eq!(per_region.iter().map(|(_, n)| n).sum::<i64>(), 100);
}

#[test]
fn loads_take_the_row_type_alone_as_in_diesel() {
    let shards = shop();
    let count = orders::table.count().for_key(3_i64).get_result::<i64>(&shards.pool).unwrap();
    assert_eq!(count, 5);
    let first = orders::table
        .order(orders::id)
        .select(Order::as_select())
        .for_key(3_i64)
        .first::<Order>(&shards.pool)
        .unwrap();
    assert_eq!(first.id, 301);
    let total = orders::table.count().all_shards().count(&shards.pool).unwrap();
    assert_eq!(total, 100);
    let updated = diesel::update(orders::table.filter(orders::customer_id.eq(3)))
        .set(orders::note.eq("seen"))
        .for_key(3_i64)
        .execute(&shards.pool)
        .unwrap();
    assert_eq!(updated, 5);
    let mut work = shards.pool.unit_of_work();
    let notes = orders::table
        .select(orders::note)
        .for_key(3_i64)
        .load::<String>(&mut work)
        .unwrap();
    assert_eq!(notes, vec!["seen"; 5]);
}

#[test]
fn transactions_take_plain_diesel_closures() {
    let shards = shop();
    let owner = customer(4);
    let moved = shards
        .pool
        .transaction_for_key(&owner.id, |conn| {
            diesel::delete(orders::table.filter(orders::id.eq(401))).execute(conn)?;
            diesel::update(orders::table.filter(orders::id.eq(402)))
                .set(orders::amount_cents.eq(0))
                .execute(conn)
        })
        .unwrap();
    assert_eq!(moved, 1);
    // A failing statement rolls the whole transaction back, with Diesel's own error.
    let err = shards
        .pool
        .transaction_for_key(&owner.id, |conn| {
            diesel::delete(orders::table.filter(orders::id.eq(403))).execute(conn)?;
            diesel::insert_into(orders::table).values(&order(404, 4)).execute(conn)
        })
        .unwrap_err();
    assert!(
        matches!(err, TransactionError::Transaction(diesel::result::Error::DatabaseError(..))),
        "{err}"
    );
    let left: Vec<i64> = orders::table
        .select(orders::id)
        .order(orders::id)
        .for_key(owner.id)
        .load(&shards.pool)
        .unwrap();
    assert_eq!(left, [402, 403, 404, 405], "403 is back: the delete rolled back");
    let unknown = shards.pool.transaction("nowhere", |conn| {
        orders::table.count().get_result::<i64>(conn)
    });
    assert!(matches!(unknown, Err(TransactionError::Sharding(Error::UnknownShard { .. }))));
}

#[test]
fn order_by_and_limit_across_shards_give_the_global_answer_or_an_error() {
    let shards = shop();
    // The natural spelling would give five rows per shard: refused, with the way out.
    let err = orders::table
        .select(orders::id)
        .order(orders::id.desc())
        .limit(5)
        .all_shards()
        .load::<i64>(&shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::PerShardLimit { .. }), "{err}");
    // The merge gives the global top five.
    let top: Vec<i64> = orders::table
        .select(orders::id)
        .order(orders::id.desc())
        .all_shards()
        .merge_by(|id: &i64| std::cmp::Reverse(*id))
        .limit(5)
        .load(&shards.pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    assert_eq!(top, [2005, 2004, 2003, 2002, 2001]);
}

#[test]
fn keyset_pages_resume_after_the_last_key() {
    let shards = shop();
    let page = |after: Option<i64>| -> Vec<i64> {
        let pages = orders::table
            .select(orders::id)
            .all_shards()
            .keyset(orders::id, |id: &i64| *id);
        match after {
            None => pages.first_page(30).load(&shards.pool),
            Some(last) => pages.after(last, 30).load(&shards.pool),
        }
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect()
    };
    let mut all: Vec<i64> = Vec::new();
    let mut last = None;
    loop {
        let rows = page(last);
        all.extend(&rows);
        if rows.len() < 30 {
            break;
        }
        last = rows.last().copied();
    }
    let mut expected: Vec<i64> = (1..=20)
        .flat_map(|c| (1..=5).map(move |i| c * 100 + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(all, expected);
    // Every row sits on the shard its customer routes to.
    let tagged: Vec<Sharded<Order>> = orders::table
        .select(Order::as_select())
        .all_shards()
        .keyset(orders::id, |o: &Order| o.id)
        .first_page(100)
        .load(&shards.pool)
        .unwrap();
    for row in &tagged {
        assert_eq!(row.shard(), &shards.expected_shard(RoutingKey::Int(row.customer_id.into())));
    }
}
