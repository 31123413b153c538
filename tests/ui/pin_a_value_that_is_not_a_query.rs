use diesel_sharding::prelude::*;

fn main() {
    // Only Diesel queries and statements can be routed to a shard.
    let _ = 42_i32.set_shard("s0");
}
