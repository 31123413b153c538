//! Atomic transactions across shards: two-phase commit with a durable decision and
//! crash recovery.
//!
//! [`ShardedPool::atomic`] runs a closure that writes to any number of shards and commits
//! it on all of them or on none, even if the process dies half-way:
//!
//! 1. Each shard the closure touches gets a transaction (`BEGIN` on PostgreSQL, `XA START`
//!    on MySQL/MariaDB). The first shard touched is the **coordinator**.
//! 2. When the closure returns `Ok`, every other shard **prepares** (`PREPARE TRANSACTION`,
//!    `XA PREPARE`): its writes are on disk and survive a crash of either side, but are
//!    not visible yet.
//! 3. The coordinator writes the **decision** (a row in its table
//!    `diesel_sharding_decisions`) inside its own transaction and commits it. That one
//!    local commit is the moment the transaction commits: the coordinator's writes and
//!    the decision become durable together, or neither does.
//! 4. Every prepared shard **commits** (`COMMIT PREPARED`, `XA COMMIT`), then the
//!    decision row is deleted.
//!
//! Anything that fails before step 3 rolls every shard back. A failure after it leaves
//! prepared shards to [recovery](ShardedPool::recover_transactions), which commits them:
//! the decision is durable. A transaction with one shard commits it directly, without
//! preparing.
//!
//! **Why the decision lives on the coordinator, in its own commit.** A separate log
//! (another table, a file) would add a write and a place that can fail between "decided"
//! and "logged". Making the decision part of the coordinator's own commit means there is
//! no moment at which the coordinator has committed but the decision is not durable, or
//! the reverse. Recovery asks the coordinator named in the transaction's id.
//!
//! **Recovery.** [`ShardedPool::recover_transactions`] (also on pool start, with
//! [`ShardedPoolBuilder::recover_transactions_on_start`](crate::ShardedPoolBuilder::recover_transactions_on_start),
//! and from the command line: `diesel-sharding transactions recover`) lists the prepared
//! branches on every shard, and for each one asks its coordinator: a `commit` decision
//! commits it; a transaction with no decision that is older than the given age is
//! decided `abort` (by inserting that decision, so that a coordinator still running
//! cannot commit it afterwards: the decision's primary key lets only one of them win)
//! and rolled back. Two recovering processes at once read the same decision and do the
//! same thing; the second finds the branch gone.
//!
//! What a user must set up:
//!
//! * **PostgreSQL**: `max_prepared_transactions` above zero (the default is 0, which
//!   makes every atomic transaction fail with [`Error::PreparedTransactionsDisabled`]):
//!   at least the number of atomic transactions in flight at once, on every shard's
//!   server, then restart it.
//! * **MySQL/MariaDB**: InnoDB tables; the user needs `XA_RECOVER_ADMIN` on MySQL 8 for
//!   recovery. Two applications whose pools share a MySQL server must not use the same
//!   shard ids: `XA RECOVER` lists every branch on the server.
//! * **SQLite** cannot prepare transactions: [`ShardedPool::atomic`] fails at once with
//!   [`Error::TwoPhaseUnsupported`], before the closure runs; it never commits one shard
//!   without the others.
//! * **Clocks**: a transaction's id carries its start time; recovery's age is measured
//!   against the recovering machine's clock, so keep clocks within a fraction of that age.
//!
//! Logical shards work the same way: each logical shard touched is its own branch, on
//! its own connection.
//!
//! Locks: a prepared branch keeps its row locks until it is committed or rolled back, so a
//! crash between prepare and commit blocks writers to those rows until recovery runs.

mod error;
mod log;
mod recovery;
mod xid;

use std::fmt;

pub use error::AtomicError;
use log::ensure_decision_log;
pub(crate) use log::{delete_decisions_sql, insert_decision_sql, DECISIONS_TABLE};
pub use recovery::{Decision, InDoubt, RecoveryReport};
#[doc(hidden)]
pub use xid::Branch;

use crate::backend::{mark_broken, TwoPhaseStep};
use crate::events::Operation;
use crate::executor::{self, Checkout, Statement};
use crate::pool::{hand_out, R2d2PooledConnection};
use crate::{Error, Result, ShardBackend, ShardId, ShardKey, ShardedPool};

/// Where a branch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Prepared,
    Finished,
}

/// One shard taking part in an atomic transaction, on its own connection.
struct Participant<Conn: ShardBackend> {
    index: usize,
    conn: R2d2PooledConnection<Conn>,
    branch: Branch,
    state: State,
}

