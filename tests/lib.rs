//! Integration tests of the public API against real databases.
//!
//! One test binary. The behavioural suite (`suite/`) runs once per backend and layout:
//! SQLite files always; PostgreSQL and MySQL/MariaDB servers, with one database per shard
//! (physical) and with many schemas/databases on one shared pool (logical), when the
//! `postgres` / `mysql` features are on. Every fixture creates its own uniquely named
//! databases (or files) and drops them afterwards, and checks results with direct
//! connections that bypass the sharding layer.

// Tests fail by panicking; helpers are shared between modules of this one crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    dead_code
)]

mod common;
#[cfg(feature = "config")]
mod config;
mod derive_rules;
mod hygiene;
mod ids;
mod routers;
#[cfg(feature = "tracing")]
mod tracing_spans;
mod ui;

/// The behavioural suite, for the backend in `self::backend` and the layout in
/// `self::LOGICAL` of the module that invokes it (paths relative to `tests/`).
macro_rules! suite {
    () => {
        #[allow(clippy::duplicate_mod)]
        #[path = "fixture.rs"]
        pub mod fixture;

        #[allow(clippy::duplicate_mod)]
        #[path = "suite/derive.rs"]
        mod derive;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/diesel_style.rs"]
        mod diesel_style;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/errors.rs"]
        mod errors;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/events.rs"]
        mod events;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/fanout.rs"]
        mod fanout;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/ids.rs"]
        mod ids;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/migrations.rs"]
        mod migrations;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/queries.rs"]
        mod queries;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/reliability.rs"]
        mod reliability;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/routing.rs"]
        mod routing;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/schema_diff.rs"]
        mod schema_diff;
        #[allow(clippy::duplicate_mod)]
        #[path = "suite/units_of_work.rs"]
        mod units_of_work;
    };
}

mod sqlite;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_logical;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "mysql")]
mod mysql_logical;

/// Tells a plain `cargo test` which server suites it did not build, and how to run them.
mod server_suites {
    #[cfg(not(feature = "postgres"))]
    #[test]
    #[ignore = "PostgreSQL suite not built: run `scripts/test` (or `cargo test --features postgres` \
                with a server at PG_DATABASE_URL)"]
    fn postgres_suite_not_built() {}

    #[cfg(not(feature = "mysql"))]
    #[test]
    #[ignore = "MySQL/MariaDB suite not built: run `scripts/test` (or `cargo test --features mysql` \
                with a server at MYSQL_DATABASE_URL)"]
    fn mysql_suite_not_built() {}
}
