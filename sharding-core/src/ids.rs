//! Ids that know their shard: 64-bit, time-ordered, unique across processes.
//!
//! A [`ShardEncodedIds`] generator packs, from the most significant bit down:
//!
//! | bits (default) | field |
//! |---|---|
//! | 1 | sign, always 0: ids are positive `i64`s and fit a `BIGINT` |
//! | 41 | milliseconds since the layout's epoch (default 2024-01-01 UTC): 69 years |
//! | 8 | bucket: the position of the owning shard in the pool (256 shards) |
//! | 4 | worker: the generating process (16 at once) |
//! | 10 | sequence within the millisecond (1,024 ids per ms per worker) |
//!
//! Ids sort by creation time. Two processes with different worker numbers never produce
//! the same id; one generator is safe to share between threads. See [`IdLayout`] to
//! choose other widths.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Error, Result, RoutingKey, ShardId};

/// A source of the current time in milliseconds since the Unix epoch. Replace it in tests
/// to make the clock jump.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since 1970-01-01 UTC.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// The bit widths and epoch of shard-encoding ids. The four widths must add up to 63.
///
/// ```
/// use sharding_core::IdLayout;
///
/// let layout = IdLayout::default();
/// let id = layout.encode(1_000, 3, 1, 7)?;
/// let parts = layout.decode(id);
/// assert_eq!((parts.millis, parts.bucket, parts.worker, parts.sequence), (1_000, 3, 1, 7));
/// assert!(IdLayout::new(41, 8, 4, 11, 0).is_err()); // 64 bits: one too many
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdLayout {
    timestamp_bits: u8,
    bucket_bits: u8,
    worker_bits: u8,
    sequence_bits: u8,
    epoch_ms: u64,
}

/// 2024-01-01T00:00:00Z in milliseconds since the Unix epoch.
pub const DEFAULT_EPOCH_MS: u64 = 1_704_067_200_000;

impl Default for IdLayout {
    fn default() -> Self {
        IdLayout {
            timestamp_bits: 41,
            bucket_bits: 8,
            worker_bits: 4,
            sequence_bits: 10,
            epoch_ms: DEFAULT_EPOCH_MS,
        }
    }
}

/// The fields of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdParts {
    /// Milliseconds since the layout's epoch.
    pub millis: u64,
    /// The owning shard's position in the pool.
    pub bucket: u64,
    /// The worker that made the id.
    pub worker: u64,
    /// The sequence number within the millisecond.
    pub sequence: u64,
}

impl IdLayout {
    /// A layout with these widths (adding up to 63) and epoch (ms since 1970).
    pub fn new(
        timestamp_bits: u8,
        bucket_bits: u8,
        worker_bits: u8,
        sequence_bits: u8,
        epoch_ms: u64,
    ) -> Result<Self> {
        let total = u32::from(timestamp_bits)
            + u32::from(bucket_bits)
            + u32::from(worker_bits)
            + u32::from(sequence_bits);
        let invalid = |reason: String| Error::InvalidIdLayout { reason };
        if total != 63 {
            return Err(invalid(format!(
                "the widths add up to {total} bits; they must add up to 63 (the sign bit stays 0)"
            )));
        }
        if timestamp_bits < 32 {
            return Err(invalid(
                "the timestamp needs at least 32 bits (49 days)".into(),
            ));
        }
        if bucket_bits == 0 || sequence_bits == 0 {
            return Err(invalid(
                "the bucket and the sequence need at least 1 bit each".into(),
            ));
        }
        Ok(IdLayout {
            timestamp_bits,
            bucket_bits,
            worker_bits,
            sequence_bits,
            epoch_ms,
        })
    }

    fn max(bits: u8) -> u64 {
        (1_u64 << bits) - 1
    }

    /// The number of buckets (shard positions) ids can name.
    pub fn buckets(&self) -> u64 {
        Self::max(self.bucket_bits) + 1
    }

    /// The number of workers that can generate ids at once.
    pub fn workers(&self) -> u64 {
        Self::max(self.worker_bits) + 1
    }

    /// Packs the fields into an id; a field too large for its width is
    /// [`Error::IdOverflow`].
    pub fn encode(&self, millis: u64, bucket: u64, worker: u64, sequence: u64) -> Result<i64> {
        for (field, value, bits) in [
            ("timestamp", millis, self.timestamp_bits),
            ("bucket", bucket, self.bucket_bits),
            ("worker", worker, self.worker_bits),
            ("sequence", sequence, self.sequence_bits),
        ] {
            if value > Self::max(bits) {
                return Err(Error::IdOverflow {
                    field,
                    value,
                    max: Self::max(bits),
                });
            }
        }
        let id = (millis << (self.bucket_bits + self.worker_bits + self.sequence_bits))
            | (bucket << (self.worker_bits + self.sequence_bits))
            | (worker << self.sequence_bits)
            | sequence;
        i64::try_from(id).map_err(|_| Error::IdOverflow {
            field: "timestamp",
            value: millis,
            max: Self::max(self.timestamp_bits),
        })
    }

