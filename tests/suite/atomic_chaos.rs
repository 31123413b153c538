//! Sixteen threads move money between accounts on shards of two servers in atomic
//! transactions while one server is killed (no clean shutdown) and restarted: the total
//! balance never changes and nothing stays prepared.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{AtomicError, Error};

use super::backend::{drop_database, two_phase_admin_url, Conn, CHAOS_SERVER};
use crate::common::*;

diesel::table! { accounts (id) { id -> BigInt, balance -> BigInt, } }

const THREADS: usize = 16;
const TRANSFERS_PER_THREAD: usize = 60;
const ACCOUNTS: i64 = 64;
const OPENING_BALANCE: i64 = 1_000;

fn chaos(action: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/chaos-server");
    let out = Command::new(script)
        .args([CHAOS_SERVER, action])
        .output()
        .expect("run scripts/chaos-server");
    assert!(
        out.status.success(),
        "scripts/chaos-server {CHAOS_SERVER} {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The shard databases: s0 and s1 on the suite's server, s2 and s3 on the killable one.
struct TwoServers {
    urls: Vec<(String, String)>,
}

impl TwoServers {
    fn create() -> TwoServers {
        chaos("start");
        let servers = [two_phase_admin_url(), chaos("url")];
        let base = unique_name();
        let urls: Vec<(String, String)> = (0..4)
            .map(|i| {
                let server = servers[i / 2].clone();
                let name = format!("{base}_c{i}");
                Conn::establish(&server)
                    .unwrap()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                (server, name)
            })
            .collect();
        TwoServers { urls }
    }

    fn pool(&self) -> ShardedPool<Conn> {
        let mut builder = ShardedPool::<Conn>::builder()
            .connection_timeout(Duration::from_secs(2))
            .max_size(THREADS as u32);
        for (i, (server, name)) in self.urls.iter().enumerate() {
            builder = builder.shard(format!("s{i}"), with_database(server, name));
        }
        builder.build_unchecked().unwrap()
    }

    fn direct(&self, i: usize) -> Conn {
        let (server, name) = &self.urls[i];
        Conn::establish(&with_database(server, name)).unwrap()
    }
}

impl Drop for TwoServers {
    fn drop(&mut self) {
        for (server, name) in &self.urls {
            drop_database(server, name);
        }
    }
}

/// Account `n` of thread `t`'s `i`-th transfer: a fixed pseudo-random walk.
fn pick(t: usize, i: usize, salt: u64) -> i64 {
    let x = (t as u64 * 1_000_003 + i as u64 * 7_919 + salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 33) as i64 % ACCOUNTS + 1
}

fn transfer(
    pool: &ShardedPool<Conn>,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), AtomicError<Error>> {
    // Accounts in id order, so that two transfers never wait on each other in a cycle.
    let (first, second) = if from < to { (from, to) } else { (to, from) };
    pool.atomic(|tx| {
        for id in [first, second] {
            let delta = if id == from { -amount } else { amount };
            let n = diesel::update(accounts::table.find(id))
                .set(accounts::balance.eq(accounts::balance + delta))
                .execute(tx.connection_for_key(&id)?)?;
            assert_eq!(n, 1, "account {id} exists");
        }
        Ok(())
    })
}

fn total(servers: &TwoServers) -> i64 {
    (0..4)
        .map(|i| {
            let balances: Vec<i64> = accounts::table
                .select(accounts::balance)
                .load(&mut servers.direct(i))
                .unwrap();
            balances.iter().sum::<i64>()
        })
        .sum()
}

#[test]
fn transfers_keep_the_total_while_a_server_is_killed_and_restarted() {
    let watchdog = Instant::now() + Duration::from_secs(600); // a hang detector, not a speed test
    let servers = TwoServers::create();
    for i in 0..4 {
        servers
            .direct(i)
            .batch_execute("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")
            .unwrap();
    }
    let pool = servers.pool();
    for id in 1..=ACCOUNTS {
        diesel::insert_into(accounts::table)
            .values((accounts::id.eq(id), accounts::balance.eq(OPENING_BALANCE)))
            .execute(&mut *pool.connection_for_key(&id).unwrap().1)
            .unwrap();
    }
    let expected = ACCOUNTS * OPENING_BALANCE;
    let attempts = AtomicUsize::new(0);
    let committed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Another process's recovery, running all along, as an operator would run it.
        let recovering = servers.pool();
        let done = &done;
        scope.spawn(move || {
            while !done.load(Ordering::Acquire) {
                let _ = recovering.recover_transactions(Duration::from_secs(1));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pool, attempts, committed) = (&pool, &attempts, &committed);
                scope.spawn(move || {
                    for i in 0..TRANSFERS_PER_THREAD {
                        let (from, to) = (pick(t, i, 1), pick(t, i, 2));
                        if from == to {
                            continue;
                        }
                        let outcome = transfer(pool, from, to, (i % 10 + 1) as i64);
                        if matches!(outcome, Ok(()) | Err(AtomicError::CommitPending { .. })) {
                            committed.fetch_add(1, Ordering::Relaxed);
                        }
                        attempts.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Kill the second server a quarter of the way in.
        let total_attempts = THREADS * TRANSFERS_PER_THREAD * 9 / 10;
        while attempts.load(Ordering::Relaxed) < total_attempts / 4 {
            assert!(
                Instant::now() < watchdog,
                "the transfers stopped making progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        chaos("kill");
        // Down for a few more transfers, or two seconds if they block: transfers whose
        // rows a branch prepared on the other server locks wait for this server, whose
        // coordinator decides them.
        let (killed_at, killed) = (attempts.load(Ordering::Relaxed), Instant::now());
        while attempts.load(Ordering::Relaxed) < killed_at + THREADS * 2
            && killed.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        chaos("start");
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });
    // Finish what the kill left prepared, then check.
    let mut report = pool.recover_transactions(Duration::ZERO);
    while !report.is_clean() {
        assert!(
            Instant::now() < watchdog,
            "recovery never finished: {report:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        report = pool.recover_transactions(Duration::ZERO);
    }
    assert!(pool.in_doubt_transactions().unwrap().is_empty());
    assert_eq!(total(&servers), expected, "money was created or destroyed");
    let (committed, attempts) = (
        committed.load(Ordering::Relaxed),
        attempts.load(Ordering::Relaxed),
    );
    assert!(
        committed >= THREADS * 4,
        "too few transfers committed to mean anything: {committed}"
    );
    assert!(
        committed < attempts,
        "the kill failed no transfer: it was not felt ({committed} of {attempts})"
    );
}
