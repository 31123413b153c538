//! What `#[derive(ShardedModel)]` reads, checked at compile time and run time without a
//! database: string column names, generic key types.

use diesel::prelude::*;
use diesel_sharding::{RoutingKey, ShardKey, ShardedModel, ShardedTable};

mod schema {
    diesel::table! { parcels (id) { id -> BigInt, owner_id -> BigInt, } }
}
use schema::parcels;

/// `column_name` in string form names the key column, as the identifier form does.
#[derive(Insertable, ShardedModel)]
#[diesel(table_name = parcels)]
struct Parcel {
    id: i64,
    #[shard_key]
    #[diesel(column_name = "owner_id")]
    owner: i64,
}

/// A second model of the table, keyed by the same column under another field name.
#[derive(Insertable, ShardedModel)]
#[diesel(table_name = parcels)]
#[sharded(key = holder, skip_table_impl)]
struct NewParcel {
    id: i64,
    #[diesel(column_name = owner_id)]
    holder: i64,
}

/// A generic model whose key type is a parameter.
#[derive(ShardedModel)]
#[sharded(table = parcels, skip_table_impl)]
struct Tagged<K> {
    #[shard_key]
    owner_id: K,
}

fn column_name<C: diesel::Column>(_: C) -> &'static str {
    C::NAME
}

#[test]
fn a_string_column_name_is_the_key_column() {
    // The table's key column is `owner_id` (a type mismatch would not compile).
    let column: parcels::owner_id = <parcels::table as ShardedTable>::key_column();
    assert_eq!(column_name(column), "owner_id");
    let parcel = Parcel { id: 1, owner: 42 };
    assert_eq!(parcel.shard_key().routing_key(), Some(RoutingKey::Int(42)));
    let new = NewParcel { id: 2, holder: 7 };
    assert_eq!(new.shard_key().routing_key(), Some(RoutingKey::Int(7)));
    assert_eq!(parcel.id + new.id, 3);
}

#[test]
fn a_generic_key_type_routes_as_its_argument() {
    assert_eq!(
        Tagged { owner_id: 5_i32 }.shard_key().routing_key(),
        Some(RoutingKey::Int(5))
    );
    assert_eq!(
        Tagged {
            owner_id: "acme".to_owned()
        }
        .shard_key()
        .routing_key(),
        Some(RoutingKey::Text("acme"))
    );
}
