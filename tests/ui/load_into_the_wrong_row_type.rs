use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

#[derive(Queryable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
}

fn ids(pool: &ShardedPool<diesel::SqliteConnection>) {
    // The select clause is a `BigInt`: it does not load into `String`.
    let _ = orders::table.select(orders::id).for_key(1_i64).load::<String>(pool);
}

fn main() {}
