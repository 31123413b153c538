//! The file format: what a configuration file may hold, as serde reads it.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) backend: Spanned<String>,
    pub(super) migrations: Option<String>,
    #[serde(default)]
    pub(super) pool: RawPool,
    pub(super) router: Option<RawRouter>,
    #[serde(default)]
    pub(super) shared_pools: Vec<RawSharedPool>,
    pub(super) shards: Option<Spanned<Vec<RawShard>>>,
    pub(super) ids: Option<RawIds>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) max_size: Option<Spanned<u32>>,
    pub(super) min_idle: Option<Spanned<u32>>,
    pub(super) connection_timeout_ms: Option<Spanned<u64>>,
    pub(super) test_on_check_out: Option<bool>,
    pub(super) idle_timeout_ms: Option<Spanned<u64>>,
    pub(super) max_lifetime_ms: Option<Spanned<u64>>,
    pub(super) insert_batch_rows: Option<Spanned<usize>>,
    pub(super) default_timeout_ms: Option<Spanned<u64>>,
    pub(super) worker_threads: Option<Spanned<usize>>,
    pub(super) server_statement_limits: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouter {
    pub(super) kind: Spanned<String>,
    pub(super) ranges: Option<Spanned<Vec<Spanned<RawRange>>>>,
    pub(super) default: Option<Spanned<String>>,
    pub(super) int_keys: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    pub(super) text_keys: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRange {
    pub(super) start: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) shard: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSharedPool {
    pub(super) name: Spanned<String>,
    pub(super) url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    pub(super) id: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) pool: Option<Spanned<String>>,
    pub(super) namespace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIds {
    pub(super) timestamp_bits: u8,
    pub(super) bucket_bits: u8,
    pub(super) worker_bits: u8,
    pub(super) sequence_bits: u8,
    pub(super) epoch_ms: Option<u64>,
}
