//! Fan-out: every shape, checked against the same rows in one unsharded database.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::dsl::{count_star, max, min, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, FindAnywhereDsl, FnRouter, RoutingKey, ShardId};

use super::fixture::*;
use crate::common::*;

/// 1,000 orders of 50 customers on 4 shards, and the same rows in one unsharded
/// database (`reference`, queried directly).
struct Data {
    shards: Shards,
    reference: Shards,
    rows: Vec<Order>,
}

fn data() -> Data {
    let shards = Shards::new(4);
    let reference = Shards::new(1);
    let rows: Vec<Order> = (1..=1_000).map(|i| order(i, i % 50 + 1)).collect();
    shards.pool.insert_all(&rows).unwrap();
    diesel::insert_into(orders::table)
        .values(&rows)
        .execute(&mut reference.direct("s0"))
        .unwrap();
    let customers: Vec<Customer> = (1..=50).map(customer).collect();
    shards.pool.insert_all(&customers).unwrap();
    diesel::insert_into(customers::table)
        .values(&customers)
        .execute(&mut reference.direct("s0"))
        .unwrap();
    Data {
        shards,
        reference,
        rows,
    }
}

#[test]
fn load_concatenates_every_shards_rows_tagged() {
    let d = data();
    let rows: Vec<Sharded<Order>> = orders::table
        .select(Order::as_select())
        .all_shards()
        .load(&d.shards.pool)
        .unwrap();
    assert_eq!(rows.len(), 1_000);
    for shard in d.shards.ids() {
        let mut mine: Vec<i64> = rows.iter().filter(|r| r.shard() == &shard).map(|r| r.id).collect();
        mine.sort();
        assert_eq!(mine, d.shards.order_ids_on(shard.as_str()), "shard {shard}");
    }
}

