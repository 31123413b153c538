//! [`PgHashRouter`]: keys placed exactly as PostgreSQL's `PARTITION BY HASH` places them.

use super::Router;
use crate::{Error, Result, RoutingKey, ShardId};

/// Routes a key to the shard whose position is the remainder PostgreSQL's hash
/// partitioning gives it: shard `i` of `n` holds exactly the rows a table
/// `PARTITION BY HASH (key)` keeps in its partition `FOR VALUES WITH (MODULUS n,
/// REMAINDER i)`. The same layout then works as partitions of one PostgreSQL table, or
/// behind an engine that hashes as PostgreSQL does (PgDog), without rehashing a row.
///
/// Integer keys hash as PostgreSQL's `bigint` (its `smallint` and `integer` hash the
/// same for the same value); text, binary and UUID keys hash their bytes, as `text`
/// (with a deterministic collation), `bytea` and `uuid` do. An integer outside `bigint`
/// has no PostgreSQL counterpart and is refused.
///
/// Pick it for a new deployment that may move onto PostgreSQL partitions or PgDog
/// later. Like any modulo placement, adding a shard moves most keys (PostgreSQL's own
/// answer is to split one partition's modulus); [`HashRouter`](crate::HashRouter) moves
/// few keys when shards are added. Per key they cost about the same: 12.9 ns against
/// 14.9 ns for an integer key on 4 shards (`cargo bench --bench routing`, one run).
///
/// ```
/// use sharding_core::{PgHashRouter, Router, RoutingKey, ShardId};
///
/// let shards: Vec<ShardId> = ["s0", "s1", "s2", "s3"].into_iter().map(ShardId::from).collect();
/// // As `CREATE TABLE t (k bigint) PARTITION BY HASH (k)` with four partitions places 1.
/// let owner = PgHashRouter::new().route(RoutingKey::Int(1), &shards)?;
/// assert_eq!(PgHashRouter::new().remainder(RoutingKey::Int(1), 4)?, 0);
/// assert_eq!(owner, "s0");
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct PgHashRouter {
    _private: (),
}

/// PostgreSQL's `HASH_PARTITION_SEED`.
const PARTITION_SEED: u64 = 0x7A5B_2236_7996_DCFD;

impl PgHashRouter {
    /// Creates the router.
    pub fn new() -> Self {
        PgHashRouter { _private: () }
    }

    /// The remainder PostgreSQL gives `key` under `MODULUS modulus`: the position of its
    /// shard.
    pub fn remainder(&self, key: RoutingKey<'_>, modulus: usize) -> Result<usize> {
        Ok((row_hash(key)? % modulus.max(1) as u64) as usize)
    }
}

/// The hash PostgreSQL's hash partitioning computes for a row whose only partition key
/// is `key` (before the modulus).
fn row_hash(key: RoutingKey<'_>) -> Result<u64> {
    let hash = match key {
        RoutingKey::Int(value) => {
            let value = i64::try_from(value).map_err(|_| Error::NoShardForKey {
                router: "pg-hash",
                key: value.to_string(),
                hint: "PostgreSQL's hash partitioning has no integer wider than bigint".to_owned(),
            })?;
            hash_int8_extended(value, PARTITION_SEED)
        }
        RoutingKey::Text(text) => hash_bytes_extended(text.as_bytes(), PARTITION_SEED),
        RoutingKey::Bytes(bytes) => hash_bytes_extended(bytes, PARTITION_SEED),
    };
    // One partition key column: `hash_combine64(0, hash)`.
    Ok(hash.wrapping_add(0x49a0_f4dd_15e5_a8e3))
}

impl Router for PgHashRouter {
    fn name(&self) -> &'static str {
        "pg-hash"
    }

    fn route_position(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<Result<usize>> {
        Some(self.remainder(key, shards.len()))
    }

    fn route(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Result<ShardId> {
        let position = self.remainder(key, shards.len())?;
        shards.get(position).cloned().ok_or(Error::NoShards)
    }

    /// `partition hash 0x… mod n = remainder r`: what `satisfies_hash_partition` checks.
    fn explain(&self, key: RoutingKey<'_>, shards: &[ShardId]) -> Option<String> {
        let hash = row_hash(key).ok()?;
        let n = shards.len().max(1);
        Some(format!(
            "partition hash {hash:#018x} mod {n} = remainder {}",
            hash % n as u64
        ))
    }
}

/// PostgreSQL's `hashint8extended`: the 64-bit value folded into 32 bits so that values
/// that fit an `integer` hash as `hashint4extended` hashes them.
fn hash_int8_extended(value: i64, seed: u64) -> u64 {
    let low = value as u32;
    let high = (value >> 32) as u32;
    let folded = low ^ if value >= 0 { high } else { !high };
    hash_uint32_extended(folded, seed)
}

/// PostgreSQL's `hash_bytes_uint32_extended`.
fn hash_uint32_extended(k: u32, seed: u64) -> u64 {
    let start = 0x9e37_79b9_u32.wrapping_add(4).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (start, start, start);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    a = a.wrapping_add(k);
    finish(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// PostgreSQL's `hash_bytes_extended` (Bob Jenkins' lookup3, little-endian byte order,
/// as PostgreSQL reads the bytes on every platform it documents for this).
fn hash_bytes_extended(key: &[u8], seed: u64) -> u64 {
    let start = 0x9e37_79b9_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (start, start, start);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    let word = |bytes: &[u8]| -> u32 {
        bytes.iter().enumerate().fold(0_u32, |word, (i, byte)| {
            word | (u32::from(*byte) << (8 * i))
        })
    };
    let mut rest = key;
    while rest.len() >= 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    // The last 0 to 11 bytes: `c`'s lowest byte stays free (lookup3 keeps it for the
    // length), so its bytes go one place up.
    let len = rest.len();
    if len > 8 {
        c = c.wrapping_add(word(&rest[8..]) << 8);
    }
    if len > 4 {
        b = b.wrapping_add(word(&rest[4..len.min(8)]));
    }
    if len > 0 {
        a = a.wrapping_add(word(&rest[..len.min(4)]));
    }
    finish(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// lookup3's `mix`.
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// lookup3's `final`.
fn finish(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}
