//! [`InsertBatch`]: how `insert_all` writes one shard's rows on each backend, on the
//! caller's thread or, under a deadline, as collected statements on a worker.

use std::sync::atomic::{AtomicU8, Ordering};

use diesel::associations::HasTable;
use diesel::connection::Connection;
use diesel::insertable::Insertable;
use diesel::query_builder::{InsertStatement, QueryFragment};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::QueryResult;

use crate::model::TableOf;
use crate::{Result, ShardBackend, ShardedModel};

/// Rows that [`insert_all`](crate::ShardedPool::insert_all) can write in batches on
/// `Conn`: any [`Insertable`] model (or reference to one) with a [`ShardedModel`] impl
/// (which `#[derive(ShardedModel)]` writes), on every built-in backend.
///
/// Implemented for you; you meet it only in error messages. Under a deadline a shard's
/// batch is collected into owned statements that run on a worker: multi-row `INSERT`s
/// on PostgreSQL and MySQL, one row per statement on SQLite (Diesel's multi-row SQLite
/// statement cannot be collected; SQLite runs in-process, so this costs no round trips).
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::{ShardedModel, ShardedTable};
/// use sharding_core::model::InsertBatch;
///
/// diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
/// impl ShardedTable for orders::table {
///     type KeyColumn = orders::customer_id;
///     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// }
///
/// #[derive(Insertable)]
/// #[diesel(table_name = orders)]
/// struct NewOrder { id: i64, customer_id: i64 }
/// impl ShardedModel for NewOrder {
///     type Table = orders::table;
///     type Key = i64;
///     fn shard_key(&self) -> &i64 { &self.customer_id }
/// }
///
/// fn batchable<Row: InsertBatch<SqliteConnection>>() {}
/// batchable::<NewOrder>();
/// batchable::<&NewOrder>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written by `insert_all` on `{Conn}`",
    label = "not an `Insertable` row with a shard key",
    note = "derive `Insertable` (with `#[diesel(table_name = ...)]`) and `ShardedModel` on the row \
            type, so that `insert_into(table).values(rows)` compiles for it and its key routes it"
)]
pub trait InsertBatch<Conn: ShardBackend>: ShardedModel + Sized {
    /// Writes `rows` on `conn` as multi-row `INSERT`s of at most `batch` rows each, as
    /// Diesel does; the caller holds the transaction.
    #[doc(hidden)]
    fn write(rows: Vec<Self>, batch: usize, conn: &mut Conn) -> QueryResult<usize>;

    /// Hands each statement writing `rows` to `visit`, to be collected: multi-row
    /// `INSERT`s of at most `batch` rows each where the backend's can be collected.
    #[doc(hidden)]
    fn visit(rows: Vec<Self>, batch: usize, visit: &mut Visit<'_, Conn::Backend>) -> Result<()>;
}

/// What [`InsertBatch::visit`] hands each statement to, to be collected.
#[doc(hidden)]
pub type Visit<'a, DB> = dyn FnMut(&dyn QueryFragment<DB>) -> Result<()> + 'a;

/// `rows` in multi-row `INSERT`s of at most `batch` rows, each handed to `each`.
fn chunks<Row, R>(
    rows: Vec<Row>,
    batch: usize,
    mut each: impl FnMut(InsertStatement<TableOf<Row>, BatchValues<Row>>) -> R,
) -> impl Iterator<Item = R>
where
    Row: ShardedModel,
    Vec<Row>: Insertable<TableOf<Row>>,
{
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        let chunk: Vec<Row> = rows.by_ref().take(batch.max(1)).collect();
        let table = <TableOf<Row> as HasTable>::table();
        Some(each(diesel::insert_into(table).values(chunk)))
    })
}

/// The values of a multi-row `INSERT` of `Row`s.
type BatchValues<Row> = <Vec<Row> as Insertable<TableOf<Row>>>::Values;

/// [`InsertBatch::write`] for every backend: Diesel's own multi-row statements.
fn write_chunks<Conn, Row>(rows: Vec<Row>, batch: usize, conn: &mut Conn) -> QueryResult<usize>
where
    Conn: Connection,
    Row: ShardedModel,
    Vec<Row>: Insertable<TableOf<Row>>,
    InsertStatement<TableOf<Row>, BatchValues<Row>>: ExecuteDsl<Conn>,
{
    chunks(rows, batch, |statement| {
        ExecuteDsl::execute(statement, conn)
    })
    .sum()
}

