//! `route <key>`.

use diesel_sharding::key::OwnedKey;
use diesel_sharding::{ShardBackend, ShardConfig, ShardedPool};

use super::Failure;

pub(crate) fn run<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    config: &ShardConfig,
    key: &str,
    text: bool,
    id: bool,
    kind: KeyKind,
) -> Result<(), Failure> {
    if id {
        let value: i64 = key
            .parse()
            .map_err(|_| Failure::Usage(format!("`{key}` is not an id: ids are integers")))?;
        let layout = config.id_layout()?.ok_or_else(|| {
            Failure::Usage("the file has no [ids] section describing the id layout".into())
        })?;
        let parts = layout.decode(value);
        let shard = layout.shard_of(value, pool.shard_ids())?;
        println!(
            "id {value} -> shard {shard} (bucket {}, worker {}, sequence {}, {} ms after the epoch)",
            parts.bucket, parts.worker, parts.sequence, parts.millis
        );
        return Ok(());
    }
    let routing = match kind {
        KeyKind::Auto if !text => match key.parse::<i128>() {
            // Any integer a key column can hold (i64 and u64 alike) routes as that
            // integer; larger ones are refused rather than routed as text.
            Ok(n) if n >= i128::from(i64::MIN) && n <= i128::from(u64::MAX) => OwnedKey::Int(n),
            Ok(_) => {
                return Err(Failure::Usage(format!(
                    "`{key}` does not fit a 64-bit key column: pass --text to route it as text"
                )))
            }
            Err(_) => OwnedKey::Text(key.to_owned()),
        },
        KeyKind::Auto => OwnedKey::Text(key.to_owned()),
        KeyKind::Uuid => OwnedKey::Bytes(parse_uuid(key)?.to_vec()),
        KeyKind::Bytes => OwnedKey::Bytes(parse_hex(key)?),
    };
    // What `explain_route` says of a query keyed by this key.
    println!("{}", pool.explain_key(&routing)?);
    Ok(())
}

/// How `route` reads its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// An integer if it parses as one, else text.
    Auto,
    /// A UUID (`67e55044-10b1-426f-9247-bb680e5fe0c8`), routed as its 16 bytes, as a
    /// `uuid::Uuid` key is.
    Uuid,
    /// Hex bytes (`0xdeadbeef` or `deadbeef`), as a binary key.
    Bytes,
}

/// The 16 bytes of a UUID written with or without hyphens.
fn parse_uuid(text: &str) -> Result<[u8; 16], Failure> {
    let not_uuid = || {
        Failure::Usage(format!(
            "`{text}` is not a UUID: write 8-4-4-4-12 hex digits"
        ))
    };
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let bytes = parse_hex(&hex).map_err(|_| not_uuid())?;
    let expected_hyphens = [8, 13, 18, 23];
    let hyphens: Vec<usize> = text.match_indices('-').map(|(i, _)| i).collect();
    if !(hyphens.is_empty() || hyphens == expected_hyphens) {
        return Err(not_uuid());
    }
    bytes.try_into().map_err(|_| not_uuid())
}

/// Bytes from hex digits, with or without a `0x` prefix.
fn parse_hex(text: &str) -> Result<Vec<u8>, Failure> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bad = || {
        Failure::Usage(format!(
            "`{text}` is not hex bytes: write pairs of hex digits"
        ))
    };
    if digits.len() % 2 != 0 {
        return Err(bad());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}
