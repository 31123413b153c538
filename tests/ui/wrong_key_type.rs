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

fn main() {
    // The key column is BigInt: a text key must not compile.
    let _ = orders::table.for_key("42");
}
