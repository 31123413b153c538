//! The one error type of the crate, with what it carries and the helpers around it.

use std::time::Duration;

use crate::ShardId;

mod chain;
mod failure;
mod optional;
mod transaction;

pub use crate::redact::RedactedError;
pub use chain::error_chain;
pub use failure::ShardFailure;
pub use optional::OptionalExtension;
pub use transaction::TransactionError;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from a lower layer (a migration, a connection customizer).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in diesel-sharding.
///
/// Each message says what happened and what to do about it. Errors that concern one
/// shard name it and expose it through [`Error::shard`].
///
/// ```
/// use sharding_core::Error;
///
/// let err = Error::NoShards;
/// assert!(err.to_string().contains("at least one shard"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pool was built without any shard.
    #[error(
        "a sharded pool needs at least one shard: add one with `ShardedPool::builder().shard(id, url)`"
    )]
    NoShards,

    /// Two shards were given the same id.
    #[error("shard id `{0}` is configured twice: give every shard its own id")]
    DuplicateShard(ShardId),

    /// A shard id is empty, too long or holds characters other than letters, digits, `_`, `-`, `.`.
    #[error("invalid shard id {id:?}: {reason}")]
    InvalidShardId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// [`ShardedPool::atomic`](crate::ShardedPool::atomic) on a backend that cannot
    /// prepare transactions (SQLite). Nothing ran.
    #[error(
        "atomic transactions across shards need prepared transactions, which the {backend} \
         backend does not have: use PostgreSQL or MySQL/MariaDB shards, or write one shard at \
         a time with `transaction`"
    )]
    TwoPhaseUnsupported {
        /// The backend's name.
        backend: &'static str,
    },

    /// A shard's server refused to prepare a transaction because it allows none
    /// (PostgreSQL's `max_prepared_transactions = 0`, its default).
    #[error(
        "shard `{shard}` cannot prepare transactions: set `max_prepared_transactions` on its \
         PostgreSQL server to at least the number of atomic transactions that may be in flight \
         at once (say, the pool's size) and restart the server"
    )]
    PreparedTransactionsDisabled {
        /// The shard.
        shard: ShardId,
    },

    /// A shard id was used that the pool does not have.
    #[error("unknown shard `{shard}`: this pool has the shards [{known}]; use one of those ids")]
    UnknownShard {
        /// The id that was asked for.
        shard: ShardId,
        /// The pool's shard ids, formatted.
        known: String,
    },

    /// A router sent a key to a shard the pool does not have.
    #[error(
        "the {router} router sent key {key} to shard `{shard}`, which this pool does not have \
         (shards: [{known}]): fix the router's configuration"
    )]
    RoutedToUnknownShard {
        /// The router's name.
        router: &'static str,
        /// The key, formatted.
        key: String,
        /// The shard the router returned.
        shard: ShardId,
        /// The pool's shard ids, formatted.
        known: String,
    },

    /// The router has no shard for this key (a key outside every range, say).
    #[error("no shard owns key {key} under the {router} router: {hint}")]
    NoShardForKey {
        /// The router's name.
        router: &'static str,
        /// The key, formatted.
        key: String,
        /// How to fix it.
        hint: String,
    },

    /// The router cannot route keys of this kind (text keys on a range router, say).
    #[error("the {router} router cannot route {kind} keys: {hint}")]
    UnsupportedKey {
        /// The router's name.
        router: &'static str,
        /// `"integer"`, `"text"` or `"binary"`.
        kind: &'static str,
        /// How to fix it.
        hint: &'static str,
    },

    /// A row or a query had no value for its shard key (a `None` key).
    #[error(
        "the shard key of this {what} is missing (None): set the key before inserting or querying, \
         or pick the shard yourself with `.set_shard(id)`"
    )]
    MissingKey {
        /// What lacked a key: `"row"` or `"query"`.
        what: &'static str,
    },

    /// A router's own configuration is inconsistent (overlapping ranges, say).
    #[error("invalid {router} router: {reason}")]
    InvalidRouter {
        /// The router's name.
        router: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The pool's configuration is invalid (a bad URL, say).
    #[error("invalid configuration for shard `{shard}`: {reason}")]
    InvalidConfig {
        /// The shard whose configuration is wrong.
        shard: ShardId,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A pool setting is out of range (`max_size(0)`, a zero timeout, `min_idle` above
    /// `max_size`, ...). Nothing was connected.
    #[error("invalid pool setting `{setting}`: it {reason}")]
    InvalidSetting {
        /// The builder method or `[pool]` key, such as `max_size`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A logical shard's schema or database name is not a plain identifier.
    #[error(
        "shard `{shard}`: {name:?} cannot name a schema or database because {reason}; use 1 to 63 \
         ASCII letters, digits and `_`, not starting with a digit"
    )]
    InvalidIdentifier {
        /// The shard.
        shard: ShardId,
        /// The refused name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A shard's pool could not open its connections when the pool was built.
    #[error(
        "could not connect to shard `{shard}`: check that its database is reachable at the \
         configured URL, or build with `build_unchecked()` to let the other shards serve"
    )]
    Connect {
        /// The shard that failed.
        shard: ShardId,
        /// Why it could not connect.
        #[source]
        source: BoxError,
    },

    /// No connection to a shard became free (or could be opened) in time.
    #[error(
        "timed out after {timeout:?} waiting for a connection to shard `{shard}`: check that the \
         shard is up, or raise `max_size` / `connection_timeout`"
    )]
    PoolTimeout {
        /// The shard whose pool timed out.
        shard: ShardId,
        /// The configured connection timeout.
        timeout: Duration,
        /// r2d2's error, with the last connection error if there was one (secrets masked).
        #[source]
        source: RedactedError,
    },

    /// A shard did not answer within the call's deadline (its `.timeout(..)`, or the
    /// pool's [`default_timeout`](crate::ShardedPoolBuilder::default_timeout)). The
    /// caller got this error at the deadline even if the network to the shard stalled;
    /// the statement was abandoned, and its connection is discarded rather than reused.
    /// Whether the statement took effect on the shard is not known: a write may have
    /// committed just before the deadline.
    #[error(
        "shard `{shard}` did not answer within {limit:?}: the statement was abandoned and its \
         connection discarded; check that the shard is reachable, or raise the timeout"
    )]
    Timeout {
        /// The shard that did not answer.
        shard: ShardId,
        /// The deadline that ran out.
        limit: Duration,
    },

    /// A unit of work needs more connections at once from one pool than the pool may
    /// hold: several logical shards on one shared pool, each kept by the unit of work.
    /// Nothing waited: it would have waited for connections that cannot come.
    #[error(
        "this unit of work would hold {} connections at once from one pool (for the shards \
         [{}]), but that pool holds at most {max_size}: raise its `max_size` to at least {}, \
         or fan out through `&pool`, which returns each connection after its statement",
        shards.len(),
        crate::shard_id::list_ids(shards),
        shards.len()
    )]
    PoolTooSmall {
        /// The shards whose connections the pool would have to hold at once.
        shards: Vec<ShardId>,
        /// The pool's `max_size`.
        max_size: u32,
    },

    /// A statement failed on a shard.
    #[error("query on shard `{shard}` failed")]
    Query {
        /// The shard the statement ran on.
        shard: ShardId,
        /// Diesel's error.
        #[source]
        source: diesel::result::Error,
    },

    /// A Diesel error not tied to a shard, such as one returned by your own transaction
    /// closure with `?`.
    #[error(transparent)]
    Diesel(#[from] diesel::result::Error),

    /// A shard's database records another position in the pool than the one it has now:
    /// the shards were reordered (or a URL moved to another shard). Routers that count
    /// shards, encoded ids and id blocks all number shards by position, so rows would be
    /// looked for on the wrong shard.
    #[error(
        "shard `{shard}` is at position {position} in this pool, but its database was \
         migrated at position {recorded}: keep the shards in the order they were first \
         migrated (add new shards at the end). If the data was moved on purpose, update the \
         row of `diesel_sharding_shard_position` in that database"
    )]
    ShardMoved {
        /// The shard whose position changed.
        shard: ShardId,
        /// Its position in this pool.
        position: usize,
        /// The position its database records.
        recorded: i64,
    },

    /// Migrations failed on some shards. The others were migrated.
    #[error(
        "migrations failed on {} shard(s): {}; shards migrated: [{}]. Fix the failing migration \
         and run again: migrated shards are skipped",
        failures.len(),
        list_failures(failures),
        crate::shard_id::list_ids(migrated)
    )]
    Migrations {
        /// The shards that failed and why.
        failures: Vec<ShardFailure>,
        /// The shards that are up to date.
        migrated: Vec<ShardId>,
    },

    /// Diesel's migration harness failed on a shard.
    #[error("migration failed on shard `{shard}`")]
    Migration {
        /// The shard.
        shard: ShardId,
        /// The harness's error.
        #[source]
        source: BoxError,
    },

    /// A fan-out query failed on some shards (with the default fail-fast policy). Use
    /// `.allow_partial()` to get the healthy shards' rows along with the failures.
    #[error("query failed on {} of the shards: {}", failures.len(), list_failures(failures))]
    FanOut {
        /// Every failing shard and its cause.
        failures: Vec<ShardFailure>,
    },

    /// A get-by-id (or `get_unique`) found more than one row: on several shards, or
    /// several on one shard.
    #[error(
        "id {id} matched {} rows, on the shards [{}]: ids must be unique across and within \
         shards; fix the duplicate rows, or query one shard with `.set_shard(id)`",
        shards.len(),
        crate::shard_id::list_ids(shards)
    )]
    Ambiguous {
        /// The id, formatted.
        id: String,
        /// The shard of each row found (a shard appears once per row it returned).
        shards: Vec<ShardId>,
    },

    /// A shard returned rows that are not sorted by the merge key.
    #[error(
        "shard `{shard}` returned rows out of the merge order: the query's ORDER BY must sort by \
         the same key, in the same direction, as the merge key function"
    )]
    OutOfOrder {
        /// The shard whose rows were out of order.
        shard: ShardId,
    },

    /// A query run on several shards (a fan-out, `for_keys`) with its own `LIMIT` or
    /// `OFFSET`, which would apply on each shard instead of across them.
    #[error(
        "`{clause}` in a query that runs on several shards (`.all_shards()`, \
         `.for_keys(..)`) applies on each shard, not across them (`.limit(n)` returns up to \
         n rows per shard): for the first rows across all shards, drop it from the query \
         and merge with `.all_shards().merge_by(|row| key).limit(n)` (and `.offset(k)`), or \
         page with `.all_shards().keyset(..)`; for n rows from each shard on purpose, call \
         `.per_shard_limits()` before running it"
    )]
    PerShardLimit {
        /// The clause found: `LIMIT` or `OFFSET`.
        clause: &'static str,
    },

    /// An id field does not fit its width in the [`IdLayout`](crate::ids::IdLayout).
    #[error(
        "the id's {field} is {value}, more than its layout allows ({max}): use a layout with \
         more {field} bits, or fewer shards/workers"
    )]
    IdOverflow {
        /// `"timestamp"`, `"bucket"`, `"worker"` or `"sequence"`.
        field: &'static str,
        /// The value that did not fit.
        value: u64,
        /// The largest value the layout allows.
        max: u64,
    },

    /// The clock went back further than the id generator may wait.
    #[error(
        "the clock went back {by:?} behind the last id: no id was made, to avoid duplicates; \
         retry later, or allow a longer wait with `ClockBackwards::Wait`"
    )]
    ClockWentBackwards {
        /// How far behind the last id's time the clock is.
        by: Duration,
    },

    /// An [`IdLayout`](crate::ids::IdLayout) with impossible widths.
    #[error("invalid id layout: {reason}")]
    InvalidIdLayout {
        /// What is wrong.
        reason: String,
    },

    /// A configuration file is wrong; the message says where and how to fix it.
    #[error("{origin}:{line}:{column}: {key}{}{message}", if key.is_empty() { "" } else { ": " })]
    Config {
        /// The file (or the name given to the text).
        origin: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column, 0 if unknown.
        column: usize,
        /// The key at fault, such as `shards[1].url`; empty if unknown.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A multi-shard insert failed on one shard. Each shard's rows are written in one
    /// transaction, so the failing shard holds none of its rows; the shards listed in
    /// `committed` hold all of theirs and the others none.
    #[error(
        "insert failed on shard `{shard}` and was rolled back: no row was written there; shards \
         that committed their rows: [{}]",
        crate::shard_id::list_ids(committed)
    )]
    PartialInsert {
        /// The shard whose batch failed (and was rolled back).
        shard: ShardId,
        /// Why it failed.
        #[source]
        source: Box<Error>,
        /// Shards whose rows were committed before the failure.
        committed: Vec<ShardId>,
    },

    /// A multi-shard insert lost its connection to a shard while that shard's `COMMIT`
    /// was in flight: the shard holds **all of its rows or none**, and no one can tell
    /// which without looking. Shards in `committed` hold all of theirs; later shards
    /// were not written.
    #[error(
        "insert on shard `{shard}` has an unknown outcome: the connection was lost while its \
         COMMIT was in flight, so that shard holds all of its rows or none of them. Look them \
         up (by id) on that shard before retrying them, or a retry may duplicate them; shards \
         that committed their rows: [{}]",
        crate::shard_id::list_ids(committed)
    )]
    InsertOutcomeUnknown {
        /// The shard whose commit outcome is unknown.
        shard: ShardId,
        /// The connection error seen during the commit.
        #[source]
        source: Box<Error>,
        /// Shards whose rows were committed before it.
        committed: Vec<ShardId>,
    },
}

