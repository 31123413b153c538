use diesel::prelude::*;
use diesel_sharding::ShardedModel;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

#[derive(Selectable, ShardedModel)]
#[diesel(table_name = orders)]
struct Order {
    id: i64,
    #[shard_key]
    #[diesel(column_name = "customer id")]
    customer: i64,
}

fn main() {}
