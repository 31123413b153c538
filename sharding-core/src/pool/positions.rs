//! The position recorded in each shard's database, checked against the pool's order.

use crate::shard_id::list_ids;
use crate::{Error, Result, ShardBackend, ShardId};

use super::ShardedPool;

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Records the shard's position in its database, or refuses to go on if it records
    /// another one ([`Error::ShardMoved`]).
    pub(crate) fn record_position(&self, index: usize, conn: &mut Conn) -> Result<()> {
        self.check_position(index, conn)?;
        Conn::record_position(conn, index as i64).map_err(Error::on_shard(self.id(index)))
    }

    /// Fails with [`Error::ShardMoved`] when the shard's database records another
    /// position than `index`.
    pub(crate) fn check_position(&self, index: usize, conn: &mut Conn) -> Result<()> {
        match Conn::recorded_position(conn).map_err(Error::on_shard(self.id(index)))? {
            Some(recorded) if recorded != index as i64 => Err(Error::ShardMoved {
                shard: self.id(index).clone(),
                position: index,
                recorded,
            }),
            _ => Ok(()),
        }
    }

    /// Checks every shard's recorded position (see [`Error::ShardMoved`]). A shard that
    /// cannot be reached or read (a logical shard whose namespace does not exist yet)
    /// is not checked.
    pub(crate) fn check_positions(&self) -> Result<()> {
        for index in 0..self.inner.ids.len() {
            let Ok(mut conn) = self.checkout(index) else {
                continue;
            };
            match self.check_position(index, &mut conn) {
                Err(e @ Error::ShardMoved { .. }) => return Err(e),
                _ => continue,
            }
        }
        Ok(())
    }

    /// Whether `position` names a shard of this pool; an [`Error::UnknownShard`] if not.
    pub(crate) fn check_index(&self, position: usize) -> Result<()> {
        if position < self.inner.ids.len() {
            Ok(())
        } else {
            Err(Error::UnknownShard {
                shard: ShardId::from(format!("#{position}")),
                known: list_ids(&self.inner.ids),
            })
        }
    }
}
