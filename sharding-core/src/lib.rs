//! The runtime of [diesel-sharding]: horizontal sharding for [Diesel].
//!
//! One logical database is spread over several shards, each a real database with its
//! own r2d2 pool. A [`Router`] decides which shard owns a key; queries are routed by key
//! ([`KeyRoutingDsl::for_key`]), pinned to a shard ([`ShardPinDsl::set_shard`]) or run on
//! every shard ([`ShardPinDsl::all_shards`]); rows are inserted on the shard their key
//! routes to ([`ShardedPool::insert`], [`ShardedPool::insert_all`]).
//!
//! Most users depend on the `diesel-sharding` facade crate, which re-exports this crate
//! and the `#[derive(ShardedModel)]` macro.
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
//! # How statements run
//!
//! * A **keyed** statement (`for_key`, `set_shard`, `insert`) without a deadline runs on
//!   your thread, on one connection checked out for it: what plain Diesel does.
//! * A **fan-out** (`all_shards`, `for_keys`, `find_anywhere`) runs its shards in
//!   parallel on your thread and the pool's **worker threads**: persistent, started on
//!   demand up to [`ShardedPoolBuilder::worker_threads`], never one per call (an id
//!   search that asks every shard at once runs them all on workers, and your thread
//!   waits for the first hit). Your query
//!   is collected once per shard into an [`OwnedQuery`](access::OwnedQuery) (its SQL and bind values), so
//!   queries that borrow from your stack, boxed queries and joins fan out as they are.
//!   A search returns at its hit while its other shards finish on the workers;
//!   [`ShardedPool::close`] waits for such statements before a process exits.
//! * A call with a **deadline** (`.timeout(d)` on [`Routed`], [`FanOut`] and
//!   [`MultiRouted`](query::MultiRouted); [`ShardedPool::transaction_within`]; or the pool's
//!   [`default_timeout`](ShardedPoolBuilder::default_timeout)) runs on the workers while
//!   your thread waits at most `d`: you get [`Error::Timeout`] naming the shard when it
//!   has not answered, even if the network to it stalls (bytes stop, nothing is refused
//!   or closed). The abandoned statement keeps its worker until it returns (the worker
//!   is replaced meanwhile) and its connection is then dropped, never reused.
//!
//! What a deadline guarantees, per backend:
//!
//! | | PostgreSQL | MySQL / MariaDB | SQLite |
//! |---|---|---|---|
//! | the call returns by `d` plus a few ms, with a typed timeout naming the shard | yes | yes | yes |
//! | the server ends a statement that is merely slow, by its session limit | yes, `statement_timeout` | MariaDB: yes, `max_statement_time`; MySQL: `SELECT`s only, `max_execution_time` | no |
//! | a statement given up on is cancelled from another connection | yes, `pg_cancel_backend` | yes, `KILL QUERY` | no: it runs to its end on the worker |
//! | a stalled statement's connection goes back to the pool | never: it is dropped when the worker gets it back | never | never |
//! | a write that timed out did not happen | **not guaranteed**: its `COMMIT` may have reached the server | not guaranteed | not guaranteed |
//! | an `insert_all` batch given up on before its `COMMIT` was sent never commits | yes | yes | yes |
//!
//! The session limit is set once per connection and lifted before your code gets the
//! connection in hand; turn it off with
//! [`server_statement_limits(false)`](ShardedPoolBuilder::server_statement_limits) behind
//! a transaction-pooling proxy, where session settings leak. The cancel request is sent
//! once the caller has given up (at most one in flight per shard); over a stalled network
//! it arrives, if at all, when the network comes back. Not covered by deadlines: closures
//! of [`ShardedConnection::transaction`] (they run on your thread; the default deadline
//! applies to their statements as the server-side limit only), migrations (which may
//! rightly run long) and statements you run yourself on `pool.connection(..)`.
//! `insert_all` runs under the default deadline one shard's batch at a time, and so does
//! each [`BlockIds`](ids::BlockIds) reservation.
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

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
pub mod atomic;
pub mod backend;
mod builder;
mod capability;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
mod connection;
pub mod error;
pub mod events;
mod executor;
pub mod fanout;
pub mod ids;
mod insert_batch;
pub mod key;
mod migrations;
pub mod model;
pub mod pool;
pub mod query;
mod redact;
pub mod router;
pub mod schema_diff;
mod shard_id;
mod sharded;

// The everyday names, at the root; the rest live in their modules only.
pub use atomic::{AtomicError, AtomicTransaction};
pub use backend::ShardBackend;
pub use builder::ShardedPoolBuilder;
pub use capability::{CanExecute, CanLoad};
#[cfg(feature = "config")]
pub use config::ShardConfig;
pub use connection::ShardedConnection;
pub use error::{Error, OptionalExtension, Result, ShardFailure, TransactionError};
pub use fanout::{AllowPartial, FailFast, FanOut, FindAnywhereDsl, PartialResult};
pub use key::{RoutingKey, ShardKey};
pub use model::{ShardedModel, ShardedTable};
pub use pool::ShardedPool;
pub use query::{KeyRoutingDsl, Routed, ShardPinDsl, StatementRoutingDsl};
pub use router::{
    FnRouter, HashRouter, LookupRouter, ModuloRouter, PgHashRouter, RangeRouter, Router,
};
pub use shard_id::ShardId;
pub use sharded::Sharded;

/// Items the `#[derive(ShardedModel)]` expansion refers to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::executor::dispatch::Job;
    pub use crate::insert_batch::Visit;

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