#[test]
fn merged_order_by_limit_offset_equals_the_unsharded_answer() {
    let d = data();
    for (lo, offset, limit) in [(0, 0, 10), (20_000, 7, 50), (0, 95, 20), (90_000, 0, 500)] {
        let merged: Vec<Sharded<Order>> = orders::table
            .filter(orders::amount_cents.ge(lo))
            .order((orders::amount_cents, orders::id))
            .select(Order::as_select())
            .all_shards()
            .merge_by(|o: &Order| (o.amount_cents, o.id))
            .limit(limit)
            .offset(offset)
            .load(&d.shards.pool)
            .unwrap();
        let expected: Vec<Order> = orders::table
            .filter(orders::amount_cents.ge(lo))
            .order((orders::amount_cents, orders::id))
            .limit(i64::from(limit))
            .offset(i64::from(offset))
            .select(Order::as_select())
            .load(&mut d.reference.direct("s0"))
            .unwrap();
        let got: Vec<Order> = merged.into_iter().map(Sharded::into_inner).collect();
        assert_eq!(got, expected, "amount >= {lo}, offset {offset}, limit {limit}");
    }
    // Descending, through Reverse.
    let top: Vec<i64> = orders::table
        .select(orders::id)
        .order(orders::id.desc())
        .all_shards()
        .merge_by(|id: &i64| Reverse(*id))
        .limit(5)
        .load(&d.shards.pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    assert_eq!(top, vec![1_000, 999, 998, 997, 996]);
}

/// `.order(..).limit(n)` on a fan-out would give n rows per shard: it is refused with
/// advice before anything runs, the merge gives the global answer, and
/// `per_shard_limits()` asks for the per-shard rows on purpose.
#[test]
fn a_limit_that_would_apply_per_shard_is_refused_with_advice() {
    let d = data();
    let pool = &d.shards.pool;
    let before: u64 = pool.stats().iter().map(|s| s.statements).sum();
    let top5 = || orders::table.select(orders::id).order(orders::id.desc());
    let err = top5().limit(5).all_shards().load::<i64>(pool).unwrap_err();
    assert!(matches!(err, Error::PerShardLimit { clause: "LIMIT" }), "{err}");
    assert!(err.to_string().contains("merge_by"), "{err}");
    // After `.all_shards()` it is the same per-shard clause.
    let err = top5().all_shards().limit(5).offset(5).load::<i64>(pool).unwrap_err();
    assert!(matches!(err, Error::PerShardLimit { .. }), "{err}");
    let err = top5().limit(5).all_shards().get_unique::<i64>(pool).unwrap_err();
    assert!(matches!(err, Error::PerShardLimit { .. }), "{err}");
    let after: u64 = pool.stats().iter().map(|s| s.statements).sum();
    assert_eq!(after, before, "nothing ran");

    // A LIMIT inside a subquery is the query's own business.
    // (`EXISTS`: MariaDB refuses a LIMIT inside `IN (..)`.)
    let any_customer = customers::table.select(customers::id).limit(1);
    let all = orders::table
        .select(orders::id)
        .filter(diesel::dsl::exists(any_customer))
        .all_shards()
        .load::<i64>(pool)
        .unwrap();
    assert_eq!(all.len(), 1_000, "every order: each shard has customers");

    let global: Vec<i64> = top5()
        .all_shards()
        .merge_by(|id: &i64| Reverse(*id))
        .limit(5)
        .load(pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    assert_eq!(global, [1_000, 999, 998, 997, 996]);
    let per_shard = top5().limit(5).all_shards().per_shard_limits().load::<i64>(pool).unwrap();
    assert_eq!(per_shard.len(), 5 * d.shards.ids().len(), "five from each shard");
}

/// Keyset pages walk every row once, in key order, across shards; each page asks each
/// shard for at most a page of rows, however deep the page.
#[test]
fn keyset_pages_walk_every_row_once_at_the_cost_of_one_page_each() {
    let d = data();
    let pool = &d.shards.pool;
    let shards = d.shards.ids().len() as u64;
    let size = 37_u32;
    let pages = || {
        orders::table
            .filter(orders::amount_cents.ge(0))
            .select(Order::as_select())
            .all_shards()
            .keyset(orders::id, |o: &Order| o.id)
    };
    let rows_read = || pool.stats().iter().map(|s| s.rows).sum::<u64>();
    let mut seen: Vec<i64> = Vec::new();
    let mut page_count = 0;
    let mut last: Option<i64> = None;
    loop {
        let before = rows_read();
        let page: Vec<Order> = match last {
            None => pages().first_page(size).load(pool),
            Some(key) => pages().after(key, size).load(pool),
        }
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
        let read = rows_read() - before;
        assert!(read <= shards * u64::from(size), "page {page_count} read {read} rows");
        page_count += 1;
        seen.extend(page.iter().map(|o| o.id));
        if page.len() < size as usize {
            break;
        }
        last = page.last().map(|o| o.id);
        assert!(page_count < 1_000, "the pages end");
    }
    let expected: Vec<i64> = (1..=1_000).collect();
    assert_eq!(seen, expected, "every row once, in key order");
    assert_eq!(page_count, 1_000 / size as usize + 1);

    // Greatest key first: `WHERE id < last ORDER BY id DESC`, the same cost per page.
    let mut seen: Vec<i64> = Vec::new();
    let mut last: Option<i64> = None;
    loop {
        let before = rows_read();
        let page: Vec<i64> = match last {
            None => pages().descending().first_page(size).load(pool),
            Some(key) => pages().descending().after(key, size).load(pool),
        }
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
        let read = rows_read() - before;
        assert!(read <= shards * u64::from(size), "a descending page read {read} rows");
        seen.extend(&page);
        if page.len() < size as usize {
            break;
        }
        last = page.last().copied();
        assert!(seen.len() <= 1_000, "the pages end");
    }
    let expected: Vec<i64> = (1..=1_000).rev().collect();
    assert_eq!(seen, expected, "every row once, greatest key first");
}

#[test]
fn a_merge_key_that_disagrees_with_order_by_is_caught() {
    let d = data();
    let err = orders::table
        .select(orders::id)
        .order(orders::id.desc())
        .all_shards()
        .merge_by(|id: &i64| *id)
        .limit(5)
        .load(&d.shards.pool)
        .unwrap_err();
    assert!(matches!(err, Error::OutOfOrder { .. }), "{err}");
}

#[test]
fn aggregates_equal_the_unsharded_aggregates() {
    let d = data();
    let pool = &d.shards.pool;
    let mut reference = d.reference.direct("s0");
    for threshold in [0_i64, 25_000, 99_000, 200_000] {
        let count = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .count()
            .all_shards()
            .count(pool)
            .unwrap();
        let expected: i64 = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .count()
            .get_result(&mut reference)
            .unwrap();
        assert_eq!(count, expected, "count over {threshold}");

        let sum_sql = sql::<Nullable<BigInt>>(&sum_sql("amount_cents"));
        let total: Option<i64> = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .select(sum_sql.clone())
            .all_shards()
            .sum(pool)
            .unwrap();
        let expected: Option<i64> = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .select(sum_sql.clone())
            .get_result(&mut reference)
            .unwrap();
        assert_eq!(total, expected, "sum over {threshold}");

        let lowest: Option<i64> = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .select(min(orders::amount_cents))
            .all_shards()
            .min(pool)
            .unwrap();
        let highest: Option<i64> = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .select(max(orders::amount_cents))
            .all_shards()
            .max(pool)
            .unwrap();
        let expected: (Option<i64>, Option<i64>) = orders::table
            .filter(orders::amount_cents.gt(threshold))
            .select((min(orders::amount_cents), max(orders::amount_cents)))
            .get_result(&mut reference)
            .unwrap();
        assert_eq!((lowest, highest), expected, "min/max over {threshold}");
    }
}

/// Diesel's own `sum` of a `BigInt` column is `Nullable<Numeric>`: with the `numeric`
/// feature it sums across shards as `BigDecimal`, and averages from `(sum, count)`.
#[cfg(feature = "numeric")]
#[test]
fn diesel_numeric_sums_and_averages_equal_the_unsharded_ones() {
    use bigdecimal::BigDecimal;
    use diesel::dsl::{count, sum};
    let d = data();
    let pool = &d.shards.pool;
    let mut reference = d.reference.direct("s0");
    for threshold in [0_i64, 50_000, 200_000] {
        let filtered = || orders::table.filter(orders::amount_cents.gt(threshold));
        let total: Option<BigDecimal> = filtered()
            .select(sum(orders::amount_cents))
            .all_shards()
            .sum(pool)
            .unwrap();
        let expected: Option<BigDecimal> = filtered()
            .select(sum(orders::amount_cents))
            .get_result(&mut reference)
            .unwrap();
        assert_eq!(total, expected, "sum over {threshold}");
        assert_eq!(total.is_none(), threshold == 200_000, "no row over {threshold}");
        let average = filtered()
            .select((sum(orders::amount_cents), count(orders::amount_cents)))
            .all_shards()
            .avg::<BigDecimal>(pool)
            .unwrap();
        let (sum_all, count_all): (Option<BigDecimal>, i64) = filtered()
            .select((sum(orders::amount_cents), count(orders::amount_cents)))
            .get_result(&mut reference)
            .unwrap();
        let expected = sum_all.map(|s| bigdecimal::ToPrimitive::to_f64(&s).unwrap() / count_all as f64);
        assert_eq!(average, expected, "average over {threshold}");
    }
}

#[test]
fn average_is_total_sum_over_total_count_not_an_average_of_averages() {
    let d = data();
    // Customers 1..=5 only: unequal counts per shard make the two averages differ.
    let keys = [1_i64, 2, 3, 4, 5];
    let sum_count = (
        sql::<Nullable<BigInt>>(&sum_sql("amount_cents")),
        diesel::dsl::count(orders::amount_cents),
    );
    let avg = orders::table
        .filter(orders::customer_id.eq_any(keys))
        .select(sum_count.clone())
        .all_shards()
        .avg::<i64>(&d.shards.pool)
        .unwrap()
        .unwrap();
    let subset: Vec<&Order> = d.rows.iter().filter(|o| keys.contains(&o.customer_id)).collect();
    let (sum, n): (Option<i64>, i64) = orders::table
        .filter(orders::customer_id.eq_any(keys))
        .select(sum_count)
        .get_result(&mut d.reference.direct("s0"))
        .unwrap();
    assert_eq!(n as usize, subset.len());
    let expected = sum.unwrap() as f64 / n as f64;
    assert!((avg - expected).abs() < 1e-9, "{avg} vs {expected}");

    let per_shard: Vec<f64> = d
        .shards
        .ids()
        .iter()
        .filter_map(|shard| {
            let here: Vec<&&Order> = subset
                .iter()
                .filter(|o| d.shards.expected_shard(RoutingKey::Int(o.customer_id.into())) == *shard)
                .collect();
            (!here.is_empty()).then(|| here.iter().map(|o| o.amount_cents as f64).sum::<f64>() / here.len() as f64)
        })
        .collect();
    let average_of_averages = per_shard.iter().sum::<f64>() / per_shard.len() as f64;
    assert!((average_of_averages - expected).abs() > 1e-6, "the data must tell the two apart");
}

#[test]
fn group_by_results_merge_by_key() {
    let d = data();
    let merged: Vec<(String, i64)> = customers::table
        .group_by(customers::region)
        .select((customers::region, count_star()))
        .all_shards()
        .merge_groups(&d.shards.pool, |a, b| a + b)
        .unwrap();
    let expected: Vec<(String, i64)> = customers::table
        .group_by(customers::region)
        .select((customers::region, count_star()))
        .order(customers::region)
        .load(&mut d.reference.direct("s0"))
        .unwrap();
    assert_eq!(merged, expected);
    assert_eq!(merged.len(), 4, "every region spans several shards");
}

#[test]
fn get_by_id_finds_the_row_on_its_shard_and_refuses_duplicates() {
    let d = data();
    let found = orders::table
        .find_anywhere(321_i64)
        .select(Order::as_select())
        .get_unique(&d.shards.pool)
        .unwrap()
        .unwrap();
    assert_eq!(found.id, 321);
    assert_eq!(found.shard(), &d.shards.expected_shard(RoutingKey::Int(found.customer_id.into())));
    let missing: Option<Sharded<Order>> = orders::table
        .find_anywhere(5_000_i64)
        .select(Order::as_select())
        .get_unique(&d.shards.pool)
        .unwrap();
    assert!(missing.is_none());

    // The same id on a second shard is ambiguous, not an arbitrary pick.
    let other = d.shards.other_shard(found.customer_id);
    d.shards.plant_order(other.as_str(), &order(321, found.customer_id));
    let err = orders::table
        .find_anywhere(321_i64)
        .select(Order::as_select())
        .get_unique(&d.shards.pool)
        .unwrap_err();
    match &err {
        Error::Ambiguous { shards, .. } => {
            assert_eq!(shards.len(), 2);
            assert!(shards.contains(found.shard()) && shards.contains(&other));
        }
        other => panic!("expected Ambiguous, got {other}"),
    }
}

#[test]
fn find_first_returns_the_row_and_starts_no_shard_after_a_hit() {
    let shards = Shards::new(4);
    let (k0, k3) = (shards.key_on("s0"), shards.key_on("s3"));
    shards.pool.insert(order(1, k0)).unwrap();
    shards.pool.insert(order(2, k3)).unwrap();
    // One shard at a time: the hit on s0 leaves s1..s3 unasked. Checked first, on a
    // quiet pool: a parallel search returns at its hit while shards it no longer waits
    // for may still be finishing (and counting) their statements.
    let before: Vec<u64> = shards.pool.stats().iter().map(|s| s.statements).collect();
    let found = orders::table
        .find_anywhere(1_i64)
        .select(Order::as_select())
        .sequential()
        .find_first(&shards.pool)
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.shard().as_str()), (1, "s0"));
    let after: Vec<u64> = shards.pool.stats().iter().map(|s| s.statements).collect();
    let asked: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(asked, [1, 0, 0, 0]);
    let found = orders::table
        .find_anywhere(2_i64)
        .select(Order::as_select())
        .find_first(&shards.pool)
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.shard().as_str()), (2, "s3"));
    let missing = orders::table
        .find_anywhere(99_i64)
        .select(Order::as_select())
        .find_first(&shards.pool)
        .unwrap();
    assert!(missing.is_none());
}

