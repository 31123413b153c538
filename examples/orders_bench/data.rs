//! The workload's data, generated as WORKLOAD.md defines it (not timed).

use diesel::prelude::*;

use super::{customers, orders};

#[derive(Queryable, Selectable, Insertable, diesel_sharding::ShardedModel, Debug, Clone)]
#[diesel(table_name = customers, treat_none_as_default_value = false)]
pub struct Customer {
    #[shard_key]
    pub id: i64,
    pub region: String,
    pub name: String,
}

#[derive(Queryable, Selectable, Insertable, diesel_sharding::ShardedModel, Debug, Clone)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
#[sharded(key = customer_id)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub note: String,
}

pub struct Data {
    pub customers: Vec<Customer>,
    pub orders: Vec<Order>,
    customer_count: i64,
}

impl Data {
    pub fn new(customers: i64, orders: i64) -> Data {
        const REGIONS: [&str; 4] = ["na", "eu", "asia", "sa"];
        Data {
            customers: (1..=customers)
                .map(|c| Customer {
                    id: c,
                    region: REGIONS[(c % 4) as usize].to_owned(),
                    name: format!("customer-{c}"),
                })
                .collect(),
            orders: (1..=orders)
                .map(|i| Order {
                    id: i,
                    customer_id: (i * 7919) % customers + 1,
                    amount_cents: (i * 104_729) % 100_000,
                    note: format!("order-{i}"),
                })
                .collect(),
            customer_count: customers,
        }
    }

    /// `(customer_id, id)` of order `id`.
    pub fn keyed(&self, id: i64) -> (i64, i64) {
        ((id * 7919) % self.customer_count + 1, id)
    }
}

pub const SCHEMA: [&str; 3] = [
    "CREATE TABLE customers (id BIGINT PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL)",
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, \
     amount_cents BIGINT NOT NULL, note TEXT NOT NULL)",
    "CREATE INDEX orders_customer_id ON orders (customer_id)",
];
