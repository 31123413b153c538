use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

#[derive(Queryable, Insertable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
}

fn load_all(pool: &ShardedPool<diesel::SqliteConnection>) {
    // No key, no `.set_shard()`, no `.all_shards()`: there is no implicit fan-out, so
    // a query that forgot its key filter does not compile.
    let _: Vec<Order> = orders::table.load(pool).unwrap();
}

fn main() {}
