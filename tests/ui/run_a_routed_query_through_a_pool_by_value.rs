use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

fn count(pool: ShardedPool<diesel::SqliteConnection>) {
    // The pool by value instead of `&pool`.
    let _ = orders::table.count().set_shard("s0").get_result::<i64>(pool);
}

fn main() {}
