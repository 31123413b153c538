//! [`Target`]: where a query goes, and the one place that turns it into shard positions
//! and explains the choice. Routed queries, fan-outs, id lookups and `for_keys` all
//! resolve their shards here.

use crate::fanout::IdChooser;
use crate::ids::EncodedIdChooser;
use crate::key::OwnedKey;
use crate::query::RouteExplanation;
use crate::{Error, Result, ShardBackend, ShardId, ShardKey, ShardedPool};

/// Where a query goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The shard that owns a key (`for_key`).
    Key(OwnedKey),
    /// A key that was `None`: resolving it fails with [`Error::MissingKey`].
    MissingKey,
    /// The shard named (`set_shard`).
    Shard(ShardId),
    /// Every shard (`all_shards`).
    All,
    /// The shards named (`on_shards`).
    Shards(Vec<ShardId>),
    /// The shards that may hold an id (`find_anywhere`); `encoded`: the id names its
    /// shard.
    Id { id: OwnedKey, encoded: bool },
}

impl Target {
    /// The target of a key, [`MissingKey`](Self::MissingKey) for a `None` key.
    pub(crate) fn key<K: ShardKey + ?Sized>(key: &K) -> Self {
        match key.routing_key() {
            Some(key) => Target::Key(key.to_owned_key()),
            None => Target::MissingKey,
        }
    }

    /// The target of an id looked up on every shard that may hold it.
    pub(crate) fn id<K: ShardKey + ?Sized>(id: &K, encoded: bool) -> Self {
        match id.routing_key() {
            Some(key) => Target::Id {
                id: key.to_owned_key(),
                encoded,
            },
            None => Target::MissingKey,
        }
    }

    /// The positions of the shards the target names in `pool`, in pool order, each once.
    pub(crate) fn indices<Conn: ShardBackend>(
        &self,
        pool: &ShardedPool<Conn>,
    ) -> Result<Vec<usize>> {
        // An id chooser most often gives the pool's own ids back, in pool order (all of
        // them, by default): a clone at its own position needs no lookup by name.
        let positions = |ids: &[ShardId]| -> Result<Vec<usize>> {
            let known = pool.shard_ids();
            ids.iter()
                .enumerate()
                .map(|(k, id)| match known.get(k) {
                    Some(at) if at.is(id) => Ok(k),
                    _ => pool.shard_index(id.as_str()),
                })
                .collect()
        };
        let mut indices = match self {
            Target::Key(key) => vec![pool.route_index(key.as_routing_key())?],
            Target::MissingKey => return Err(Error::MissingKey { what: "query" }),
            Target::Shard(id) => vec![pool.shard_index(id.as_str())?],
            Target::All => (0..pool.shard_ids().len()).collect(),
            Target::Shards(ids) => positions(ids)?,
            Target::Id { id, encoded: true } => {
                let layout = pool.encoded_ids().ok_or_else(|| Error::NoShardForKey {
                    router: "encoded id",
                    key: id.to_string(),
                    hint: "this table's ids encode their shard, but the pool has no id layout: \
                           declare it with `ShardedPoolBuilder::encoded_ids`"
                        .to_owned(),
                })?;
                positions(
                    &EncodedIdChooser(*layout).candidates(id.as_routing_key(), pool.shard_ids())?,
                )?
            }
            Target::Id { id, encoded: false } => positions(
                &pool
                    .id_chooser()
                    .candidates(id.as_routing_key(), pool.shard_ids())?,
            )?,
        };
        indices.sort_unstable();
        indices.dedup();
        Ok(indices)
    }

    /// The position of the one shard a single-shard target (key or pin) names.
    pub(crate) fn index<Conn: ShardBackend>(&self, pool: &ShardedPool<Conn>) -> Result<usize> {
        match self {
            Target::Key(key) => pool.route_index(key.as_routing_key()),
            Target::Shard(id) => pool.shard_index(id.as_str()),
            _ => self.indices(pool)?.first().copied().ok_or(Error::NoShards),
        }
    }

    /// Which shards the target names in `pool`, and why.
    pub(crate) fn explain<Conn: ShardBackend>(
        &self,
        pool: &ShardedPool<Conn>,
    ) -> Result<RouteExplanation> {
        let indices = self.indices(pool)?;
        let why = match self {
            Target::Key(key) => {
                return Ok(RouteExplanation::for_key(
                    pool,
                    key.as_routing_key(),
                    indices[0],
                ))
            }
            Target::MissingKey => return Err(Error::MissingKey { what: "query" }),
            Target::Shard(_) => "pinned with set_shard".to_owned(),
            Target::All => "all_shards: every shard".to_owned(),
            Target::Shards(_) => "on_shards: the shards named".to_owned(),
            Target::Id { id, encoded: true } => format!("id {id} names its shard (encoded ids)"),
            Target::Id { id, encoded: false } => {
                format!("id {id}: the shards the id chooser names")
            }
        };
        Ok(RouteExplanation::shards(pool, &indices, why))
    }
}

/// `keys` grouped by the shard that owns each, indexed by shard position (empty for a
/// shard that owns none). Routes every key before anything runs, so a bad key fails the
/// whole call.
pub(crate) fn group_by_shard<Conn, K, I>(pool: &ShardedPool<Conn>, keys: I) -> Result<Vec<Vec<K>>>
where
    Conn: ShardBackend,
    K: ShardKey,
    I: IntoIterator<Item = K>,
{
    let mut groups: Vec<Vec<K>> = pool.shard_ids().iter().map(|_| Vec::new()).collect();
    for key in keys {
        let index = pool.route_key_index(&key, "query")?;
        groups[index].push(key);
    }
    Ok(groups)
}
