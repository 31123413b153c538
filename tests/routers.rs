//! Router properties: every key has an owner among the configured shards, the same
//! owner every time, and keys spread evenly.

use diesel_sharding::{HashRouter, ModuloRouter, Router, RoutingKey, ShardId};
use proptest::prelude::*;

fn ids(n: usize) -> Vec<ShardId> {
    (0..n).map(|i| ShardId::from(format!("s{i}"))).collect()
}

proptest! {
    #[test]
    fn every_integer_key_routes_to_a_configured_shard(key in any::<i64>(), n in 1_usize..=64) {
        let shards = ids(n);
        for router in [&HashRouter::new() as &dyn Router, &ModuloRouter::new()] {
            let owner = router.route(RoutingKey::Int(key.into()), &shards).unwrap();
            prop_assert!(shards.contains(&owner));
            // Stable: a fresh router gives the same owner.
            prop_assert_eq!(HashRouter::new().route(RoutingKey::Int(key.into()), &shards).unwrap(),
                            HashRouter::new().route(RoutingKey::Int(key.into()), &shards).unwrap());
        }
    }

    #[test]
    fn every_text_and_binary_key_routes_to_a_configured_shard(key in ".{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..32), n in 1_usize..=64) {
        let shards = ids(n);
        for router in [&HashRouter::new() as &dyn Router, &ModuloRouter::new()] {
            prop_assert!(shards.contains(&router.route(RoutingKey::Text(&key), &shards).unwrap()));
            prop_assert!(shards.contains(&router.route(RoutingKey::Bytes(&bytes), &shards).unwrap()));
        }
    }

    #[test]
    fn integer_width_does_not_change_the_owner(key in any::<i32>()) {
        let shards = ids(8);
        let router = HashRouter::new();
        let as_i32 = router.route(RoutingKey::Int(key.into()), &shards).unwrap();
        let as_i64 = router.route(RoutingKey::Int(i64::from(key).into()), &shards).unwrap();
        prop_assert_eq!(as_i32, as_i64);
    }
}

/// Sequential ids (the common case) spread within ±5 % of the mean over 8 shards.
#[test]
fn hash_router_spreads_sequential_keys_evenly() {
    let shards = ids(8);
    let mut counts = [0_usize; 8];
    for key in 1..=80_000_i64 {
        let owner = HashRouter::new()
            .route(RoutingKey::Int(key.into()), &shards)
            .unwrap();
        counts[shards.iter().position(|s| *s == owner).unwrap()] += 1;
    }
    for (i, count) in counts.iter().enumerate() {
        assert!(
            (9_500..=10_500).contains(count),
            "shard {i}: {count} of 80,000"
        );
    }
}

/// Text keys spread within ±5 % as well.
#[test]
fn hash_router_spreads_text_keys_evenly() {
    let shards = ids(4);
    let mut counts = [0_usize; 4];
    for i in 0..40_000 {
        let key = format!("tenant-{i}");
        let owner = HashRouter::new()
            .route(RoutingKey::Text(&key), &shards)
            .unwrap();
        counts[shards.iter().position(|s| *s == owner).unwrap()] += 1;
    }
    for (i, count) in counts.iter().enumerate() {
        assert!(
            (9_500..=10_500).contains(count),
            "shard {i}: {count} of 40,000"
        );
    }
}

/// Adding a ninth shard at the end moves about 1/9 of the keys, all to the new shard.
#[test]
fn adding_a_shard_moves_few_keys() {
    let (eight, nine) = (ids(8), ids(9));
    let mut moved = 0;
    for key in 0..90_000_i64 {
        let before = HashRouter::new()
            .route(RoutingKey::Int(key.into()), &eight)
            .unwrap();
        let after = HashRouter::new()
            .route(RoutingKey::Int(key.into()), &nine)
            .unwrap();
        if before != after {
            assert_eq!(after, "s8", "key {key} moved between old shards");
            moved += 1;
        }
    }
    assert!(
        (9_000..=11_000).contains(&moved),
        "moved {moved} of 90,000 (ideal 10,000)"
    );
}

proptest! {
    /// The hash and modulo routers' fast path agrees with their `route`.
    #[test]
    fn route_position_agrees_with_route(key in any::<i64>(), n in 1_usize..=64) {
        let shards = ids(n);
        for router in [&HashRouter::new() as &dyn Router, &ModuloRouter::new()] {
            let named = router.route(RoutingKey::Int(key.into()), &shards).unwrap();
            let position = router.route_position(RoutingKey::Int(key.into()), &shards).unwrap().unwrap();
            prop_assert_eq!(&shards[position], &named);
        }
    }
}