/// A search that asks every shard at once on a pool with fewer workers than shards (the
/// caller then runs the tasks no worker is free for) finds every row on its shard.
#[test]
fn a_search_of_every_shard_with_one_worker_finds_rows_on_every_shard() {
    let shards = Shards::with(4, |b| b.worker_threads(1));
    for (id, shard) in ["s0", "s1", "s2", "s3"].into_iter().enumerate() {
        let id = id as i64 + 1;
        shards.pool.insert(order(id, shards.key_on(shard))).unwrap();
    }
    for round in 0..20 {
        for (id, shard) in (1..=4).zip(["s0", "s1", "s2", "s3"]) {
            let found = orders::table
                .find_anywhere(id)
                .select(Order::as_select())
                .max_parallelism(4)
                .find_first(&shards.pool)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: order {id} not found"));
            assert_eq!((found.id, found.shard().as_str()), (id, shard));
        }
    }
}

#[test]
fn boxed_and_borrowing_queries_fan_out() {
    let d = data();
    let wanted: Vec<i64> = vec![3, 5, 8];
    // Borrows `wanted`; boxed, as dynamic filters are built.
    let mut query = orders::table.select(orders::id).into_boxed();
    query = query.filter(orders::customer_id.eq_any(&wanted));
    let mut ids: Vec<i64> = query
        .all_shards()
        .load::<i64>(&d.shards.pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    ids.sort_unstable();
    let mut expected: Vec<i64> = d
        .rows
        .iter()
        .filter(|o| wanted.contains(&o.customer_id))
        .map(|o| o.id)
        .collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // A join, fanned out: each shard joins its own rows.
    let joined: i64 = orders::table
        .inner_join(customers::table.on(customers::id.eq(orders::customer_id)))
        .filter(customers::id.eq_any(&wanted))
        .count()
        .all_shards()
        .count(&d.shards.pool)
        .unwrap();
    assert_eq!(joined, expected.len() as i64);
}

#[test]
fn a_pool_wide_default_deadline_applies_to_calls_without_their_own() {
    let shards = Shards::with(2, |b| b.default_timeout(Duration::from_secs(30)));
    assert_eq!(shards.pool.default_timeout(), Some(Duration::from_secs(30)));
    let k1 = shards.key_on("s1");
    shards.pool.insert(order(1, k1)).unwrap();
    let n: i64 = orders::table
        .for_key(k1)
        .count()
        .get_result(&shards.pool)
        .unwrap();
    assert_eq!(n, 1);
    let total = orders::table.count().all_shards().count(&shards.pool).unwrap();
    assert_eq!(total, 1);
    // Under a deadline, calls run on the pool's workers.
    assert!(shards.pool.worker_threads_started() > 0);
}

/// Two rows with the id on one shard are as ambiguous as one on each of two shards.
#[test]
fn get_unique_refuses_two_rows_on_one_shard() {
    let shards = Shards::new(2);
    // No primary key on this copy: a table where the duplicate can exist.
    shards
        .direct("s1")
        .batch_execute("CREATE TABLE dup_orders (id BIGINT NOT NULL, customer_id BIGINT NOT NULL)")
        .unwrap();
    shards
        .direct("s1")
        .batch_execute("INSERT INTO dup_orders VALUES (9, 1), (9, 2)")
        .unwrap();
    shards
        .direct("s0")
        .batch_execute("CREATE TABLE dup_orders (id BIGINT NOT NULL, customer_id BIGINT NOT NULL)")
        .unwrap();
    #[derive(QueryableByName, Debug)]
    struct Dup {
        #[diesel(sql_type = BigInt)]
        customer_id: i64,
    }
    let err = diesel::sql_query("SELECT customer_id FROM dup_orders WHERE id = 9")
        .all_shards()
        .get_unique::<Dup>(&shards.pool)
        .unwrap_err();
    match &err {
        Error::Ambiguous { shards, .. } => assert_eq!(shards, &[ShardId::from("s1"), ShardId::from("s1")]),
        other => panic!("expected Ambiguous, got {other}"),
    }
    assert!(err.to_string().contains("matched 2 rows"), "{err}");
}

/// `min` and `max` take floats, as `sum` and `avg` do.
#[test]
fn min_and_max_of_floats_equal_the_unsharded_answer() {
    let d = data();
    let expr = |f: &str| sql::<Nullable<diesel::sql_types::Double>>(&as_double(&format!("{f}(amount_cents)")));
    let lowest: Option<f64> = orders::table.select(expr("MIN")).all_shards().min(&d.shards.pool).unwrap();
    let highest: Option<f64> = orders::table.select(expr("MAX")).all_shards().max(&d.shards.pool).unwrap();
    let expected: (Option<f64>, Option<f64>) = orders::table
        .select((expr("MIN"), expr("MAX")))
        .get_result(&mut d.reference.direct("s0"))
        .unwrap();
    assert_eq!((lowest, highest), expected);
    assert!(lowest < highest);
}

#[test]
fn an_id_chooser_narrows_the_shards_asked() {
    // Ids 1..=500 live on s0, the rest on s1, per the chooser; a decoy copy of id 7 on s1
    // is never seen because s1 is not asked.
    let shards = Shards::with(2, |b| {
        b.id_chooser(FnRouter::new(|id: RoutingKey<'_>, shards: &[ShardId]| match id {
            RoutingKey::Int(i) if i <= 500 => Some(shards[0].clone()),
            _ => Some(shards[1].clone()),
        }))
    });
    shards.plant_order("s0", &order(7, 1));
    shards.plant_order("s1", &order(7, 2));
    let found: Sharded<Order> = orders::table
        .find_anywhere(7_i64)
        .select(Order::as_select())
        .get_unique(&shards.pool)
        .unwrap()
        .unwrap();
    assert_eq!((found.shard().as_str(), found.customer_id), ("s0", 1));
    let fan = orders::table.find_anywhere(7_i64);
    assert_eq!(fan.shards(&shards.pool).unwrap(), vec![&ShardId::from("s0")]);
    // The chooser's one candidate is s1, not the pool's first shard.
    let fan = orders::table.find_anywhere(600_i64);
    assert_eq!(fan.shards(&shards.pool).unwrap(), vec![&ShardId::from("s1")]);
}

