//! Ordered merges: each shard's sorted rows merged into one list, cut to a global window.

use diesel::dsl::Limit;
use diesel::query_dsl::methods::LimitDsl;

use super::{merge, FailurePolicy, FanOut};
use crate::{CanLoad, Result, Sharded};

/// An ordered merge waiting for its limit. See [`FanOut::merge_by`].
#[derive(Debug)]
#[must_use = "finish the merge with `.limit(n)`"]
pub struct MergeBy<Q, P, F> {
    pub(super) fan_out: FanOut<Q, P>,
    pub(super) key: F,
}

impl<Q, P: FailurePolicy, F> MergeBy<Q, P, F> {
    /// Keeps at most `limit` rows of the merged list. Each shard is asked for
    /// `offset + limit` rows, so memory stays within shards × (offset + limit) rows.
    pub fn limit(self, limit: u32) -> Merged<Q, P, F> {
        Merged::first(self.fan_out, self.key, limit, false)
    }
}

/// An ordered merge with its window. See [`FanOut::merge_by`].
#[derive(Debug)]
#[must_use = "a merged fan-out does nothing until it is run with `.load(&pool)`"]
pub struct Merged<Q, P, F> {
    fan_out: FanOut<Q, P>,
    key: F,
    offset: u32,
    limit: u32,
    /// Whether each shard's rows come greatest key first (a descending keyset).
    descending: bool,
}

impl<Q, P: FailurePolicy, F> Merged<Q, P, F> {
    /// The first `limit` rows of `fan_out`'s rows merged by `key`, least key first or,
    /// `descending`, greatest first.
    pub(super) fn first(fan_out: FanOut<Q, P>, key: F, limit: u32, descending: bool) -> Self {
        Merged {
            fan_out,
            key,
            offset: 0,
            limit,
            descending,
        }
    }

    /// Skips the first `offset` rows of the merged list. Defaults to 0.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// Runs `query LIMIT offset+limit` on every shard and merges the results by key.
    pub fn load<U, K>(
        self,
        mut access: impl CanLoad<Limit<Q>, U>,
    ) -> Result<P::Output<Vec<Sharded<U>>>>
    where
        F: Fn(&U) -> K,
        K: Ord,
        Q: LimitDsl,
        U: Send + 'static,
    {
        let window = i64::from(self.offset) + i64::from(self.limit);
        // The window is pushed to every shard on purpose; the merge cuts it globally.
        let fan_out = self
            .fan_out
            .per_shard_limits()
            .map_query(|q| q.limit(window));
        let (oks, failures) = fan_out.run_rows(&mut access)?;
        let (offset, limit) = (self.offset as usize, self.limit as usize);
        let merged = if self.descending {
            let key = &self.key;
            merge::k_way_merge(oks, |row: &U| std::cmp::Reverse(key(row)), offset, limit)?
        } else {
            merge::k_way_merge(oks, &self.key, offset, limit)?
        };
        P::finish(merged, failures)
    }
}
