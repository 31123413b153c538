//! Shared fixtures: the schema, the models and a set of shards with direct access.

#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use diesel_sharding::prelude::*;
use diesel_sharding::{HashRouter, RoutingKey, ShardedPoolBuilder};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub mod schema {
    diesel::table! {
        customers (id) {
            id -> BigInt,
            region -> Text,
            name -> Text,
        }
    }

    diesel::table! {
        orders (id) {
            id -> BigInt,
            customer_id -> BigInt,
            amount_cents -> BigInt,
            note -> Text,
        }
    }

    diesel::table! {
        /// A test-only table with a text key that may be missing.
        events (id) {
            id -> BigInt,
            tenant -> Nullable<Text>,
            body -> Text,
        }
    }
}

pub use schema::{customers, events, orders};

#[derive(Queryable, Selectable, Insertable, Sharded, Debug, Clone, PartialEq)]
#[diesel(table_name = customers)]
pub struct Customer {
    #[shard_key]
    pub id: i64,
    pub region: String,
    pub name: String,
}

#[derive(Queryable, Selectable, Insertable, Sharded, Debug, Clone, PartialEq)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
#[sharded(key = customer_id)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub note: String,
}

#[derive(Queryable, Selectable, Insertable, Sharded, Debug, Clone, PartialEq)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
#[sharded(key = tenant)]
pub struct Event {
    pub id: i64,
    pub tenant: Option<String>,
    pub body: String,
}

pub fn customer(id: i64) -> Customer {
    Customer {
        id,
        region: ["na", "eu", "asia", "sa"][(id % 4) as usize].to_owned(),
        name: format!("customer-{id}"),
    }
}

pub fn order(id: i64, customer_id: i64) -> Order {
    Order {
        id,
        customer_id,
        amount_cents: (id * 104_729) % 100_000,
        note: format!("order-{id}"),
    }
}

/// A set of SQLite shards in a temporary directory, migrated, with the pool over them
/// and the URLs for direct checks.
pub struct Shards {
    pub pool: ShardedPool<SqliteConnection>,
    pub urls: Vec<(ShardId, String)>,
    _dir: tempfile::TempDir,
}

pub fn shard_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
}

impl Shards {
    /// `n` migrated shards `s0..s{n-1}` with the default router.
    pub fn new(n: usize) -> Shards {
        Shards::with(n, |b| b)
    }

    /// `n` migrated shards, the builder adjusted by `configure`.
    pub fn with(
        n: usize,
        configure: impl FnOnce(
            ShardedPoolBuilder<SqliteConnection>,
        ) -> ShardedPoolBuilder<SqliteConnection>,
    ) -> Shards {
        let dir = tempfile::tempdir().expect("temp dir");
        let urls: Vec<(ShardId, String)> = shard_names(n)
            .into_iter()
            .map(|name| {
                let url = dir
                    .path()
                    .join(format!("{name}.db"))
                    .to_string_lossy()
                    .into_owned();
                (ShardId::from(name), url)
            })
            .collect();
        let mut builder = ShardedPool::<SqliteConnection>::builder();
        for (id, url) in &urls {
            builder = builder.shard(id, url.clone());
        }
        let pool = configure(builder).build().expect("build pool");
        pool.run_pending_migrations(MIGRATIONS).expect("migrate");
        for (_, url) in &urls {
            direct(url)
                .batch_execute(
                    "CREATE TABLE events (id BIGINT PRIMARY KEY, tenant TEXT NULL, body TEXT NOT NULL)",
                )
                .expect("create events");
        }
        Shards {
            pool,
            urls,
            _dir: dir,
        }
    }

    /// A fresh connection to one shard's database, outside the pool.
    pub fn direct(&self, shard: &str) -> SqliteConnection {
        let (_, url) = self
            .urls
            .iter()
            .find(|(id, _)| id == shard)
            .unwrap_or_else(|| panic!("no shard {shard}"));
        direct(url)
    }

    pub fn ids(&self) -> Vec<ShardId> {
        self.urls.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The shard a key belongs to, computed independently of the pool: the documented
    /// hash router over the shards in order.
    pub fn expected_shard(&self, key: RoutingKey<'_>) -> ShardId {
        self.urls[HashRouter::new().bucket(key, self.urls.len())]
            .0
            .clone()
    }

    /// Order ids on one shard, read directly.
    pub fn order_ids_on(&self, shard: &str) -> Vec<i64> {
        orders::table
            .select(orders::id)
            .order(orders::id)
            .load(&mut self.direct(shard))
            .expect("read orders")
    }

    /// Customer ids on one shard, read directly.
    pub fn customer_ids_on(&self, shard: &str) -> Vec<i64> {
        customers::table
            .select(customers::id)
            .order(customers::id)
            .load(&mut self.direct(shard))
            .expect("read customers")
    }

    /// Writes an order straight into a shard, bypassing routing (a decoy for tests that
    /// prove a query did not run there).
    pub fn plant_order(&self, shard: &str, row: &Order) {
        diesel::insert_into(orders::table)
            .values(row)
            .execute(&mut self.direct(shard))
            .expect("plant order");
    }

    /// A shard that does not own `key`.
    pub fn other_shard(&self, key: i64) -> ShardId {
        let owner = self.expected_shard(RoutingKey::Int(key.into()));
        self.ids()
            .into_iter()
            .find(|id| *id != owner)
            .expect("two shards")
    }
}

pub fn direct(url: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(url).expect("direct connection");
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .expect("busy timeout");
    conn
}
