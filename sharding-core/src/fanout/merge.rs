//! Combining per-shard results: k-way merge by a sort key, and aggregates.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Add;

use crate::{Error, Result, ShardId, Sharded};

/// Merges per-shard lists, each sorted by `key`, into one list sorted by `key`; skips
/// `offset` rows and keeps `limit`. Ties keep shard order. A shard whose rows are not
/// sorted fails with [`Error::OutOfOrder`].
pub(crate) fn k_way_merge<U, K: Ord>(
    lists: Vec<(ShardId, Vec<U>)>,
    key: impl Fn(&U) -> K,
    offset: usize,
    limit: usize,
) -> Result<Vec<Sharded<U>>> {
    let mut iters = Vec::with_capacity(lists.len());
    let mut heap = BinaryHeap::with_capacity(lists.len());
    let mut heads: Vec<Option<U>> = Vec::with_capacity(lists.len());
    for (position, (shard, rows)) in lists.into_iter().enumerate() {
        if rows.windows(2).any(|pair| key(&pair[0]) > key(&pair[1])) {
            return Err(Error::OutOfOrder { shard });
        }
        let mut rows = rows.into_iter();
        let head = rows.next();
        if let Some(row) = &head {
            heap.push(Reverse((key(row), position)));
        }
        heads.push(head);
        iters.push((shard, rows));
    }
    let mut out = Vec::with_capacity(limit.min(1024));
    let mut skipped = 0;
    while out.len() < limit {
        let Some(Reverse((_, position))) = heap.pop() else {
            break;
        };
        let (shard, rows) = &mut iters[position];
        if let Some(row) = heads[position].take() {
            if skipped < offset {
                skipped += 1;
            } else {
                out.push(Sharded::new(shard.clone(), row));
            }
        }
        if let Some(next) = rows.next() {
            heap.push(Reverse((key(&next), position)));
            heads[position] = Some(next);
        }
    }
    Ok(out)
}

/// Adds per-shard SQL `SUM`s (a shard with no rows gives `NULL`).
pub(crate) fn sum_options<T: Add<Output = T>>(
    values: impl IntoIterator<Item = Option<T>>,
) -> Option<T> {
    values.into_iter().flatten().reduce(|a, b| a + b)
}

/// Merges `(key, value)` rows from every shard, combining the values of equal keys.
pub(crate) fn merge_groups<K: Ord, V>(
    rows: impl IntoIterator<Item = (K, V)>,
    combine: impl Fn(V, V) -> V,
) -> Vec<(K, V)> {
    let mut groups: BTreeMap<K, V> = BTreeMap::new();
    for (k, v) in rows {
        let merged = match groups.remove(&k) {
            Some(old) => combine(old, v),
            None => v,
        };
        groups.insert(k, merged);
    }
    groups.into_iter().collect()
}

/// A numeric type whose per-shard sums can be added and turned into an average: the
/// integers, the floats and (cargo feature `numeric`) `bigdecimal::BigDecimal`, which is
/// what Diesel's `sum` and `avg` of integer columns return (`Nullable<Numeric>`).
pub trait Summable: Add<Output = Self> + Clone + Send {
    /// The value as an `f64`, for averages.
    fn to_f64(self) -> f64;
}

macro_rules! summable {
    ($($t:ty),*) => {$(
        impl Summable for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
summable!(i16, i32, i64, f32, f64);

#[cfg(feature = "numeric")]
impl Summable for bigdecimal::BigDecimal {
    /// The nearest `f64`; NaN for a value out of its range.
    fn to_f64(self) -> f64 {
        bigdecimal::ToPrimitive::to_f64(&self).unwrap_or(f64::NAN)
    }
}

/// The value of `values` that is `wanted` (`Less`: the least, `Greater`: the greatest)
/// of all; a value that does not compare with itself (NaN) gives way to any other.
pub(crate) fn extreme<T: PartialOrd>(
    values: impl IntoIterator<Item = T>,
    wanted: std::cmp::Ordering,
) -> Option<T> {
    values.into_iter().fold(None, |best, value| match best {
        None => Some(value),
        Some(best) => {
            let best_is_nan = best.partial_cmp(&best).is_none();
            if best_is_nan || value.partial_cmp(&best) == Some(wanted) {
                Some(value)
            } else {
                Some(best)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_of_floats_skip_nan() {
        use std::cmp::Ordering::{Greater, Less};
        assert_eq!(extreme([2.5, f64::NAN, -1.0], Less), Some(-1.0));
        assert_eq!(extreme([f64::NAN, 2.5, 7.0], Greater), Some(7.0));
        assert_eq!(extreme(Vec::<f64>::new(), Greater), None);
        assert!(extreme([f64::NAN], Greater).is_some_and(f64::is_nan));
    }

    fn lists(data: &[&[i64]]) -> Vec<(ShardId, Vec<i64>)> {
        data.iter()
            .enumerate()
            .map(|(i, rows)| (ShardId::from(format!("s{i}")), rows.to_vec()))
            .collect()
    }

    #[test]
    fn merges_sorted_lists_with_offset_and_limit() {
        let merged =
            k_way_merge(lists(&[&[1, 4, 7], &[2, 5, 8], &[3, 6, 9]]), |v| *v, 2, 4).unwrap();
        let values: Vec<i64> = merged.iter().map(|r| **r).collect();
        assert_eq!(values, vec![3, 4, 5, 6]);
        assert_eq!(merged[0].shard(), "s2");
    }

    #[test]
    fn ties_keep_shard_order_and_short_lists_end_early() {
        let merged = k_way_merge(lists(&[&[1, 2], &[1], &[]]), |v| *v, 0, 10).unwrap();
        let shards: Vec<&str> = merged.iter().map(|r| r.shard().as_str()).collect();
        assert_eq!(shards, vec!["s0", "s1", "s0"]);
    }

    #[test]
    fn refuses_unsorted_shards() {
        let err = k_way_merge(lists(&[&[1, 2], &[5, 3]]), |v| *v, 0, 10).unwrap_err();
        assert!(matches!(err, Error::OutOfOrder { shard } if shard == "s1"));
    }

    #[test]
    fn descending_keys_work_through_reverse() {
        let merged = k_way_merge(lists(&[&[9, 5], &[8, 1]]), |v| Reverse(*v), 0, 3).unwrap();
        let values: Vec<i64> = merged.iter().map(|r| **r).collect();
        assert_eq!(values, vec![9, 8, 5]);
    }

    #[test]
    fn sums_skip_null_shards_and_groups_merge() {
        assert_eq!(sum_options([Some(2), None, Some(3)]), Some(5));
        assert_eq!(sum_options::<i64>([None, None]), None);
        let merged = merge_groups([("eu", 1), ("na", 2), ("eu", 3)], |a, b| a + b);
        assert_eq!(merged, vec![("eu", 4), ("na", 2)]);
    }
}
