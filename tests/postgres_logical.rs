//! The suite on PostgreSQL, every shard a schema of one database behind one shared pool.

#[allow(clippy::duplicate_mod)]
#[path = "backends/postgres.rs"]
pub mod backend;

/// Whether the shards are logical (namespaces on a shared pool).
pub const LOGICAL: bool = true;

suite!();

#[allow(clippy::duplicate_mod)]
#[path = "suite/logical.rs"]
mod logical;

#[allow(clippy::duplicate_mod)]
#[path = "suite/outage.rs"]
mod outage;

#[allow(clippy::duplicate_mod)]
#[path = "suite/postgres_logical_only.rs"]
mod postgres_logical_only;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic.rs"]
mod atomic;