/// [`InsertBatch::visit`] where multi-row statements can be collected.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn visit_chunks<DB, Row>(rows: Vec<Row>, batch: usize, visit: &mut Visit<'_, DB>) -> Result<()>
where
    DB: diesel::backend::Backend,
    Row: ShardedModel,
    Vec<Row>: Insertable<TableOf<Row>>,
    InsertStatement<TableOf<Row>, BatchValues<Row>>: QueryFragment<DB>,
{
    chunks(rows, batch, |statement| visit(&statement)).collect()
}

/// [`InsertBatch`] for a backend whose multi-row `INSERT`s can be collected.
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! collectable_batches {
    ($feature:literal, $conn:ty, $backend:ty) => {
        #[cfg(feature = $feature)]
        impl<Row> InsertBatch<$conn> for Row
        where
            Row: ShardedModel,
            Vec<Row>: Insertable<TableOf<Row>>,
            InsertStatement<TableOf<Row>, BatchValues<Row>>:
                ExecuteDsl<$conn> + QueryFragment<$backend>,
        {
            fn write(rows: Vec<Self>, batch: usize, conn: &mut $conn) -> QueryResult<usize> {
                write_chunks(rows, batch, conn)
            }

            fn visit(rows: Vec<Self>, batch: usize, visit: &mut Visit<'_, $backend>) -> Result<()> {
                visit_chunks(rows, batch, visit)
            }
        }
    };
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
collectable_batches!("postgres", diesel::PgConnection, diesel::pg::Pg);
#[cfg(any(feature = "postgres", feature = "mysql"))]
collectable_batches!("mysql", diesel::MysqlConnection, diesel::mysql::Mysql);

#[cfg(feature = "sqlite")]
impl<Row> InsertBatch<diesel::SqliteConnection> for Row
where
    Row: ShardedModel + Insertable<TableOf<Row>>,
    Vec<Row>: Insertable<TableOf<Row>>,
    InsertStatement<TableOf<Row>, BatchValues<Row>>: ExecuteDsl<diesel::SqliteConnection>,
    InsertStatement<TableOf<Row>, <Row as Insertable<TableOf<Row>>>::Values>:
        QueryFragment<diesel::sqlite::Sqlite>,
{
    fn write(
        rows: Vec<Self>,
        batch: usize,
        conn: &mut diesel::SqliteConnection,
    ) -> QueryResult<usize> {
        write_chunks(rows, batch, conn)
    }

    fn visit(
        rows: Vec<Self>,
        _batch: usize,
        visit: &mut Visit<'_, diesel::sqlite::Sqlite>,
    ) -> Result<()> {
        rows.into_iter().try_for_each(|row| {
            let table = <TableOf<Row> as HasTable>::table();
            visit(&diesel::insert_into(table).values(row))
        })
    }
}

/// Where a shard's batch transaction stands, shared by the statement's runner and the
/// caller waiting for it, so that exactly one of them decides whether it may commit.
#[derive(Default)]
pub(crate) struct CommitGate(AtomicU8);

const OPEN: u8 = 0;
const COMMITTING: u8 = 1;
const CLOSED: u8 = 2;

impl CommitGate {
    /// The runner, about to send `COMMIT`: `false` when the caller has given up (the
    /// runner must roll back instead).
    pub(crate) fn enter_commit(&self) -> bool {
        self.0
            .compare_exchange(OPEN, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the caller has given up.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) == CLOSED
    }

    /// The caller, giving up: `true` when the batch can no longer commit, `false` when
    /// its `COMMIT` was already sent (its outcome is then unknown).
    pub(crate) fn close(&self) -> bool {
        self.0
            .compare_exchange(OPEN, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .map_or_else(|state| state == CLOSED, |_| true)
    }
}

/// Runs `body` in a transaction on `conn`, committing only if `gate` still lets it (a
/// caller that gave up at its deadline closed it): otherwise, or if `body` fails, rolls
/// back, marking `conn` broken if even that fails.
pub(crate) fn in_batch_transaction<Conn: ShardBackend>(
    conn: &mut Conn,
    gate: &CommitGate,
    body: impl FnOnce(&mut Conn) -> QueryResult<usize>,
) -> QueryResult<usize> {
    use diesel::connection::TransactionManager;
    type Manager<C> = <C as Connection>::TransactionManager;
    Manager::<Conn>::begin_transaction(conn)?;
    match body(conn) {
        Ok(written) if gate.enter_commit() => {
            Manager::<Conn>::commit_transaction(conn).map(|()| written)
        }
        outcome => {
            if Manager::<Conn>::rollback_transaction(conn).is_err() {
                crate::backend::mark_broken(conn);
            }
            outcome.and(Err(diesel::result::Error::RollbackTransaction))
        }
    }
}
