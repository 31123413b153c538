// diesel-sharding's side of the benchmark, for the connection type `super::Conn`.
// Included once per backend by `backends.rs`.

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::FindAnywhereDsl;

use super::Conn;
use crate::data::{Customer, Order};
use crate::{orders, BoxError, Workload};

pub struct System {
    pub pool: ShardedPool<Conn>,
    /// How ids whose shard is unknown are searched.
    pub id_search: crate::args::IdSearch,
    /// How many shards a parallel id search asks at once (0: all).
    pub id_width: usize,
}

impl Workload for System {
    fn insert_single(&mut self, customers: &[Customer]) -> Result<(), BoxError> {
        for customer in customers {
            self.pool.insert(customer)?;
        }
        Ok(())
    }

    fn insert_batch(&mut self, rows: &[Order], batch: usize) -> Result<(), BoxError> {
        // Grouped by shard: `shard_for_key` returns the pool's own `ShardId`, so a pointer
        // comparison finds the group.
        let mut per_shard: Vec<(&ShardId, Vec<&Order>)> = Vec::new();
        for row in rows {
            let shard = self.pool.shard_for_key(&row.customer_id)?;
            match per_shard.iter_mut().find(|(s, _)| std::ptr::eq(*s, shard)) {
                Some((_, group)) => group.push(row),
                None => per_shard.push((shard, vec![row])),
            }
        }
        for (_, shard_rows) in &per_shard {
            for chunk in shard_rows.chunks(batch) {
                // One shard's rows: one transaction, one multi-row INSERT.
                self.pool.insert_all(chunk.iter().copied())?;
            }
        }
        Ok(())
    }

    fn get_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError> {
        for &(customer_id, id) in keys {
            let found: Order = orders::table
                .find(id)
                .for_key(customer_id)
                .select(Order::as_select())
                .get_result(&self.pool)?;
            debug_assert_eq!(found.id, id);
        }
        Ok(())
    }

    fn get_by_id(&mut self, ids: &[i64]) -> Result<(), BoxError> {
        use crate::args::IdSearch;
        for &id in ids {
            let search = orders::table.find_anywhere(id).select(Order::as_select());
            let search = match self.id_width {
                0 => search,
                n => search.max_parallelism(n),
            };
            let found = match self.id_search {
                IdSearch::Parallel => search.find_first(&self.pool)?,
                IdSearch::Unique => search.get_unique(&self.pool)?,
                IdSearch::Sequential => search.sequential().find_first(&self.pool)?,
            };
            if found.is_none() {
                return Err(format!("order {id} not found").into());
            }
        }
        Ok(())
    }

    fn fanout_filter(&mut self, lows: &[i64]) -> Result<Vec<i64>, BoxError> {
        let mut first = None;
        for &lo in lows {
            let ids: Vec<Sharded<i64>> = orders::table
                .filter(orders::amount_cents.between(lo, lo + 999))
                .order(orders::id)
                .select(orders::id)
                .all_shards()
                .merge_by(|id: &i64| *id)
                .limit(50)
                .load(&self.pool)?;
            first.get_or_insert_with(|| ids.into_iter().map(Sharded::into_inner).collect());
        }
        Ok(first.unwrap_or_default())
    }

    fn fanout_count(&mut self, thresholds: &[i64]) -> Result<i64, BoxError> {
        let mut total = 0;
        for &t in thresholds {
            total += orders::table
                .filter(orders::amount_cents.gt(t))
                .count()
                .all_shards()
                .count(&self.pool)?;
        }
        Ok(total)
    }

    fn update_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError> {
        for &(customer_id, id) in keys {
            let n = diesel::update(orders::table.find(id))
                .set(orders::amount_cents.eq(orders::amount_cents + 1))
                .for_key(customer_id)
                .execute(&self.pool)?;
            debug_assert_eq!(n, 1);
        }
        Ok(())
    }

    fn delete_fanout(&mut self) -> Result<i64, BoxError> {
        let n = diesel::delete(orders::table.filter(orders::amount_cents.lt(5_000)))
            .all_shards()
            .execute(&self.pool)?;
        Ok(i64::try_from(n)?)
    }

    fn count_orders(&mut self) -> Result<i64, BoxError> {
        Ok(orders::table.count().all_shards().count(&self.pool)?)
    }

    fn sum_amounts(&mut self) -> Result<i64, BoxError> {
        let amounts: Vec<Sharded<i64>> = orders::table
            .select(orders::amount_cents)
            .all_shards()
            .load(&self.pool)?;
        Ok(amounts.iter().map(|a| **a).sum())
    }
}
