//! `shards check`.

use std::collections::BTreeSet;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use diesel_sharding::{ShardBackend, ShardedPool};

use super::Failure;
use crate::table;

pub(crate) fn check<Conn>(pool: &ShardedPool<Conn>) -> Result<(), Failure>
where
    Conn: ShardBackend + MigrationHarness<Conn::Backend>,
{
    let mut rows = Vec::new();
    let mut down = 0;
    let mut versions = BTreeSet::new();
    for shard in pool.shard_ids() {
        let started = Instant::now();
        let probe = pool.connection(shard.as_str()).and_then(|mut conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| diesel_sharding::Error::Query {
                    shard: shard.clone(),
                    source: e,
                })?;
            let latency = started.elapsed();
            let version = conn
                .applied_migrations()
                .ok()
                .and_then(|v| v.first().map(ToString::to_string))
                .unwrap_or_else(|| "none".to_owned());
            Ok((latency, version))
        });
        match probe {
            Ok((latency, version)) => {
                versions.insert(version.clone());
                rows.push(vec![
                    shard.to_string(),
                    "up".to_owned(),
                    format!("{:.1} ms", latency.as_secs_f64() * 1000.0),
                    version,
                    String::new(),
                ]);
            }
            Err(e) => {
                down += 1;
                rows.push(vec![
                    shard.to_string(),
                    "DOWN".to_owned(),
                    "-".to_owned(),
                    "?".to_owned(),
                    e.to_string(),
                ]);
            }
        }
    }
    table::print(&["shard", "status", "latency", "version", "error"], &rows);
    if down > 0 {
        return Err(Failure::Shards(format!("{down} shard(s) down")));
    }
    if versions.len() > 1 {
        return Err(Failure::Shards(format!(
            "the shards disagree on the schema version: {}; run `migration run`",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    println!(
        "all {} shards up, at version {}",
        pool.shard_ids().len(),
        versions.into_iter().next().unwrap_or_default()
    );
    Ok(())
}
