use diesel::prelude::*;
use diesel_sharding::ShardedModel;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, region_id -> BigInt, } }

#[derive(Insertable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
    region_id: i64,
}

// A second model of the same table must route by the same column.
#[derive(Insertable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = region_id, skip_table_impl)]
struct NewOrder {
    id: i64,
    customer_id: i64,
    region_id: i64,
}

fn main() {}
