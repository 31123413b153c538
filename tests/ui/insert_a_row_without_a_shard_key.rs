use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

// `Insertable`, but not `ShardedModel`: the pool cannot tell which shard it belongs on.
#[derive(Insertable)]
#[diesel(table_name = orders)]
struct NewOrder {
    id: i64,
    customer_id: i64,
}

fn write(pool: &ShardedPool<diesel::SqliteConnection>) {
    pool.insert(NewOrder { id: 1, customer_id: 7 }).unwrap();
}

fn main() {}