#[cfg(feature = "config")]
mod config_input {
    use diesel_sharding::{Error, ShardConfig};
    use proptest::prelude::*;

    proptest! {
        /// Any text, and any mix of valid and invalid lines, parses or fails with a
        /// positioned configuration error; it never panics.
        #[test]
        fn arbitrary_configuration_text_never_panics(text in ".{0,200}") {
            if let Err(e) = ShardConfig::from_toml(&text, "fuzz.toml") {
                prop_assert!(matches!(e, Error::Config { .. }), "{}", e);
            }
        }

        #[test]
        fn arbitrary_configuration_lines_never_panic(
            lines in proptest::collection::vec(prop_oneof![
                Just("backend = \"sqlite\"".to_owned()),
                Just("backend = \"postgres\"".to_owned()),
                Just("[[shards]]".to_owned()),
                Just("[[shared_pools]]".to_owned()),
                Just("[router]".to_owned()),
                Just("[pool]".to_owned()),
                "id = \"[a-z0-9;\\- ]{0,6}\"",
                "url = \"[a-z:/$\\{\\}.]{0,12}\"",
                "pool = \"[a-z]{0,3}\"",
                "name = \"[a-z]{0,3}\"",
                "namespace = \"[a-z;0-9 ]{0,6}\"",
                "kind = \"[a-z]{0,6}\"",
                "max_size = -?[0-9]{1,3}",
                ".{0,10}",
            ], 0..12),
        ) {
            let text = lines.join("\n");
            match ShardConfig::from_toml(&text, "fuzz.toml") {
                Ok(config) => {
                    let _ = config.builder::<diesel::SqliteConnection>();
                }
                Err(e) => prop_assert!(matches!(e, Error::Config { .. }), "{}", e),
            }
        }
    }
}

/// Each router explains its placement in its own terms, and the explanation agrees with
/// the shard it routes to.
#[test]
fn routers_explain_how_they_place_a_key() {
    use diesel_sharding::{FnRouter, LookupRouter, PgHashRouter, RangeRouter};
    let shards = ids(4);
    let range = RangeRouter::new()
        .range(..0_i64, "s0")
        .range(0_i64..100, "s1")
        .range(100_i64.., "s2");
    let why = |router: &dyn Router, key: RoutingKey<'_>| router.explain(key, &shards);
    assert_eq!(
        why(&range, RoutingKey::Int(-5)).as_deref(),
        Some("in range ..0")
    );
    assert_eq!(
        why(&range, RoutingKey::Int(42)).as_deref(),
        Some("in range 0..100")
    );
    assert_eq!(
        why(&range, RoutingKey::Int(100)).as_deref(),
        Some("in range 100..")
    );
    assert_eq!(
        why(&range, RoutingKey::Text("x")),
        None,
        "not routable: nothing to explain"
    );

    let lookup = LookupRouter::new().key(7_i64, "s3").default_shard("s0");
    assert_eq!(why(&lookup, RoutingKey::Int(7)).as_deref(), Some("listed"));
    assert_eq!(
        why(&lookup, RoutingKey::Int(8)).as_deref(),
        Some("not listed: the default shard")
    );
    assert_eq!(why(&LookupRouter::new(), RoutingKey::Int(8)), None);

    let modulo = ModuloRouter::new();
    assert_eq!(
        why(&modulo, RoutingKey::Int(-1)).as_deref(),
        Some("-1 mod 4 = 3")
    );
    assert_eq!(modulo.route(RoutingKey::Int(-1), &shards).unwrap(), "s3");
    let text = why(&modulo, RoutingKey::Text("acme")).unwrap();
    let bucket = modulo.bucket(RoutingKey::Text("acme"), 4);
    assert!(
        text.starts_with("stable hash 0x") && text.ends_with(&format!(" mod 4 = {bucket}")),
        "{text}"
    );

    for key in [
        RoutingKey::Int(1),
        RoutingKey::Text(""),
        RoutingKey::Bytes(&[1, 2]),
    ] {
        let pg = why(&PgHashRouter::new(), key).unwrap();
        let r = PgHashRouter::new().remainder(key, 4).unwrap();
        assert!(pg.ends_with(&format!(" mod 4 = remainder {r}")), "{pg}");
        let hash = why(&HashRouter::new(), key).unwrap();
        let b = HashRouter::new().bucket(key, 4);
        assert!(
            hash.ends_with(&format!("jump hash over 4 buckets = {b}")),
            "{hash}"
        );
    }
    let custom = FnRouter::new(|_: RoutingKey<'_>, shards: &[ShardId]| Some(shards[0].clone()));
    assert_eq!(why(&custom, RoutingKey::Int(1)), None);
}
