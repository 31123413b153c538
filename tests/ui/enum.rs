use diesel_sharding::ShardedModel;

#[derive(ShardedModel)]
#[sharded(key = customer_id)]
enum Order {
    Open { customer_id: i64 },
    Closed { customer_id: i64 },
}

fn main() {}
