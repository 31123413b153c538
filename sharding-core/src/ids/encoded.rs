//! [`ShardEncodedIds`]: the generator of ids that name their shard, and
//! [`EncodedIdChooser`], which reads the shard back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Error, Result, RoutingKey, ShardId};

use super::{Clock, IdLayout, SystemClock};

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
/// use sharding_core::ids::{IdLayout, ShardEncodedIds};
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

/// An [`IdChooser`](crate::fanout::IdChooser) for ids made by [`ShardEncodedIds`]: the id names
/// its one shard. Set it with
/// [`ShardedPoolBuilder::id_chooser`](crate::ShardedPoolBuilder::id_chooser), or let
/// `#[sharded(encoded_id)]` tables use the pool's
/// [`encoded_ids`](crate::ShardedPoolBuilder::encoded_ids) layout.
#[derive(Debug, Clone, Copy)]
pub struct EncodedIdChooser(pub IdLayout);

impl crate::fanout::IdChooser for EncodedIdChooser {
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
    use crate::ids::DEFAULT_EPOCH_MS;

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
