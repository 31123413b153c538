//! [`IdScheme`]: a way to make primary keys for new rows.

use crate::ids::ShardEncodedIds;
use crate::{Result, ShardBackend, ShardKey, ShardedPool};

/// A way to make primary keys for new rows, told which shard the row goes to.
///
/// [`ShardEncodedIds`] puts the shard in the id; [`UuidV7Ids`](super::UuidV7Ids) makes UUIDs that say
/// nothing about the shard; [`BlockIds`](super::BlockIds) hands out ids from ranges reserved in a table on
/// each shard, each shard with its own range of the id space.
pub trait IdScheme<Conn: ShardBackend>: Send + Sync {
    /// The id type.
    type Id;

    /// A new id for a row that goes to the shard at `position` in `pool`. A position the
    /// pool does not have is [`Error::UnknownShard`](crate::Error::UnknownShard).
    fn next_id(&self, pool: &ShardedPool<Conn>, position: usize) -> Result<Self::Id>;

    /// A new id for a row whose shard key is `key`.
    fn next_id_for_key<K: ShardKey + ?Sized>(
        &self,
        pool: &ShardedPool<Conn>,
        key: &K,
    ) -> Result<Self::Id> {
        let position = pool.route_key_index(key, "row")?;
        self.next_id(pool, position)
    }
}

impl<Conn: ShardBackend> IdScheme<Conn> for ShardEncodedIds {
    type Id = i64;

    fn next_id(&self, pool: &ShardedPool<Conn>, position: usize) -> Result<i64> {
        pool.check_index(position)?;
        self.generate(position as u64)
    }
}
