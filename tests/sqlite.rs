//! The suite on SQLite files, one per shard.

#[allow(clippy::duplicate_mod)]
#[path = "backends/sqlite.rs"]
pub mod backend;

/// Whether the shards are logical (namespaces on a shared pool).
pub const LOGICAL: bool = false;

suite!();

#[allow(clippy::duplicate_mod)]
#[path = "suite/sqlite_only.rs"]
mod sqlite_only;
