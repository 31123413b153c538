//! The runtime of [diesel-sharding]: horizontal sharding for [Diesel].
//!
//! One logical database is spread over several shards, each a real database with its
//! own r2d2 pool. A [`Router`] decides which shard owns a key; queries are routed by key
//! ([`KeyRoutingDsl::for_key`]), pinned to a shard ([`ShardPinDsl::set_shard`]) or run on
//! every shard ([`ShardPinDsl::all_shards`]); rows are inserted on the shard their key
//! routes to ([`ShardedPool::insert`], [`ShardedPool::insert_all`]).
//!
//! Most users depend on the `diesel-sharding` facade crate, which re-exports this crate
//! and the `#[derive(Sharded)]` macro.
//!
//! # Features
//!
//! * `sqlite` (default): SQLite shards, with a bundled libsqlite3.
//! * `postgres`: PostgreSQL shards (links libpq).
//! * `mysql`: MySQL and MariaDB shards (links libmysqlclient).
//! * `config`: [`ShardConfig`] and `ShardedPool::from_config`, pools described by a TOML
//!   file.
//! * `uuid`: `uuid::Uuid` shard keys (routed as their 16 bytes).
//! * `tracing`: a `shard_statement` span for every statement (shard, operation,
//!   duration, rows, outcome, error).
//!
//! # Example
//!
//! ```
//! use diesel::connection::SimpleConnection;
//! use diesel::prelude::*;
//! use diesel::SqliteConnection;
//! use sharding_core::{KeyRoutingDsl, ShardPinDsl, ShardedPool, ShardedTable};
//!
//! diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, note -> Text, } }
//!
//! impl ShardedTable for orders::table {
//!     type KeyColumn = orders::customer_id;
//!     fn key_column() -> Self::KeyColumn { orders::customer_id }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let pool = ShardedPool::<SqliteConnection>::builder()
//!     .shard("s0", dir.path().join("s0.db").to_string_lossy())
//!     .shard("s1", dir.path().join("s1.db").to_string_lossy())
//!     .build()?;
//! for shard in pool.shard_ids() {
//!     pool.connection(shard.as_str())?.batch_execute(
//!         "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, note TEXT NOT NULL)",
//!     )?;
//! }
//!
//! // Routed by the key: runs on the shard that owns customer 42 only.
//! diesel::insert_into(orders::table)
//!     .values((orders::id.eq(1), orders::customer_id.eq(42), orders::note.eq("hello")))
//!     .set_shard(pool.shard_for_key(&42_i64)?)
//!     .execute(&pool)?;
//! let notes: Vec<String> = orders::table
//!     .select(orders::note)
//!     .for_key(42_i64)
//!     .load(&pool)?;
//! assert_eq!(notes, ["hello"]);
//!
//! // Counted on every shard in parallel, and summed.
//! let total = orders::table.count().all_shards().count(&pool)?;
//! assert_eq!(total, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [diesel-sharding]: https://docs.rs/diesel-sharding
//! [Diesel]: https://diesel.rs

mod access;
mod backend;
mod builder;
#[cfg(feature = "config")]
mod config;
mod connection;
mod error;
mod events;
mod executor;
mod fanout;
mod id_schemes;
mod ids;
mod key;
mod migrations;
mod model;
mod pool;
mod query;
mod redact;
mod router;
mod shard_id;
mod sharded;

pub use access::{BackendOf, ShardAccess};
pub use backend::ShardBackend;
pub use builder::{ShardedPoolBuilder, MAX_POOL_SIZE, MAX_TIME_LIMIT};
#[cfg(feature = "config")]
pub use config::ShardConfig;
pub use connection::ShardedConnection;
pub use error::{error_chain, BoxError, Error, OptionalExtension, Result, ShardFailure};
pub use events::{
    HandleEvent, LatencyHistogram, NopEventHandler, Operation, Outcome, ShardEvent, ShardStats,
};
pub use executor::OwnedQuery;
pub use fanout::{
    AllCandidates, AllowPartial, FailFast, FailurePolicy, FanOut, FindAnywhereDsl, IdChooser,
    MergeBy, Merged, PartialResult, Summable,
};
pub use id_schemes::{BlockIds, IdScheme, UuidV7Ids, BLOCK_IDS_PER_SHARD};
pub use ids::{
    Clock, ClockBackwards, EncodedIdChooser, IdLayout, IdParts, ShardEncodedIds, SystemClock,
    DEFAULT_EPOCH_MS,
};
pub use key::{OwnedKey, RoutingKey, ShardKey};
pub use migrations::MigrationReport;
pub use model::{ShardKeyed, ShardedTable, TableOf};
pub use pool::{ShardPool, ShardPooledConnection, ShardedPool};
pub use query::{
    KeyColumnOf, KeyEq, KeyPredicates, KeyRoutingDsl, MultiRouted, Routed, ShardPinDsl,
    StatementKeyColumn, StatementRoutingDsl,
};
pub use redact::RedactedError;
pub use router::{
    stable_hash, FnRouter, HashRouter, LookupRouter, ModuloRouter, RangeRouter, Router,
};
pub use shard_id::ShardId;
pub use sharded::Sharded;

/// Items the `#[derive(Sharded)]` expansion refers to. Not public API.
#[doc(hidden)]
pub mod __private {
    /// Holds when `Self` is the column `Expected`: a second model of a table
    /// (`#[sharded(skip_table_impl)]`) must name the table's own shard-key column.
    #[diagnostic::on_unimplemented(
        message = "this model's shard key is `{Self}`, but its table is sharded by `{Expected}`",
        label = "not the table's shard-key column",
        note = "rows are routed by the table's key column: name that column with \
                `#[sharded(key = ...)]` or `#[shard_key]`, so rows land on the right shard"
    )]
    pub trait IsKeyColumnOf<Expected> {}

    impl<C> IsKeyColumnOf<C> for C {}
}
