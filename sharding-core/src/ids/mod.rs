//! Ids that know their shard: 64-bit, time-ordered, unique across processes.
//!
//! A [`ShardEncodedIds`] generator packs, from the most significant bit down:
//!
//! | bits (default) | field |
//! |---|---|
//! | 1 | sign, always 0: ids are positive `i64`s and fit a `BIGINT` |
//! | 41 | milliseconds since the layout's epoch (default 2024-01-01 UTC): 69 years |
//! | 8 | bucket: the position of the owning shard in the pool (256 shards) |
//! | 4 | worker: the generating process (16 at once) |
//! | 10 | sequence within the millisecond (1,024 ids per ms per worker) |
//!
//! Ids sort by creation time. Two processes with different worker numbers never produce
//! the same id; one generator is safe to share between threads. See [`IdLayout`] to
//! choose other widths.
//!
//! Other id schemes plug in through [`IdScheme`]: [`UuidV7Ids`] (UUIDs that say nothing
//! about their shard) and [`BlockIds`] (ranges reserved from a table on each shard).
//!
//! | module part | holds |
//! |---|---|
//! | [`IdLayout`], [`IdParts`] | the bit layout of shard-encoding ids |
//! | [`ShardEncodedIds`], [`EncodedIdChooser`] | the generator, and the lookup of an id's shard |
//! | [`Clock`], [`SystemClock`], [`ClockBackwards`] | time, and what to do when it steps back |
//! | [`IdScheme`], [`UuidV7Ids`], [`BlockIds`] | pluggable schemes |

mod blocks;
mod clock;
mod encoded;
mod layout;
mod scheme;
mod uuid_v7;

pub use blocks::{BlockIds, BLOCK_IDS_PER_SHARD};
pub use clock::{Clock, SystemClock};
pub use encoded::{ClockBackwards, EncodedIdChooser, ShardEncodedIds};
pub use layout::{IdLayout, IdParts, DEFAULT_EPOCH_MS};
pub use scheme::IdScheme;
pub use uuid_v7::UuidV7Ids;
