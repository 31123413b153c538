//! [`AtomicError`]: how an atomic transaction that did not commit everywhere ended.

use crate::{Error, ShardId};

/// How an atomic transaction that did not commit everywhere ended: what the caller must
/// know to act on it.
///
/// | variant | on the shards |
/// |---|---|
/// | [`Transaction`](Self::Transaction) | nothing committed: your closure failed |
/// | [`RolledBack`](Self::RolledBack) | nothing committed, and nothing ever will |
/// | [`CommitPending`](Self::CommitPending) | decided: committed on some shards, and recovery commits the rest |
/// | [`OutcomeUnknown`](Self::OutcomeUnknown) | all or nothing, decided by whether the coordinator's commit arrived; recovery finishes either way |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtomicError<E> {
    /// The closure returned this error; every shard was rolled back.
    #[error("the atomic transaction's closure failed; every shard was rolled back")]
    Transaction(#[source] E),

    /// Nothing was committed on any shard: a shard could not be reached, could not
    /// prepare, or the coordinator could not record the decision. A branch already
    /// prepared whose rollback could not be sent is rolled back by recovery; it never
    /// commits.
    #[error("the atomic transaction was rolled back on every shard")]
    RolledBack(#[source] Error),

    /// The transaction **committed**: the decision is durable and the shards in
    /// `committed` have committed, but those in `pending` could not be told yet (a shard
    /// went down between prepare and commit). Their writes are prepared and locked until
    /// [`recover_transactions`](crate::ShardedPool::recover_transactions) commits them; do not
    /// retry the transaction.
    #[error(
        "atomic transaction {id} committed, but shards [{}] are not confirmed yet: \
         `recover_transactions` (or `diesel-sharding transactions recover`) commits them once \
         they are back; do not retry it",
        list(pending)
    )]
    CommitPending {
        /// The transaction's id.
        id: String,
        /// The shards that committed.
        committed: Vec<ShardId>,
        /// The shards still prepared, which recovery commits.
        pending: Vec<ShardId>,
        /// Why the first pending shard could not commit.
        #[source]
        cause: Box<Error>,
    },

    /// The coordinator's commit, which carries the decision, was sent but no answer came
    /// (the connection broke): the transaction committed everywhere or will be rolled back
    /// everywhere, depending on whether the commit reached the coordinator's server.
    /// Recovery finds out from the coordinator and finishes the other shards accordingly.
    #[error(
        "the outcome of atomic transaction {id} is unknown: its coordinator `{coordinator}` did \
         not answer its commit; it is all or nothing, and `recover_transactions` finishes it"
    )]
    OutcomeUnknown {
        /// The transaction's id.
        id: String,
        /// The coordinator shard.
        coordinator: ShardId,
        /// What broke.
        #[source]
        cause: Box<Error>,
    },
}

impl<E> AtomicError<E> {
    /// Whether the transaction committed (`Some(true)`: [`CommitPending`](Self::CommitPending)),
    /// did not (`Some(false)`), or is not known yet (`None`: [`OutcomeUnknown`](Self::OutcomeUnknown)).
    pub fn committed(&self) -> Option<bool> {
        match self {
            AtomicError::CommitPending { .. } => Some(true),
            AtomicError::OutcomeUnknown { .. } => None,
            AtomicError::Transaction(_) | AtomicError::RolledBack(_) => Some(false),
        }
    }
}

fn list(shards: &[ShardId]) -> String {
    crate::shard_id::list_ids(shards)
}
