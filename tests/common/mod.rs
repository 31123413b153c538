//! What every backend's suite shares: the schema, the models, row constructors.

#![allow(dead_code)]

pub mod proxy;

use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use diesel_sharding::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        /// A test-only table whose ids encode their shard.
        notes (id) {
            id -> BigInt,
            customer_id -> BigInt,
            body -> Text,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(customers, orders);
    diesel::joinable!(orders -> customers (customer_id));

    diesel::table! {
        /// A test-only table with a text key that may be missing.
        events (id) {
            id -> BigInt,
            tenant -> Nullable<Text>,
            body -> Text,
        }
    }
}

pub use schema::{customers, events, notes, orders};

#[derive(
    Queryable, Selectable, Insertable, Identifiable, ShardedModel, Debug, Clone, PartialEq,
)]
#[diesel(table_name = customers)]
pub struct Customer {
    #[shard_key]
    pub id: i64,
    pub region: String,
    pub name: String,
}

#[derive(
    Queryable,
    Selectable,
    Insertable,
    Identifiable,
    Associations,
    ShardedModel,
    Debug,
    Clone,
    PartialEq,
)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
#[diesel(belongs_to(Customer))]
#[sharded(key = customer_id)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub amount_cents: i64,
    pub note: String,
}

#[derive(Queryable, Selectable, Insertable, ShardedModel, Debug, Clone, PartialEq)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
#[sharded(key = tenant)]
pub struct Event {
    pub id: i64,
    pub tenant: Option<String>,
    pub body: String,
}

/// A row whose id was made by `ShardEncodedIds` for its customer's shard.
#[derive(Queryable, Selectable, Insertable, ShardedModel, Debug, Clone, PartialEq)]
#[diesel(table_name = notes, treat_none_as_default_value = false)]
#[sharded(key = customer_id, encoded_id)]
pub struct Note {
    pub id: i64,
    pub customer_id: i64,
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

/// The test-only tables (created next to the migrated ones).
pub const TEST_TABLES_DDL: [&str; 2] = [
    "CREATE TABLE events (id BIGINT PRIMARY KEY, tenant VARCHAR(100) NULL, body TEXT NOT NULL)",
    "CREATE TABLE notes (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, body TEXT NOT NULL)",
];

/// A name no other test (of this or a concurrent run) uses: `ds_<pid>_<n>_<micros>`.
pub fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000)
        .unwrap_or(0);
    format!("ds_{}_{n}_{micros}", std::process::id())
}

/// `url` with its database (the last path segment) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("mysql://root@h:3306", "x"),
        "mysql://root@h:3306/x"
    );
    assert_eq!(
        with_database("mysql://r:p@h/db?ssl=false", "x"),
        "mysql://r:p@h/x?ssl=false"
    );
}

/// Asserts that what started at `started` ended within a wide margin of `limit`: twenty
/// times the limit plus ten seconds. It catches a hang or a limit that is not applied at
/// all, never a slow machine. Tests bound their work by count, not by the clock.
pub fn assert_within(started: std::time::Instant, limit: std::time::Duration) {
    let elapsed = started.elapsed();
    let margin = limit * 20 + std::time::Duration::from_secs(10);
    assert!(
        elapsed < margin,
        "took {elapsed:?}: far beyond its limit of {limit:?}"
    );
}
