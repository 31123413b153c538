//! [`IdLayout`]: the bit widths and epoch of shard-encoding ids.

use crate::{Error, Result, ShardId};

/// The bit widths and epoch of shard-encoding ids. The four widths must add up to 63.
///
/// ```
/// use sharding_core::ids::IdLayout;
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
    pub(super) sequence_bits: u8,
    pub(super) epoch_ms: u64,
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

    pub(super) fn max(bits: u8) -> u64 {
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
