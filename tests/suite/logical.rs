//! Logical shards: many schemas/databases behind one shared pool.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, HashRouter, RoutingKey};

use super::fixture::*;
use crate::common::*;

/// Two logical shards on a shared pool of one connection, with orders 1..=3 on s0 and
/// 101..=103 on s1, planted directly.
fn one_connection_two_shards() -> Shards {
    let shards = Shards::with(2, |b| b.max_size(1));
    for id in 1..=3 {
        shards.plant_order("s0", &order(id, 1));
        shards.plant_order("s1", &order(100 + id, 1));
    }
    shards
}

fn ids_on(pool: &ShardedPool<Conn>, shard: &str) -> Result<Vec<i64>, Error> {
    orders::table
        .select(orders::id)
        .order(orders::id)
        .set_shard(shard)
        .load(pool)
}

#[test]
fn a_connection_is_switched_only_when_its_namespace_changes() {
    let shards = one_connection_two_shards();
    let pool = &shards.pool;
    ids_on(pool, "s1").unwrap();
    let mut last = pool.namespace_switches();
    for (shard, switched) in [
        ("s0", 1),
        ("s0", 0),
        ("s0", 0),
        ("s1", 1),
        ("s0", 1),
        ("s1", 1),
        ("s1", 0),
    ] {
        ids_on(pool, shard).unwrap();
        let now = pool.namespace_switches();
        assert_eq!(now - last, switched, "query on {shard}");
        last = now;
    }
}

#[test]
fn one_cached_statement_alternating_between_shards_returns_each_shards_rows() {
    let shards = one_connection_two_shards();
    let before = shards.pool.namespace_switches();
    for _ in 0..10 {
        assert_eq!(ids_on(&shards.pool, "s0").unwrap(), vec![1, 2, 3]);
        assert_eq!(ids_on(&shards.pool, "s1").unwrap(), vec![101, 102, 103]);
    }
    assert_eq!(
        shards.pool.namespace_switches() - before,
        20,
        "one connection, switched each time"
    );
    // The same through a unit of work, which holds its own connection per shard.
    let mut work = shards.pool.unit_of_work();
    for _ in 0..3 {
        let s0: Vec<i64> = orders::table
            .select(orders::id)
            .set_shard("s0")
            .load(&mut work)
            .unwrap();
        assert_eq!(s0, vec![1, 2, 3]);
    }
}

#[test]
fn after_an_error_or_a_failed_switch_the_connection_serves_the_right_shard() {
    let shards = one_connection_two_shards();
    // A second pool of one connection, with a third logical shard whose namespace was
    // never created: switching to it fails (MySQL) or its queries fail (PostgreSQL).
    let ghost = format!("{}_ghost", shards.databases.namespace(0));
    let pool = shards
        .databases
        .add_to(ShardedPool::<Conn>::builder())
        .logical_shard("ghost", "main", ghost)
        .max_size(1)
        .build()
        .unwrap();
    assert_eq!(ids_on(&pool, "s0").unwrap(), vec![1, 2, 3]);
    let err = ids_on(&pool, "ghost").unwrap_err();
    assert_eq!(err.shard().map(|s| s.as_str()), Some("ghost"), "{err}");
    assert_eq!(ids_on(&pool, "s1").unwrap(), vec![101, 102, 103]);
    assert_eq!(ids_on(&pool, "s0").unwrap(), vec![1, 2, 3]);

    // A failing statement, then another shard.
    let err = diesel::sql_query("SELECT * FROM no_such_table")
        .set_shard("s0")
        .execute(&pool)
        .unwrap_err();
    assert_eq!(err.shard().map(|s| s.as_str()), Some("s0"));
    assert_eq!(ids_on(&pool, "s1").unwrap(), vec![101, 102, 103]);

    // A transaction that fails half-way, then another shard.
    let failed = pool.transaction("s1", |conn| {
        diesel::insert_into(orders::table)
            .values(&order(104, 1))
            .execute(conn)?;
        diesel::insert_into(orders::table)
            .values(&order(104, 1))
            .execute(conn)?;
        Ok::<_, Error>(())
    });
    assert!(failed.is_err());
    assert_eq!(ids_on(&pool, "s0").unwrap(), vec![1, 2, 3]);
    assert_eq!(
        ids_on(&pool, "s1").unwrap(),
        vec![101, 102, 103],
        "104 was rolled back"
    );
}

#[test]
fn unsafe_namespace_names_are_refused_and_nothing_runs() {
    let shards = Shards::new(1);
    shards.plant_order("s0", &order(1, 1));
    for evil in [
        "x; DROP TABLE orders",
        "a\"b",
        "a`b",
        "",
        "1abc",
        "orders--",
    ] {
        let build = |unchecked: bool| {
            let builder = shards
                .databases
                .add_to(ShardedPool::<Conn>::builder())
                .logical_shard("evil", "main", evil);
            if unchecked {
                builder.build_unchecked()
            } else {
                builder.build()
            }
        };
        for unchecked in [false, true] {
            let err = build(unchecked).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidIdentifier { shard, name, .. } if shard == "evil" && name == evil),
                "{evil:?}: {err}"
            );
        }
    }
    assert_eq!(
        shards.order_ids_on("s0"),
        vec![1],
        "the table and its row are intact"
    );

    let err = shards
        .databases
        .add_to(ShardedPool::<Conn>::builder())
        .logical_shard("lost", "no_such_pool", "shard_x")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("shared_pool(\"no_such_pool\""),
        "{err}"
    );
}

