use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

// Routable (it has a shard key) but not `Insertable`: `insert_all` cannot write it.
#[derive(Queryable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
}

fn write(pool: &ShardedPool<diesel::SqliteConnection>, rows: Vec<Order>) {
    pool.insert_all(rows).unwrap();
}

fn main() {}