#[test]
fn partial_mode_returns_the_healthy_shards_rows_and_one_error() {
    let databases = Databases::create(2, super::LOGICAL);
    let pool = databases
        .add_to(ShardedPool::<Conn>::builder())
        .shard("dead", unreachable_url())
        .connection_timeout(Duration::from_millis(300))
        .build_unchecked()
        .unwrap();
    for i in 0..2 {
        let mut conn = databases.direct(i);
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, \
             amount_cents BIGINT NOT NULL, note TEXT NOT NULL)",
        )
        .unwrap();
        diesel::insert_into(orders::table)
            .values(&order(10 + i as i64, 1))
            .execute(&mut conn)
            .unwrap();
    }
    let partial = orders::table
        .select(orders::id)
        .all_shards()
        .allow_partial()
        .load::<i64>(&pool)
        .unwrap();
    assert!(!partial.is_complete());
    let (rows, failures) = partial.into_parts();
    let mut ids: Vec<(String, i64)> = rows.into_iter().map(|r| (r.shard().to_string(), *r)).collect();
    ids.sort();
    assert_eq!(ids, vec![("s0".to_owned(), 10), ("s1".to_owned(), 11)]);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].shard, "dead");
    assert!(matches!(failures[0].error, Error::PoolTimeout { .. }), "{}", failures[0].error);

    // Fail-fast (the default) names the failing shard.
    let err = orders::table
        .select(orders::id)
        .all_shards()
        .load::<i64>(&pool)
        .unwrap_err();
    assert!(matches!(&err, Error::FanOut { failures } if failures.len() == 1 && failures[0].shard == "dead"), "{err}");
    assert!(err.to_string().contains("`dead`"));
    // A subset that avoids the dead shard succeeds.
    let n = orders::table.count().all_shards().on_shards(["s0", "s1"]).count(&pool).unwrap();
    assert_eq!(n, 2);
    let err = orders::table.count().all_shards().on_shards(["nope"]).count(&pool).unwrap_err();
    assert!(matches!(err, Error::UnknownShard { .. }), "{err}");
}

