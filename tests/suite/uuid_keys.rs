//! `uuid::Uuid` shard keys on a PostgreSQL `UUID` column (feature `uuid`).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::RoutingKey;

use super::fixture::*;

diesel::table! {
    accounts (id) {
        id -> BigInt,
        tenant -> Uuid,
    }
}

#[derive(Queryable, Selectable, Insertable, ShardedModel, Debug, Clone, PartialEq)]
#[diesel(table_name = accounts)]
#[sharded(key = tenant)]
struct Account {
    id: i64,
    tenant: uuid::Uuid,
}

#[test]
fn uuid_keys_route_inserts_and_queries() {
    let shards = Shards::new(3);
    for shard in shards.ids() {
        shards
            .direct(shard.as_str())
            .batch_execute("CREATE TABLE accounts (id BIGINT PRIMARY KEY, tenant UUID NOT NULL)")
            .unwrap();
    }
    let tenants: Vec<uuid::Uuid> = (1..=12_u8)
        .map(|i| uuid::Uuid::from_bytes([i; 16]))
        .collect();
    let rows: Vec<Account> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| Account {
            id: i as i64,
            tenant: *t,
        })
        .collect();
    shards.pool.insert_all(&rows).unwrap();
    for row in &rows {
        let owner = shards.expected_shard(RoutingKey::Bytes(row.tenant.as_bytes()));
        let here: Vec<Account> = accounts::table
            .select(Account::as_select())
            .load(&mut shards.direct(owner.as_str()))
            .unwrap();
        assert!(here.contains(row), "account {} on {owner}", row.id);
        let found: Vec<Account> = accounts::table
            .for_key(row.tenant)
            .select(Account::as_select())
            .load(&shards.pool)
            .unwrap();
        assert_eq!(found, vec![row.clone()]);
    }
}
