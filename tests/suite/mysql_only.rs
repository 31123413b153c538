//! MySQL/MariaDB only: how text keys compare.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::RoutingKey;

use super::fixture::*;
use crate::common::*;

fn tenants_for_key(shards: &Shards, key: &str) -> Vec<String> {
    let mut found: Vec<String> = events::table
        .select(events::tenant.assume_not_null())
        .for_key(key)
        .load(&shards.pool)
        .unwrap();
    found.sort();
    found
}

/// MySQL's default collations ignore case and trailing spaces, while routing compares
/// bytes: on a default `VARCHAR` key column, `for_key("a")` also matches rows keyed
/// `"A"` or `"a "` that sit on the same shard. A binary, no-pad collation (or
/// `VARBINARY`) makes the database compare as the router does. This is what the README
/// documents; the test pins both behaviours on the real server.
#[test]
fn text_keys_compare_as_routing_does_only_with_a_binary_no_pad_collation() {
    let shards = Shards::new(2);
    let key = "a";
    let owner = shards.expected_shard(RoutingKey::Text(key));
    let event = |id: i64, tenant: &str| Event {
        id,
        tenant: Some(tenant.into()),
        body: String::new(),
    };
    shards.pool.insert(event(1, key)).unwrap();
    // Rows whose keys differ from "a" only in case or trailing spaces, on a's shard
    // (planted there directly: the router may well send them elsewhere).
    for (id, tenant) in [(2, "A"), (3, "a ")] {
        diesel::insert_into(events::table)
            .values(event(id, tenant))
            .execute(&mut shards.direct(owner.as_str()))
            .unwrap();
    }
    assert_eq!(
        tenants_for_key(&shards, key),
        ["A", "a", "a "],
        "the default collation folds them"
    );

    let nopad_bin: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = 'utf8mb4_nopad_bin'",
    )
    .get_result(&mut shards.direct("s0"))
    .unwrap();
    // MariaDB's binary no-pad collation, else MySQL 8's.
    let collation = if nopad_bin > 0 {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    };
    for shard in shards.ids() {
        shards
            .direct(shard.as_str())
            .batch_execute(&format!(
                "ALTER TABLE events MODIFY tenant VARCHAR(100) CHARACTER SET utf8mb4 COLLATE {collation} NULL"
            ))
            .unwrap();
    }
    assert_eq!(
        tenants_for_key(&shards, key),
        ["a"],
        "{collation} compares bytes"
    );
}
