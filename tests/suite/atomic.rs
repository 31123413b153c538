//! Atomic transactions across shards (two-phase commit): all or nothing on every shard,
//! also when the writer's process dies at any step, with recovery finishing the rest.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel_sharding::atomic::{Decision, RecoveryReport};
use diesel_sharding::events::{HandleEvent, Operation, Outcome, ShardEvent};
use diesel_sharding::prelude::*;
use diesel_sharding::{AtomicError, AtomicTransaction, Error, ShardedPoolBuilder};

use super::backend::{
    branch_tag, kill_own_session, prepared_branches_tagged, two_phase_databases, Conn, Databases,
};
use super::LOGICAL;
use crate::common::*;

const N: usize = 3;

fn pool_on(
    databases: &Databases,
    configure: impl FnOnce(ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn>,
) -> ShardedPool<Conn> {
    configure(databases.add_to(ShardedPool::<Conn>::builder()))
        .build()
        .unwrap()
}

fn migrated() -> (Databases, ShardedPool<Conn>) {
    let databases = two_phase_databases(N, LOGICAL);
    let pool = pool_on(&databases, |b| b);
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    (databases, pool)
}

/// One order on every shard, ids `base..base + N`, each pinned to its shard.
fn write_everywhere(tx: &mut AtomicTransaction<'_, Conn>, base: i64) -> Result<(), Error> {
    for i in 0..N {
        let conn = tx.connection(&format!("s{i}"))?;
        diesel::insert_into(orders::table)
            .values(&order(base + i as i64, 1))
            .execute(conn)?;
    }
    Ok(())
}

fn order_ids_on(databases: &Databases, i: usize) -> Vec<i64> {
    orders::table
        .select(orders::id)
        .order(orders::id)
        .load(&mut databases.direct(i))
        .unwrap()
}

/// Whether every shard holds its order of the transaction at `base` (`Some(true)`), none
/// does (`Some(false)`), or some do and some do not (`None`: not atomic).
fn all_or_nothing(databases: &Databases, base: i64) -> Option<bool> {
    let present: Vec<bool> = (0..N)
        .map(|i| order_ids_on(databases, i).contains(&(base + i as i64)))
        .collect();
    if present.iter().all(|p| *p) {
        Some(true)
    } else if present.iter().all(|p| !*p) {
        Some(false)
    } else {
        None
    }
}

/// Prepared branches of these shards left on their servers, read from the servers'
/// own lists (`pg_prepared_xacts`, `XA RECOVER`), not through the library.
fn prepared_on_servers(databases: &Databases) -> i64 {
    (0..N)
        .map(|i| {
            let mut conn = databases.direct(i);
            let tag = branch_tag(&mut conn, &format!("s{i}"));
            prepared_branches_tagged(&mut conn, &tag)
        })
        .sum()
}

/// The coordinator's recorded outcome of transaction `id`, if any.
fn decision_row(databases: &Databases, id: &str) -> Option<String> {
    diesel::dsl::sql::<diesel::sql_types::Text>(&format!(
        "SELECT outcome FROM diesel_sharding_decisions WHERE xid = '{id}'"
    ))
    .get_result(&mut databases.direct(0))
    .optional()
    .unwrap()
}

#[derive(Debug, Default, Clone)]
struct Operations(Arc<Mutex<Vec<(String, Operation, Outcome)>>>);

impl HandleEvent for Operations {
    fn handle_event(&self, event: &ShardEvent<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((event.shard.to_string(), event.operation, event.outcome));
    }
}

impl Operations {
    fn count(&self, operation: Operation) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, op, outcome)| *op == operation && *outcome == Outcome::Success)
            .count()
    }
}