    /// Unpacks an id. Negative ids decode as their 63 low bits.
    pub fn decode(&self, id: i64) -> IdParts {
        let id = (id as u64) & (u64::MAX >> 1);
        IdParts {
            millis: id >> (self.bucket_bits + self.worker_bits + self.sequence_bits),
            bucket: (id >> (self.worker_bits + self.sequence_bits)) & Self::max(self.bucket_bits),
            worker: (id >> self.sequence_bits) & Self::max(self.worker_bits),
            sequence: id & Self::max(self.sequence_bits),
        }
    }

    /// The shard that owns `id`: the one at the id's bucket position.
    pub fn shard_of<'s>(&self, id: i64, shards: &'s [ShardId]) -> Result<&'s ShardId> {
        let bucket = self.decode(id).bucket;
        usize::try_from(bucket)
            .ok()
            .and_then(|b| shards.get(b))
            .ok_or_else(|| Error::NoShardForKey {
                router: "encoded id",
                key: id.to_string(),
                hint: format!(
                    "the id names shard position {bucket}, but the pool has {} shards: was it made \
                     for another pool?",
                    shards.len()
                ),
            })
    }
}

/// What a generator does when the clock goes backwards (an NTP step, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockBackwards {
    /// Wait for the clock to catch up with the last id's time, up to this long, then
    /// fail with [`Error::ClockWentBackwards`].
    Wait(Duration),
    /// Fail at once with [`Error::ClockWentBackwards`].
    Fail,
}

#[derive(Debug)]
struct Sequence {
    last_ms: u64,
    next: u64,
}

/// Makes [`IdLayout`] ids: unique (given distinct worker numbers), time-ordered,
/// naming the shard that owns the row. Share one per process (it is `Sync`).
///
/// ```
/// use sharding_core::{IdLayout, ShardEncodedIds};
///
/// let ids = ShardEncodedIds::new(IdLayout::default(), 3)?;
/// let a = ids.generate(5)?;
/// let b = ids.generate(5)?;
/// assert!(b > a);
/// assert_eq!(ids.layout().decode(a).bucket, 5);
/// assert_eq!(ids.layout().decode(a).worker, 3);
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShardEncodedIds {
    layout: IdLayout,
    worker: u64,
    clock: Arc<dyn Clock>,
    backwards: ClockBackwards,
    state: Arc<Mutex<Sequence>>,
}

impl ShardEncodedIds {
    /// A generator for `worker` (below [`IdLayout::workers`]) on the system clock, waiting
    /// up to one second when the clock goes backwards.
    pub fn new(layout: IdLayout, worker: u64) -> Result<Self> {
        if worker >= layout.workers() {
            return Err(Error::IdOverflow {
                field: "worker",
                value: worker,
                max: layout.workers() - 1,
            });
        }
        Ok(ShardEncodedIds {
            layout,
            worker,
            clock: Arc::new(SystemClock),
            backwards: ClockBackwards::Wait(Duration::from_secs(1)),
            state: Arc::new(Mutex::new(Sequence {
                last_ms: 0,
                next: 0,
            })),
        })
    }

    /// Uses another clock (for tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets what happens when the clock goes backwards. Defaults to waiting up to 1 s.
    pub fn on_clock_backwards(mut self, policy: ClockBackwards) -> Self {
        self.backwards = policy;
        self
    }

    /// The layout of the ids.
    pub fn layout(&self) -> &IdLayout {
        &self.layout
    }

    fn millis(&self) -> Result<u64> {
        self.clock
            .now_ms()
            .checked_sub(self.layout.epoch_ms)
            .ok_or(Error::ClockWentBackwards {
                by: Duration::from_millis(self.layout.epoch_ms.saturating_sub(self.clock.now_ms())),
            })
    }

