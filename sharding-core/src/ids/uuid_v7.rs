//! [`UuidV7Ids`]: UUID version 7 ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::IdScheme;
use crate::{Result, ShardBackend, ShardedPool};

/// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits, as 16
/// bytes for a `BINARY(16)`/`BLOB`/`UUID`-as-bytes column. Time-ordered across
/// milliseconds; the shard is not in the id, so lookups by id ask every shard.
///
/// ```
/// use diesel::SqliteConnection;
/// use sharding_core::ShardedPool;
/// use sharding_core::ids::{IdScheme, UuidV7Ids};
///
/// # let dir = tempfile::tempdir()?;
/// # let pool = ShardedPool::<SqliteConnection>::builder()
/// #     .shard("s0", dir.path().join("s0.db").to_string_lossy()).build()?;
/// let uuids = UuidV7Ids::new();
/// let id: [u8; 16] = uuids.next_id(&pool, 0)?;
/// assert_eq!(id[6] >> 4, 7); // version 7
/// assert_eq!(id[8] >> 6, 0b10); // RFC 9562 variant
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UuidV7Ids {
    random: RandomState,
    counter: AtomicU64,
}

impl Default for UuidV7Ids {
    fn default() -> Self {
        Self::new()
    }
}

impl UuidV7Ids {
    /// A generator with fresh random keys.
    pub fn new() -> Self {
        UuidV7Ids {
            random: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// A new UUIDv7.
    pub fn generate(&self) -> [u8; 16] {
        let millis = crate::ids::SystemClock.now_ms_for_uuid();
        // Random bits: SipHash, keyed randomly per generator, of a counter.
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut a = self.random.build_hasher();
        a.write_u64(n);
        let mut b = self.random.build_hasher();
        b.write_u64(!n);
        let (ra, rb) = (a.finish().to_be_bytes(), b.finish().to_be_bytes());
        let mut id = [0_u8; 16];
        id[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        id[6..8].copy_from_slice(&ra[..2]);
        id[8..16].copy_from_slice(&rb);
        id[6] = (id[6] & 0x0f) | 0x70;
        id[8] = (id[8] & 0x3f) | 0x80;
        id
    }
}

impl crate::ids::SystemClock {
    fn now_ms_for_uuid(self) -> u64 {
        use crate::ids::Clock;
        self.now_ms()
    }
}

impl<Conn: ShardBackend> IdScheme<Conn> for UuidV7Ids {
    type Id = [u8; 16];

    fn next_id(&self, pool: &ShardedPool<Conn>, position: usize) -> Result<[u8; 16]> {
        pool.check_index(position)?;
        Ok(self.generate())
    }
}
