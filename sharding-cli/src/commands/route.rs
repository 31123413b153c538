//! `route <key>`.

use diesel_sharding::{ShardBackend, ShardConfig, ShardedPool};

use super::Failure;

pub(crate) fn run<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    config: &ShardConfig,
    key: &str,
    text: bool,
    id: bool,
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
    let shard = match key.parse::<i64>() {
        Ok(number) if !text => pool.shard_for_key(&number)?,
        _ => pool.shard_for_key(key)?,
    };
    println!(
        "key {key} -> shard {shard} ({} router)",
        pool.router().name()
    );
    Ok(())
}