#[derive(QueryableByName)]
struct Slept {
    #[diesel(sql_type = BigInt)]
    x: i64,
}

/// Runs `fan_out` (a fan-out of `marked_sleep_sql(_, marker)` over 4 shards) on another
/// thread and returns the most statements of it that were seen sleeping at once. Bounded
/// by the fan-out's end, not by a clock (the watchdog is only there for a hang).
fn most_at_once(marker: &str, fan_out: impl FnOnce() -> Vec<Sharded<Slept>> + Send) -> usize {
    std::thread::scope(|scope| {
        let job = scope.spawn(fan_out);
        let watchdog = Instant::now() + Duration::from_secs(300);
        let mut most = 0;
        while !job.is_finished() {
            assert!(Instant::now() < watchdog, "the fan-out hangs");
            most = most.max(sleepers(marker));
            std::thread::sleep(Duration::from_millis(10));
        }
        let rows = job.join().expect("no panic");
        assert_eq!(rows.len(), 4);
        most
    })
}

#[test]
fn shards_run_in_parallel() {
    let shards = Shards::with(4, with_sleep);
    let pool = &shards.pool;
    // Warm up: one connection per shard already open.
    orders::table.count().all_shards().count(pool).unwrap();
    let marker = unique_name();
    let sleepy = |ms| diesel::sql_query(marked_sleep_sql(ms, &marker)).all_shards();
    let parallel = most_at_once(&marker, || sleepy(1_000).get_result_per_shard::<Slept>(pool).unwrap());
    assert_eq!(parallel, 4, "all four shards at once");
    let two = most_at_once(&marker, || {
        sleepy(500).max_parallelism(2).get_result_per_shard::<Slept>(pool).unwrap()
    });
    assert_eq!(two, 2, "two at a time");
    let one = most_at_once(&marker, || sleepy(300).sequential().get_result_per_shard::<Slept>(pool).unwrap());
    assert_eq!(one, 1, "one after another");
}

