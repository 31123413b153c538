//! Shards on two separate PostgreSQL servers. `scripts/test` starts the second one and
//! sets `PG2_DATABASE_URL`.

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{HashRouter, RoutingKey};

use super::fixture::*;
use crate::common::*;

#[test]
fn shards_on_two_servers_each_hold_their_own_rows() {
    let second = std::env::var("PG2_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PG2_DATABASE_URL is not set: this test needs a second PostgreSQL server. Run \
             `scripts/test`, which starts one on port 5433"
        )
    });
    let a = Databases::create(1, false);
    let b = Databases::create_on(&second, 1, false);
    let mut conn_a = a.direct(0);
    let mut conn_b = b.direct(0);
    let port = |conn: &mut Conn| -> String {
        diesel::dsl::sql::<diesel::sql_types::Text>("SELECT current_setting('port')")
            .get_result(conn)
            .unwrap()
    };
    assert_ne!(
        port(&mut conn_a),
        port(&mut conn_b),
        "two servers, not two databases on one"
    );

    let pool = ShardedPool::<Conn>::builder()
        .shard("a", a.url(0))
        .shard("b", b.url(0))
        .build()
        .unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    let rows: Vec<Order> = (1..=100).map(|i| order(i, i % 13 + 1)).collect();
    assert_eq!(pool.insert_all(&rows).unwrap(), 100);

    let on_a: Vec<Order> = orders::table
        .select(Order::as_select())
        .load(&mut conn_a)
        .unwrap();
    let on_b: Vec<Order> = orders::table
        .select(Order::as_select())
        .load(&mut conn_b)
        .unwrap();
    assert_eq!(on_a.len() + on_b.len(), 100);
    assert!(!on_a.is_empty() && !on_b.is_empty());
    for (rows, index) in [(&on_a, 0), (&on_b, 1)] {
        for o in rows {
            assert_eq!(
                HashRouter::new().bucket(RoutingKey::Int(o.customer_id.into()), 2),
                index
            );
        }
    }
    // Keyed reads go to the right server.
    let key = on_b[0].customer_id;
    let n: i64 = orders::table
        .for_key(key)
        .count()
        .get_result(&pool)
        .unwrap();
    assert_eq!(
        n,
        on_b.iter().filter(|o| o.customer_id == key).count() as i64
    );
}
