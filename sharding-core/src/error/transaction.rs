//! [`TransactionError`]: why a transaction through the pool failed, the crate's reason or
//! the closure's.

use std::fmt;

use super::Error;

/// How a transaction run through the pool or a unit of work failed
/// ([`ShardedPool::transaction`](crate::ShardedPool::transaction) and its kin): it could
/// not run (or finish in time) for a reason of this crate's, or it ran and rolled back
/// with your closure's error (or Diesel's, from `BEGIN` or `COMMIT`).
///
/// Your closure's error type only needs `From<diesel::result::Error>`, as with Diesel's
/// own `Connection::transaction`. `?` turns a `TransactionError` into this crate's
/// [`Error`] when your error converts into it (Diesel's does), and into a boxed error.
///
/// ```
/// use diesel::prelude::*;
/// use diesel::SqliteConnection;
/// use sharding_core::{Error, ShardedPool, TransactionError};
///
/// diesel::table! { t (id) { id -> Integer, } }
///
/// let dir = tempfile::tempdir()?;
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .build()?;
/// diesel::sql_query("CREATE TABLE t (id INTEGER PRIMARY KEY)").execute(&mut pool.connection("s0")?)?;
/// // A plain Diesel closure.
/// let ids: Vec<i32> = pool.transaction("s0", |conn| t::table.select(t::id).load(conn))?;
/// assert!(ids.is_empty());
/// // The shard is checked before anything runs.
/// let err = pool.transaction("s9", |conn| t::table.select(t::id).load::<i32>(conn)).unwrap_err();
/// assert!(matches!(err, TransactionError::Sharding(Error::UnknownShard { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TransactionError<E> {
    /// No transaction ran, or it was given up on: the shard is unknown, the key routes
    /// nowhere, no connection came in time, or (`transaction_within`) the deadline
    /// passed.
    Sharding(Error),
    /// The transaction rolled back with this error.
    Transaction(E),
}

impl<E> TransactionError<E> {
    /// The error as your closure's type, for error types that also take this crate's.
    pub fn into_inner(self) -> E
    where
        E: From<Error>,
    {
        match self {
            TransactionError::Sharding(error) => E::from(error),
            TransactionError::Transaction(error) => error,
        }
    }

    /// This crate's error, when the transaction could not run or finish.
    pub fn sharding_error(&self) -> Option<&Error> {
        match self {
            TransactionError::Sharding(error) => Some(error),
            TransactionError::Transaction(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for TransactionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransactionError::Sharding(error) => error.fmt(f),
            TransactionError::Transaction(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TransactionError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransactionError::Sharding(error) => error.source(),
            TransactionError::Transaction(error) => error.source(),
        }
    }
}

impl<E: Into<Error>> From<TransactionError<E>> for Error {
    fn from(error: TransactionError<E>) -> Self {
        match error {
            TransactionError::Sharding(error) => error,
            TransactionError::Transaction(error) => error.into(),
        }
    }
}
