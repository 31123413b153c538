//! How a fan-out runs its shards, and what came of them.

use std::time::Duration;

use super::FailurePolicy;
use crate::access::ShardAccess;
use crate::error::ShardFailure;
use crate::executor::Job;
use crate::query::target::Target;
use crate::{Result, ShardId, ShardedPool};

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

/// Each healthy shard's result, and the failures.
pub(crate) type PerShard<R> = (Vec<(ShardId, R)>, Vec<ShardFailure>);

/// Runs on every shard of `target` the job `prepare` makes for it (given the pool, the
/// shards' positions and the call's deadline, it returns each position's job).
pub(super) fn run_collected<A, P, R>(
    access: &mut A,
    target: Target,
    options: RunOptions,
    rows: fn(&R) -> Option<usize>,
    prepare: impl FnOnce(
        &ShardedPool<A::Connection>,
        &[usize],
        Option<Duration>,
    ) -> Prepared<A::Connection, R>,
) -> Result<PerShard<R>>
where
    A: ShardAccess,
    P: FailurePolicy,
    R: Send + 'static,
{
    let pool = access.sharded_pool().clone();
    let indices = target.indices(&pool)?;
    let options = RunOptions {
        stop_on_failure: P::STOP_ON_FAILURE,
        timeout: options.timeout.or(pool.default_timeout()),
        ..options
    };
    let prepared = prepare(&pool, &indices, options.timeout);
    Ok(run_prepared(access, prepared, options, rows))
}

/// Per shard (by position), the job to run there, or why it could not be prepared.
pub(crate) type Prepared<Conn, R> = Vec<(usize, Result<Job<Conn, R>>)>;

/// Runs the job prepared for each shard as `options` say (a shard whose job could not be
/// prepared counts as failed), and returns the successes and the failures, each with its
/// shard, in pool order.
pub(crate) fn run_prepared<A, R>(
    access: &mut A,
    prepared: Prepared<A::Connection, R>,
    options: RunOptions,
    rows: fn(&R) -> Option<usize>,
) -> PerShard<R>
where
    A: ShardAccess,
    R: Send + 'static,
{
    let pool = access.sharded_pool().clone();
    let mut jobs = Vec::with_capacity(prepared.len());
    let mut results = Vec::new();
    for (index, job) in prepared {
        match job {
            Ok(job) => jobs.push((index, job)),
            Err(e) => results.push((index, Err(e))),
        }
    }
    results.extend(access.run_jobs(jobs, options, rows));
    results.sort_by_key(|(index, _)| *index);
    let (oks, failures) = split_results(results, |i| pool.id(i).clone());
    (
        oks.into_iter()
            .map(|(i, r)| (pool.id(i).clone(), r))
            .collect(),
        failures,
    )
}
