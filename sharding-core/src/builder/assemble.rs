//! Turns a checked [`ShardedPoolBuilder`] into a [`ShardedPool`]: validation that needs no
//! connection, then one r2d2 pool per physical source and the slots that map shards to them.

use std::collections::{HashMap, HashSet};

use super::limits::{check_time_limit, check_worker_threads, DEFAULT_MAX_WORKERS};
use super::{ShardSource, ShardedPoolBuilder};
use crate::backend::invalid_namespace;
use crate::pool::{Execution, PoolInner, Routing, ShardSlot};
use crate::redact::Redactor;
use crate::{Error, Result, ShardBackend, ShardId, ShardedPool};

impl<Conn: ShardBackend> ShardedPoolBuilder<Conn> {
    pub(super) fn build_inner(self, connect_now: bool) -> Result<ShardedPool<Conn>> {
        self.validate()?;
        let ids: Vec<ShardId> = self.shards.iter().map(|s| s.0.clone()).collect();
        self.router.validate(&ids)?;

        let settings = &self.settings;
        // Each physical pool with what to mask in the messages about it.
        let mut pools = Vec::new();
        let mut shared_index = HashMap::new();
        for (name, url) in &self.shared_pools {
            let label = ShardId::from(format!("pool {name}"));
            shared_index.insert(name.clone(), pools.len());
            let redactor = redactor_for(url, &self.secrets);
            pools.push((
                settings.build(&label, url, true, connect_now, &redactor)?,
                redactor,
            ));
        }
        let mut slots = Vec::with_capacity(self.shards.len());
        for (id, source) in self.shards {
            let slot = match source {
                ShardSource::Pool(pool) => {
                    pools.push((pool, self.secrets.clone()));
                    ShardSlot::physical(pools.len() - 1)
                }
                ShardSource::Url(url) => {
                    let redactor = redactor_for(&url, &self.secrets);
                    let pool = settings.build(&id, &url, false, connect_now, &redactor)?;
                    pools.push((pool, redactor));
                    ShardSlot::physical(pools.len() - 1)
                }
                ShardSource::Logical { pool, namespace } => ShardSlot {
                    // `validate` checked that the pool exists.
                    pool: shared_index.get(&pool).copied().unwrap_or_default(),
                    namespace: Some(namespace.into()),
                },
            };
            slots.push(slot);
        }
        let routing = Routing {
            router: self.router,
            id_chooser: self.id_chooser,
            encoded_ids: self.encoded_ids,
            insert_batch_rows: self.insert_batch_rows,
            events: self.events,
        };
        let connections: usize = pools.iter().map(|(p, _)| p.max_size() as usize).sum();
        let execution = Execution {
            worker_threads: self.worker_threads.unwrap_or_else(|| {
                (2 * ids.len())
                    .max(16)
                    .min(connections)
                    .clamp(1, DEFAULT_MAX_WORKERS)
            }),
            default_timeout: self.default_timeout,
            server_limits: self.server_statement_limits,
        };
        let pool = ShardedPool::from_inner(PoolInner::new(ids, slots, pools, routing, execution));
        if connect_now {
            pool.check_positions()?;
            if let Some(older_than) = self.recover_on_start {
                let report = pool.recover_transactions(older_than);
                if !report.failures.is_empty() {
                    return Err(Error::FanOut {
                        failures: report.failures,
                    });
                }
            }
        }
        Ok(pool)
    }

    /// Checks everything that needs no connection.
    fn validate(&self) -> Result<()> {
        if self.shards.is_empty() {
            return Err(Error::NoShards);
        }
        self.settings.check()?;
        if let Some(threads) = self.worker_threads {
            check_worker_threads(threads).map_err(|reason| Error::InvalidSetting {
                setting: "worker_threads",
                reason,
            })?;
        }
        if let Some(limit) = self.default_timeout {
            check_time_limit(limit, "leave it unset for no deadline").map_err(|reason| {
                Error::InvalidSetting {
                    setting: "default_timeout",
                    reason,
                }
            })?;
        }
        let mut pool_names = HashSet::new();
        for (name, url) in &self.shared_pools {
            let label = ShardId::from(format!("pool {name}"));
            if !pool_names.insert(name.as_str()) {
                return Err(Error::InvalidConfig {
                    shard: label,
                    reason: format!(
                        "the shared pool `{name}` is declared twice: give each its own name"
                    ),
                });
            }
            if Conn::NAMESPACE.is_none() {
                return Err(Error::InvalidConfig {
                    shard: label,
                    reason: "this backend has no logical shards (schemas or databases on a shared \
                             pool): give every shard its own URL with `shard(id, url)`"
                        .into(),
                });
            }
            Conn::check_url(url).map_err(|reason| Error::InvalidConfig {
                shard: label,
                reason,
            })?;
        }
        let mut seen = HashSet::new();
        for (id, source) in &self.shards {
            if let Some(reason) = id.invalid_reason() {
                return Err(Error::InvalidShardId {
                    id: id.to_string(),
                    reason,
                });
            }
            if !seen.insert(id.clone()) {
                return Err(Error::DuplicateShard(id.clone()));
            }
            let invalid = |reason: String| Error::InvalidConfig {
                shard: id.clone(),
                reason,
            };
            match source {
                ShardSource::Url(url) => Conn::check_url(url).map_err(invalid)?,
                ShardSource::Pool(_) => {}
                ShardSource::Logical { pool, namespace } => {
                    if !pool_names.contains(pool.as_str()) {
                        return Err(invalid(format!(
                            "it names the shared pool `{pool}`, which is not declared: add \
                             `.shared_pool(\"{pool}\", url)` to the builder"
                        )));
                    }
                    if let Some(why) = invalid_namespace(namespace) {
                        return Err(Error::InvalidIdentifier {
                            shard: id.clone(),
                            name: namespace.clone(),
                            reason: why,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// What to mask in the messages about the pool to `url`.
fn redactor_for(url: &str, secrets: &Redactor) -> Redactor {
    let mut redactor = Redactor::for_url(url);
    redactor.extend(secrets);
    redactor
}
