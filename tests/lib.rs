//! Integration tests of the public API against real databases.
//!
//! One test binary, modules per topic. Every test builds its own shards (SQLite files
//! in a fresh temporary directory) and checks the databases directly, with plain
//! connections that bypass the sharding layer.

// Tests fail by panicking; helpers are shared between modules of this one crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod common;

mod derive;
mod errors;
mod migrations;
mod queries;
mod routers;
mod routing;
mod ui;
mod units_of_work;
