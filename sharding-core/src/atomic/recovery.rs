//! Recovery of atomic transactions left prepared by a crash: every prepared branch is
//! committed or rolled back as its coordinator's decision says.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::log::{create_decisions_sql, delete_decisions_sql, DECISIONS_TABLE};
use super::xid::{self, Branch};
use crate::backend::TwoPhaseStep;
use crate::events::Operation;
use crate::executor;
use crate::{Error, Result, ShardBackend, ShardFailure, ShardId, ShardedPool};

/// What the coordinator decided for an atomic transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// Commit every shard.
    Commit,
    /// Roll every shard back (decided by recovery, for a transaction that was never
    /// decided and grew older than recovery's age).
    Abort,
}

impl Decision {
    fn parse(outcome: &str) -> Option<Self> {
        match outcome {
            "commit" => Some(Decision::Commit),
            "abort" => Some(Decision::Abort),
            _ => None,
        }
    }
}

/// One shard's branch of an atomic transaction, prepared and waiting for its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InDoubt {
    /// The transaction's id (`ds:<stamp>:<coordinator>`).
    pub id: String,
    /// The shard the branch is prepared on.
    pub shard: ShardId,
    /// The shard that holds the transaction's decision.
    pub coordinator: ShardId,
    /// How long ago the transaction started (by this machine's clock).
    pub age: Duration,
    /// What the coordinator decided, if it decided: `None` while the transaction is in
    /// flight, or when it was abandoned before its decision.
    pub decision: Option<Decision>,
    /// The branch's shard tag (shard id and location hash).
    tag: Arc<str>,
}

/// One line: ``ds:…:s0 on `s2` (coordinator `s0`, 12.3 s old): commit``.
impl fmt::Display for InDoubt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decision = match self.decision {
            Some(Decision::Commit) => "commit",
            Some(Decision::Abort) => "abort",
            None => "undecided",
        };
        write!(
            f,
            "{} on `{}` (coordinator `{}`, {:.1} s old): {decision}",
            self.id,
            self.shard,
            self.coordinator,
            self.age.as_secs_f64()
        )
    }
}

/// What [`ShardedPool::recover_transactions`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Branches committed, as their coordinator decided.
    pub committed: Vec<InDoubt>,
    /// Branches rolled back: decided `abort`, or undecided and older than the age given.
    pub rolled_back: Vec<InDoubt>,
    /// Branches left alone: undecided and younger than the age given (probably still in
    /// flight).
    pub waiting: Vec<InDoubt>,
    /// Shards that could not be read or finished, and why; their branches are left for
    /// the next recovery.
    pub failures: Vec<ShardFailure>,
    /// Decisions deleted because every branch of their transaction is finished.
    pub decisions_deleted: usize,
}

