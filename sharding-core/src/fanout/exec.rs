//! How a fan-out runs its shards, and what came of them.

use std::time::Duration;

use crate::Result;

/// How a fan-out runs its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub enum Parallelism {
    /// One shard after another, on the caller's thread.
    Sequential,
    /// At most this many shards at once (`None`: all of them).
    Parallel(Option<usize>),
}

/// Per-shard settings of one fan-out.
#[derive(Debug, Clone, Copy)]
#[allow(unreachable_pub)]
pub struct RunOptions {
    pub(crate) parallelism: Parallelism,
    /// The call's deadline: the caller gets every shard's answer, or a timeout for it,
    /// within this limit (also sent as the server-side statement limit where the backend
    /// has one).
    pub(crate) timeout: Option<Duration>,
    /// Whether the first failure stops the shards not started yet (fail-fast).
    pub(crate) stop_on_failure: bool,
    /// Whether the first shard that returns rows stops the shards not started yet (a
    /// search whose first hit wins).
    pub(crate) stop_on_rows: bool,
}

impl RunOptions {
    /// Whether `result` (with `rows` rows) ends the call: no shard starts after it.
    pub(crate) fn stops<R>(&self, result: &Result<R>, rows: fn(&R) -> Option<usize>) -> bool {
        match result {
            Err(_) => self.stop_on_failure,
            Ok(value) => self.stop_on_rows && rows(value).is_some_and(|n| n > 0),
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallelism: Parallelism::Parallel(None),
            timeout: None,
            stop_on_failure: false,
            stop_on_rows: false,
        }
    }
}

/// Splits per-shard results into the successes and the failures, each with its shard.
pub(crate) fn split_results<R>(
    results: Vec<(usize, Result<R>)>,
    id: impl Fn(usize) -> crate::ShardId,
) -> (Vec<(usize, R)>, Vec<crate::ShardFailure>) {
    let mut oks = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for (index, result) in results {
        match result {
            Ok(value) => oks.push((index, value)),
            Err(error) => failures.push(crate::ShardFailure {
                shard: id(index),
                error,
            }),
        }
    }
    (oks, failures)
}
