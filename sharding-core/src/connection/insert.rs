//! Inserts through the unit of work: one row, or rows routed to their shards in one
//! batch per shard, each in its own transaction.

use std::sync::Arc;

use diesel::associations::HasTable;
use diesel::insertable::Insertable;
use diesel::query_builder::InsertStatement;
use diesel::query_builder::QueryFragment;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::sql_types::Untyped;
use diesel::RunQueryDsl;

use crate::events::Operation;
use crate::executor::{self, OwnedQuery};
use crate::insert_batch::{in_batch_transaction, CommitGate, InsertBatch};
use crate::model::TableOf;
use crate::{Error, Result, ShardBackend, ShardedModel};

use super::ShardedConnection;

impl<Conn: ShardBackend> ShardedConnection<Conn> {
    /// Inserts one row on the shard its key routes to, and returns the number of rows
    /// inserted (1). Pass the row by reference (`&order`) or by value.
    ///
    /// Under the pool's [`default_timeout`](crate::ShardedPoolBuilder::default_timeout),
    /// the insert runs on a worker and the call returns within that deadline, as a routed
    /// statement with [`Routed::timeout`](crate::Routed::timeout) does.
    pub fn insert<Row>(&mut self, row: Row) -> Result<usize>
    where
        Row: ShardedModel + Insertable<TableOf<Row>>,
        InsertStatement<TableOf<Row>, Row::Values>: ExecuteDsl<Conn> + QueryFragment<Conn::Backend>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let index = self.pool.route_key_index(row.shard_key(), "row")?;
        let statement = diesel::insert_into(<TableOf<Row> as HasTable>::table()).values(row);
        let Some(limit) = self.pool.default_timeout() else {
            return self.run_at(index, Operation::Insert, executor::rows_affected, |conn| {
                ExecuteDsl::execute(statement, conn)
            });
        };
        let owned: OwnedQuery<Untyped, _> =
            OwnedQuery::collect_at(&self.pool, index, &statement, Some(limit))?;
        let job = executor::job(move |conn: &mut Conn| owned.execute(conn));
        self.run_under(
            index,
            Operation::Insert,
            limit,
            executor::rows_affected,
            job,
        )
    }

    /// Inserts rows on the shards their keys route to, and returns how many were inserted.
    ///
    /// Rows are grouped per shard (keeping their order); each shard's rows are written in
    /// one transaction, as multi-row `INSERT`s of up to
    /// [`insert_batch_rows`](crate::ShardedPoolBuilder::insert_batch_rows) rows each,
    /// shard after shard in the pool's order.
    ///
    /// **Atomicity is per shard.** If a shard's batch fails, that shard keeps none of its
    /// rows, shards before it keep all of theirs, and later shards are not written: the
    /// error, [`Error::PartialInsert`], names the failing shard and the shards that
    /// committed. If the connection to a shard is lost while its `COMMIT` is in flight,
    /// nobody can know whether that shard's rows were committed: the error is then
    /// [`Error::InsertOutcomeUnknown`], and that shard holds all of its rows or none
    /// (check before retrying them, or retry idempotently). Every row is routed before
    /// anything is written, so a row without a key or with an unroutable key fails the
    /// whole call with nothing written.
    ///
    /// Connections this unit of work did not hold before the call are returned to their
    /// pool as soon as their shard is written, so logical shards on a small shared pool
    /// do not starve each other.
    ///
    /// **Deadline.** Under the pool's
    /// [`default_timeout`](crate::ShardedPoolBuilder::default_timeout) each shard's batch
    /// is collected on your thread and runs on a worker, and the call stops waiting for it
    /// at the deadline, even if the network to the shard stalls. A batch given up on before
    /// its `COMMIT` was sent can no longer commit (its runner rolls it back when it gets
    /// the chance): [`Error::PartialInsert`] with an [`Error::Timeout`] source. One whose
    /// `COMMIT` was in flight is [`Error::InsertOutcomeUnknown`].
    ///
    /// **SQLite:** Diesel writes a batch of a model with default `Insertable` settings one
    /// row per statement on SQLite. Add `#[diesel(treat_none_as_default_value = false)]`
    /// to the model to get true multi-row `INSERT`s (on your thread: under a deadline,
    /// SQLite batches are written one row per statement, in one transaction, as Diesel's
    /// multi-row SQLite statement cannot be collected to run on a worker).
    pub fn insert_all<Rows>(&mut self, rows: Rows) -> Result<usize>
    where
        Rows: IntoIterator,
        Rows::Item: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let mut per_shard: Vec<Vec<Rows::Item>> = self.held.iter().map(|_| Vec::new()).collect();
        for row in rows {
            let index = self.pool.route_key_index(row.shard_key(), "row")?;
            per_shard[index].push(row);
        }
        let batch = self.pool.insert_batch_rows();
        let mut committed = Vec::new();
        let mut inserted = 0;
        for (index, shard_rows) in per_shard.into_iter().enumerate() {
            if shard_rows.is_empty() {
                continue;
            }
            let was_held = self.holds(index);
            let written = self.insert_batch_at(index, shard_rows, batch);
            if !was_held {
                self.release_at(index);
            }
            match written {
                Ok(n) => {
                    inserted += n;
                    committed.push(self.pool.id(index).clone());
                }
                Err(BatchFailure::RolledBack(source)) => {
                    return Err(Error::PartialInsert {
                        shard: self.pool.id(index).clone(),
                        source: Box::new(source),
                        committed,
                    });
                }
                Err(BatchFailure::CommitUnknown(source)) => {
                    return Err(Error::InsertOutcomeUnknown {
                        shard: self.pool.id(index).clone(),
                        source: Box::new(source),
                        committed,
                    });
                }
            }
        }
        Ok(inserted)
    }

    /// Writes one shard's rows in one transaction (on a worker under the pool's default
    /// deadline, if it has one), telling a failure that rolled back from one whose
    /// `COMMIT` was sent but never confirmed (the connection was lost, or the deadline
    /// passed, while it was in flight).
    fn insert_batch_at<Row>(
        &mut self,
        index: usize,
        rows: Vec<Row>,
        batch: usize,
    ) -> std::result::Result<usize, BatchFailure>
    where
        Row: InsertBatch<Conn>,
        OwnedQuery<Untyped, Conn::Backend>: ExecuteDsl<Conn>,
    {
        let gate = Arc::new(CommitGate::default());
        let written = match self.pool.default_timeout() {
            None => self.run_at(index, Operation::Insert, executor::rows_affected, |conn| {
                in_batch_transaction(conn, &gate, |conn| Row::write(rows, batch, conn))
            }),
            Some(limit) => {
                let pool = self.pool.clone();
                let mut statements: Vec<OwnedQuery<Untyped, Conn::Backend>> = Vec::new();
                Row::visit(rows, batch, &mut |statement| {
                    statements.push(OwnedQuery::collect_at(
                        &pool,
                        index,
                        statement,
                        Some(limit),
                    )?);
                    Ok(())
                })
                .map_err(BatchFailure::RolledBack)?;
                let runner = Arc::clone(&gate);
                let job = executor::job(move |conn: &mut Conn| {
                    in_batch_transaction(conn, &runner, |conn| {
                        let mut written = 0;
                        for statement in statements {
                            // Given up on: stop, and roll back.
                            if runner.is_closed() {
                                return Err(diesel::result::Error::RollbackTransaction);
                            }
                            written += statement.execute(conn)?;
                        }
                        Ok(written)
                    })
                });
                self.run_under(
                    index,
                    Operation::Insert,
                    limit,
                    executor::rows_affected,
                    job,
                )
            }
        };
        written.map_err(|error| {
            // Closing the gate stops a batch still running from committing; it stays
            // open only if `COMMIT` was already sent.
            let commit_sent = !gate.close();
            let unconfirmed = matches!(error, Error::Timeout { .. })
                || error
                    .diesel_error()
                    .is_some_and(commit_lost_connection::<Conn>);
            if commit_sent && unconfirmed {
                BatchFailure::CommitUnknown(error)
            } else {
                BatchFailure::RolledBack(error)
            }
        })
    }
}

/// How one shard's batch of `insert_all` failed.
enum BatchFailure {
    /// Nothing of the batch is on the shard.
    RolledBack(Error),
    /// The connection was lost while `COMMIT` was in flight: the batch is all there or
    /// all absent, and nobody can tell which without looking.
    CommitUnknown(Error),
}

/// Whether a failed `COMMIT` failed because the connection was lost (so its outcome is
/// unknown), looking through Diesel's "rollback after failed commit" wrapper.
fn commit_lost_connection<Conn: ShardBackend>(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::RollbackErrorOnCommit { commit_error, .. } => {
            Conn::is_connection_error(commit_error)
        }
        other => Conn::is_connection_error(other),
    }
}
