use diesel_sharding::ShardedModel;

#[derive(ShardedModel)]
#[sharded(key = customer_id)]
struct Order(i64, i64);

fn main() {}
