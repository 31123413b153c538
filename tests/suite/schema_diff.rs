//! `schema_diff`: drift between the shards' schemas, read from the real catalogs.

use diesel::connection::SimpleConnection;
use diesel_sharding::schema_diff::{ObjectKind, Subject};
use diesel_sharding::ShardBackend;

use super::fixture::*;

/// The version Diesel records for `migrations/2026-11-23-000001_create_customers_and_orders`.
const MIGRATED_TO: &str = "20261123000001";

fn subject(kind: ObjectKind, table: &str, name: &str) -> Subject {
    Subject::Object {
        kind,
        table: table.to_owned(),
        name: name.to_owned(),
    }
}

#[test]
fn identical_shards_have_no_drift_and_each_shard_reads_its_own_schema() {
    let shards = Shards::new(4);
    let diff = shards.pool.schema_diff().unwrap();
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(diff.shards_compared(), 4);
    let schema = shards.pool.read_schema("s2").unwrap();
    assert_eq!(schema.migration_version(), Some(MIGRATED_TO));
    assert!(schema.definition(ObjectKind::Table, "orders", "orders").is_some());
    let note = schema.definition(ObjectKind::Column, "orders", "note").unwrap();
    assert!(note.to_ascii_lowercase().contains("text"), "{note}");
    assert!(note.contains("NOT NULL"), "{note}");
    assert!(schema
        .definition(ObjectKind::Index, "orders", "orders_customer_id")
        .is_some());
    assert!(
        schema.objects().all(|o| o.table != "__diesel_schema_migrations"),
        "the migrations table is compared by its version only"
    );
}

/// An index dropped on s1, a column added on s2 and a column type changed on s3: three
/// drifts, each on its shard, and nothing else.
#[test]
fn a_missing_index_an_added_column_and_a_type_change_are_each_found_on_their_shard() {
    let shards = Shards::new(4);
    let drop_index = match Conn::NAME {
        "mysql" => "DROP INDEX orders_customer_id ON orders",
        _ => "DROP INDEX orders_customer_id",
    };
    shards.direct("s1").batch_execute(drop_index).unwrap();
    shards
        .direct("s2")
        .batch_execute("ALTER TABLE orders ADD COLUMN coupon TEXT")
        .unwrap();
    let change_type = match Conn::NAME {
        "postgres" => "ALTER TABLE orders ALTER COLUMN amount_cents TYPE integer",
        "mysql" => "ALTER TABLE orders MODIFY amount_cents INT NOT NULL",
        // SQLite cannot change a column's type in place: drop it and add it back as an
        // INTEGER (with the default SQLite then requires).
        _ => "ALTER TABLE orders DROP COLUMN amount_cents; \
              ALTER TABLE orders ADD COLUMN amount_cents INTEGER NOT NULL DEFAULT 0",
    };
    shards.direct("s3").batch_execute(change_type).unwrap();

    let diff = shards.pool.schema_diff().unwrap();
    let found: Vec<(&str, &Subject)> = diff
        .drifts()
        .iter()
        .map(|d| (d.shard.as_str(), &d.subject))
        .collect();
    assert_eq!(
        found,
        [
            ("s3", &subject(ObjectKind::Column, "orders", "amount_cents")),
            ("s2", &subject(ObjectKind::Column, "orders", "coupon")),
            ("s1", &subject(ObjectKind::Index, "orders", "orders_customer_id")),
        ],
        "{diff}"
    );
    let [retyped, added, dropped] = diff.drifts() else {
        unreachable!("three drifts, checked above")
    };
    assert!(dropped.found.is_none() && dropped.expected.is_some());
    assert_eq!(dropped.agreeing, 3);
    assert!(added.expected.is_none() && added.found.is_some());
    let (was, now) = (
        retyped.expected.as_deref().unwrap().to_ascii_lowercase(),
        retyped.found.as_deref().unwrap().to_ascii_lowercase(),
    );
    assert!(was.contains("bigint"), "{was}");
    assert!(!now.contains("bigint") && now.contains("int"), "{now}");
    let report = diff.to_string();
    assert!(
        report.contains("shard `s1`: index `orders_customer_id` on `orders` is missing"),
        "{report}"
    );
    assert!(
        report.contains("shard `s2`: column `orders.coupon`"),
        "{report}"
    );
}

#[test]
fn a_constraint_on_one_shard_and_a_migration_behind_are_drift_even_on_the_first_shard() {
    let shards = Shards::new(3);
    if Conn::NAME != "sqlite" {
        // SQLite cannot add a constraint to an existing table.
        shards
            .direct("s0")
            .batch_execute(
                "ALTER TABLE customers ADD CONSTRAINT region_not_empty CHECK (region <> '')",
            )
            .unwrap();
    }
    shards
        .direct("s2")
        .batch_execute("DELETE FROM __diesel_schema_migrations")
        .unwrap();
    let diff = shards.pool.schema_diff().unwrap();
    let mut expected = vec![("s2", Subject::MigrationVersion)];
    if Conn::NAME != "sqlite" {
        expected.insert(
            0,
            (
                "s0",
                subject(ObjectKind::Constraint, "customers", "region_not_empty"),
            ),
        );
    }
    let found: Vec<(&str, Subject)> = diff
        .drifts()
        .iter()
        .map(|d| (d.shard.as_str(), d.subject.clone()))
        .collect();
    assert_eq!(found, expected, "{diff}");
    let behind = diff.drifts().last().unwrap();
    assert_eq!(behind.found, None);
    assert_eq!(behind.expected.as_deref(), Some(MIGRATED_TO));
    assert!(diff
        .to_string()
        .contains(&format!("shard `s2`: latest migration is none; 2 other shards are at {MIGRATED_TO}")));
}
