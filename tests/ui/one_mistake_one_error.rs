use diesel::prelude::*;
use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

// One typo in the attribute: the typo is reported, and nothing else (the model is still
// usable by the rest of the code, so no "trait not implemented" errors follow).
#[derive(Insertable, ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(key = customer_id, tabel = orders)]
struct Order {
    id: i64,
    customer_id: i64,
}

pub fn insert(pool: &ShardedPool<diesel::SqliteConnection>) {
    let _ = pool.insert(&Order { id: 1, customer_id: 2 });
    let _ = orders::table.for_key(2_i64);
}

fn main() {}
