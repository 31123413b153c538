//! The five-minute tour: four SQLite shards in a temporary directory.
//!
//! Run it with `cargo run --example quickstart`.

use diesel::prelude::*;
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use diesel_sharding::prelude::*;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

diesel::table! {
    /// Customers; each lives on the shard its id routes to.
    customers (id) {
        /// The customer id, also the shard key.
        id -> BigInt,
        /// `na`, `eu`, `asia` or `sa`.
        region -> Text,
        /// A display name.
        name -> Text,
    }
}

diesel::table! {
    /// Orders; each lives on its customer's shard.
    orders (id) {
        /// The order id.
        id -> BigInt,
        /// The customer, and the shard key.
        customer_id -> BigInt,
        /// The amount, in cents.
        amount_cents -> BigInt,
        /// Free text.
        note -> Text,
    }
}

#[derive(Queryable, Selectable, Insertable, ShardedModel, Debug)]
#[diesel(table_name = customers)]
struct Customer {
    #[shard_key]
    id: i64,
    region: String,
    name: String,
}

/// Orders live on their customer's shard: the key is `customer_id`.
#[derive(Queryable, Selectable, Insertable, ShardedModel, Debug)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
#[sharded(key = customer_id)]
struct Order {
    id: i64,
    customer_id: i64,
    amount_cents: i64,
    note: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    // Four shards, the default (hash) router.
    let pool = ShardedPool::<SqliteConnection>::builder()
        .shard("s0", path("s0.db"))
        .shard("s1", path("s1.db"))
        .shard("s2", path("s2.db"))
        .shard("s3", path("s3.db"))
        .build()?;
    let report = pool.run_pending_migrations(MIGRATIONS)?;
    println!("migrated {} shards", report.shards.len());

    // Inserts route themselves by the derived key.
    for id in 1..=8 {
        let customer = Customer {
            id,
            region: ["na", "eu", "asia", "sa"][id as usize % 4].into(),
            name: format!("customer-{id}"),
        };
        pool.insert(&customer)?;
        println!("customer {id} -> shard {}", pool.shard_for_key(&id)?);
    }
    let orders: Vec<Order> = (1..=40)
        .map(|i| Order {
            id: i,
            customer_id: i % 8 + 1,
            amount_cents: i * 250,
            note: format!("order-{i}"),
        })
        .collect();
    let inserted = pool.insert_all(&orders)?; // one transaction per shard
    println!("inserted {inserted} orders");

    // A keyed load runs on one shard only.
    let mine: Vec<Order> = orders::table
        .filter(orders::amount_cents.gt(2_000))
        .order(orders::id)
        .for_key(3_i64)
        .select(Order::as_select())
        .load(&pool)?;
    println!(
        "customer 3, orders over $20: {:?}",
        mine.iter().map(|o| o.id).collect::<Vec<_>>()
    );

    // Several keys: each shard gets only its own keys; rows say where they came from.
    let some: Vec<Sharded<Customer>> = customers::table
        .for_keys([1_i64, 2, 3])
        .select(Customer::as_select())
        .load(&pool)?;
    for c in &some {
        println!("{} lives on {}", c.name, c.shard());
    }

    // A routed update, and a pinned load (SQLAlchemy's set_shard).
    let updated = orders::table
        .for_key(3_i64)
        .update()
        .set(orders::note.eq("vip"))
        .execute(&pool)?;
    let home = pool.shard_for_key(&3_i64)?.clone();
    let pinned: Vec<Order> = orders::table
        .filter(orders::note.eq("vip"))
        .select(Order::as_select())
        .set_shard(&home)
        .load(&pool)?;
    println!(
        "updated {updated} orders of customer 3; shard {home} now has {} vip orders",
        pinned.len()
    );

    // A deadline: the answer, or `Error::Timeout` naming the shard, within a second,
    // whatever the network does (SQLite has none, but the call shape is the same).
    let vip: i64 = orders::table
        .filter(orders::note.eq("vip"))
        .count()
        .for_key(3_i64)
        .timeout(std::time::Duration::from_secs(1))
        .get_result(&pool)?;
    println!("customer 3 has {vip} vip orders (read under a 1 s deadline)");

    // One count per shard.
    let counts = orders::table
        .count()
        .all_shards()
        .get_result_per_shard::<i64>(&pool)?;
    for count in &counts {
        println!("shard {}: {} orders", count.shard(), **count);
    }

    // A transaction on the shard that owns customer 5: a plain Diesel closure.
    pool.transaction_for_key(&5_i64, |conn| {
        diesel::delete(orders::table.filter(orders::customer_id.eq(5))).execute(conn)?;
        diesel::delete(customers::table.find(5_i64)).execute(conn)
    })?;
    println!("customer 5 and their orders deleted in one transaction");
    Ok(())
}
