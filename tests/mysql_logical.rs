//! The suite on MySQL/MariaDB, every shard a database behind one shared pool.

#[allow(clippy::duplicate_mod)]
#[path = "backends/mysql.rs"]
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
#[path = "suite/mysql_only.rs"]
mod mysql_only;

#[allow(clippy::duplicate_mod)]
#[path = "suite/atomic.rs"]
mod atomic;
