//! The decision log: the table on each coordinator that records whether an atomic
//! transaction commits, and the statements that write, read and prune it.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::events::Operation;
use crate::executor::{self, Checkout, Statement};
use crate::pool::R2d2PooledConnection;
use crate::{Result, ShardBackend, ShardedPool};

/// The table that holds the decisions of atomic transactions, on their coordinators.
pub(crate) const DECISIONS_TABLE: &str = "diesel_sharding_decisions";

/// The statement that records `outcome` for transaction `id`.
pub(crate) fn insert_decision_sql(
    id: &str,
    outcome: &str,
    participants: &str,
    at_ms: i64,
) -> String {
    format!(
        "INSERT INTO {DECISIONS_TABLE} (xid, outcome, participants, decided_at_ms) \
         VALUES ('{id}', '{outcome}', '{participants}', {at_ms})"
    )
}

/// The statement that deletes the decisions of the transactions `ids` (not empty).
pub(crate) fn delete_decisions_sql(ids: &[impl fmt::Display]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    format!(
        "DELETE FROM {DECISIONS_TABLE} WHERE xid IN ({})",
        ids.join(", ")
    )
}

/// Creates the decision table on the coordinator at `index`, once per pool, before its
/// branch begins (DDL would commit a MySQL transaction). Two processes creating it at
/// once may collide on PostgreSQL's catalogs: the second attempt finds it.
pub(super) fn ensure_decision_log<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    index: usize,
    conn: &mut R2d2PooledConnection<Conn>,
    checkout: Checkout,
) -> Result<()> {
    if pool.decision_log_ready(index).load(Ordering::Acquire) {
        return Ok(());
    }
    let create = create_decisions_sql();
    let statement = Statement {
        index,
        operation: Operation::Migration,
        checkout,
        timeout: None,
    };
    let attempt = |conn: &mut R2d2PooledConnection<Conn>| {
        executor::run(
            pool,
            statement,
            conn,
            |_| None,
            |c| c.batch_execute(&create),
        )
    };
    attempt(conn).or_else(|_| attempt(conn))?;
    pool.decision_log_ready(index)
        .store(true, Ordering::Release);
    Ok(())
}

/// `CREATE TABLE IF NOT EXISTS` for the decision table (PostgreSQL and MySQL alike).
pub(crate) fn create_decisions_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (xid VARCHAR(64) PRIMARY KEY, \
         outcome VARCHAR(8) NOT NULL, participants TEXT NOT NULL, decided_at_ms BIGINT NOT NULL)"
    )
}
