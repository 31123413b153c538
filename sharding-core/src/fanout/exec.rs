//! Running one job per shard: in parallel on scoped threads, or one after another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use diesel::QueryResult;

use crate::backend::mark_broken;
use crate::{Result, ShardBackend};

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
    /// Limit on the checkout and, where the backend can, on each statement.
    pub(crate) timeout: Option<Duration>,
    /// Whether the first failure stops the shards not started yet (fail-fast).
    pub(crate) stop_on_failure: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallelism: Parallelism::Parallel(None),
            timeout: None,
            stop_on_failure: false,
        }
    }
}

/// Runs `job` on every item, keeping each item's shard index with its result, in the
/// items' order. Items are dealt round-robin to at most `workers` threads: the caller's
/// and `workers - 1` scoped ones.
pub(crate) fn run_items<T: Send, R: Send>(
    items: Vec<(usize, T)>,
    parallelism: Parallelism,
    job: &(dyn Fn(usize, T) -> R + Sync),
) -> Vec<(usize, R)> {
    let workers = match parallelism {
        Parallelism::Sequential => 1,
        Parallelism::Parallel(max) => max.unwrap_or(items.len()).clamp(1, items.len().max(1)),
    };
    if workers == 1 || items.len() <= 1 {
        return items
            .into_iter()
            .map(|(i, item)| (i, job(i, item)))
            .collect();
    }
    let count = items.len();
    let mut groups: Vec<Vec<(usize, usize, T)>> = (0..workers).map(|_| Vec::new()).collect();
    for (position, (index, item)) in items.into_iter().enumerate() {
        groups[position % workers].push((position, index, item));
    }
    let slots: Vec<Mutex<Option<(usize, R)>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let run_group = |group: Vec<(usize, usize, T)>| {
        for (position, index, item) in group {
            let result = job(index, item);
            *slots[position].lock().unwrap_or_else(|e| e.into_inner()) = Some((index, result));
        }
    };
    thread::scope(|scope| {
        let mut groups = groups.into_iter();
        // The caller's thread takes the first group: one thread fewer to start.
        let own = groups.next();
        for group in groups {
            scope.spawn(|| run_group(group));
        }
        if let Some(group) = own {
            run_group(group);
        }
    });
    slots
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Runs `f` on `conn` under a statement time limit, lifting the limit afterwards.
///
/// The result is `f`'s: if the limit cannot be lifted afterwards (the connection died
/// just then, say), a statement that succeeded (a write that committed) is still
/// reported as a success, and the connection, whose session limit is now unknown, is
/// marked broken so that the pool drops it.
pub(crate) fn with_statement_timeout<Conn: ShardBackend, R>(
    conn: &mut Conn,
    timeout: Option<Duration>,
    f: impl FnOnce(&mut Conn) -> QueryResult<R>,
) -> QueryResult<R> {
    let Some(limit) = timeout else {
        return f(conn);
    };
    let limited = Conn::set_statement_timeout(conn, Some(limit))?;
    let result = f(conn);
    if limited && Conn::set_statement_timeout(conn, None).is_err() {
        mark_broken(conn);
    }
    result
}

/// Runs `job` per item like [`run_items`]; with `stop_on_failure`, once one job has
/// failed the jobs not started yet are skipped (they leave no result).
pub(crate) fn run_until_failure<T: Send, R: Send>(
    items: Vec<(usize, T)>,
    options: RunOptions,
    job: &(dyn Fn(usize, T) -> Result<R> + Sync),
) -> Vec<(usize, Result<R>)> {
    let failed = AtomicBool::new(false);
    run_items(items, options.parallelism, &|index, item| {
        if options.stop_on_failure && failed.load(Ordering::SeqCst) {
            return None;
        }
        let result = job(index, item);
        if result.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        Some(result)
    })
    .into_iter()
    .filter_map(|(index, result)| result.map(|r| (index, r)))
    .collect()
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
