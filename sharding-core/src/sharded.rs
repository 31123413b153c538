//! [`Sharded<T>`]: a value tagged with the shard it came from.

use std::ops::{Deref, DerefMut};

use crate::ShardId;

/// A value tagged with the shard it came from, like SQLAlchemy's identity token.
///
/// Rows loaded from several shards come back as `Sharded<Row>`, so a change to a row can
/// be sent back to its own shard with [`set_shard`](crate::ShardPinDsl::set_shard):
///
/// ```
/// use sharding_core::{Sharded, ShardId};
///
/// let row = Sharded::new(ShardId::from("s1"), (7_i64, "note"));
/// assert_eq!(row.shard(), "s1");
/// assert_eq!(row.0, 7); // derefs to the value
/// let (shard, value) = row.into_parts();
/// assert_eq!((shard.as_str(), value.1), ("s1", "note"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sharded<T> {
    shard: ShardId,
    value: T,
}

impl<T> Sharded<T> {
    /// Tags `value` with `shard`.
    pub fn new(shard: ShardId, value: T) -> Self {
        Sharded { shard, value }
    }

    /// Every shard's rows, each tagged with its shard, in the shards' order.
    pub(crate) fn tag_all(per_shard: Vec<(ShardId, Vec<T>)>) -> Vec<Self> {
        per_shard
            .into_iter()
            .flat_map(|(shard, rows)| {
                rows.into_iter()
                    .map(move |row| Sharded::new(shard.clone(), row))
            })
            .collect()
    }

    /// The shard the value came from.
    pub fn shard(&self) -> &ShardId {
        &self.shard
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Drops the tag.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The shard and the value.
    pub fn into_parts(self) -> (ShardId, T) {
        (self.shard, self.value)
    }

    /// Transforms the value, keeping the tag.
    ///
    /// ```
    /// # use sharding_core::{Sharded, ShardId};
    /// let n = Sharded::new(ShardId::from("s0"), 2).map(|v| v * 10);
    /// assert_eq!(*n, 20);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sharded<U> {
        Sharded {
            shard: self.shard,
            value: f(self.value),
        }
    }
}

impl<T> Deref for Sharded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Sharded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
