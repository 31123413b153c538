//! The suite on MySQL/MariaDB, one database (and pool) per shard.

#[allow(clippy::duplicate_mod)]
#[path = "backends/mysql.rs"]
pub mod backend;

/// Whether the shards are logical (namespaces on a shared pool).
pub const LOGICAL: bool = false;

suite!();

#[allow(clippy::duplicate_mod)]
#[path = "suite/outage.rs"]
mod outage;

#[allow(clippy::duplicate_mod)]
#[path = "suite/mysql_only.rs"]
mod mysql_only;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic.rs"]
mod atomic;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic_chaos.rs"]
mod atomic_chaos;
