//! A set of migrated shards on one backend and layout, with the pool over them and
//! direct connections (that bypass the pool) for checking what is where.
//!
//! Included once per backend module in `lib.rs`, where `super::backend` is that backend
//! and `super::LOGICAL` says whether the shards are logical (schemas/databases on one
//! shared pool) or physical (a database and a pool each).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{HashRouter, RoutingKey, ShardedPoolBuilder};

pub use super::backend::{
    as_double, marked_sleep_sql, sleep_sql, sleepers, sum_sql, unreachable_url, with_sleep, Conn, Databases,
    STATEMENT_TIMEOUT,
};
use super::LOGICAL;
use crate::common::*;

pub struct Shards {
    pub pool: ShardedPool<Conn>,
    pub databases: Databases,
    n: usize,
}

pub fn shard_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
}

impl Shards {
    /// `n` migrated shards `s0..s{n-1}` with the default router.
    pub fn new(n: usize) -> Shards {
        Shards::with(n, |b| b)
    }

    /// `n` migrated shards, the builder adjusted by `configure`.
    pub fn with(n: usize, configure: impl FnOnce(ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn>) -> Shards {
        let shards = Shards::unmigrated(n, configure);
        shards.pool.run_pending_migrations(MIGRATIONS).expect("migrate");
        for i in 0..n {
            let mut conn = shards.databases.direct(i);
            for ddl in TEST_TABLES_DDL {
                conn.batch_execute(ddl).expect("create test tables");
            }
        }
        shards
    }

    /// `n` shards with nothing in them yet.
    pub fn unmigrated(n: usize, configure: impl FnOnce(ShardedPoolBuilder<Conn>) -> ShardedPoolBuilder<Conn>) -> Shards {
        let databases = Databases::create(n, LOGICAL);
        let pool = configure(databases.add_to(ShardedPool::<Conn>::builder()))
            .build()
            .expect("build pool");
        Shards { pool, databases, n }
    }

    fn index(&self, shard: &str) -> usize {
        (0..self.n)
            .find(|i| format!("s{i}") == shard)
            .unwrap_or_else(|| panic!("no shard {shard}"))
    }

    /// A fresh connection to one shard's database, outside the pool.
    pub fn direct(&self, shard: &str) -> Conn {
        self.databases.direct(self.index(shard))
    }

    pub fn ids(&self) -> Vec<ShardId> {
        shard_names(self.n).into_iter().map(ShardId::from).collect()
    }

    /// The shard a key belongs to, computed independently of the pool: the documented
    /// hash router over the shards in order.
    pub fn expected_shard(&self, key: RoutingKey<'_>) -> ShardId {
        ShardId::from(format!("s{}", HashRouter::new().bucket(key, self.n)))
    }

    /// Order ids on one shard, read directly.
    pub fn order_ids_on(&self, shard: &str) -> Vec<i64> {
        orders::table
            .select(orders::id)
            .order(orders::id)
            .load(&mut self.direct(shard))
            .expect("read orders")
    }

    /// Customer ids on one shard, read directly.
    pub fn customer_ids_on(&self, shard: &str) -> Vec<i64> {
        customers::table
            .select(customers::id)
            .order(customers::id)
            .load(&mut self.direct(shard))
            .expect("read customers")
    }

    /// Events on one shard, read directly.
    pub fn event_count_on(&self, shard: &str) -> i64 {
        events::table.count().get_result(&mut self.direct(shard)).expect("count events")
    }

    /// Whether `orders` exists on a shard.
    pub fn has_orders_table(&self, shard: &str) -> bool {
        orders::table.count().get_result::<i64>(&mut self.direct(shard)).is_ok()
    }

    /// Writes an order straight into a shard, bypassing routing (a decoy for tests that
    /// prove a query did not run there).
    pub fn plant_order(&self, shard: &str, row: &Order) {
        diesel::insert_into(orders::table)
            .values(row)
            .execute(&mut self.direct(shard))
            .expect("plant order");
    }

    /// A shard that does not own `key`.
    pub fn other_shard(&self, key: i64) -> ShardId {
        let owner = self.expected_shard(RoutingKey::Int(key.into()));
        self.ids().into_iter().find(|id| *id != owner).expect("two shards")
    }

    /// The first key (from 1) that the hash router gives to `shard`.
    pub fn key_on(&self, shard: &str) -> i64 {
        (1..)
            .find(|k: &i64| self.expected_shard(RoutingKey::Int((*k).into())) == shard)
            .expect("a key")
    }
}
