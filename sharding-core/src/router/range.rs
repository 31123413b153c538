//! Integer key ranges.

use std::ops::{Bound, RangeBounds};

use super::{check_named_shards, Router};
use crate::{Error, Result, RoutingKey, ShardId};

/// Routes integer keys by ranges you choose: each range `[start, end)` belongs to one
/// shard. A key outside every range fails with [`Error::NoShardForKey`]; text and binary
/// keys fail with [`Error::UnsupportedKey`].
///
/// Ranges may be given in any order; overlapping ranges, empty ranges and shards the pool
/// does not have are reported when the pool is built.
///
/// ```
/// use sharding_core::{Router, RangeRouter, RoutingKey, ShardId};
///
/// let router = RangeRouter::new()
///     .range(0..1_000, "s0")
///     .range(1_000..10_000, "s1")
///     .range(10_000.., "s2");
/// let shards: Vec<ShardId> = ["s0", "s1", "s2"].into_iter().map(ShardId::from).collect();
/// router.validate(&shards)?;
/// assert_eq!(router.route(RoutingKey::Int(999), &shards)?, "s0");
/// assert_eq!(router.route(RoutingKey::Int(1_000), &shards)?, "s1");
/// assert_eq!(router.route(RoutingKey::Int(i64::MAX.into()), &shards)?, "s2");
/// assert!(router.route(RoutingKey::Int(-1), &shards).is_err());
/// # Ok::<(), sharding_core::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct RangeRouter {
    /// `(start, end, shard)`, half-open, sorted by `start`.
    ranges: Vec<(i128, i128, ShardId)>,
}

impl RangeRouter {
    /// Creates a router with no ranges.
    pub fn new() -> Self {
        RangeRouter { ranges: Vec::new() }
    }

    /// Gives the keys in `keys` (`a..b`, `a..=b`, `a..`, `..b`) to `shard`.
    pub fn range<K, R>(mut self, keys: R, shard: impl Into<ShardId>) -> Self
    where
        K: Copy + Into<i128>,
        R: RangeBounds<K>,
    {
        let start = match keys.start_bound() {
            Bound::Included(&k) => k.into(),
            Bound::Excluded(&k) => k.into().saturating_add(1),
            Bound::Unbounded => i128::MIN,
        };
        let end = match keys.end_bound() {
            Bound::Included(&k) => k.into().saturating_add(1),
            Bound::Excluded(&k) => k.into(),
            Bound::Unbounded => i128::MAX,
        };
        let at = self.ranges.partition_point(|r| r.0 <= start);
        self.ranges.insert(at, (start, end, shard.into()));
        self
    }
}

impl Router for RangeRouter {
    fn name(&self) -> &'static str {
        "range"
    }

    fn route(&self, key: RoutingKey<'_>, _shards: &[ShardId]) -> Result<ShardId> {
        let RoutingKey::Int(k) = key else {
            return Err(Error::UnsupportedKey {
                router: self.name(),
                kind: key.kind(),
                hint: "range routing needs integer keys; use HashRouter or LookupRouter for text \
                       and binary keys",
            });
        };
        let after = self.ranges.partition_point(|r| r.0 <= k);
        match after.checked_sub(1).map(|i| &self.ranges[i]) {
            Some((_, end, shard)) if k < *end => Ok(shard.clone()),
            _ => Err(Error::NoShardForKey {
                router: self.name(),
                key: key.to_string(),
                hint: "add a range that covers it with `RangeRouter::range`".to_owned(),
            }),
        }
    }

    /// `in range a..b`.
    fn explain(&self, key: RoutingKey<'_>, _shards: &[ShardId]) -> Option<String> {
        let RoutingKey::Int(k) = key else {
            return None;
        };
        let after = self.ranges.partition_point(|r| r.0 <= k);
        let (start, end, _) = after.checked_sub(1).map(|i| &self.ranges[i])?;
        let bound = |b: i128, open: i128| {
            if b == open {
                String::new()
            } else {
                b.to_string()
            }
        };
        (k < *end).then(|| {
            format!(
                "in range {}..{}",
                bound(*start, i128::MIN),
                bound(*end, i128::MAX)
            )
        })
    }

    fn validate(&self, shards: &[ShardId]) -> Result<()> {
        let invalid = |reason: String| Error::InvalidRouter {
            router: "range",
            reason,
        };
        if self.ranges.is_empty() {
            return Err(invalid(
                "it has no ranges: add them with `.range(a..b, shard)`".into(),
            ));
        }
        for (start, end, shard) in &self.ranges {
            if start >= end {
                return Err(invalid(format!(
                    "the range for shard `{shard}` is empty ({start}..{end})"
                )));
            }
        }
        for pair in self.ranges.windows(2) {
            let ((_, end_a, a), (start_b, _, b)) = (&pair[0], &pair[1]);
            if start_b < end_a {
                return Err(invalid(format!(
                    "the ranges of shards `{a}` and `{b}` overlap at key {start_b}: every key \
                     must have one owner"
                )));
            }
        }
        check_named_shards("range", self.ranges.iter().map(|r| &r.2), shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<ShardId> {
        names.iter().map(|n| ShardId::from(*n)).collect()
    }

    #[test]
    fn rejects_overlaps_gaps_and_unknown_shards() {
        let shards = ids(&["a", "b"]);
        let overlap = RangeRouter::new().range(0..10, "a").range(5..20, "b");
        assert!(matches!(
            overlap.validate(&shards),
            Err(Error::InvalidRouter { .. })
        ));
        let unknown = RangeRouter::new().range(0..10, "a").range(10..20, "zz");
        let msg = unknown.validate(&shards).unwrap_err().to_string();
        assert!(msg.contains("`zz`"), "{msg}");
        let empty = RangeRouter::new().range(5..5, "a");
        assert!(empty.validate(&shards).is_err());
        assert!(RangeRouter::new().validate(&shards).is_err());
    }

    #[test]
    fn routes_inclusive_and_gapped_ranges() {
        let shards = ids(&["a", "b"]);
        let router = RangeRouter::new()
            .range(100..=199_u32, "b")
            .range(0..100, "a");
        router.validate(&shards).unwrap();
        assert_eq!(router.route(RoutingKey::Int(0), &shards).unwrap(), "a");
        assert_eq!(router.route(RoutingKey::Int(199), &shards).unwrap(), "b");
        assert!(matches!(
            router.route(RoutingKey::Int(200), &shards),
            Err(Error::NoShardForKey { .. })
        ));
        assert!(matches!(
            router.route(RoutingKey::Text("x"), &shards),
            Err(Error::UnsupportedKey { .. })
        ));
    }
}
