//! A shard server that goes away and comes back at the same address (a TCP forwarder
//! stands between the pool and the real server).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_sharding::ids::{BlockIds, IdScheme};
use diesel_sharding::prelude::*;
use diesel_sharding::{Error, ShardBackend, ShardedPoolBuilder};

use super::fixture::*;
use crate::common::proxy::{address_of, with_port, Proxy};
use crate::common::*;

/// A pool of three shards where `s0` is reached directly and `s1`, `s2` through `proxy`:
/// physical shards each with a database of their own, logical shards with `s1` and `s2` on
/// one shared pool behind the proxy (so its connections switch between them).
fn proxied_pool(
    databases: &Databases,
    proxy: &Proxy,
    configure: impl FnOnce(ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn>,
) -> ShardedPool<Conn> {
    let builder = ShardedPool::<Conn>::builder();
    let builder = if super::LOGICAL {
        builder
            .shared_pool("direct", databases.url(0))
            .shared_pool(
                "proxied",
                in_clear(with_port(&databases.url(0), proxy.port())),
            )
            .logical_shard("s0", "direct", databases.namespace(0))
            .logical_shard("s1", "proxied", databases.namespace(1))
            .logical_shard("s2", "proxied", databases.namespace(2))
    } else {
        builder
            .shard("s0", databases.url(0))
            .shard("s1", in_clear(with_port(&databases.url(1), proxy.port())))
            .shard("s2", in_clear(with_port(&databases.url(2), proxy.port())))
    };
    let pool = configure(builder).build().unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    pool
}

/// `url` without TLS, so that the proxy can see the statements it is told to cut after.
fn in_clear(url: String) -> String {
    if Conn::NAME == "postgres" {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode=disable")
    } else {
        url
    }
}

fn key_on(pool: &ShardedPool<Conn>, shard: &str) -> i64 {
    (1..)
        .find(|k: &i64| pool.shard_for_key(k).unwrap() == shard)
        .unwrap()
}

fn run_outage(test_on_check_out: bool) {
    let databases = Databases::create(3, super::LOGICAL);
    let mut proxy = Proxy::start(address_of(&databases.url(0)));
    let pool = proxied_pool(&databases, &proxy, |b| {
        b.max_size(3)
            .connection_timeout(Duration::from_millis(500))
            .test_on_check_out(test_on_check_out)
    });
    let (k0, k1, k2) = (
        key_on(&pool, "s0"),
        key_on(&pool, "s1"),
        key_on(&pool, "s2"),
    );
    pool.insert(customer(k0)).unwrap();
    pool.insert(customer(k1)).unwrap();
    pool.insert(customer(k2)).unwrap();
    let count_on = |key: i64| {
        customers::table
            .for_key(key)
            .count()
            .get_result::<i64>(&pool)
    };
    // Fill the proxied pool with connections that alternate between s1 and s2.
    for _ in 0..3 {
        assert_eq!(count_on(k1).unwrap(), 1);
        assert_eq!(count_on(k2).unwrap(), 1);
    }

    proxy.stop();
    // Keyed work on the dead shard fails fast, naming it.
    for _ in 0..3 {
        let started = Instant::now();
        let err = count_on(k2).unwrap_err();
        // Bounded by the 500 ms checkout limit; checked with a wide margin only.
        assert_within(started, Duration::from_millis(500));
        assert_eq!(err.shard().map(|s| s.as_str()), Some("s2"), "{err}");
    }
    assert!(count_on(k1).is_err());
    // The healthy shards keep serving.
    assert_eq!(count_on(k0).unwrap(), 1);
    pool.insert(customer(k0 + 100_000 * 3)).ok();
    // Fan-out follows its policy.
    let err = customers::table
        .count()
        .all_shards()
        .count(&pool)
        .unwrap_err();
    // s1 and s2 are both down; fail-fast may stop the second before it starts.
    assert!(
        matches!(&err, Error::FanOut { failures }
            if !failures.is_empty() && failures.iter().all(|f| f.shard != "s0")),
        "{err}"
    );
    let (partial, failures) = customers::table
        .count()
        .all_shards()
        .allow_partial()
        .count(&pool)
        .unwrap()
        .into_parts();
    assert!(partial >= 1);
    assert!(!failures.is_empty() && failures.iter().all(|f| f.shard != "s0"));

    proxy.resume();
    // Back without a restart. Without a checkout test, each connection the outage cut
    // can fail once before the pool drops it (at most `max_size` of them, whether the
    // failure is the statement or, on logical shards, the namespace switch); with one,
    // the first call succeeds.
    let attempts = if test_on_check_out { 1 } else { 8 };
    let recovered = (0..attempts).any(|_| count_on(k1).is_ok() && count_on(k2).is_ok());
    assert!(recovered, "s1 and s2 serve again");
    // No dead connection is left in the pool.
    for _ in 0..10 {
        assert_eq!(count_on(k1).unwrap(), 1);
        assert_eq!(count_on(k2).unwrap(), 1);
    }
    assert!(customers::table.count().all_shards().count(&pool).unwrap() >= 3);
}

#[test]
fn a_shard_that_goes_away_fails_alone_and_serves_again_when_back() {
    run_outage(false);
}

#[test]
fn with_checkout_tests_the_first_call_after_an_outage_succeeds() {
    run_outage(true);
}

/// The connection dies right after an `insert_all` sent a shard's `COMMIT`: the error
/// says the outcome is unknown (never "no row was written"), and the shard holds all of
/// its rows or none.
#[test]
fn a_commit_cut_in_flight_is_reported_as_unknown_not_as_failed() {
    let databases = Databases::create(3, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    let pool = proxied_pool(&databases, &proxy, |b| {
        b.connection_timeout(Duration::from_secs(5))
    });
    // Rows for every shard; s0 is written first (pool order), then s1 through the proxy.
    let rows: Vec<Order> = (0..300).map(|i| order(i, i % 60 + 1)).collect();
    let on = |shard: &str| {
        rows.iter()
            .filter(|o| pool.shard_for_key(&o.customer_id).unwrap() == shard)
            .count()
    };
    assert!(on("s0") > 0 && on("s1") > 0 && on("s2") > 0);
    proxy.cut_after(b"COMMIT");
    let err = pool.insert_all(&rows).unwrap_err();
    assert!(proxy.has_cut());
    match &err {
        Error::InsertOutcomeUnknown {
            shard, committed, ..
        } => {
            assert_eq!(shard, "s1", "{err}");
            assert_eq!(
                committed.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                ["s0"]
            );
        }
        other => panic!("expected an unknown outcome, got: {other}"),
    }
    assert!(err.to_string().contains("unknown outcome"), "{err}");
    assert!(!err.to_string().contains("No row was written"), "{err}");
    // What is really there: s0 whole, s1 whole or absent, s2 not written.
    let count = |shard: &str| {
        orders::table
            .count()
            .set_shard(shard)
            .get_result::<i64>(&pool)
            .unwrap() as usize
    };
    assert_eq!(count("s0"), on("s0"));
    assert!(
        count("s1") == 0 || count("s1") == on("s1"),
        "s1 holds {}",
        count("s1")
    );
    assert_eq!(count("s2"), 0);
}

/// A fan-out write under a statement limit whose connection dies while the limit is
/// being lifted: the write committed, so the shard is reported as written, and the
/// connection is dropped rather than reused.
#[test]
fn a_statement_limit_is_set_once_and_lifted_before_user_code_gets_the_connection() {
    let databases = Databases::create(3, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    // One connection behind the proxy: every statement below uses it.
    let pool = proxied_pool(&databases, &proxy, |b| {
        b.max_size(1)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
    });
    let k1 = key_on(&pool, "s1");
    pool.insert(customer(k1)).unwrap();
    // The statement that lifts the limit: PostgreSQL `statement_timeout = 0`, MariaDB
    // `max_statement_time = 0.000`, MySQL `max_execution_time = 0`. Nothing may send it
    // after a write: the limit stays on the connection between statements.
    let lift: &[u8] = if cfg!(feature = "postgres") && Conn::NAME == "postgres" {
        b"statement_timeout = 0"
    } else {
        b"_time = 0"
    };
    proxy.cut_after(lift);
    for round in 0..3 {
        let written = diesel::update(customers::table.filter(customers::id.eq(k1)))
            .set(customers::name.eq(format!("renamed {round}")))
            .all_shards()
            .on_shards(["s1"])
            .timeout(Duration::from_secs(30))
            .execute(&pool);
        assert_eq!(written.unwrap(), 1, "round {round}");
    }
    assert!(!proxy.has_cut(), "no limit was lifted between statements");
    // Handing the connection to user code lifts the limit: here the lift is cut, so the
    // hand-out fails and the connection is dropped, not handed out with a limit on it.
    let err = pool.connection("s1").map(|_| ()).unwrap_err();
    assert!(proxy.has_cut(), "the lift was sent");
    assert_eq!(err.shard().map(|s| s.as_str()), Some("s1"), "{err}");
    let mut conn = pool.connection("s1").unwrap();
    let limit: String = if cfg!(feature = "postgres") && Conn::NAME == "postgres" {
        diesel::dsl::sql::<diesel::sql_types::Text>("SELECT current_setting('statement_timeout')")
            .get_result(&mut *conn)
            .unwrap()
    } else {
        diesel::dsl::sql::<diesel::sql_types::Text>(
            "SELECT CAST(COALESCE(@@max_statement_time, 0) + 0 AS CHAR)",
        )
        .get_result(&mut *conn)
        .unwrap()
    };
    assert!(
        limit == "0" || limit.trim_end_matches('0').trim_end_matches('.') == "0",
        "a handed-out connection has no limit: {limit}"
    );
}

#[test]
fn a_shard_whose_database_is_missing_fails_the_build_by_name() {
    let databases = Databases::create(1, false);
    let missing = with_database(&databases.url(0), &format!("{}_missing", unique_name()));
    let builder = ShardedPool::<Conn>::builder().connection_timeout(Duration::from_millis(500));
    let (builder, culprit) = if super::LOGICAL {
        // Logical shards: the shared pool's database is missing.
        let b = builder
            .shared_pool("main", databases.url(0))
            .shared_pool("gone", missing)
            .logical_shard("s0", "main", "shard_0")
            .logical_shard("s1", "gone", "shard_1");
        (b, "pool gone")
    } else {
        (
            builder.shard("s0", databases.url(0)).shard("gone", missing),
            "gone",
        )
    };
    let err = builder.build().unwrap_err();
    assert!(
        matches!(&err, Error::Connect { shard, .. } if shard == culprit),
        "{err}"
    );
}

/// A deadline that must hold while the network to `s1` and `s2` stalls.
const DEADLINE: Duration = Duration::from_secs(1);

/// Asserts that a call with a 1 s deadline returned well before a stall could have ended
/// on its own: under ten seconds (the stall lasts until the test ends it).
fn returned_in_time(started: Instant, what: &str) {
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "{what} took {elapsed:?} with a {DEADLINE:?} deadline on a stalled shard"
    );
}

/// Asserts that `err` is a timeout naming `shard`.
fn timed_out_on(err: &Error, shard: &str, what: &str) {
    assert!(err.is_timeout(), "{what}: {err}");
    assert_eq!(
        err.shard().map(|s| s.as_str()),
        Some(shard),
        "{what}: {err}"
    );
}

#[test]
fn deadlines_hold_while_the_network_to_a_shard_stalls() {
    let databases = Databases::create(3, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    let pool = proxied_pool(&databases, &proxy, |b| {
        // A checkout alone would wait 60 s: only the deadline can end the calls below.
        b.max_size(3).connection_timeout(Duration::from_secs(60))
    });
    let (k0, k1) = (key_on(&pool, "s0"), key_on(&pool, "s1"));
    pool.insert(customer(k0)).unwrap();
    pool.insert(customer(k1)).unwrap();
    let count_on = |key: i64| {
        customers::table
            .for_key(key)
            .count()
            .timeout(DEADLINE)
            .get_result::<i64>(&pool)
    };
    assert_eq!(count_on(k1).unwrap(), 1);
    let threads = pool.worker_threads_started();

    proxy.stall();
    let started = Instant::now();
    let err = count_on(k1).unwrap_err();
    returned_in_time(started, "a keyed read");
    timed_out_on(&err, "s1", "a keyed read");

    let started = Instant::now();
    let err = diesel::update(customers::table)
        .set(customers::name.eq("stalled"))
        .for_key(k1)
        .timeout(DEADLINE)
        .execute(&pool)
        .unwrap_err();
    returned_in_time(started, "a keyed write");
    timed_out_on(&err, "s1", "a keyed write");

    let started = Instant::now();
    let err = customers::table
        .count()
        .all_shards()
        .timeout(DEADLINE)
        .count(&pool)
        .unwrap_err();
    returned_in_time(started, "a fail-fast fan-out");
    match &err {
        Error::FanOut { failures } => {
            assert!(!failures.is_empty(), "{err}");
            for failure in failures {
                assert_ne!(failure.shard, "s0", "{err}");
                assert!(failure.error.is_timeout(), "{err}");
            }
        }
        other => panic!("a fail-fast fan-out: {other}"),
    }

    let started = Instant::now();
    let (healthy, failures) = customers::table
        .count()
        .all_shards()
        .timeout(DEADLINE)
        .allow_partial()
        .count(&pool)
        .unwrap()
        .into_parts();
    returned_in_time(started, "a partial fan-out");
    assert_eq!(healthy, 1, "s0's row");
    let mut failed: Vec<&str> = failures.iter().map(|f| f.shard.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["s1", "s2"]);
    assert!(failures.iter().all(|f| f.error.is_timeout()));

    let mut work = pool.unit_of_work();
    let started = Instant::now();
    let err = customers::table
        .for_key(k1)
        .count()
        .timeout(DEADLINE)
        .get_result::<i64>(&mut work)
        .unwrap_err();
    returned_in_time(started, "a unit of work's statement");
    timed_out_on(&err, "s1", "a unit of work's statement");
    // The unit of work still serves the healthy shard.
    let on_s0: i64 = customers::table
        .for_key(k0)
        .count()
        .timeout(DEADLINE)
        .get_result(&mut work)
        .unwrap();
    assert_eq!(on_s0, 1);
    drop(work);

    let started = Instant::now();
    let err = pool
        .transaction_within("s1", DEADLINE, move |conn| {
            diesel::update(customers::table.filter(customers::id.eq(k1)))
                .set(customers::name.eq("in a stalled transaction"))
                .execute(conn)
                .map_err(Error::from)
        })
        .unwrap_err();
    returned_in_time(started, "a transaction");
    let err = err
        .sharding_error()
        .expect("a timeout is the pool's error, not the closure's");
    timed_out_on(err, "s1", "a transaction");

    // A stalled shard costs threads only while it is stalled, never one per call.
    assert!(pool.worker_threads_started() - threads <= 16);
    // Each call that gave up on s1 reported a timeout on s1: the keyed read and write,
    // both fan-outs (fail-fast may not have started s1), the unit of work's statement and
    // the transaction; none on s0.
    let stats = pool.stats();
    assert!(stats[1].timeouts >= 5, "{:?}", stats[1]);
    assert_eq!(stats[0].timeouts, 0, "{:?}", stats[0]);
    proxy.unstall();

    // After the stall the shard serves again (bounded by count; the stuck statements
    // finish and drop their connections as their answers arrive).
    let mut served = false;
    for _ in 0..300 {
        if count_on(k1).is_ok_and(|n| n == 1) {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "s1 serves again after the stall");
    // Nothing that timed out took effect, and no connection stays stuck: every
    // connection of the proxied pool comes back idle (or kept on its namespace).
    let name: String = customers::table
        .filter(customers::id.eq(k1))
        .select(customers::name)
        .for_key(k1)
        .get_result(&pool)
        .unwrap();
    assert_ne!(
        name, "in a stalled transaction",
        "the abandoned transaction rolled back"
    );
    let proxied = pool.shard_pool("s1").unwrap();
    let mut settled = false;
    for _ in 0..300 {
        let state = proxied.state();
        let kept = pool.kept_idle("s1").unwrap() as u32;
        if state.connections == state.idle_connections + kept {
            settled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(settled, "no connection stays stuck after the stall");
}

/// Under the pool's default deadline, `insert`, `insert_all` and id blocks give up on a
/// stalled shard in time, and the batch `insert_all` gave up on never commits, even once the
/// network is back.
#[test]
fn inserts_under_the_default_deadline_hold_while_a_shard_stalls() {
    let databases = Databases::create(3, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    let pool = proxied_pool(&databases, &proxy, |b| {
        b.max_size(3)
            .connection_timeout(Duration::from_secs(60))
            .default_timeout(DEADLINE)
    });
    let on = |shard: &str, from: i64| {
        (from..)
            .find(|k| pool.shard_for_key(k).is_ok_and(|s| s == shard))
            .unwrap()
    };
    let (k0, k1) = (on("s0", 1), on("s1", 1));
    let (k0b, k1b) = (on("s0", k0 + 1), on("s1", k1 + 1));
    let k1c = on("s1", k1b + 1);
    // Leaves an idle connection to s1 that has run under the deadline: the batch below
    // takes it at once, and its `BEGIN` is what stalls.
    assert_eq!(pool.insert_all([customer(k0), customer(k1)]).unwrap(), 2);
    BlockIds::create_table(&pool).unwrap();
    let ids = BlockIds::new("stalled", 10).unwrap();
    assert_eq!(
        ids.next_id(&pool, 0).unwrap(),
        1,
        "s0's first block starts at 1"
    );

    proxy.stall();
    let started = Instant::now();
    let err = pool.insert_all([customer(k0b), customer(k1b)]).unwrap_err();
    returned_in_time(started, "an insert_all");
    match &err {
        // Nothing of s1's batch had been sent: it rolled back (or never began).
        Error::PartialInsert {
            shard,
            source,
            committed,
        } => {
            assert_eq!(shard, "s1", "{err}");
            assert!(source.is_timeout(), "{err}");
            assert_eq!(committed, &["s0"], "{err}");
        }
        other => panic!("an insert_all: expected PartialInsert, got {other}"),
    }
    let started = Instant::now();
    let err = pool.insert(customer(k1c)).unwrap_err();
    returned_in_time(started, "an insert");
    timed_out_on(&err, "s1", "an insert");

    let started = Instant::now();
    let err = ids.next_id(&pool, 1).unwrap_err();
    returned_in_time(started, "an id block");
    timed_out_on(&err, "s1", "an id block");
    assert_eq!(ids.next_id(&pool, 0).unwrap(), 2, "s0 still hands out ids");

    proxy.unstall();

    // Once the network is back the abandoned statements run on, and must not commit
    // (bounded by count, so the stuck workers have time to get their answers).
    let ids_on_s1 = || {
        customers::table
            .select(customers::id)
            .order(customers::id)
            .set_shard("s1")
            .load::<i64>(&pool)
    };
    let mut served = false;
    for _ in 0..300 {
        if ids_on_s1().is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "s1 serves again after the stall");
    let shard_pool = pool.shard_pool("s1").unwrap();
    for _ in 0..300 {
        let state = shard_pool.state();
        if state.connections == state.idle_connections + pool.kept_idle("s1").unwrap() as u32 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The single `INSERT` is one autocommitted statement: once its bytes arrive it may
    // take effect (the documented limit). `insert_all`'s batch is a transaction that
    // commits only if its caller still waits.
    let mut on_s1 = ids_on_s1().unwrap();
    on_s1.retain(|id| *id != k1c);
    assert_eq!(on_s1, [k1], "s1 holds none of insert_all's given-up rows");
    let on_s0: Vec<i64> = customers::table
        .select(customers::id)
        .order(customers::id)
        .set_shard("s0")
        .load(&pool)
        .unwrap();
    assert_eq!(on_s0, [k0, k0b], "s0's batch committed");
}

/// A search that asks every shard at once returns at its hit while a shard before the
/// hit's stalls: its caller waits for the first hit instead of running the first
/// shard's statement itself (which would hold the call until the stall ends). No
/// deadline is set; the stall lasts until the test ends it, and a watchdog of minutes
/// bounds a hang. `ShardedPool::close` waits for the statement left running on s0.
#[test]
fn a_search_of_every_shard_returns_at_its_hit_while_an_earlier_shard_stalls() {
    let databases = Databases::create(2, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    let stalled = in_clear(with_port(&databases.url(0), proxy.port()));
    let builder = ShardedPool::<Conn>::builder().max_size(2);
    let builder = if super::LOGICAL {
        builder
            .shared_pool("proxied", stalled)
            .shared_pool("direct", databases.url(0))
            .logical_shard("s0", "proxied", databases.namespace(0))
            .logical_shard("s1", "direct", databases.namespace(1))
    } else {
        builder.shard("s0", stalled).shard("s1", databases.url(1))
    };
    let pool = builder.build().unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    let k1 = key_on(&pool, "s1");
    pool.insert(customer(k1)).unwrap();

    proxy.stall();
    let (tx, rx) = std::sync::mpsc::channel();
    let searching = pool.clone();
    std::thread::spawn(move || {
        let found = customers::table
            .find_anywhere(k1)
            .select(Customer::as_select())
            .max_parallelism(2)
            .find_first(&searching);
        let _ = tx.send(found.map(|found| found.map(|c| (c.shard().to_string(), c.id))));
    });
    let found = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("the search returns while s0 stalls");
    assert_eq!(found.unwrap(), Some(("s1".to_owned(), k1)));
    // s0's statement still runs on a worker: closing cannot wait for it while it stalls.
    assert!(!pool.clone().close(Duration::from_millis(100)));

    // After the stall s0 answers again, and its search statement is done with.
    proxy.unstall();
    assert!(
        pool.clone().close(Duration::from_secs(120)),
        "s0's statement finished once the stall ended"
    );
    let on_s0 = customers::table
        .count()
        .get_result::<i64>(&mut pool.connection("s0").unwrap())
        .unwrap();
    assert_eq!(on_s0, 0);
}

#[test]
fn fan_outs_start_no_thread_per_call() {
    let databases = Databases::create(3, super::LOGICAL);
    let proxy = Proxy::start(address_of(&databases.url(0)));
    let pool = proxied_pool(&databases, &proxy, |b| b.max_size(3));
    let count = || customers::table.count().all_shards().count(&pool).unwrap();
    assert_eq!(count(), 0);
    let threads = pool.worker_threads_started();
    for _ in 0..1000 {
        assert_eq!(count(), 0);
    }
    assert_eq!(pool.worker_threads_started(), threads);
    assert!(threads <= pool.worker_threads() as u64);
}

#[test]
fn a_statement_given_up_on_is_cancelled_on_the_server() {
    // Without server-side limits, only the cancel request can end the sleep early.
    let shards = Shards::with(2, |b| b.server_statement_limits(false));
    let marker = unique_name();
    let is_postgres = Conn::NAME == "postgres";
    let sleep = if is_postgres {
        format!("SELECT pg_sleep(120), '{marker}'")
    } else {
        format!("SELECT SLEEP(120), '{marker}'")
    };
    let started = Instant::now();
    let err = diesel::sql_query(sleep)
        .set_shard("s1")
        .timeout(DEADLINE)
        .execute(&shards.pool)
        .unwrap_err();
    returned_in_time(started, "a sleeping statement");
    timed_out_on(&err, "s1", "a sleeping statement");
    // Seen from a connection of its own: the sleep ends long before its 120 s (the
    // bound below is 60 s, checked by count).
    let running = if is_postgres {
        format!(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' \
             AND pid <> pg_backend_pid()"
        )
    } else {
        format!(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%{marker}%' \
             AND id <> CONNECTION_ID()"
        )
    };
    let mut direct = shards.direct("s1");
    let mut cancelled = false;
    for _ in 0..600 {
        let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&running)
            .get_result(&mut direct)
            .unwrap();
        if n == 0 {
            cancelled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cancelled,
        "the abandoned statement was cancelled on the server"
    );
    // The pool still serves the shard.
    let n: i64 = customers::table
        .count()
        .set_shard("s1")
        .timeout(Duration::from_secs(30))
        .get_result(&shards.pool)
        .unwrap();
    assert_eq!(n, 0);
}