    /// A new id for the shard at `bucket` (its position in the pool). Never returns an
    /// id twice; fails with [`Error::IdOverflow`] when `bucket` or the time does not fit,
    /// and with [`Error::ClockWentBackwards`] per the clock policy.
    ///
    /// When a millisecond's sequence is used up it waits for the next millisecond, and
    /// when the clock went back within the policy's limit it waits for the clock to catch
    /// up; it never sleeps while holding the generator's lock (other threads keep
    /// going), and never waits longer than the policy allows (with
    /// [`ClockBackwards::Fail`], one second for a clock that does not advance), however
    /// the clock moves meanwhile.
    pub fn generate(&self, bucket: u64) -> Result<i64> {
        // Refuse a bad bucket before using up a sequence number.
        self.layout.encode(0, bucket, self.worker, 0)?;
        let started = std::time::Instant::now();
        let limit = match self.backwards {
            ClockBackwards::Wait(limit) => limit,
            ClockBackwards::Fail => Duration::ZERO,
        };
        loop {
            let pause = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = self.millis()?;
                if now < state.last_ms {
                    let behind = Duration::from_millis(state.last_ms - now);
                    if behind > limit || started.elapsed() >= limit {
                        return Err(Error::ClockWentBackwards { by: behind });
                    }
                    Duration::from_millis(1)
                } else {
                    if now > state.last_ms {
                        state.last_ms = now;
                        state.next = 0;
                    }
                    if state.next <= IdLayout::max(self.layout.sequence_bits) {
                        let id =
                            self.layout
                                .encode(state.last_ms, bucket, self.worker, state.next)?;
                        state.next += 1;
                        return Ok(id);
                    }
                    // This millisecond is used up: wait for the next one, but not for a
                    // clock that has stopped.
                    if started.elapsed() >= limit.max(Duration::from_secs(1)) {
                        return Err(Error::IdOverflow {
                            field: "sequence",
                            value: state.next,
                            max: IdLayout::max(self.layout.sequence_bits),
                        });
                    }
                    Duration::from_micros(100)
                }
            };
            std::thread::sleep(pause);
        }
    }
}

/// An [`IdChooser`](crate::IdChooser) for ids made by [`ShardEncodedIds`]: the id names
/// its one shard. Set it with
/// [`ShardedPoolBuilder::id_chooser`](crate::ShardedPoolBuilder::id_chooser), or let
/// `#[sharded(encoded_id)]` tables use the pool's
/// [`encoded_ids`](crate::ShardedPoolBuilder::encoded_ids) layout.
#[derive(Debug, Clone, Copy)]
pub struct EncodedIdChooser(pub IdLayout);

