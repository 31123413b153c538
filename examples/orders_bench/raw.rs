// Plain Diesel's side of the benchmark, for the connection type `super::Conn`: one r2d2
// pool per shard, the shard picked by hand with the same router function, fan-out as a
// sequential loop. Included once per backend by `backends.rs`.

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_sharding::{HashRouter, RoutingKey};

use super::Conn;
use crate::data::{Customer, Order};
use crate::{customers, orders, BoxError, Workload};

pub struct System {
    pub pools: Vec<Pool<ConnectionManager<Conn>>>,
}

impl System {
    fn shard(&self, key: i64) -> usize {
        HashRouter::new().bucket(RoutingKey::Int(key.into()), self.pools.len())
    }
}

impl Workload for System {
    fn insert_single(&mut self, rows: &[Customer]) -> Result<(), BoxError> {
        for row in rows {
            let mut conn = self.pools[self.shard(row.id)].get()?;
            diesel::insert_into(customers::table).values(row).execute(&mut conn)?;
        }
        Ok(())
    }

    fn insert_batch(&mut self, rows: &[Order], batch: usize) -> Result<(), BoxError> {
        let mut per_shard: Vec<Vec<&Order>> = self.pools.iter().map(|_| Vec::new()).collect();
        for row in rows {
            per_shard[self.shard(row.customer_id)].push(row);
        }
        for (shard, shard_rows) in per_shard.iter().enumerate() {
            let mut conn = self.pools[shard].get()?;
            for chunk in shard_rows.chunks(batch) {
                conn.transaction(|conn| {
                    diesel::insert_into(orders::table).values(chunk.to_vec()).execute(conn)
                })?;
            }
        }
        Ok(())
    }

    fn get_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError> {
        for &(customer_id, id) in keys {
            let mut conn = self.pools[self.shard(customer_id)].get()?;
            let found: Order = orders::table
                .find(id)
                .filter(orders::customer_id.eq(customer_id))
                .select(Order::as_select())
                .get_result(&mut conn)?;
            debug_assert_eq!(found.id, id);
        }
        Ok(())
    }

    fn get_by_id(&mut self, ids: &[i64]) -> Result<(), BoxError> {
        'ids: for &id in ids {
            for pool in &self.pools {
                let mut conn = pool.get()?;
                let found: Option<Order> = orders::table
                    .find(id)
                    .select(Order::as_select())
                    .first(&mut conn)
                    .optional()?;
                if found.is_some() {
                    continue 'ids;
                }
            }
            return Err(format!("order {id} not found").into());
        }
        Ok(())
    }

    fn fanout_filter(&mut self, lows: &[i64]) -> Result<Vec<i64>, BoxError> {
        let mut first = None;
        for &lo in lows {
            let mut ids = Vec::new();
            for pool in &self.pools {
                let mut conn = pool.get()?;
                let mut shard_ids: Vec<i64> = orders::table
                    .filter(orders::amount_cents.between(lo, lo + 999))
                    .order(orders::id)
                    .select(orders::id)
                    .limit(50)
                    .load(&mut conn)?;
                ids.append(&mut shard_ids);
            }
            ids.sort_unstable();
            ids.truncate(50);
            first.get_or_insert(ids);
        }
        Ok(first.unwrap_or_default())
    }

    fn fanout_count(&mut self, thresholds: &[i64]) -> Result<i64, BoxError> {
        let mut total = 0;
        for &t in thresholds {
            for pool in &self.pools {
                let mut conn = pool.get()?;
                let n: i64 = orders::table
                    .filter(orders::amount_cents.gt(t))
                    .count()
                    .get_result(&mut conn)?;
                total += n;
            }
        }
        Ok(total)
    }

    fn update_keyed(&mut self, keys: &[(i64, i64)]) -> Result<(), BoxError> {
        for &(customer_id, id) in keys {
            let mut conn = self.pools[self.shard(customer_id)].get()?;
            let n = diesel::update(
                orders::table
                    .find(id)
                    .filter(orders::customer_id.eq(customer_id)),
            )
            .set(orders::amount_cents.eq(orders::amount_cents + 1))
            .execute(&mut conn)?;
            debug_assert_eq!(n, 1);
        }
        Ok(())
    }

    fn delete_fanout(&mut self) -> Result<i64, BoxError> {
        let mut total = 0;
        for pool in &self.pools {
            let mut conn = pool.get()?;
            total += diesel::delete(orders::table.filter(orders::amount_cents.lt(5_000)))
                .execute(&mut conn)?;
        }
        Ok(i64::try_from(total)?)
    }

    fn count_orders(&mut self) -> Result<i64, BoxError> {
        let mut total = 0;
        for pool in &self.pools {
            let n: i64 = orders::table.count().get_result(&mut pool.get()?)?;
            total += n;
        }
        Ok(total)
    }

    fn sum_amounts(&mut self) -> Result<i64, BoxError> {
        let mut total = 0;
        for pool in &self.pools {
            let amounts: Vec<i64> = orders::table.select(orders::amount_cents).load(&mut pool.get()?)?;
            total += amounts.iter().sum::<i64>();
        }
        Ok(total)
    }
}