/// The shards one atomic transaction writes to: handed to the closure of
/// [`ShardedPool::atomic`], it gives a connection to each shard, in that shard's branch
/// of the transaction.
///
/// Use the connections with plain Diesel. Nested `transaction` calls on them become
/// savepoints on PostgreSQL; on MySQL/MariaDB an XA transaction cannot hold savepoints
/// or nested transactions. Statements that commit by themselves (DDL on MySQL) break the
/// branch and fail the transaction.
pub struct AtomicTransaction<'p, Conn: ShardBackend> {
    pool: &'p ShardedPool<Conn>,
    id: Option<std::sync::Arc<str>>,
    participants: Vec<Participant<Conn>>,
}

impl<Conn: ShardBackend> fmt::Debug for AtomicTransaction<'_, Conn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicTransaction")
            .field("id", &self.id)
            .field("shards", &self.shards().collect::<Vec<_>>())
            .finish()
    }
}

impl<'p, Conn: ShardBackend> AtomicTransaction<'p, Conn> {
    fn new(pool: &'p ShardedPool<Conn>) -> Self {
        AtomicTransaction {
            pool,
            id: None,
            participants: Vec::new(),
        }
    }

    /// The transaction's id (`ds:<stamp>:<coordinator>`), once a shard was touched.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The shards touched so far, the coordinator first.
    pub fn shards(&self) -> impl Iterator<Item = &ShardId> + '_ {
        self.participants.iter().map(|p| self.pool.id(p.index))
    }

    /// The connection to `shard`, in its branch of this transaction: begun on first use.
    pub fn connection(&mut self, shard: &str) -> Result<&mut Conn> {
        let index = self.pool.shard_index(shard)?;
        self.connection_at(index)
    }

    /// The connection to the shard that owns `key`, in its branch of this transaction.
    pub fn connection_for_key<K: ShardKey + ?Sized>(&mut self, key: &K) -> Result<&mut Conn> {
        let index = self.pool.route_key_index(key, "query")?;
        self.connection_at(index)
    }

    fn connection_at(&mut self, index: usize) -> Result<&mut Conn> {
        let position = match self.participants.iter().position(|p| p.index == index) {
            Some(position) => position,
            None => {
                self.join(index)?;
                self.participants.len() - 1
            }
        };
        Ok(&mut *self.participants[position].conn)
    }

    /// Checks out a connection to the shard at `index` and begins its branch; the first
    /// shard becomes the coordinator and gets its decision table first.
    fn join(&mut self, index: usize) -> Result<()> {
        let pool = self.pool;
        let (mut conn, checkout, _) =
            executor::checkout(pool, index, Operation::Transaction, None)?;
        hand_out(&mut conn).map_err(Error::on_shard(pool.id(index)))?;
        let joined = self.begin_branch(index, &mut conn, checkout);
        match joined {
            Ok(branch) => {
                self.participants.push(Participant {
                    index,
                    conn,
                    branch,
                    state: State::Active,
                });
                Ok(())
            }
            Err(e) => {
                pool.give_back(index, conn);
                Err(e)
            }
        }
    }

    /// Names the branch of the shard at `index` (and, for the first shard, the
    /// transaction) and begins it on `conn`.
    fn begin_branch(
        &mut self,
        index: usize,
        conn: &mut R2d2PooledConnection<Conn>,
        checkout: Checkout,
    ) -> Result<Branch> {
        let pool = self.pool;
        let tag = shard_tag(pool, index, conn)?;
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let id = xid::new_id(&tag)?;
                ensure_decision_log(pool, index, conn, checkout)?;
                self.id = Some(id.clone());
                id
            }
        };
        let branch = Branch::new(id, tag);
        run_step(
            pool,
            index,
            conn,
            Operation::Transaction,
            TwoPhaseStep::Begin(&branch),
        )?;
        Ok(branch)
    }

    /// Rolls every branch back, best effort: a branch whose rollback fails is dropped with
    /// its connection (the server rolls an active one back; recovery a prepared one).
    fn roll_back(&mut self) {
        let pool = self.pool;
        for p in &mut self.participants {
            let step = match p.state {
                State::Active => (Operation::Transaction, TwoPhaseStep::Rollback(&p.branch)),
                State::Prepared => (
                    Operation::RollbackPrepared,
                    TwoPhaseStep::RollbackPrepared(&p.branch),
                ),
                State::Finished => continue,
            };
            if run_step(pool, p.index, &mut p.conn, step.0, step.1).is_err() {
                mark_broken(&mut *p.conn);
            }
            p.state = State::Finished;
        }
    }

    /// Commits every branch: directly when there is one, else in two phases.
    fn commit<E>(&mut self) -> Result<(), AtomicError<E>> {
        let pool = self.pool;
        let id = self.id.clone().unwrap_or_default().to_string();
        match self.participants.as_mut_slice() {
            [] => return Ok(()),
            [only] => {
                let step = TwoPhaseStep::CommitOnePhase(&only.branch, "");
                let result = run_step(pool, only.index, &mut only.conn, Operation::Decide, step);
                only.state = State::Finished;
                return result.map_err(|cause| {
                    if is_lost::<Conn>(&cause) {
                        AtomicError::OutcomeUnknown {
                            id,
                            coordinator: pool.id(only.index).clone(),
                            cause: Box::new(cause),
                        }
                    } else {
                        mark_broken(&mut *only.conn);
                        AtomicError::RolledBack(cause)
                    }
                });
            }
            _ => {}
        }
        // Phase one: every shard but the coordinator prepares.
        for position in 1..self.participants.len() {
            let p = &mut self.participants[position];
            let step = TwoPhaseStep::Prepare(&p.branch);
            match run_step(pool, p.index, &mut p.conn, Operation::Prepare, step) {
                Ok(()) => p.state = State::Prepared,
                Err(cause) => {
                    // A failed prepare rolled its branch back on the server.
                    p.state = State::Finished;
                    mark_broken(&mut *p.conn);
                    let cause = disabled_or(cause, pool.id(p.index));
                    self.roll_back();
                    return Err(AtomicError::RolledBack(cause));
                }
            }
        }
        // The decision, in the coordinator's own commit, in one round trip with the
        // deletion of decisions no longer needed (every branch of theirs committed).
        let participants: Vec<&str> = self.shards().map(ShardId::as_str).collect();
        let participants = participants.join(",");
        let coordinator = &mut self.participants[0];
        let finished = pool.take_finished_decisions(coordinator.index);
        let mut first = String::new();
        if !finished.is_empty() {
            first = format!("{}; ", delete_decisions_sql(&finished));
        }
        first.push_str(&insert_decision_sql(&id, "commit", &participants, now_ms()));
        first.push_str("; ");
        let step = TwoPhaseStep::CommitOnePhase(&coordinator.branch, &first);
        let decided = run_step(
            pool,
            coordinator.index,
            &mut coordinator.conn,
            Operation::Decide,
            step,
        );
        if let Err(cause) = decided {
            let index = coordinator.index;
            pool.finished_decisions(index, finished);
            if is_lost::<Conn>(&cause) {
                // Prepared branches stay for recovery, which reads the decision.
                coordinator.state = State::Finished;
                mark_broken(&mut *coordinator.conn);
                return Err(AtomicError::OutcomeUnknown {
                    id,
                    coordinator: pool.id(index).clone(),
                    cause: Box::new(cause),
                });
            }
            // Refused (the decision was taken by recovery, a constraint at commit):
            // nothing committed.
            self.roll_back();
            return Err(AtomicError::RolledBack(cause));
        }
        coordinator.state = State::Finished;
        // Phase two: every prepared shard commits.
        let mut committed = vec![pool.id(self.participants[0].index).clone()];
        let mut pending = Vec::new();
        let mut first_cause = None;
        for p in self.participants.iter_mut().skip(1) {
            let step = TwoPhaseStep::CommitPrepared(&p.branch);
            match run_step(pool, p.index, &mut p.conn, Operation::CommitPrepared, step) {
                Ok(()) => committed.push(pool.id(p.index).clone()),
                Err(cause) => {
                    mark_broken(&mut *p.conn);
                    pending.push(pool.id(p.index).clone());
                    first_cause.get_or_insert(cause);
                }
            }
            p.state = State::Finished;
        }
        if let Some(cause) = first_cause {
            return Err(AtomicError::CommitPending {
                id,
                committed,
                pending,
                cause: Box::new(cause),
            });
        }
        // Every shard committed: the decision is not needed any more. It is deleted with
        // the coordinator's next decision (or by recovery).
        let coordinator = self.participants[0].index;
        pool.finished_decisions(coordinator, vec![id.into()]);
        Ok(())
    }
}

