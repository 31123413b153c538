//! The bounds every pool setting is checked against, shared by the builder and the
//! configuration file's checks.

use std::time::Duration;

/// The most connections one pool may keep: far above any real need, and low enough that
/// the pool's own bookkeeping (sized by `max_size`) cannot exhaust memory.
pub const MAX_POOL_SIZE: u32 = 10_000;

/// The longest time limit a pool accepts (one year): longer ones would overflow the clock
/// arithmetic of the pool.
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The default most worker threads of a pool.
pub(super) const DEFAULT_MAX_WORKERS: usize = 256;

/// The most worker threads a pool accepts.
pub(crate) const MAX_WORKER_THREADS: usize = 4096;

/// What is wrong with a `worker_threads` setting, if anything.
pub(crate) fn check_worker_threads(threads: usize) -> std::result::Result<(), String> {
    match threads {
        0 => Err("must be at least 1: fan-outs and deadlines need a thread to run on".into()),
        n if n > MAX_WORKER_THREADS => Err(format!(
            "is {n}, above the limit of {MAX_WORKER_THREADS} threads: use fewer"
        )),
        _ => Ok(()),
    }
}

/// What is wrong with `max_size`, if anything.
pub(crate) fn check_max_size(max_size: u32) -> std::result::Result<(), String> {
    match max_size {
        0 => Err("must be at least 1: a pool without connections can serve nothing".into()),
        n if n > MAX_POOL_SIZE => Err(format!(
            "is {n}, above the limit of {MAX_POOL_SIZE} connections per pool: use fewer"
        )),
        _ => Ok(()),
    }
}

/// What is wrong with `min_idle` given `max_size`, if anything.
pub(crate) fn check_min_idle(
    min_idle: Option<u32>,
    max_size: u32,
) -> std::result::Result<(), String> {
    match min_idle {
        Some(n) if n > max_size => Err(format!(
            "is {n}, more than `max_size` ({max_size}): a pool cannot keep more idle connections \
             than it may hold; lower `min_idle` or raise `max_size`"
        )),
        _ => Ok(()),
    }
}

/// What is wrong with a time limit, if anything. `zero_means` says what to use instead of
/// zero (there is no "zero = unlimited" in r2d2).
pub(crate) fn check_time_limit(
    limit: Duration,
    zero_means: &str,
) -> std::result::Result<(), String> {
    if limit.is_zero() {
        Err(format!("must be above zero: {zero_means}"))
    } else if limit > MAX_TIME_LIMIT {
        Err(format!(
            "is {limit:?}, above the longest accepted limit of one year: use a shorter one"
        ))
    } else {
        Ok(())
    }
}