/// On a backend without server-side statement limits (SQLite), setting one does nothing
/// and says so.
fn assert_no_statement_limit() {
    assert!(!<Conn as diesel_sharding::ShardBackend>::set_statement_timeout(
        &mut Shards::new(1).direct("s0"),
        Some(Duration::from_millis(1))
    )
    .unwrap());
}

#[test]
fn a_slow_shard_over_its_statement_limit_fails_alone() {
    if !STATEMENT_TIMEOUT {
        // SQLite cannot interrupt a statement; its checkout limit is tested elsewhere.
        assert_no_statement_limit();
        return;
    }
    let shards = Shards::with(2, with_sleep);
    // The statement would sleep 60 s: only the server-side limit ends it, so the
    // failure itself shows the limit held (no clock needed).
    let partial = diesel::sql_query(sleep_sql(60_000))
        .all_shards()
        .on_shards(["s1"])
        .timeout(Duration::from_millis(200))
        .allow_partial()
        .load::<Slept>(&shards.pool)
        .unwrap();
    let (rows, failures) = partial.into_parts();
    assert!(rows.is_empty());
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].shard, "s1");
    // The connection's limit was lifted: a slower statement now succeeds.
    let n: Vec<Sharded<Slept>> = diesel::sql_query(sleep_sql(300))
        .all_shards()
        .on_shards(["s1"])
        .load(&shards.pool)
        .unwrap();
    assert_eq!(n.len(), 1);
}

