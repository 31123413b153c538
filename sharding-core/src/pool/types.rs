//! User-defined types (PostgreSQL) of each shard, looked up once, for statements
//! collected into an [`OwnedQuery`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::Operation;
use crate::{Error, Result, ShardBackend};

use super::ShardedPool;

/// A user-defined type of one shard: shard position, schema, name.
pub(super) type TypeKey = (usize, Option<String>, String);

/// What the lookups of one statement being collected came to.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    /// Whether the statement asked for any type: then its binds hold that shard's ids.
    pub(crate) made: bool,
    /// The first lookup that failed.
    pub(crate) failure: Option<Error>,
}

/// Looks up the user-defined types of a statement being collected for one shard.
pub(crate) struct ShardTypes<Conn: ShardBackend> {
    pool: ShardedPool<Conn>,
    index: usize,
    limit: Option<Duration>,
    lookups: Arc<Mutex<Lookups>>,
}

impl<Conn: ShardBackend> ShardTypes<Conn> {
    pub(crate) fn new(pool: &ShardedPool<Conn>, index: usize, limit: Option<Duration>) -> Self {
        ShardTypes {
            pool: pool.clone(),
            index,
            limit,
            lookups: Arc::default(),
        }
    }

    /// Where the lookups leave what they came to.
    pub(crate) fn lookups(&self) -> Arc<Mutex<Lookups>> {
        Arc::clone(&self.lookups)
    }
}

impl<Conn: ShardBackend> crate::backend::TypeLookup for ShardTypes<Conn> {
    fn lookup(&mut self, name: &str, schema: Option<&str>) -> Option<(u32, u32)> {
        let found = self.pool.type_ids(self.index, name, schema, self.limit);
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        lookups.made = true;
        match found {
            Ok(ids) => Some(ids),
            Err(e) => {
                lookups.failure.get_or_insert(e);
                None
            }
        }
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// The id of the user-defined type `name` (in `schema`) on the shard at `index`:
    /// remembered, or looked up on a connection to the shard (on a worker within
    /// `limit` when there is one).
    pub(crate) fn type_ids(
        &self,
        index: usize,
        name: &str,
        schema: Option<&str>,
        limit: Option<Duration>,
    ) -> Result<(u32, u32)> {
        let key = (index, schema.map(str::to_owned), name.to_owned());
        let known = self
            .inner
            .type_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = known.get(&key) {
            return Ok(*ids);
        }
        drop(known);
        let ids = match limit {
            Some(limit) => {
                let (name, schema) = (name.to_owned(), schema.map(str::to_owned));
                let job = crate::executor::job(move |conn: &mut Conn| {
                    Conn::lookup_type(conn, &name, schema.as_deref())
                });
                crate::executor::run_one(self, index, Operation::Query, limit, None, |_| None, job)
                    .0?
            }
            None => {
                let mut conn = self.checkout(index)?;
                let ids = Conn::lookup_type(&mut conn, name, schema)
                    .map_err(Error::on_shard(self.id(index)));
                self.give_back(index, conn);
                ids?
            }
        };
        self.inner
            .type_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, ids);
        Ok(ids)
    }
}
