use diesel_sharding::prelude::*;

diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }

// A generic model: the key type is bound to be a shard key.
#[derive(ShardedModel)]
#[sharded(table = orders)]
struct Order<K> {
    id: i64,
    #[shard_key]
    customer_id: K,
}

fn key_of<R: diesel_sharding::ShardedModel>(_: &R) {}

fn main() {
    key_of(&Order { id: 1, customer_id: 7_i64 }); // fine
    key_of(&Order { id: 1, customer_id: 7.5_f64 }); // f64 is no shard key
}