/// A deadline leaves its limit on the session it ran on; the next statement on that
/// connection without a deadline runs without it (the pool lifts it first), so a
/// statement longer than the old limit succeeds.
#[test]
fn a_limit_left_by_a_deadline_is_lifted_for_the_next_statement_without_one() {
    if !STATEMENT_TIMEOUT {
        // SQLite has no server-side limit to leave behind.
        assert_no_statement_limit();
        return;
    }
    // One connection per shard, so both statements run on the same session.
    let shards = Shards::with(1, |b| with_sleep(b).max_size(1).min_idle(Some(1)));
    let quick: Vec<Sharded<Slept>> = diesel::sql_query(sleep_sql(10))
        .all_shards()
        .timeout(Duration::from_millis(300))
        .load(&shards.pool)
        .unwrap();
    assert_eq!(quick.len(), 1);
    let slow: Vec<Sharded<Slept>> = diesel::sql_query(sleep_sql(900))
        .all_shards()
        .load(&shards.pool)
        .unwrap();
    assert_eq!(slow.len(), 1, "the 300 ms limit was lifted");
}

#[test]
fn a_unit_of_work_fans_out_on_its_own_connections() {
    let d = data();
    let mut work = d.shards.pool.unit_of_work();
    let total = orders::table.count().all_shards().count(&mut work).unwrap();
    assert_eq!(total, 1_000);
    assert_eq!(work.held_shards().count(), 4);
    let again = orders::table.count().all_shards().sequential().count(&mut work).unwrap();
    assert_eq!(again, 1_000);
}

