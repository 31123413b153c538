//! Migrations on every shard.

use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel_migrations::MigrationHarness;

use crate::error::ShardFailure;
use crate::events::Operation;
use crate::executor::{Checkout, Probe};
use crate::{Error, Result, ShardBackend, ShardId, ShardedConnection};

/// What [`run_pending_migrations`](crate::ShardedPool::run_pending_migrations) did on
/// each shard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Per shard, in pool order: the versions applied by this run (empty when the shard
    /// was already up to date).
    pub shards: Vec<(ShardId, Vec<String>)>,
}

impl MigrationReport {
    /// The versions applied on one shard, or `None` for a shard not in the report.
    pub fn applied(&self, shard: &str) -> Option<&[String]> {
        self.shards
            .iter()
            .find(|(id, _)| id == shard)
            .map(|(_, versions)| versions.as_slice())
    }

    /// How many migrations were applied, over all shards.
    pub fn total_applied(&self) -> usize {
        self.shards.iter().map(|(_, v)| v.len()).sum()
    }
}

impl<Conn> ShardedConnection<Conn>
where
    Conn: ShardBackend + MigrationHarness<Conn::Backend>,
    Conn::Backend: Backend,
{
    /// Runs the pending migrations of `source` on every shard, each shard in its own
    /// migration run, one shard at a time. A logical shard's schema or database is
    /// created first if it does not exist. Connections this unit of work did not hold
    /// before are returned to their pool as soon as their shard is done.
    ///
    /// Every shard is attempted even when one fails; the error,
    /// [`Error::Migrations`], lists each failing shard with its cause and the shards
    /// that were migrated.
    pub fn run_pending_migrations<S>(&mut self, source: S) -> Result<MigrationReport>
    where
        S: MigrationSource<Conn::Backend>,
    {
        let ids: Vec<ShardId> = self.pool().shard_ids().to_vec();
        let mut report = MigrationReport { shards: Vec::new() };
        let mut failures = Vec::new();
        for (index, shard) in ids.into_iter().enumerate() {
            let was_held = self.holds(index);
            let pool = self.pool().clone();
            let probe = Probe::start(&pool, index, Operation::Migration, Checkout::default());
            let outcome = probe.in_scope(|| {
                self.checked_out_for_migrations(index).and_then(|conn| {
                    (**conn)
                        .run_pending_migrations(Borrowed(&source))
                        .map(|versions| versions.iter().map(ToString::to_string).collect())
                        .map_err(|source| Error::Migration {
                            shard: shard.clone(),
                            source,
                        })
                })
            });
            probe.finish(&pool, outcome.as_ref().map(|_| None).map_err(Some));
            if !was_held {
                self.release_at(index);
            }
            match outcome {
                Ok(applied) => report.shards.push((shard, applied)),
                Err(error) => failures.push(ShardFailure { shard, error }),
            }
        }
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(Error::Migrations {
                failures,
                migrated: report.shards.into_iter().map(|(id, _)| id).collect(),
            })
        }
    }
}

/// Lends a migration source to one shard's run without cloning it.
struct Borrowed<'a, S>(&'a S);

impl<DB: Backend, S: MigrationSource<DB>> MigrationSource<DB> for Borrowed<'_, S> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        self.0.migrations()
    }
}
