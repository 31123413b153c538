//! The shared `orders` workload (`examples/orders_bench/WORKLOAD.md`), for diesel-sharding and for
//! plain Diesel on the same shards, so the two can be compared phase by phase.
//!
//! ```sh
//! cargo run --release --example orders_bench -- --backend sqlite --shards 4
//! cargo run --release --example orders_bench --features postgres -- --backend postgres --system raw-diesel
//! ```
//!
//! Options: `--system diesel-sharding|raw-diesel` (default diesel-sharding),
//! `--backend sqlite|postgres|mysql` (default sqlite), `--shards S` (4), `--customers C`
//! (2000), `--orders O` (20000), `--pg-url URL` / `PG_DATABASE_URL`
//! (postgres://postgres@127.0.0.1:5432/postgres), `--mysql-url URL` / `MYSQL_DATABASE_URL`
//! (mysql://root@127.0.0.1:3306/mysql), `--id-search parallel|unique|sequential` (how
//! diesel-sharding looks up an id whose shard is unknown: all shards at once, first hit
//! wins, the default; all at once checking that only one shard holds it; one after
//! another), `--id-width N` (a parallel id search asks N shards at a time; default all),
//! `--delay-us D`
//! (remote-shard mode: every shard behind an in-process proxy that holds each chunk `D` µs
//! each way; server backends), `--layout physical|logical` (logical: diesel-sharding with
//! the shards as schemas or databases behind one shared pool, reported as
//! `diesel-sharding-logical`). Server shards are databases `bench_shard_0…` (logical on
//! PostgreSQL: schemas of the database `bench_logical`), dropped and recreated at the
//! start of each run.
//!
//! Both systems route keys with `HashRouter`; neither pool tests connections on checkout;
//! SQLite runs with WAL and `synchronous=NORMAL` on every connection. diesel-sharding
//! fans out in parallel and searches ids on all shards at once, first hit wins
//! (`find_anywhere(..).find_first(..)`); raw-diesel loops over the shards one after
//! another and stops at the first hit.

// A program, not a library: its items are neither exported nor documented API.
#![allow(missing_docs, unreachable_pub)]

mod args;
mod data;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod delay;
mod report;

use std::time::Instant;

use args::Args;
use report::{Check, Report};

diesel::table! {
    customers (id) {
        id -> BigInt,
        region -> Text,
        name -> Text,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        customer_id -> BigInt,
        amount_cents -> BigInt,
        note -> Text,
    }
}

/// An error from a benchmark run.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The phases of a run, in order, as one system does them on one backend; plus the
/// untimed reads that fill the `check` line.
trait Workload {
    fn insert_single(&mut self, customers: &[data::Customer]) -> Result<(), BoxError>;
    fn insert_batch(&mut self, orders: &[data::Order], batch: usize) -> Result<(), BoxError>;
    fn get_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError>;
    fn get_by_id(&mut self, ids: &[i64]) -> Result<(), BoxError>;
    /// Returns the ids of the first query.
    fn fanout_filter(&mut self, lows: &[i64]) -> Result<Vec<i64>, BoxError>;
    /// Returns the totals added up.
    fn fanout_count(&mut self, thresholds: &[i64]) -> Result<i64, BoxError>;
    fn update_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError>;
    /// Returns the rows deleted.
    fn delete_fanout(&mut self) -> Result<i64, BoxError>;
    /// Untimed: orders over all shards.
    fn count_orders(&mut self) -> Result<i64, BoxError>;
    /// Untimed: `SUM(amount_cents)` over all shards.
    fn sum_amounts(&mut self) -> Result<i64, BoxError>;
}

mod backends;

fn run(args: &Args, system: &mut dyn Workload, report: &mut Report) -> Result<(), BoxError> {
    let data = data::Data::new(args.customers, args.orders);
    let mut check = Check::default();

    let t = Instant::now();
    system.insert_single(&data.customers)?;
    report.phase("insert_single", data.customers.len(), t.elapsed());

    let t = Instant::now();
    system.insert_batch(&data.orders, 500)?;
    report.phase("insert_batch", data.orders.len(), t.elapsed());
    check.orders_after_insert_batch = system.count_orders()?;

    let keys: Vec<(i64, i64)> = (0..10_000)
        .map(|j| data.keyed(1 + (j * 31) % args.orders))
        .collect();
    if args.runs("get_keyed") {
        let t = Instant::now();
        system.get_keyed(&keys)?;
        report.phase("get_keyed", keys.len(), t.elapsed());
    }

    let ids: Vec<i64> = (0..2_000).map(|j| 1 + (j * 97) % args.orders).collect();
    if args.runs("get_by_id") {
        let t = Instant::now();
        system.get_by_id(&ids)?;
        report.phase("get_by_id", ids.len(), t.elapsed());
    }

    let lows: Vec<i64> = (0..200).map(|q| (q * 433) % 99_000).collect();
    if args.runs("fanout_filter") {
        let t = Instant::now();
        check.fanout_filter_first_ids = system.fanout_filter(&lows)?;
        report.phase("fanout_filter", lows.len(), t.elapsed());
    }

    let thresholds: Vec<i64> = (0..200).map(|q| (q * 499) % 100_000).collect();
    if args.runs("fanout_count") {
        let t = Instant::now();
        check.fanout_count_total = system.fanout_count(&thresholds)?;
        report.phase("fanout_count", thresholds.len(), t.elapsed());
    }

    let updates: Vec<(i64, i64)> = (0..2_000)
        .map(|j| data.keyed(1 + (j * 13) % args.orders))
        .collect();
    if args.runs("update_keyed") {
        let t = Instant::now();
        system.update_keyed(&updates)?;
        report.phase("update_keyed", updates.len(), t.elapsed());
        check.sum_amount_cents_after_update_keyed = system.sum_amounts()?;
    }

    if args.runs("delete_fanout") {
        let t = Instant::now();
        check.delete_fanout_rows = system.delete_fanout()?;
        report.phase("delete_fanout", 1, t.elapsed());
    }

    report.check(&check);
    Ok(())
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("orders_bench: {message}\n\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let mut report = Report::new(&args);
    if let Err(message) = backends::run(&args, &mut report) {
        eprintln!("orders_bench: {message}");
        std::process::exit(1);
    }
}
