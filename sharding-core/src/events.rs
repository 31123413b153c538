//! What happened on each shard: one [`ShardEvent`] per statement, delivered to a
//! pluggable [`HandleEvent`] (r2d2's `HandleEvent` style: a trait and a no-op default),
//! and per-shard counters read with [`ShardedPool::stats`](crate::ShardedPool::stats).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Error, ShardId};

/// What kind of work a statement was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A routed or fan-out query or statement (`load`, `get_result`, `execute`, …).
    Query,
    /// One shard's batch of `insert` / `insert_all`, in its transaction.
    Insert,
    /// A transaction closure (`transaction`, `transaction_for_key`).
    Transaction,
    /// A shard's migration run.
    Migration,
    /// Reserving a block of ids ([`BlockIds`](crate::ids::BlockIds)).
    IdBlock,
    /// Preparing one shard's branch of an atomic transaction
    /// ([`ShardedPool::atomic`](crate::ShardedPool::atomic)): `PREPARE TRANSACTION`,
    /// `XA PREPARE`.
    Prepare,
    /// The coordinator shard's commit, which carries the decision to commit an atomic
    /// transaction: once it succeeds, every shard commits.
    Decide,
    /// Committing a prepared branch: `COMMIT PREPARED`, `XA COMMIT`.
    CommitPrepared,
    /// Rolling back a prepared branch: `ROLLBACK PREPARED`, `XA ROLLBACK`.
    RollbackPrepared,
}

impl Operation {
    /// The operation's name in logs and spans: `query`, `insert`, `transaction`,
    /// `migration`, `id_block`, `prepare`, `decide`, `commit_prepared`,
    /// `rollback_prepared`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::Insert => "insert",
            Operation::Transaction => "transaction",
            Operation::Migration => "migration",
            Operation::IdBlock => "id_block",
            Operation::Prepare => "prepare",
            Operation::Decide => "decide",
            Operation::CommitPrepared => "commit_prepared",
            Operation::RollbackPrepared => "rollback_prepared",
        }
    }
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed (the error is in [`ShardEvent::error`]).
    Failed,
    /// It ran out of time: no connection in time, or the statement limit was hit.
    TimedOut,
}

/// One statement on one shard, as seen by the pool.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ShardEvent<'a> {
    /// The shard.
    pub shard: &'a ShardId,
    /// What kind of work it was.
    pub operation: Operation,
    /// How long the checkout waited for a connection: zero when one was at hand (idle
    /// in the pool, or already held by the unit of work); else from the moment none
    /// was idle until one was had.
    pub checkout_wait: Duration,
    /// Whether the connection had to be switched to the shard's namespace first
    /// (logical shards).
    pub namespace_switched: bool,
    /// How long the statement ran (after the checkout).
    pub duration: Duration,
    /// Rows returned or affected, when known.
    pub rows: Option<usize>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, when it failed or timed out.
    pub error: Option<&'a Error>,
}

/// Receives a [`ShardEvent`] for every statement a pool runs, on the thread that ran it.
/// Keep it quick: it runs inside the statement's time.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use diesel::SqliteConnection;
/// use sharding_core::ShardedPool;
/// use sharding_core::events::{HandleEvent, ShardEvent};
///
/// #[derive(Debug, Default)]
/// struct Count(AtomicUsize);
/// impl HandleEvent for Count {
///     fn handle_event(&self, _event: &ShardEvent<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let count = Arc::new(Count::default());
/// let pool = ShardedPool::<SqliteConnection>::builder()
///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
///     .event_handler(count.clone())
///     .build()?;
/// diesel::sql_query("SELECT 1").set_shard("s0").execute(&pool)?;
/// # use sharding_core::ShardPinDsl;
/// assert_eq!(count.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait HandleEvent: Send + Sync + fmt::Debug + 'static {
    /// Called once per statement.
    fn handle_event(&self, event: &ShardEvent<'_>);
}

/// A shared handler: keep one `Arc` to read what it gathered, give the pool a clone.
impl<H: HandleEvent> HandleEvent for std::sync::Arc<H> {
    fn handle_event(&self, event: &ShardEvent<'_>) {
        (**self).handle_event(event);
    }
}

/// The default [`HandleEvent`]: does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NopEventHandler;

impl HandleEvent for NopEventHandler {
    fn handle_event(&self, _event: &ShardEvent<'_>) {}
}

/// Latency buckets: bucket `i` counts statements that took less than `2^i × 64 µs`; the
/// last one counts the rest.
const BUCKETS: usize = 20;

fn bucket_of(duration: Duration) -> usize {
    let units = duration.as_micros() / 64;
    // 0 → bucket 0; 1 → 1; 2..3 → 2; 4..7 → 3; …
    let bucket = (u128::BITS - units.leading_zeros()) as usize;
    bucket.min(BUCKETS - 1)
}

fn bucket_upper_bound(bucket: usize) -> Duration {
    Duration::from_micros(64_u64 << bucket)
}

/// A shard's counters, updated by every statement.
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    statements: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    switches: AtomicU64,
    rows: AtomicU64,
    busy_micros: AtomicU64,
    latency: [AtomicU64; BUCKETS],
    /// A low estimate of how long a search's statement takes here, in µs (0: none ran
    /// yet): falls at once to a faster answer, rises slowly toward slower ones, so it
    /// tracks the shard's uncontended round trip rather than moments of contention.
    search_floor_micros: AtomicU64,
}