/// Gives every connection back; one whose branch is not finished is dropped instead: an
/// active branch (a closure that panicked, say) so that its server rolls it back, a
/// prepared one left to recovery because MySQL lets no other session finish a prepared
/// XA branch while the session that prepared it is alive.
impl<Conn: ShardBackend> Drop for AtomicTransaction<'_, Conn> {
    fn drop(&mut self) {
        for mut p in self.participants.drain(..) {
            if p.state != State::Finished {
                mark_broken(&mut *p.conn);
            }
            self.pool.give_back(p.index, p.conn);
        }
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Runs `f` as one transaction across every shard it touches, committed on all of
    /// them or on none (see the [module docs](crate::atomic) for the protocol and what
    /// the servers need).
    ///
    /// `f` gets an [`AtomicTransaction`]: ask it for each shard's connection
    /// ([`connection`](AtomicTransaction::connection),
    /// [`connection_for_key`](AtomicTransaction::connection_for_key)) and use them with
    /// plain Diesel. `Ok` from `f` commits everywhere; `Err` rolls everything back and
    /// comes back as [`AtomicError::Transaction`]. The other variants of
    /// [`AtomicError`] say, for each way the commit can fail, whether it committed.
    ///
    /// Statements carry the pool's default deadline as their server-side limit only;
    /// the call itself has no client-side deadline.
    ///
    /// ```no_run
    /// use diesel::prelude::*;
    /// use diesel::PgConnection;
    /// use sharding_core::{AtomicError, Error, ShardedPool};
    ///
    /// diesel::table! { accounts (id) { id -> BigInt, balance -> BigInt, } }
    ///
    /// fn transfer(pool: &ShardedPool<PgConnection>, from: i64, to: i64, amount: i64)
    ///     -> Result<(), AtomicError<Error>>
    /// {
    ///     pool.atomic(|tx| {
    ///         diesel::update(accounts::table.find(from))
    ///             .set(accounts::balance.eq(accounts::balance - amount))
    ///             .execute(tx.connection_for_key(&from)?)?;
    ///         diesel::update(accounts::table.find(to))
    ///             .set(accounts::balance.eq(accounts::balance + amount))
    ///             .execute(tx.connection_for_key(&to)?)?;
    ///         Ok::<_, Error>(())
    ///     })
    /// }
    /// ```
    ///
    /// On SQLite it fails with [`Error::TwoPhaseUnsupported`] and does not run `f`:
    ///
    /// ```
    /// use diesel::SqliteConnection;
    /// use sharding_core::{AtomicError, Error, ShardedPool};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .build()?;
    /// let result = pool.atomic(|_tx| -> Result<(), Error> { unreachable!("never runs") });
    /// assert!(matches!(
    ///     result,
    ///     Err(AtomicError::RolledBack(Error::TwoPhaseUnsupported { backend: "sqlite" }))
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn atomic<T, E, F>(&self, f: F) -> Result<T, AtomicError<E>>
    where
        F: FnOnce(&mut AtomicTransaction<'_, Conn>) -> Result<T, E>,
    {
        if !Conn::TWO_PHASE {
            return Err(AtomicError::RolledBack(Error::TwoPhaseUnsupported {
                backend: Conn::NAME,
            }));
        }
        let mut tx = AtomicTransaction::new(self);
        let value = match f(&mut tx) {
            Ok(value) => value,
            Err(e) => {
                tx.roll_back();
                return Err(AtomicError::Transaction(e));
            }
        };
        tx.commit()?;
        Ok(value)
    }
}

/// A statement on the shard at `index` on a connection already held.
fn statement(index: usize, operation: Operation) -> Statement {
    Statement {
        index,
        operation,
        checkout: Checkout::default(),
        timeout: None,
    }
}

/// Runs one two-phase `step` on `conn` as a statement of `operation`.
fn run_step<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    conn: &mut R2d2PooledConnection<Conn>,
    operation: Operation,
    step: TwoPhaseStep<'_>,
) -> Result<()> {
    executor::run(
        pool,
        statement(index, operation),
        conn,
        |_| None,
        |c| Conn::two_phase(c, step),
    )
}

