use diesel::prelude::*;
use diesel_sharding::ShardedModel;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

#[derive(Insertable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer)]
struct Order {
    id: i64,
    customer_id: i64,
}

fn main() {}
