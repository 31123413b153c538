//! Transaction ids of atomic transactions, and the branches they have on each shard.
//!
//! An id is `ds:<stamp>:<coordinator tag>`: `<stamp>` is the start time in milliseconds
//! since the Unix epoch (11 hex digits) and 48 random bits (12 hex digits), so ids are
//! unique across processes and say how old they are; the coordinator's tag names the
//! shard that holds the transaction's decision. A shard's **tag** is its id, `+`, and 8
//! hex digits hashing where its data lives (PostgreSQL: database and schema; MySQL:
//! database), so that two pools whose shards share a server and their ids (two
//! applications, two test runs) never take each other's branches for their own. A
//! shard's branch adds its tag: on PostgreSQL the prepared transaction's name is
//! `<id>:<tag>`; on MySQL the XA id is `'<id>','<tag>'`. Shard ids hold letters, digits,
//! `_`, `-` and `.` only, so none of this needs quoting beyond the single quotes around
//! it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ids::Clock;
use crate::{Error, Result, ShardId};

/// The longest coordinator shard id an id can name: MySQL's XA ids hold 64 bytes.
pub(crate) const MAX_COORDINATOR_LEN: usize = 64 - "ds::".len() - STAMP_LEN - TAG_SUFFIX_LEN;

/// The longest shard id a branch can name (MySQL's XA branch qualifiers hold 64 bytes).
pub(crate) const MAX_PARTICIPANT_LEN: usize = 64 - TAG_SUFFIX_LEN;

const STAMP_LEN: usize = 23;

/// `+` and 8 hex digits.
const TAG_SUFFIX_LEN: usize = 9;

/// A shard's tag: its id and a hash of `location` (where its data lives).
pub(crate) fn tag(shard: &ShardId, location: &str) -> Result<Arc<str>> {
    if shard.as_str().len() > MAX_PARTICIPANT_LEN {
        return Err(Error::InvalidShardId {
            id: shard.to_string(),
            reason:
                "it is longer than the 55 characters a shard in an atomic transaction may \
                     have (its branch must fit MySQL's 64-byte XA ids): give the shard a shorter id",
        });
    }
    let hash = crate::router::stable_hash(crate::RoutingKey::Text(location)) as u32;
    Ok(format!("{shard}+{hash:08x}").into())
}

/// A new id for a transaction coordinated by the shard tagged `coordinator`.
pub(crate) fn new_id(coordinator: &str) -> Result<Arc<str>> {
    if coordinator.len() > MAX_COORDINATOR_LEN + TAG_SUFFIX_LEN {
        return Err(Error::InvalidShardId {
            id: coordinator.split('+').next().unwrap_or_default().to_owned(),
            reason: "it is longer than the 28 characters the coordinator of an atomic \
                     transaction may have (its id must fit MySQL's 64-byte XA ids): give the \
                     shard a shorter id, or touch a shard with a shorter id first",
        });
    }
    let millis = now_millis();
    Ok(format!(
        "ds:{millis:011x}{:012x}:{coordinator}",
        random_bits() & 0xffff_ffff_ffff
    )
    .into())
}

/// Milliseconds since the Unix epoch, by the system clock the id generators use.
pub(crate) fn now_millis() -> u64 {
    crate::ids::SystemClock.now_ms()
}

/// 64 bits from the standard library's randomly keyed hasher and a process counter.
fn random_bits() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// What an id says of itself: when it started and its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedId {
    pub(crate) started_ms: u64,
    /// The coordinator's shard id.
    pub(crate) coordinator: ShardId,
    /// The coordinator's tag (id and location hash).
    pub(crate) coordinator_tag: String,
}

/// Parses an id made by [`new_id`]; `None` for anything else (another tool's prepared
/// transactions, or ids holding characters that would need quoting).
pub(crate) fn parse_id(id: &str) -> Option<ParsedId> {
    let rest = id.strip_prefix("ds:")?;
    let (stamp, coordinator_tag) = rest.split_once(':')?;
    if stamp.len() != STAMP_LEN || !stamp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let coordinator = shard_of_tag(coordinator_tag)?;
    let started_ms = u64::from_str_radix(stamp.get(..11)?, 16).ok()?;
    Some(ParsedId {
        started_ms,
        coordinator,
        coordinator_tag: coordinator_tag.to_owned(),
    })
}

/// The shard id of a well-formed tag (`<id>+<8 hex digits>`).
pub(crate) fn shard_of_tag(tag: &str) -> Option<ShardId> {
    let (shard, hash) = tag.rsplit_once('+')?;
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let shard = ShardId::new(shard);
    shard.invalid_reason().is_none().then_some(shard)
}

/// How long ago the transaction `started_ms` began (zero if in the future).
pub(crate) fn age(started_ms: u64) -> Duration {
    Duration::from_millis(now_millis().saturating_sub(started_ms))
}

/// One shard's branch of an atomic transaction. Not public API.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    id: Arc<str>,
    tag: Arc<str>,
}

impl Branch {
    /// The branch of transaction `id` on the shard tagged `tag`. Both must be made of
    /// characters that need no quoting (as those from [`new_id`] and [`tag`] are).
    pub(crate) fn new(id: Arc<str>, tag: Arc<str>) -> Self {
        Branch { id, tag }
    }

    /// The transaction's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The PostgreSQL prepared transaction's name: `<id>:<tag>`.
    pub fn gid(&self) -> String {
        format!("{}:{}", self.id, self.tag)
    }

    /// The MySQL XA id: `'<id>','<tag>'`.
    pub fn xa_xid(&self) -> String {
        format!("'{}','{}'", self.id, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_coordinator_and_start_and_fit_mysql() {
        let coordinator = ShardId::from("s0.eu");
        let tagged = tag(&coordinator, "db.schema").expect("short id");
        assert_ne!(tagged, tag(&coordinator, "db.other").expect("short id"));
        let id = new_id(&tagged).expect("short id");
        let parsed = parse_id(&id).expect("parses");
        assert_eq!(parsed.coordinator, coordinator);
        assert_eq!(parsed.coordinator_tag, &*tagged);
        assert!(age(parsed.started_ms) < Duration::from_secs(60));
        assert_ne!(id, new_id(&tagged).expect("short id"), "unique");
        let longest = tag(&ShardId::from("c".repeat(MAX_COORDINATOR_LEN)), "x").expect("fits");
        assert_eq!(new_id(&longest).expect("fits").len(), 64);
        let too_long = tag(&ShardId::from("c".repeat(MAX_COORDINATOR_LEN + 1)), "x").expect("fits");
        assert!(new_id(&too_long).is_err());
        let widest = tag(&ShardId::from("p".repeat(MAX_PARTICIPANT_LEN)), "x").expect("fits");
        assert_eq!(widest.len(), 64);
        assert!(tag(&ShardId::from("p".repeat(MAX_PARTICIPANT_LEN + 1)), "x").is_err());
    }

    #[test]
    fn foreign_or_unsafe_ids_are_not_ours() {
        for id in [
            "",
            "ds:",
            "xa:0000000000000000000000:s0+00000000",
            "ds:zz00000000000000000000z:s0+00000000",
            "ds:00000000000000000000000:s0",
            "ds:00000000000000000000000:s0+0000000g",
            "ds:00000000000000000000000:s0'; DROP TABLE t; --+00000000",
            "ds:00000000000000000000000:",
        ] {
            assert_eq!(parse_id(id), None, "{id}");
        }
    }
}
