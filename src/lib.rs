//! # diesel-sharding
//!
//! Horizontal sharding for [Diesel]: one logical database spread over many real ones.
//!
//! * [`ShardedPool`] wraps one r2d2 pool per shard and a [`Router`] that decides which
//!   shard owns a key ([`HashRouter`] by default; also modulo, range, lookup, closure).
//! * [`#[derive(ShardedModel)]`](derive@ShardedModel) on a Diesel model names its shard key, so
//!   [`insert`](ShardedPool::insert) and [`insert_all`](ShardedPool::insert_all) route
//!   rows by themselves and [`for_key`](KeyRoutingDsl::for_key) routes queries.
//! * [`set_shard`](ShardPinDsl::set_shard) pins any query to a shard;
//!   [`all_shards`](ShardPinDsl::all_shards) runs it on every shard in parallel and
//!   merges the results ([`FanOut`]: ordered merge with `LIMIT`/`OFFSET`, counts, sums,
//!   min/max, averages, `GROUP BY` merges, fail-fast or partial results, time limits).
//! * [`find_anywhere`](FindAnywhereDsl::find_anywhere) looks a row up by id when its shard
//!   is unknown; ids made by [`ShardEncodedIds`](ids::ShardEncodedIds) name their shard, so the lookup asks one.
//! * [`ShardedConnection`] is a unit of work holding at most one connection per shard.
//! * [`run_pending_migrations`](ShardedPool::run_pending_migrations) migrates every shard.
//! * PostgreSQL schemas and MySQL databases can be **logical shards** sharing one pool
//!   ([`ShardedPoolBuilder::logical_shard`]).
//!
//! # Example
//!
//! ```
//! use diesel::connection::SimpleConnection;
//! use diesel::prelude::*;
//! use diesel_sharding::prelude::*;
//!
//! diesel::table! {
//!     orders (id) { id -> BigInt, customer_id -> BigInt, amount_cents -> BigInt, }
//! }
//!
//! #[derive(Queryable, Selectable, Insertable, ShardedModel, Debug, PartialEq)]
//! #[diesel(table_name = orders, treat_none_as_default_value = false)]
//! #[sharded(key = customer_id)]
//! struct Order { id: i64, customer_id: i64, amount_cents: i64 }
//!
//! let dir = tempfile::tempdir()?;
//! let pool = ShardedPool::<diesel::SqliteConnection>::builder()
//!     .shard("s0", dir.path().join("s0.db").to_string_lossy())
//!     .shard("s1", dir.path().join("s1.db").to_string_lossy())
//!     .build()?;
//! for shard in pool.shard_ids() {
//!     pool.connection(shard.as_str())?.batch_execute(
//!         "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL,
//!                               amount_cents BIGINT NOT NULL)",
//!     )?;
//! }
//!
//! pool.insert(&Order { id: 1, customer_id: 42, amount_cents: 500 })?;
//! pool.insert_all(&[
//!     Order { id: 2, customer_id: 7, amount_cents: 100 },
//!     Order { id: 3, customer_id: 42, amount_cents: 900 },
//! ])?;
//!
//! // Only the shard that owns customer 42 is asked.
//! let big: Vec<Order> = orders::table
//!     .filter(orders::amount_cents.gt(600))
//!     .for_key(42_i64)
//!     .load(&pool)?;
//! assert_eq!(big, [Order { id: 3, customer_id: 42, amount_cents: 900 }]);
//!
//! // A routed update.
//! let n = orders::table
//!     .for_key(7_i64)
//!     .update()
//!     .set(orders::amount_cents.eq(150))
//!     .execute(&pool)?;
//! assert_eq!(n, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `sqlite` (default): SQLite shards, bundled libsqlite3, no server needed.
//! * `postgres`: PostgreSQL shards (links libpq).
//! * `mysql`: MySQL and MariaDB shards (links libmysqlclient).
//! * `config`: `ShardConfig` and `ShardedPool::from_config`, pools described by a TOML
//!   file (the format the `diesel-sharding` command-line tool reads).
//! * `uuid`: `uuid::Uuid` shard keys (routed as their 16 bytes).
//! * `tracing`: a `shard_statement` span for every statement (shard, operation,
//!   duration, rows, outcome, error).
//!
//! [Diesel]: https://diesel.rs

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use sharding_core::*;

/// Derives the shard-key plumbing for a Diesel model.
///
/// Implements [`ShardedModel`] for the struct (so it can be
/// [inserted](ShardedPool::insert) by key) and [`ShardedTable`] for its table (so
/// queries can be [routed](KeyRoutingDsl::for_key) by key).
///
/// Name the key on the struct:
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_sharding::ShardedModel;
/// # diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
/// #[derive(Insertable, ShardedModel)]
/// #[diesel(table_name = orders)]
/// #[sharded(key = customer_id)]
/// struct Order { id: i64, customer_id: i64 }
/// ```
///
/// or mark the field:
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_sharding::ShardedModel;
/// # diesel::table! { customers (id) { id -> BigInt, name -> Text, } }
/// #[derive(Insertable, ShardedModel)]
/// #[diesel(table_name = customers)]
/// struct Customer {
///     #[shard_key]
///     id: i64,
///     name: String,
/// }
/// ```
///
/// Options of `#[sharded(...)]`:
///
/// | option | meaning |
/// |---|---|
/// | `key = field` | the shard-key field (or put `#[shard_key]` on it) |
/// | `table = path` | the Diesel table module; defaults to `#[diesel(table_name = ...)]`, else the snake-case plural of the struct name, as Diesel does |
/// | `crate = path` | where the runtime lives; defaults to `::diesel_sharding` |
/// | `skip_table_impl` | for a second model of the same table: implement `ShardedModel` only, as the first model already implements `ShardedTable` for the table |
/// | `encoded_id` | the primary key is an id made by [`ShardEncodedIds`](ids::ShardEncodedIds): [`find_anywhere`](FindAnywhereDsl::find_anywhere) reads the shard from the id (the pool needs [`encoded_ids`](ShardedPoolBuilder::encoded_ids)) |
///
/// The key column is the field's `#[diesel(column_name = ...)]`, else the field's name.
/// Mistakes (no key, two keys, a key that is not a field, an unknown option, a tuple
/// struct, an enum) are compile errors pointing at the offending token.
pub use sharding_derive::ShardedModel;

/// Everything a sharded application usually needs, for `use diesel_sharding::prelude::*`.
pub mod prelude {
    pub use sharding_core::{
        Error as ShardingError, FindAnywhereDsl, KeyRoutingDsl, OptionalExtension as _, ShardId,
        ShardPinDsl, Sharded, ShardedConnection, ShardedPool, StatementRoutingDsl,
    };
    pub use sharding_derive::ShardedModel;
}
