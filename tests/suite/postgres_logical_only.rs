//! PostgreSQL logical shards only: the search path.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::prelude::*;

use super::fixture::*;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// An extension's type and functions, installed in `public` as `CREATE EXTENSION` does,
/// work on a logical shard as they do on a physical one, while the shard's own tables
/// stay in its schema.
#[test]
fn extension_types_resolve_on_logical_shards() {
    let shards = Shards::new(2);
    shards
        .direct("s0")
        .batch_execute("CREATE EXTENSION IF NOT EXISTS citext SCHEMA public")
        .unwrap();
    let pool = &shards.pool;
    diesel::sql_query("CREATE TABLE tags (name citext PRIMARY KEY)")
        .set_shard("s1")
        .execute(pool)
        .unwrap();
    diesel::sql_query("INSERT INTO tags VALUES ('Rust'), ('Diesel')")
        .set_shard("s1")
        .execute(pool)
        .unwrap();
    let found: Count = diesel::sql_query("SELECT count(*) AS n FROM tags WHERE name = 'rust'")
        .set_shard("s1")
        .get_result(pool)
        .unwrap();
    assert_eq!(found.n, 1, "citext compares without case");
    let in_schema: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'tags' AND schemaname = '{}'",
        shards.databases.namespace(1)
    ))
    .get_result(&mut shards.direct("s0"))
    .unwrap();
    assert_eq!(
        in_schema.n, 1,
        "the table is in the shard's schema, not in public"
    );
}
