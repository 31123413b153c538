//! `PgHashRouter` places every key where PostgreSQL's own `PARTITION BY HASH` does: the
//! expected side is the partition the server chose (`tableoid`), for 100,000 keys of
//! each supported type.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Text};
use diesel_sharding::{PgHashRouter, RoutingKey, ShardId, ShardedPool};

use super::backend::*;

const KEYS: u32 = 100_000;

/// `(type, expression over g = 1..KEYS)`: negative and extreme integers, empty and
/// non-ASCII strings, random UUIDs, binary strings of every length up to 32.
const KEY_SETS: [(&str, &str); 6] = [
    (
        "bigint",
        "CASE WHEN g <= 4 THEN (ARRAY[-9223372036854775808, 9223372036854775807, 0, -1])[g] \
         ELSE ((g::numeric * 11400714819323198485) % 18446744073709551616 - 9223372036854775808)::bigint END",
    ),
    ("integer", "((g::bigint * 2654435761) % 4294967296 - 2147483648)::integer"),
    ("smallint", "((g * 7919) % 65536 - 32768)::smallint"),
    (
        "text",
        "CASE g % 4 WHEN 0 THEN md5(g::text) WHEN 1 THEN repeat(chr(233 + g % 500), g % 20) || g \
         WHEN 2 THEN '' ELSE chr(19968 + g % 20000) || g::text END",
    ),
    ("uuid", "gen_random_uuid()"),
    ("bytea", "substring(decode(md5(g::text) || md5((g + 1)::text), 'hex') from 1 for g % 33)"),
];

#[derive(QueryableByName)]
struct IntKey {
    #[diesel(sql_type = BigInt)]
    k: i64,
    #[diesel(sql_type = Text)]
    part: String,
}

#[derive(QueryableByName)]
struct TextKey {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    part: String,
}

#[derive(QueryableByName)]
struct BytesKey {
    #[diesel(sql_type = Bytea)]
    k: Vec<u8>,
    #[diesel(sql_type = Text)]
    part: String,
}

/// The remainder a partition named `<table>_<r>` holds.
fn remainder_of(partition: &str) -> usize {
    partition
        .rsplit('_')
        .next()
        .and_then(|r| r.parse().ok())
        .expect("a partition name ends in its remainder")
}

#[test]
fn pg_hash_router_places_every_key_where_postgres_hash_partitioning_does() {
    let databases = Databases::create(1, false);
    let mut conn = databases.direct(0);
    let router = PgHashRouter::new();
    let mut checked = 0;
    for modulus in [4_usize, 7] {
        for (ty, expression) in KEY_SETS {
            let table = format!("h_{ty}_{modulus}");
            let mut ddl = format!("CREATE TABLE {table} (k {ty}) PARTITION BY HASH (k);");
            for r in 0..modulus {
                ddl.push_str(&format!(
                    "CREATE TABLE {table}_{r} PARTITION OF {table} FOR VALUES WITH (MODULUS {modulus}, REMAINDER {r});"
                ));
            }
            ddl.push_str(&format!(
                "INSERT INTO {table} SELECT {expression} FROM generate_series(1, {KEYS}) g;"
            ));
            conn.batch_execute(&ddl).unwrap();
            let part = "tableoid::regclass::text AS part";
            let placed: Vec<(RoutingKeyOwned, usize)> = match ty {
                "bigint" | "integer" | "smallint" => {
                    diesel::sql_query(format!("SELECT k::bigint AS k, {part} FROM {table}"))
                        .load::<IntKey>(&mut conn)
                        .unwrap()
                        .into_iter()
                        .map(|row| (RoutingKeyOwned::Int(row.k), remainder_of(&row.part)))
                        .collect()
                }
                "text" => diesel::sql_query(format!("SELECT k, {part} FROM {table}"))
                    .load::<TextKey>(&mut conn)
                    .unwrap()
                    .into_iter()
                    .map(|row| (RoutingKeyOwned::Text(row.k), remainder_of(&row.part)))
                    .collect(),
                _ => {
                    let bytes = if ty == "uuid" { "uuid_send(k)" } else { "k" };
                    diesel::sql_query(format!("SELECT {bytes} AS k, {part} FROM {table}"))
                        .load::<BytesKey>(&mut conn)
                        .unwrap()
                        .into_iter()
                        .map(|row| (RoutingKeyOwned::Bytes(row.k), remainder_of(&row.part)))
                        .collect()
                }
            };
            assert_eq!(placed.len(), KEYS as usize, "{table}");
            let mut used = vec![false; modulus];
            for (key, expected) in &placed {
                let ours = router.remainder(key.as_key(), modulus).unwrap();
                assert_eq!(ours, *expected, "{ty} key {key:?} with modulus {modulus}");
                used[*expected] = true;
            }
            assert!(used.iter().all(|u| *u), "{table}: every partition got keys");
            checked += placed.len();
        }
    }
    assert_eq!(checked, 2 * KEY_SETS.len() * KEYS as usize);
}

/// A pool built with the router (and from a config file naming it) routes as it does.
#[test]
fn a_pool_with_the_pg_hash_router_routes_by_postgres_remainders() {
    let databases = Databases::create(4, false);
    let pool = databases
        .add_to(ShardedPool::<Conn>::builder())
        .router(PgHashRouter::new())
        .build()
        .unwrap();
    let shards: Vec<ShardId> = pool.shard_ids().to_vec();
    for key in [-5_i64, 0, 1, 2, 42, i64::MAX] {
        let position = PgHashRouter::new()
            .remainder(RoutingKey::Int(key.into()), 4)
            .unwrap();
        assert_eq!(
            pool.shard_for_key(&key).unwrap(),
            &shards[position],
            "key {key}"
        );
    }
    let err = pool.shard_for_key(&u64::MAX).unwrap_err();
    assert!(err.to_string().contains("bigint"), "{err}");
}

/// An owned key, for the comparisons above.
#[derive(Debug)]
enum RoutingKeyOwned {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl RoutingKeyOwned {
    fn as_key(&self) -> RoutingKey<'_> {
        match self {
            RoutingKeyOwned::Int(i) => RoutingKey::Int((*i).into()),
            RoutingKeyOwned::Text(t) => RoutingKey::Text(t),
            RoutingKeyOwned::Bytes(b) => RoutingKey::Bytes(b),
        }
    }
}
