use diesel_sharding::Sharded;

#[derive(Sharded)]
#[sharded(key = customer_id)]
enum Order {
    Open { customer_id: i64 },
    Closed { customer_id: i64 },
}

fn main() {}