#[test]
fn an_atomic_transaction_commits_on_every_shard_it_touches_and_leaves_nothing_behind() {
    let (databases, _) = migrated();
    let seen = Operations::default();
    let pool = pool_on(&databases, |b| b.event_handler(seen.clone()));
    let mut id = None;
    let value = pool
        .atomic(|tx| {
            write_everywhere(tx, 100)?;
            assert_eq!(
                tx.shards().map(|s| s.as_str()).collect::<Vec<_>>(),
                ["s0", "s1", "s2"]
            );
            id = tx.id().map(str::to_owned);
            Ok::<_, Error>(42)
        })
        .unwrap();
    assert_eq!(value, 42);
    assert_eq!(all_or_nothing(&databases, 100), Some(true));
    let id = id.expect("an id once a shard was touched");
    assert!(
        id.starts_with("ds:") && id.ends_with(&branch_tag(&mut databases.direct(0), "s0")),
        "{id}"
    );
    // Two participants prepared and committed; one decision, on the coordinator.
    assert_eq!(
        (
            seen.count(Operation::Prepare),
            seen.count(Operation::Decide),
            seen.count(Operation::CommitPrepared)
        ),
        (2, 1, 2)
    );
    assert_eq!(prepared_on_servers(&databases), 0);
    assert!(pool.in_doubt_transactions().unwrap().is_empty());
    // The decision stays until the coordinator's next decision, which deletes it in the
    // same round trip.
    assert_eq!(decision_row(&databases, &id).as_deref(), Some("commit"));
    pool.atomic(|tx| write_everywhere(tx, 150)).unwrap();
    assert_eq!(
        decision_row(&databases, &id),
        None,
        "deleted once every shard committed"
    );
    assert_eq!(all_or_nothing(&databases, 150), Some(true));

    // One shard: committed directly, nothing prepared.
    pool.atomic(|tx| {
        let conn = tx.connection("s1")?;
        diesel::insert_into(orders::table)
            .values(&order(200, 1))
            .execute(conn)?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(order_ids_on(&databases, 1).contains(&200));
    assert_eq!(
        seen.count(Operation::Prepare),
        4,
        "no prepare for one shard"
    );
}

#[test]
fn a_failing_closure_or_a_shard_that_cannot_prepare_rolls_every_shard_back() {
    let (databases, pool) = migrated();
    let failed = pool.atomic(|tx| {
        write_everywhere(tx, 300)?;
        Err::<(), _>(Error::NoShards)
    });
    assert!(
        matches!(failed, Err(AtomicError::Transaction(Error::NoShards))),
        "{failed:?}"
    );
    assert_eq!(all_or_nothing(&databases, 300), Some(false));

    // s2's session dies before the prepare: the coordinator and s1 roll back too.
    let failed = pool.atomic(|tx| {
        write_everywhere(tx, 400)?;
        kill_own_session(tx.connection("s2")?);
        Ok::<_, Error>(())
    });
    let err = failed.unwrap_err();
    assert!(matches!(err, AtomicError::RolledBack(_)), "{err:?}");
    assert_eq!(err.committed(), Some(false));
    assert_eq!(all_or_nothing(&databases, 400), Some(false));
    assert_eq!(prepared_on_servers(&databases), 0);
    // The pool still works, on every shard.
    pool.atomic(|tx| write_everywhere(tx, 500)).unwrap();
    assert_eq!(all_or_nothing(&databases, 500), Some(true));
}

const CHILD_ENV: &str = "DIESEL_SHARDING_ATOMIC_CHILD";

/// Aborts the process (as a kill would) right after the first successful statement of
/// `operation`.
#[derive(Debug)]
struct CrashAfter(Operation);

impl HandleEvent for CrashAfter {
    fn handle_event(&self, event: &ShardEvent<'_>) {
        if event.operation == self.0 && event.outcome == Outcome::Success {
            std::process::abort();
        }
    }
}

/// The writer the crash tests kill: with `DIESEL_SHARDING_ATOMIC_CHILD` set to
/// `step|base|databases`, runs one atomic transaction over every shard and dies at `step`.
#[test]
#[ignore = "run by `a_writer_killed_at_any_step_leaves_every_transaction_whole_or_absent`"]
fn atomic_crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (step, base, description) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let base: i64 = base.parse().unwrap();
    let databases = Databases::attach(description);
    let crash = match step {
        "after_some_prepares" => Some(Operation::Prepare),
        "after_the_decision" => Some(Operation::Decide),
        "between_commits" => Some(Operation::CommitPrepared),
        _ => None,
    };
    let pool = pool_on(&databases, |b| match crash {
        Some(operation) => b.event_handler(CrashAfter(operation)),
        None => b,
    });
    let _ = pool.atomic(|tx| {
        write_everywhere(tx, base)?;
        if step == "before_any_prepare" {
            std::process::abort();
        }
        Ok::<_, Error>(())
    });
}

fn run_child(databases: &Databases, step: &str, base: i64) {
    let name = format!(
        "{}::atomic_crash_child",
        module_path!().split_once("::").map_or("", |p| p.1)
    );
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--ignored", "--test-threads", "1"])
        .env(CHILD_ENV, format!("{step}|{base}|{}", databases.describe()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "{step}: the writer was meant to die, and exited with {status}"
    );
}

/// The writer dies before any prepare, after one of two prepares, right after the
/// decision, and between the two commits. What it left is all or nothing once recovery
/// ran, as the decision says; no prepared branch is left; the log agrees with the shards.
#[test]
fn a_writer_killed_at_any_step_leaves_every_transaction_whole_or_absent() {
    let (databases, pool) = migrated();
    let steps = [
        ("before_any_prepare", false, 0),
        ("after_some_prepares", false, 1),
        ("after_the_decision", true, 2),
        ("between_commits", true, 1),
    ];
    for (round, (step, commits, prepared_left)) in steps.into_iter().enumerate() {
        let base = 1_000 * (round as i64 + 1);
        run_child(&databases, step, base);
        let in_doubt = pool.in_doubt_transactions().unwrap();
        assert_eq!(in_doubt.len(), prepared_left, "{step}: {in_doubt:?}");
        assert_eq!(
            prepared_on_servers(&databases),
            prepared_left as i64,
            "{step}"
        );
        let decided = in_doubt
            .iter()
            .all(|b| b.decision == Some(Decision::Commit));
        assert!(
            !commits || decided,
            "{step}: the decision is durable: {in_doubt:?}"
        );

        // Undecided branches younger than the age are left alone.
        let early = pool.recover_transactions(Duration::from_secs(3_600));
        assert!(early.failures.is_empty(), "{step}: {:?}", early.failures);
        let report: RecoveryReport = pool.recover_transactions(Duration::ZERO);
        assert!(report.is_clean(), "{step}: {report:?}");
        assert_eq!(
            report.committed.len() + early.committed.len(),
            if commits { prepared_left } else { 0 },
            "{step}"
        );
        assert_eq!(
            report.rolled_back.len(),
            if commits { 0 } else { prepared_left },
            "{step}"
        );
        assert_eq!(all_or_nothing(&databases, base), Some(commits), "{step}");
        assert_eq!(
            prepared_on_servers(&databases),
            0,
            "{step}: nothing left prepared"
        );
        assert!(pool.in_doubt_transactions().unwrap().is_empty(), "{step}");
        // The log agrees: an aborted transaction's decision says abort; a committed one's
        // was deleted once every shard had committed.
        for branch in in_doubt.iter().chain(&report.rolled_back) {
            let row = decision_row(&databases, &branch.id);
            let expected = (!commits).then(|| "abort".to_owned());
            assert_eq!(row, expected, "{step}: {}", branch.id);
        }
    }
}

/// Two recoveries at once (two pools, as two processes would have) agree: every branch
/// ends as its transaction's decision says, and neither reports a failure.
#[test]
fn two_recoveries_at_once_do_not_disagree() {
    let (databases, pool) = migrated();
    run_child(&databases, "after_some_prepares", 7_000);
    run_child(&databases, "between_commits", 8_000);
    run_child(&databases, "after_the_decision", 9_000);
    assert_eq!(pool.in_doubt_transactions().unwrap().len(), 1 + 1 + 2);
    let reports: Vec<RecoveryReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let other = pool_on(&databases, |b| b);
                scope.spawn(move || other.recover_transactions(Duration::ZERO))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for report in &reports {
        assert!(report.failures.is_empty(), "{report:?}");
    }
    assert_eq!(all_or_nothing(&databases, 7_000), Some(false));
    assert_eq!(all_or_nothing(&databases, 8_000), Some(true));
    assert_eq!(all_or_nothing(&databases, 9_000), Some(true));
    assert_eq!(prepared_on_servers(&databases), 0);
    assert!(pool.in_doubt_transactions().unwrap().is_empty());
}

/// `recover_transactions_on_start` finishes what a crash left before `build` returns.
#[test]
fn a_pool_built_with_recovery_on_start_finishes_what_a_crash_left() {
    let (databases, pool) = migrated();
    run_child(&databases, "between_commits", 11_000);
    assert_eq!(pool.in_doubt_transactions().unwrap().len(), 1);
    let restarted = pool_on(&databases, |b| {
        b.recover_transactions_on_start(Duration::from_secs(60))
    });
    assert!(restarted.in_doubt_transactions().unwrap().is_empty());
    assert_eq!(all_or_nothing(&databases, 11_000), Some(true));
    assert_eq!(prepared_on_servers(&databases), 0);
}
