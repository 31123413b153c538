//! What `#[derive(ShardedModel)]` generates, used against real shards.

use diesel::prelude::*;
use diesel_sharding::{RoutingKey, ShardedModel, ShardedTable};

use super::fixture::*;
use crate::common::*;

/// A field whose column has another name.
#[derive(Insertable, diesel_sharding::ShardedModel)]
#[diesel(table_name = orders)]
#[sharded(skip_table_impl)]
struct RenamedOrder {
    id: i64,
    #[diesel(column_name = customer_id)]
    #[shard_key]
    owner: i64,
    amount_cents: i64,
    note: String,
}

/// A borrowing model, with a lifetime and the runtime crate named explicitly.
#[derive(Insertable, diesel_sharding::ShardedModel)]
#[diesel(table_name = customers)]
#[sharded(key = id, skip_table_impl, crate = diesel_sharding)]
struct NewCustomer<'a> {
    id: i64,
    region: &'a str,
    name: &'a str,
}

#[test]
fn the_derived_key_reads_the_key_field() {
    let o = order(1, 42);
    assert_eq!(*o.shard_key(), 42);
    let c = customer(7);
    assert_eq!(*c.shard_key(), 7);
    let r = RenamedOrder {
        id: 1,
        owner: 9,
        amount_cents: 0,
        note: String::new(),
    };
    assert_eq!(*r.shard_key(), 9);
    // The table's key column is the one the model named.
    let column = <orders::table as ShardedTable>::key_column();
    type Db = <Conn as diesel::Connection>::Backend;
    assert_eq!(
        diesel::debug_query::<Db, _>(&orders::table.filter(column.eq(1_i64))).to_string(),
        diesel::debug_query::<Db, _>(&orders::table.filter(orders::customer_id.eq(1_i64))).to_string()
    );
}

#[test]
fn renamed_and_borrowing_models_insert_on_their_shard() {
    let shards = Shards::new(3);
    shards
        .pool
        .insert(&RenamedOrder {
            id: 5,
            owner: 11,
            amount_cents: 1,
            note: "x".into(),
        })
        .unwrap();
    let owner = shards.expected_shard(RoutingKey::Int(11));
    assert_eq!(shards.order_ids_on(owner.as_str()), vec![5]);

    let region = String::from("eu");
    shards
        .pool
        .insert(&NewCustomer {
            id: 3,
            region: &region,
            name: "borrowed",
        })
        .unwrap();
    let owner = shards.expected_shard(RoutingKey::Int(3));
    assert_eq!(shards.customer_ids_on(owner.as_str()), vec![3]);
}
