//! The suite on PostgreSQL, one database (and pool) per shard.

#[allow(clippy::duplicate_mod)]
#[path = "backends/postgres.rs"]
pub mod backend;

/// Whether the shards are logical (namespaces on a shared pool).
pub const LOGICAL: bool = false;

suite!();

#[allow(clippy::duplicate_mod)]
#[path = "suite/two_servers.rs"]
mod two_servers;

#[allow(clippy::duplicate_mod)]
#[path = "suite/outage.rs"]
mod outage;

#[allow(clippy::duplicate_mod)]
#[path = "suite/pg_hash.rs"]
mod pg_hash;

#[cfg(feature = "uuid")]
#[allow(clippy::duplicate_mod)]
#[path = "suite/uuid_keys.rs"]
mod uuid_keys;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic.rs"]
mod atomic;

#[allow(clippy::duplicate_mod)]
#[path = "suite/postgres_only.rs"]
mod postgres_only;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic_chaos.rs"]
mod atomic_chaos;