impl RecoveryReport {
    /// Whether nothing is left to recover: no branch waiting, no shard failed.
    pub fn is_clean(&self) -> bool {
        self.waiting.is_empty() && self.failures.is_empty()
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// The prepared branches of atomic transactions on every shard, with their
    /// coordinators' decisions. It changes nothing (but creates the empty decision table
    /// on a coordinator that lost it). Fails with [`Error::FanOut`] naming the shards that
    /// could not be read.
    pub fn in_doubt_transactions(&self) -> Result<Vec<InDoubt>> {
        let (mut branches, failures) = self.prepared_everywhere();
        if !failures.is_empty() {
            return Err(Error::FanOut { failures });
        }
        let mut decisions = Decisions::default();
        for branch in &mut branches {
            branch.decision = decisions.of(self, branch)?;
        }
        Ok(branches)
    }

    /// Finishes the atomic transactions a crash left prepared: each prepared branch is
    /// committed if its coordinator decided to commit, and rolled back if it decided to
    /// abort; a transaction with no decision that started more than `older_than` ago is
    /// decided `abort` first (see the [module docs](crate::atomic)). Younger undecided
    /// ones are left alone, as their coordinator may still be running: pick an age well
    /// above your longest atomic transaction.
    ///
    /// Safe to run from several processes at once: the decision's primary key makes
    /// them agree, and a branch one of them finished is gone for the others. A shard
    /// that cannot be reached is reported in [`RecoveryReport::failures`]; the others
    /// are recovered.
    pub fn recover_transactions(&self, older_than: Duration) -> RecoveryReport {
        let mut report = RecoveryReport::default();
        if !Conn::TWO_PHASE {
            return report;
        }
        let (branches, failures) = self.prepared_everywhere();
        report.failures = failures;
        let mut decisions = Decisions::default();
        let mut unfinished: BTreeSet<String> = BTreeSet::new();
        for mut branch in branches {
            let decided = decisions
                .of(self, &branch)
                .and_then(|decision| match decision {
                    Some(decision) => Ok(Some(decision)),
                    None if branch.age < older_than => Ok(None),
                    None => decisions.abort(self, &branch).map(Some),
                });
            branch.decision = match decided {
                Ok(decision) => decision,
                Err(error) => {
                    unfinished.insert(branch.id.clone());
                    report
                        .failures
                        .push(failure(branch.coordinator.clone(), error));
                    continue;
                }
            };
            let Some(decision) = branch.decision else {
                unfinished.insert(branch.id.clone());
                report.waiting.push(branch);
                continue;
            };
            match self.finish_branch(&branch, decision) {
                Ok(()) if decision == Decision::Commit => report.committed.push(branch),
                Ok(()) => report.rolled_back.push(branch),
                Err(error) => {
                    unfinished.insert(branch.id.clone());
                    report.failures.push(failure(branch.shard.clone(), error));
                }
            }
        }
        if report.failures.is_empty() {
            report.decisions_deleted = self.forget_decisions(older_than, &unfinished);
        }
        report
    }

    /// Every prepared branch of this pool's shards, and the shards that could not be
    /// listed.
    fn prepared_everywhere(&self) -> (Vec<InDoubt>, Vec<ShardFailure>) {
        let mut branches = Vec::new();
        let mut failures = Vec::new();
        if !Conn::TWO_PHASE {
            return (branches, failures);
        }
        let mut listings = Vec::new();
        for (index, shard) in self.shard_ids().iter().enumerate() {
            let listed = executor::run_checked_out(
                self,
                index,
                Operation::Query,
                |_| None,
                |c| {
                    let tag = super::shard_tag(self, index, c).map_err(|e| {
                        diesel::result::Error::QueryBuilderError(e.to_string().into())
                    })?;
                    Ok((tag, Conn::prepared_branches(c)?))
                },
            );
            match listed {
                Ok(listing) => listings.push((shard.clone(), listing)),
                Err(error) => failures.push(failure(shard.clone(), error)),
            }
        }
        // Only branches of this pool's shards, coordinated by one of this pool's shards:
        // the tags (id and location) must match, not the ids alone.
        let tags: BTreeSet<&str> = listings.iter().map(|(_, (tag, _))| &**tag).collect();
        for (shard, (tag, listed)) in &listings {
            for (id, branch_tag) in listed {
                if branch_tag != &**tag {
                    continue;
                }
                let Some(parsed) = xid::parse_id(id) else {
                    continue;
                };
                if !tags.contains(parsed.coordinator_tag.as_str()) {
                    continue;
                }
                branches.push(InDoubt {
                    id: id.clone(),
                    shard: shard.clone(),
                    coordinator: parsed.coordinator,
                    age: xid::age(parsed.started_ms),
                    decision: None,
                    tag: tag.clone(),
                });
            }
        }
        (branches, failures)
    }

    /// Commits or rolls back one prepared branch, from a connection to its shard. A
    /// branch another recovery finished meanwhile counts as finished.
    fn finish_branch(&self, branch: &InDoubt, decision: Decision) -> Result<()> {
        let index = self.shard_index(branch.shard.as_str())?;
        let prepared = Branch::new(branch.id.as_str().into(), branch.tag.clone());
        let (operation, step) = match decision {
            Decision::Commit => (
                Operation::CommitPrepared,
                TwoPhaseStep::CommitPrepared(&prepared),
            ),
            Decision::Abort => (
                Operation::RollbackPrepared,
                TwoPhaseStep::RollbackPrepared(&prepared),
            ),
        };
        let finished = executor::run_checked_out(
            self,
            index,
            operation,
            |_| None,
            |c| Conn::two_phase(c, step),
        );
        let Err(error) = finished else {
            return Ok(());
        };
        // Another recovery may be finishing it right now (MySQL then says `XAER_NOTA`
        // while the branch is still listed): look again a few times before failing.
        for _ in 0..FINISHED_ELSEWHERE_CHECKS {
            let still_there = executor::run_checked_out(
                self,
                index,
                Operation::Query,
                |_| None,
                |c| Conn::prepared_branches(c),
            )?
            .into_iter()
            .any(|(id, tag)| id == branch.id && tag == *branch.tag);
            if !still_there {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(error)
    }

    /// Deletes, on every shard, the `commit` decisions older than `older_than` whose
    /// transactions have no branch left unfinished; returns how many. Younger ones may
    /// belong to a coordinator still committing its branches. `abort` decisions are kept:
    /// they stop a coordinator that is still running from committing later.
    fn forget_decisions(&self, older_than: Duration, unfinished: &BTreeSet<String>) -> usize {
        let older = u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX);
        let cutoff = xid::now_millis().saturating_sub(older);
        let mut deleted = 0;
        for index in 0..self.shard_ids().len() {
            let list = format!(
                "SELECT xid FROM {DECISIONS_TABLE} WHERE outcome = 'commit' AND decided_at_ms < {cutoff}"
            );
            let Ok(ids) = executor::run_checked_out(
                self,
                index,
                Operation::Query,
                |_| None,
                |c| Conn::load_strings(c, &list),
            ) else {
                // No decision table: this shard never coordinated.
                continue;
            };
            let finished: Vec<String> = ids
                .into_iter()
                .filter(|id| !unfinished.contains(id) && xid::parse_id(id).is_some())
                .collect();
            for chunk in finished.chunks(100) {
                let delete = delete_decisions_sql(chunk);
                let done = executor::run_checked_out(
                    self,
                    index,
                    Operation::Query,
                    |_| None,
                    |c| c.batch_execute(&delete),
                );
                deleted += if done.is_ok() { chunk.len() } else { 0 };
            }
        }
        deleted
    }
}

/// How many times a branch that failed to finish is looked for again (50 ms apart)
/// before the failure is reported.
const FINISHED_ELSEWHERE_CHECKS: usize = 20;

/// Coordinators' decisions, read once per transaction.
#[derive(Default)]
struct Decisions {
    known: BTreeMap<String, Option<Decision>>,
}

impl Decisions {
    /// The decision for `branch`'s transaction, read from its coordinator.
    fn of<Conn: ShardBackend>(
        &mut self,
        pool: &ShardedPool<Conn>,
        branch: &InDoubt,
    ) -> Result<Option<Decision>> {
        if let Some(decision) = self.known.get(&branch.id) {
            return Ok(*decision);
        }
        let decision = read_decision(pool, branch, "")?;
        self.known.insert(branch.id.clone(), decision);
        Ok(decision)
    }

    /// Decides `abort` for `branch`'s undecided transaction unless its coordinator
    /// decided meanwhile, and returns what holds now.
    fn abort<Conn: ShardBackend>(
        &mut self,
        pool: &ShardedPool<Conn>,
        branch: &InDoubt,
    ) -> Result<Decision> {
        let record = Conn::record_decision_once(&branch.id, "abort", "", super::now_ms());
        let decision = read_decision(pool, branch, &record)?.ok_or_else(|| Error::Query {
            shard: branch.coordinator.clone(),
            source: diesel::result::Error::NotFound,
        })?;
        self.known.insert(branch.id.clone(), Some(decision));
        Ok(decision)
    }
}

/// Runs `first` (possibly nothing) on `branch`'s coordinator, then reads the decision
/// recorded there for its transaction, on one connection. The decision table is created
/// first if this pool has not seen it on that shard yet.
fn read_decision<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    branch: &InDoubt,
    first: &str,
) -> Result<Option<Decision>> {
    let index = pool.shard_index(branch.coordinator.as_str())?;
    let ready = pool.decision_log_ready(index);
    let mut before = String::new();
    if !ready.load(Ordering::Acquire) {
        before = format!("{}; ", create_decisions_sql());
    }
    before.push_str(first);
    let read = format!(
        "SELECT outcome FROM {DECISIONS_TABLE} WHERE xid = '{}'",
        branch.id
    );
    let outcomes = executor::run_checked_out(
        pool,
        index,
        Operation::Query,
        |_| None,
        |c| {
            if !before.is_empty() {
                c.batch_execute(&before)?;
            }
            Conn::load_strings(c, &read)
        },
    )?;
    ready.store(true, Ordering::Release);
    Ok(outcomes.first().and_then(|o| Decision::parse(o)))
}

fn failure(shard: ShardId, error: Error) -> ShardFailure {
    ShardFailure { shard, error }
}