impl ShardCounters {
    pub(crate) fn record(&self, event: &ShardEvent<'_>) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        match event.outcome {
            Outcome::Success => {}
            Outcome::Failed => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::TimedOut => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
        if event.namespace_switched {
            self.switches.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(rows) = event.rows {
            self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        }
        let micros = u64::try_from(event.duration.as_micros()).unwrap_or(u64::MAX);
        self.busy_micros.fetch_add(micros, Ordering::Relaxed);
        self.latency[bucket_of(event.duration)].fetch_add(1, Ordering::Relaxed);
    }

    /// Notes how long one of a search's statements took.
    pub(crate) fn note_search(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let floor = self.search_floor_micros.load(Ordering::Relaxed);
        let next = if floor == 0 || sample <= floor {
            sample
        } else {
            floor + (sample - floor) / 16
        };
        // Racing updates may lose a sample; an estimate needs no more.
        self.search_floor_micros.store(next, Ordering::Relaxed);
    }

    /// The low estimate of a search statement's time here (`None` before the first).
    pub(crate) fn search_floor(&self) -> Option<Duration> {
        match self.search_floor_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    pub(crate) fn snapshot(&self, shard: &ShardId) -> ShardStats {
        ShardStats {
            shard: shard.clone(),
            statements: self.statements.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            namespace_switches: self.switches.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            busy: Duration::from_micros(self.busy_micros.load(Ordering::Relaxed)),
            latency: LatencyHistogram {
                counts: self.latency.each_ref().map(|c| c.load(Ordering::Relaxed)),
            },
        }
    }
}

/// A shard's counters since the pool was built, from [`ShardedPool::stats`](crate::ShardedPool::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardStats {
    /// The shard.
    pub shard: ShardId,
    /// Statements run (successes, failures and timeouts).
    pub statements: u64,
    /// Statements that failed or timed out.
    pub errors: u64,
    /// Statements that timed out (included in `errors`).
    pub timeouts: u64,
    /// Statements whose connection had to be switched to the shard's namespace.
    pub namespace_switches: u64,
    /// Rows returned or affected, where known.
    pub rows: u64,
    /// Time spent running statements, in total.
    pub busy: Duration,
    /// How long statements took.
    pub latency: LatencyHistogram,
}

/// Statement durations in buckets that double in width (the first holds under 64 µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
}

impl LatencyHistogram {
    /// `(upper bound, count)` per bucket, the last bucket's bound being `Duration::MAX`.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.counts.iter().enumerate().map(|(i, count)| {
            let bound = if i + 1 == BUCKETS {
                Duration::MAX
            } else {
                bucket_upper_bound(i)
            };
            (bound, *count)
        })
    }

    /// The number of statements counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// An upper bound for the `q` quantile (`0.5` for the median, `0.99`…): the upper
    /// bound of the bucket holding it. `None` when nothing was counted.
    ///
    /// ```
    /// # use sharding_core::events::LatencyHistogram;
    /// # fn p99(h: &LatencyHistogram) -> Option<std::time::Duration> {
    /// h.quantile(0.99)
    /// # }
    /// ```
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.buckets().find_map(|(bound, count)| {
            seen += count;
            (seen >= rank).then_some(bound)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double() {
        assert_eq!(bucket_of(Duration::from_micros(10)), 0);
        assert_eq!(bucket_of(Duration::from_micros(64)), 1);
        assert_eq!(bucket_of(Duration::from_micros(200)), 2);
        assert_eq!(bucket_of(Duration::from_secs(3600)), BUCKETS - 1);
        assert!(Duration::from_micros(200) < bucket_upper_bound(2));
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let counters = ShardCounters::default();
        let shard = ShardId::from("s0");
        for micros in [10, 10, 10, 5_000] {
            counters.record(&ShardEvent {
                shard: &shard,
                operation: Operation::Query,
                checkout_wait: Duration::ZERO,
                namespace_switched: false,
                duration: Duration::from_micros(micros),
                rows: Some(1),
                outcome: Outcome::Success,
                error: None,
            });
        }
        let stats = counters.snapshot(&shard);
        assert_eq!((stats.statements, stats.rows, stats.errors), (4, 4, 0));
        assert_eq!(stats.latency.quantile(0.5), Some(Duration::from_micros(64)));
        assert!(stats.latency.quantile(1.0) > Some(Duration::from_millis(5)));
    }
}