impl crate::IdChooser for EncodedIdChooser {
    fn candidates(&self, id: RoutingKey<'_>, shards: &[ShardId]) -> Result<Vec<ShardId>> {
        match id {
            RoutingKey::Int(i) => {
                let id = i64::try_from(i).map_err(|_| Error::NoShardForKey {
                    router: "encoded id",
                    key: i.to_string(),
                    hint: "encoded ids are 64-bit".into(),
                })?;
                Ok(vec![self.0.shard_of(id, shards)?.clone()])
            }
            other => Err(Error::UnsupportedKey {
                router: "encoded id",
                kind: other.kind(),
                hint: "encoded ids are integers",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock the test moves by hand.
    #[derive(Debug, Clone)]
    struct Manual(Arc<AtomicU64>);

    impl Clock for Manual {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn manual(start: u64) -> (Manual, Arc<AtomicU64>) {
        let time = Arc::new(AtomicU64::new(start));
        (Manual(Arc::clone(&time)), time)
    }

    #[test]
    fn layouts_must_fit_in_63_bits() {
        assert!(IdLayout::new(41, 8, 4, 10, 0).is_ok());
        assert!(IdLayout::new(41, 8, 4, 9, 0).is_err());
        assert!(IdLayout::new(20, 20, 3, 20, 0).is_err());
        assert!(IdLayout::new(41, 0, 12, 10, 0).is_err());
    }

    #[test]
    fn overflowing_fields_are_errors() {
        let layout = IdLayout::default();
        assert!(matches!(
            layout.encode(0, 256, 0, 0),
            Err(Error::IdOverflow {
                field: "bucket",
                ..
            })
        ));
        assert!(matches!(
            ShardEncodedIds::new(layout, 16),
            Err(Error::IdOverflow {
                field: "worker",
                max: 15,
                ..
            })
        ));
        let ids = ShardEncodedIds::new(layout, 0).unwrap();
        assert!(matches!(
            ids.generate(1_000),
            Err(Error::IdOverflow {
                field: "bucket",
                ..
            })
        ));
    }

    #[test]
    fn a_clock_going_backwards_never_gives_a_duplicate() {
        let (clock, time) = manual(DEFAULT_EPOCH_MS + 10_000);
        let ids = ShardEncodedIds::new(IdLayout::default(), 1)
            .unwrap()
            .with_clock(clock.clone())
            .on_clock_backwards(ClockBackwards::Fail);
        let before = ids.generate(0).unwrap();
        time.store(DEFAULT_EPOCH_MS + 9_000, Ordering::SeqCst);
        let err = ids.generate(0).unwrap_err();
        assert!(
            matches!(err, Error::ClockWentBackwards { by } if by == Duration::from_secs(1)),
            "{err}"
        );
        time.store(DEFAULT_EPOCH_MS + 10_000, Ordering::SeqCst);
        let after = ids.generate(0).unwrap();
        assert!(after > before, "same millisecond, next sequence");
    }

    #[test]
    fn waiting_out_a_small_step_back_keeps_ids_increasing() {
        let (clock, time) = manual(DEFAULT_EPOCH_MS + 10_000);
        let ids = ShardEncodedIds::new(IdLayout::default(), 1)
            .unwrap()
            .with_clock(clock)
            .on_clock_backwards(ClockBackwards::Wait(Duration::from_secs(2)));
        let before = ids.generate(2).unwrap();
        time.store(DEFAULT_EPOCH_MS + 9_990, Ordering::SeqCst);
        let mover = {
            let time = Arc::clone(&time);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                time.store(DEFAULT_EPOCH_MS + 10_001, Ordering::SeqCst);
            })
        };
        let after = ids.generate(2).unwrap();
        mover.join().unwrap();
        assert!(after > before);
        assert_eq!(ids.layout().decode(after).millis, 10_001);
        // Beyond the limit it fails instead of waiting forever.
        time.store(DEFAULT_EPOCH_MS + 1_000, Ordering::SeqCst);
        assert!(matches!(
            ids.generate(2),
            Err(Error::ClockWentBackwards { .. })
        ));
    }

    /// A generator (fail-fast clock policy, 16 ids per millisecond) whose millisecond
    /// is used up, and the hand of its clock.
    fn used_up_millisecond() -> (ShardEncodedIds, Arc<AtomicU64>) {
        let (clock, time) = manual(DEFAULT_EPOCH_MS + 5);
        let layout = IdLayout::new(51, 8, 0, 4, DEFAULT_EPOCH_MS).unwrap();
        let ids = ShardEncodedIds::new(layout, 0)
            .unwrap()
            .with_clock(clock)
            .on_clock_backwards(ClockBackwards::Fail);
        for _ in 0..16 {
            ids.generate(0).unwrap();
        }
        (ids, time)
    }

    #[test]
    fn a_stopped_clock_fails_instead_of_waiting_forever() {
        let (ids, _time) = used_up_millisecond();
        assert!(matches!(
            ids.generate(0),
            Err(Error::IdOverflow {
                field: "sequence",
                ..
            })
        ));
    }

    #[test]
    fn a_clock_stepping_back_while_waiting_follows_the_policy() {
        let (ids, time) = used_up_millisecond();
        let mover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            time.store(DEFAULT_EPOCH_MS + 3, Ordering::SeqCst);
        });
        let err = ids.generate(0).unwrap_err();
        mover.join().unwrap();
        assert!(
            matches!(err, Error::ClockWentBackwards { by } if by == Duration::from_millis(2)),
            "{err}"
        );
    }

    #[test]
    fn a_bad_bucket_uses_up_no_sequence_number() {
        let (clock, _time) = manual(DEFAULT_EPOCH_MS + 5);
        let ids = ShardEncodedIds::new(IdLayout::default(), 0)
            .unwrap()
            .with_clock(clock);
        assert!(ids.generate(256).is_err());
        assert_eq!(ids.layout().decode(ids.generate(1).unwrap()).sequence, 0);
    }

    #[test]
    fn a_full_millisecond_waits_for_the_next() {
        let (clock, time) = manual(DEFAULT_EPOCH_MS + 5);
        let layout = IdLayout::new(51, 8, 0, 4, DEFAULT_EPOCH_MS).unwrap();
        let ids = ShardEncodedIds::new(layout, 0).unwrap().with_clock(clock);
        let first: Vec<i64> = (0..16).map(|_| ids.generate(0).unwrap()).collect();
        let mover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            time.store(DEFAULT_EPOCH_MS + 6, Ordering::SeqCst);
        });
        let seventeenth = ids.generate(0).unwrap();
        mover.join().unwrap();
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids.layout().decode(seventeenth).millis, 6);
        assert!(seventeenth > first[15]);
    }
}