/// Under fail-fast, the first failure stops the shards that have not started; under
/// `allow_partial` every shard runs.
#[test]
fn fail_fast_starts_no_shard_after_the_first_failure() {
    let shards = Shards::new(4);
    for shard in ["s1", "s2", "s3"] {
        shards.direct(shard).batch_execute("CREATE TABLE only_later (x BIGINT)").unwrap();
    }
    let ran = |pool: &ShardedPool<Conn>, before: &[diesel_sharding::events::ShardStats]| -> Vec<u64> {
        pool.stats().iter().zip(before).map(|(a, b)| a.statements - b.statements).collect()
    };
    let pool = &shards.pool;
    let before = pool.stats();
    let err = diesel::sql_query("SELECT * FROM only_later").all_shards().sequential().execute(pool).unwrap_err();
    assert!(matches!(&err, Error::FanOut { failures } if failures.len() == 1 && failures[0].shard == "s0"), "{err}");
    assert_eq!(ran(pool, &before), [1, 0, 0, 0], "nothing ran after s0 failed");

    let before = pool.stats();
    let partial = diesel::sql_query("SELECT * FROM only_later")
        .all_shards()
        .sequential()
        .allow_partial()
        .execute(pool)
        .unwrap();
    assert_eq!(partial.failures().len(), 1);
    assert_eq!(ran(pool, &before), [1, 1, 1, 1], "partial mode runs every shard");
}
