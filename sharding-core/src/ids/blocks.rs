//! [`BlockIds`]: ids reserved in blocks from a table on each shard.

use std::ops::Range;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::query_builder::SqlQuery;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::BigInt;

use super::IdScheme;
use crate::events::Operation;
use crate::executor;
use crate::{Error, RangeRouter, Result, ShardBackend, ShardedPool};

/// Ids reserved in blocks from a table on each shard (hi/lo): shard number `p` owns the
/// ids `p × 2⁴⁰ + 1 ..= (p + 1) × 2⁴⁰`, and its table `diesel_sharding_id_blocks` keeps
/// the next free one, so ids survive restarts and several processes never hand out the
/// same id. [`chooser`](Self::chooser) turns an id back into its shard.
///
/// Create the table on every shard with [`create_table`](Self::create_table) (or in a
/// migration: `CREATE TABLE diesel_sharding_id_blocks (name VARCHAR(64) PRIMARY KEY,
/// next_id BIGINT NOT NULL)`).
#[derive(Debug)]
pub struct BlockIds {
    name: String,
    block: i64,
    /// Per shard position: the ids reserved and not yet handed out.
    reserved: Mutex<Vec<Range<i64>>>,
}

/// How many ids each shard owns under [`BlockIds`]: 2⁴⁰.
pub const BLOCK_IDS_PER_SHARD: i64 = 1 << 40;

/// The row `BlockIds` reads back after reserving a block.
#[doc(hidden)]
#[derive(QueryableByName)]
pub struct NextId {
    #[diesel(sql_type = BigInt)]
    next_id: i64,
}

impl BlockIds {
    /// Ids for the sequence `name` (one row per sequence in each shard's table),
    /// reserved `block` at a time. `name` must be 1 to 64 letters, digits or `_`.
    pub fn new(name: &str, block: u32) -> Result<Self> {
        if let Some(reason) = crate::backend::invalid_namespace(name) {
            return Err(Error::InvalidIdLayout {
                reason: format!("the sequence name {name:?} is refused because {reason}"),
            });
        }
        Ok(BlockIds {
            name: name.to_owned(),
            block: i64::from(block.max(1)),
            reserved: Mutex::new(Vec::new()),
        })
    }

    /// Creates the table on every shard if it is missing.
    pub fn create_table<Conn: ShardBackend>(pool: &ShardedPool<Conn>) -> Result<()> {
        for position in 0..pool.shard_ids().len() {
            let mut conn = pool.checkout(position)?;
            conn.batch_execute(
                "CREATE TABLE IF NOT EXISTS diesel_sharding_id_blocks \
                 (name VARCHAR(64) PRIMARY KEY, next_id BIGINT NOT NULL)",
            )
            .map_err(Error::on_shard(pool.id(position)))?;
        }
        Ok(())
    }

    /// The id chooser that maps an id back to its shard (a [`RangeRouter`] over the
    /// shards' id ranges), for [`ShardedPoolBuilder::id_chooser`](crate::ShardedPoolBuilder::id_chooser).
    pub fn chooser(shards: &[impl AsRef<str>]) -> RangeRouter {
        shards
            .iter()
            .enumerate()
            .fold(RangeRouter::new(), |router, (p, shard)| {
                let start = p as i64 * BLOCK_IDS_PER_SHARD;
                router.range(start + 1..=start + BLOCK_IDS_PER_SHARD, shard.as_ref())
            })
    }

    /// Reserves the next block on the shard at `position`.
    fn reserve<Conn>(&self, pool: &ShardedPool<Conn>, position: usize) -> Result<Range<i64>>
    where
        Conn: ShardBackend,
        SqlQuery: for<'a> LoadQuery<'a, Conn, NextId> + ExecuteDsl<Conn>,
    {
        let base = i64::try_from(position)
            .ok()
            .and_then(|p| p.checked_mul(BLOCK_IDS_PER_SHARD))
            .ok_or(Error::IdOverflow {
                field: "bucket",
                value: position as u64,
                max: (i64::MAX / BLOCK_IDS_PER_SHARD) as u64,
            })?;
        // `name` is a validated identifier and the rest are integers: nothing to escape.
        let (name, block) = (self.name.clone(), self.block);
        let reserve = move |conn: &mut Conn| {
            conn.transaction(|conn| {
                let updated = diesel::sql_query(format!(
                    "UPDATE diesel_sharding_id_blocks SET next_id = next_id + {block} WHERE name = '{name}'"
                ))
                .execute(conn)?;
                if updated == 0 {
                    diesel::sql_query(format!(
                        "INSERT INTO diesel_sharding_id_blocks (name, next_id) VALUES ('{name}', {})",
                        base + 1 + block
                    ))
                    .execute(conn)?;
                }
                diesel::sql_query(format!(
                    "SELECT next_id FROM diesel_sharding_id_blocks WHERE name = '{name}'"
                ))
                .get_result::<NextId>(conn)
            })
        };
        // Two processes may both find the row missing; the loser's insert fails and a
        // second try updates the winner's row. Under the pool's default deadline this runs
        // on a worker; a reservation given up on may still commit later, which only skips
        // that block's ids.
        let job = executor::job(move |conn: &mut Conn| {
            reserve(conn).or_else(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => reserve(conn),
                other => Err(other),
            })
        });
        let reserved =
            executor::run_pooled(pool, position, Operation::IdBlock, executor::one_row, job);
        let next = reserved?.next_id;
        if next - 1 > base + BLOCK_IDS_PER_SHARD {
            return Err(Error::IdOverflow {
                field: "sequence",
                value: (next - 1 - base) as u64,
                max: BLOCK_IDS_PER_SHARD as u64,
            });
        }
        Ok(next - block..next)
    }
}

impl<Conn> IdScheme<Conn> for BlockIds
where
    Conn: ShardBackend,
    SqlQuery: for<'a> LoadQuery<'a, Conn, NextId> + ExecuteDsl<Conn>,
{
    type Id = i64;

    fn next_id(&self, pool: &ShardedPool<Conn>, position: usize) -> Result<i64> {
        pool.check_index(position)?;
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        if reserved.len() <= position {
            reserved.resize(position + 1, 0..0);
        }
        if reserved[position].is_empty() {
            reserved[position] = self.reserve(pool, position)?;
        }
        let id = reserved[position].start;
        reserved[position].start += 1;
        Ok(id)
    }
}
