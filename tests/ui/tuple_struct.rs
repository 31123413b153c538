use diesel_sharding::Sharded;

#[derive(Sharded)]
#[sharded(key = customer_id)]
struct Order(i64, i64);

fn main() {}
