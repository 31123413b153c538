//! The default router: a stable hash with jump consistent hashing.

use super::Router;
use crate::{Result, RoutingKey, ShardId};

/// The stable 64-bit hash that [`HashRouter`] and [`ModuloRouter`](crate::ModuloRouter) use for keys.
///
/// It is part of the crate's compatibility promise: the same key gives the same hash on
/// every platform, in every process and in every version of this crate. The algorithm:
///
/// * An integer key, as a 128-bit two's-complement value with high half `hi` and low half
///   `lo`: `fmix64(lo ^ fmix64(hi ^ 0x9e3779b97f4a7c15))`, where `fmix64` is the
///   MurmurHash3 64-bit finalizer.
/// * A text key: `fmix64` of the 64-bit FNV-1a hash (offset basis `0xcbf29ce484222325`,
///   prime `0x100000001b3`) of the byte `2` followed by the text's UTF-8 bytes.
/// * A binary key: the same with the byte `3` followed by the bytes.
///
/// ```
/// use sharding_core::RoutingKey;
/// use sharding_core::router::stable_hash;
///
/// assert_eq!(stable_hash(RoutingKey::Int(42)), stable_hash(RoutingKey::Int(42)));
/// assert_ne!(stable_hash(RoutingKey::Int(42)), stable_hash(RoutingKey::Text("42")));
/// ```
pub fn stable_hash(key: RoutingKey<'_>) -> u64 {
    match key {
        RoutingKey::Int(i) => {
            let bits = i as u128;
            let (hi, lo) = ((bits >> 64) as u64, bits as u64);
            fmix64(lo ^ fmix64(hi ^ 0x9e37_79b9_7f4a_7c15))
        }
        RoutingKey::Text(s) => fmix64(eat(eat(OFFSET, &[2]), s.as_bytes())),
        RoutingKey::Bytes(b) => fmix64(eat(eat(OFFSET, &[3]), b)),
    }
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a: continues hash `h` over `bytes`.
fn eat(mut h: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Jump consistent hash (Lamping & Veach, 2014): maps `key` to a bucket in `0..buckets`.
/// Growing `buckets` from `n` to `n + 1` moves only about `1 / (n + 1)` of the keys, all of
/// them into the new bucket.
pub(crate) fn jump_consistent_hash(mut key: u64, buckets: usize) -> usize {
    let buckets = buckets as i64;
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as usize
}

/// The default router: [`stable_hash`] of the key, then jump consistent hashing over the
/// shards in the order they were added to the builder.
///
/// Needs no configuration, spreads keys evenly, and routes a key to the same shard in
/// every process, on every platform and in every version of this crate. Adding a shard
/// **at the end** of the shard list moves only about `1/(n+1)` of the keys (all to the new
/// shard); reordering or removing shards moves many, so append new shards last.
///
/// ```
/// use sharding_core::{HashRouter, Router, RoutingKey, ShardId};
///
/// let shards: Vec<ShardId> = ["s0", "s1", "s2"].into_iter().map(ShardId::from).collect();
/// let router = HashRouter::new();
/// let owner = router.route(RoutingKey::Int(42), &shards)?;
/// assert!(shards.contains(&owner));
/// assert_eq!(owner, router.route(RoutingKey::Int(42), &shards)?);
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct HashRouter {
    _private: (),
}

impl HashRouter {
    /// Creates the router.
    pub fn new() -> Self {
        HashRouter { _private: () }
    }

    /// The index of the owning shard among `shard_count` shards.
    ///
    /// ```
    /// use sharding_core::{HashRouter, RoutingKey};
    ///
    /// assert!(HashRouter::new().bucket(RoutingKey::Text("acme"), 8) < 8);
    /// ```
    pub fn bucket(&self, key: RoutingKey<'_>, shard_count: usize) -> usize {
        jump_consistent_hash(stable_hash(key), shard_count)
    }
}

impl Router for HashRouter {
    fn name(&self) -> &'static str {
        "hash"
    }

    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        shards
            .get(self.bucket(key, shards.len()))
            .cloned()
            .ok_or(crate::Error::NoShards)
    }

    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        Some(Ok(self.bucket(key, shards.len())))
    }

    /// `stable hash 0x…, jump hash over n buckets = b`.
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        Some(format!(
            "stable hash {:#018x}, jump hash over {} buckets = {}",
            stable_hash(key),
            shards.len(),
            self.bucket(key, shards.len())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned values: changing them breaks every deployed shard layout.
    #[test]
    fn hash_is_pinned() {
        let got: Vec<usize> = (0..12)
            .map(|k| HashRouter::new().bucket(RoutingKey::Int(k), 4))
            .collect();
        assert_eq!(got, PINNED_INT_BUCKETS_4);
        assert_eq!(stable_hash(RoutingKey::Text("acme")), PINNED_ACME_HASH);
    }

    const PINNED_INT_BUCKETS_4: [usize; 12] = [3, 3, 1, 1, 3, 2, 2, 2, 2, 0, 3, 1];
    const PINNED_ACME_HASH: u64 = 15_893_898_228_482_213_601;

    /// The published FNV-1a 64 test vectors.
    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(eat(OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(eat(OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(eat(OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// The MurmurHash3 finalizer fixes zero and mixes one bit into many.
    #[test]
    fn fmix64_mixes() {
        assert_eq!(fmix64(0), 0);
        assert!(fmix64(1).count_ones() > 20);
    }

    #[test]
    fn jump_hash_moves_few_keys_when_a_bucket_is_added() {
        let keys = 20_000_u64;
        let moved = (0..keys)
            .filter(|&k| {
                let h = stable_hash(RoutingKey::Int(k.into()));
                jump_consistent_hash(h, 8) != jump_consistent_hash(h, 9)
            })
            .count();
        // Ideal: 1/9 of the keys (2,222). Allow ±15 %.
        assert!((1_890..=2_560).contains(&moved), "moved {moved}");
        // And every moved key went to the new bucket.
        for k in 0..keys {
            let h = stable_hash(RoutingKey::Int(k.into()));
            let (before, after) = (jump_consistent_hash(h, 8), jump_consistent_hash(h, 9));
            assert!(before == after || after == 8);
        }
    }

    #[test]
    fn no_shards_is_an_error_not_a_panic() {
        assert!(matches!(
            HashRouter::new().route(RoutingKey::Int(1), &[]),
            Err(crate::Error::NoShards)
        ));
        assert!(matches!(
            crate::ModuloRouter::new().route(RoutingKey::Int(1), &[]),
            Err(crate::Error::NoShards)
        ));
    }

    #[test]
    fn one_bucket_takes_everything() {
        assert_eq!(jump_consistent_hash(u64::MAX, 1), 0);
        assert_eq!(jump_consistent_hash(0, 1), 0);
    }
}