#[test]
fn migrations_go_into_each_shards_own_namespace() {
    let shards = Shards::new(3);
    for shard in shards.ids() {
        let applied: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT COUNT(*) FROM __diesel_schema_migrations",
        )
        .get_result(&mut shards.direct(shard.as_str()))
        .unwrap();
        assert_eq!(applied, 1, "shard {shard} has its own migration record");
        assert!(shards.has_orders_table(shard.as_str()));
    }
    // The shared pool's home database holds no shard tables.
    let mut home = Conn::establish(&shards.databases.url(0)).unwrap();
    assert!(orders::table.count().get_result::<i64>(&mut home).is_err());
}

#[test]
fn physical_and_logical_shards_mix_in_one_pool() {
    let logical = Databases::create(2, true);
    let physical = Databases::create(1, false);
    let pool = logical
        .add_to(ShardedPool::<Conn>::builder())
        .shard("p0", physical.url(0))
        .build()
        .unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(
        pool.shard_namespace("s0").unwrap(),
        Some(logical.namespace(0).as_str())
    );
    assert_eq!(pool.shard_namespace("p0").unwrap(), None);
    for id in 1..=60 {
        pool.insert(customer(id)).unwrap();
    }
    let names = ["s0", "s1", "p0"];
    let mut direct = [logical.direct(0), logical.direct(1), physical.direct(0)];
    let mut total = 0;
    for (i, conn) in direct.iter_mut().enumerate() {
        let ids: Vec<i64> = customers::table.select(customers::id).load(conn).unwrap();
        assert!(!ids.is_empty(), "shard {}", names[i]);
        for id in &ids {
            assert_eq!(
                HashRouter::new().bucket(RoutingKey::Int((*id).into()), 3),
                i,
                "customer {id}"
            );
        }
        total += ids.len();
    }
    assert_eq!(total, 60);
    // Nothing leaked into the shared pool's home database.
    let mut home = Conn::establish(&logical.url(0)).unwrap();
    home.batch_execute("SELECT 1").unwrap();
    assert!(customers::table
        .count()
        .get_result::<i64>(&mut home)
        .is_err());
}

/// User code that switches a connection it got in hand (raw connection, unit of work,
/// transaction closure) cannot send the pool's later statements to another shard.
#[test]
fn a_connection_switched_by_user_code_is_switched_back_before_its_next_use() {
    use diesel_sharding::ShardBackend;
    let shards = one_connection_two_shards();
    let pool = &shards.pool;
    let elsewhere = shards.databases.namespace(1);
    // A raw connection from the pool, switched to s1's namespace by hand.
    {
        let mut conn = pool.connection("s0").unwrap();
        Conn::switch_namespace(&mut conn, &elsewhere).unwrap();
    }
    assert_eq!(ids_on(pool, "s0").unwrap(), [1, 2, 3]);
    // The same through a unit of work, on its held connection.
    let mut work = pool.unit_of_work();
    Conn::switch_namespace(work.connection("s0").unwrap(), &elsewhere).unwrap();
    let ids: Vec<i64> = orders::table
        .select(orders::id)
        .order(orders::id)
        .set_shard("s0")
        .load(&mut work)
        .unwrap();
    assert_eq!(ids, [1, 2, 3]);
    // And inside a transaction closure.
    work.transaction("s0", |conn| {
        Conn::switch_namespace(conn, &elsewhere).map_err(Error::from)
    })
    .unwrap();
    let n: i64 = orders::table
        .count()
        .set_shard("s0")
        .get_result(&mut work)
        .unwrap();
    assert_eq!(n, 3);
    drop(work);
    assert_eq!(ids_on(pool, "s1").unwrap(), [101, 102, 103]);
    assert_eq!(ids_on(pool, "s0").unwrap(), [1, 2, 3]);
}

/// A unit of work that would hold more connections from a shared pool than the pool
/// may hold fails at once, saying so, instead of waiting out the checkout timeout.
#[test]
fn a_unit_of_work_too_big_for_its_shared_pool_fails_at_once() {
    let shards = Shards::with(3, |b| {
        b.max_size(2)
            .connection_timeout(std::time::Duration::from_secs(120))
    });
    let mut work = shards.pool.unit_of_work();
    let err = orders::table
        .count()
        .all_shards()
        .count(&mut work)
        .unwrap_err();
    let Error::FanOut { failures } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 3);
    for failure in failures {
        assert!(
            matches!(&failure.error, Error::PoolTooSmall { shards, max_size: 2 } if shards.len() == 3),
            "{}",
            failure.error
        );
    }
    // PoolTooSmall rather than PoolTimeout: it refused before waiting for a connection.
    assert!(err.to_string().contains("max_size"), "{err}");
    // Through the pool, each connection goes back after its statement: it works.
    assert_eq!(
        orders::table
            .count()
            .all_shards()
            .count(&shards.pool)
            .unwrap(),
        0
    );
}

/// Statements for different logical shards interleaved through one shared pool: each
/// shard keeps a connection on its namespace, so after the first statement per shard
/// nothing is switched.
#[test]
fn interleaved_shards_on_a_shared_pool_keep_their_connections_on_their_namespaces() {
    let shards = Shards::with(2, |b| b.max_size(4).min_idle(Some(2)));
    let pool = &shards.pool;
    let before = pool.namespace_switches();
    for _ in 0..10 {
        assert!(ids_on(pool, "s0").unwrap().is_empty());
        assert!(ids_on(pool, "s1").unwrap().is_empty());
    }
    let switches = pool.namespace_switches() - before;
    assert!(
        switches <= 2,
        "{switches} switches for 20 interleaved statements"
    );
}