fn list_failures(failures: &[ShardFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("`{}`: {}", f.shard, error_chain(&f.error)))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The shard this error concerns, if it concerns exactly one.
    ///
    /// ```
    /// use sharding_core::{Error, ShardId};
    ///
    /// let err = Error::DuplicateShard(ShardId::from("s1"));
    /// assert_eq!(err.shard().map(ShardId::as_str), Some("s1"));
    /// ```
    pub fn shard(&self) -> Option<&ShardId> {
        match self {
            Error::DuplicateShard(shard)
            | Error::UnknownShard { shard, .. }
            | Error::RoutedToUnknownShard { shard, .. }
            | Error::InvalidConfig { shard, .. }
            | Error::InvalidIdentifier { shard, .. }
            | Error::Connect { shard, .. }
            | Error::PoolTimeout { shard, .. }
            | Error::Timeout { shard, .. }
            | Error::Query { shard, .. }
            | Error::PartialInsert { shard, .. }
            | Error::InsertOutcomeUnknown { shard, .. }
            | Error::ShardMoved { shard, .. }
            | Error::Migration { shard, .. }
            | Error::OutOfOrder { shard, .. }
            | Error::PreparedTransactionsDisabled { shard } => Some(shard),
            _ => None,
        }
    }

    /// The Diesel error inside, if this error came from a statement.
    ///
    /// ```
    /// use sharding_core::{Error, ShardId};
    ///
    /// let err = Error::Query { shard: "s0".into(), source: diesel::result::Error::NotFound };
    /// assert!(matches!(err.diesel_error(), Some(diesel::result::Error::NotFound)));
    /// ```
    pub fn diesel_error(&self) -> Option<&diesel::result::Error> {
        match self {
            Error::Query { source, .. } | Error::Diesel(source) => Some(source),
            Error::PartialInsert { source, .. } | Error::InsertOutcomeUnknown { source, .. } => {
                source.diesel_error()
            }
            _ => None,
        }
    }

    /// Whether this error is a timeout on one shard: the shard did not answer within the
    /// call's deadline ([`Error::Timeout`]), or no connection to it could be had in time
    /// ([`Error::PoolTimeout`]). [`Error::shard`] names the shard.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sharding_core::Error;
    ///
    /// let err = Error::Timeout { shard: "s1".into(), limit: Duration::from_secs(1) };
    /// assert!(err.is_timeout());
    /// assert!(!Error::NoShards.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::PoolTimeout { .. })
    }

    /// Whether this is Diesel's `NotFound` (a `get_result` or `first` that found no row).
    ///
    /// ```
    /// use sharding_core::Error;
    ///
    /// assert!(Error::Diesel(diesel::result::Error::NotFound).is_not_found());
    /// assert!(!Error::NoShards.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self.diesel_error(), Some(diesel::result::Error::NotFound))
    }

    pub(crate) fn on_shard(shard: &ShardId) -> impl FnOnce(diesel::result::Error) -> Error + '_ {
        move |source| Error::Query {
            shard: shard.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
    }

    #[test]
    fn messages_say_how_to_fix_the_problem() {
        let unknown = Error::UnknownShard {
            shard: "s9".into(),
            known: "`s0`, `s1`".into(),
        };
        assert_eq!(
            unknown.to_string(),
            "unknown shard `s9`: this pool has the shards [`s0`, `s1`]; use one of those ids"
        );
        let config = Error::Config {
            origin: "a.toml".into(),
            line: 3,
            column: 7,
            key: "url".into(),
            message: "bad".into(),
        };
        assert_eq!(config.to_string(), "a.toml:3:7: url: bad");
    }
}