/// The tag of the shard at `index` (its id and where its data lives), read once per pool.
pub(crate) fn shard_tag<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    conn: &mut Conn,
) -> Result<std::sync::Arc<str>> {
    if let Some(tag) = pool.branch_tag(index).get() {
        return Ok(tag.clone());
    }
    let location = Conn::load_strings(conn, Conn::LOCATION_SQL)
        .map_err(Error::on_shard(pool.id(index)))?
        .concat();
    let tag = xid::tag(pool.id(index), &location)?;
    Ok(pool.branch_tag(index).get_or_init(|| tag).clone())
}

/// Milliseconds since the Unix epoch, as a SQL `BIGINT`.
fn now_ms() -> i64 {
    i64::try_from(xid::now_millis()).unwrap_or(i64::MAX)
}

/// Whether `error` says the connection broke, so that whether the statement took effect
/// is unknown.
fn is_lost<Conn: ShardBackend>(error: &Error) -> bool {
    error.diesel_error().is_some_and(Conn::is_connection_error)
        || matches!(error, Error::Timeout { .. })
}

/// `cause`, or [`Error::PreparedTransactionsDisabled`] when it says the server allows
/// no prepared transactions.
fn disabled_or(cause: Error, shard: &ShardId) -> Error {
    let disabled = cause
        .diesel_error()
        .is_some_and(|e| e.to_string().contains("prepared transactions are disabled"));
    if disabled {
        Error::PreparedTransactionsDisabled {
            shard: shard.clone(),
        }
    } else {
        cause
    }
}
