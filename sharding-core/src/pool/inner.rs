//! What a pool holds: its shards and their physical pools, the router and id
//! settings, the counters, the workers, and the per-shard state of atomic transactions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::checkout::Stashed;
use super::types::TypeKey;
use super::R2d2Pool;
use crate::events::{HandleEvent, ShardCounters};
use crate::executor::workers::Workers;
use crate::fanout::IdChooser;
use crate::ids::IdLayout;
use crate::redact::Redactor;
use crate::{Router, ShardBackend, ShardId};

/// Everything one pool holds, shared by its clones.
pub(crate) struct PoolInner<Conn: ShardBackend> {
    pub(super) ids: Vec<ShardId>,
    pub(super) slots: Vec<ShardSlot>,
    pub(super) pools: Vec<R2d2Pool<Conn>>,
    /// Per physical pool: what to mask in messages about it.
    pub(super) redactors: Vec<Redactor>,
    /// Per physical pool: idle connections kept on their logical shard's namespace.
    pub(super) stashes: Vec<Mutex<Vec<Stashed<Conn>>>>,
    pub(super) index: HashMap<ShardId, usize>,
    pub(super) router: Box<dyn Router>,
    pub(super) id_chooser: Box<dyn IdChooser>,
    pub(super) encoded_ids: Option<IdLayout>,
    pub(super) insert_batch_rows: usize,
    pub(super) namespace_switches: AtomicU64,
    pub(super) events: Box<dyn HandleEvent>,
    /// Per shard, in pool order.
    pub(super) counters: Vec<ShardCounters>,
    /// The threads fan-outs and statements with a deadline run on.
    pub(super) workers: Workers,
    /// The deadline of calls that set none of their own.
    pub(super) default_timeout: Option<Duration>,
    /// User-defined types' ids (PostgreSQL), per shard, name and schema.
    pub(super) type_ids: Mutex<HashMap<TypeKey, (u32, u32)>>,
    /// Whether deadlines are also sent to the server as session statement limits.
    pub(super) server_limits: bool,
    /// Whether any session of this pool was given a statement limit yet.
    pub(super) session_limits_set: AtomicBool,
    /// Per shard: whether a cancel request is on its way (at most one at a time).
    pub(super) cancelling: Vec<AtomicBool>,
    /// Per shard: whether its decision log (atomic transactions) is known to exist.
    pub(super) decision_logs: Vec<AtomicBool>,
    /// Per shard: its tag in atomic transactions' ids, once read.
    pub(super) branch_tags: Vec<OnceLock<Arc<str>>>,
    /// Per shard: decisions it coordinated whose branches all committed, to delete with
    /// its next decision.
    pub(super) finished_decisions: Vec<Mutex<Vec<Arc<str>>>>,
}

/// Where one shard lives: a physical pool, and for a logical shard its namespace there.
pub(crate) struct ShardSlot {
    pub(crate) pool: usize,
    pub(crate) namespace: Option<Arc<str>>,
}

impl ShardSlot {
    pub(crate) fn physical(pool: usize) -> Self {
        ShardSlot {
            pool,
            namespace: None,
        }
    }
}

impl<Conn: ShardBackend> PoolInner<Conn> {
    pub(crate) fn new(
        ids: Vec<ShardId>,
        slots: Vec<ShardSlot>,
        pools: Vec<(R2d2Pool<Conn>, Redactor)>,
        routing: Routing,
        execution: Execution,
    ) -> Self {
        let index = ids.iter().cloned().zip(0..).collect();
        let (pools, redactors): (Vec<_>, _) = pools.into_iter().unzip();
        let stashes = pools.iter().map(|_| Mutex::new(Vec::new())).collect();
        let counters: Vec<ShardCounters> = ids.iter().map(|_| ShardCounters::default()).collect();
        let counters_len = counters.len();
        PoolInner {
            ids,
            slots,
            pools,
            redactors,
            stashes,
            index,
            router: routing.router,
            id_chooser: routing.id_chooser,
            encoded_ids: routing.encoded_ids,
            insert_batch_rows: routing.insert_batch_rows,
            namespace_switches: AtomicU64::new(0),
            events: routing.events,
            counters,
            workers: Workers::new(execution.worker_threads, "diesel-sharding".to_owned()),
            default_timeout: execution.default_timeout,
            type_ids: Mutex::new(HashMap::new()),
            server_limits: execution.server_limits,
            session_limits_set: AtomicBool::new(false),
            cancelling: (0..counters_len).map(|_| AtomicBool::new(false)).collect(),
            decision_logs: (0..counters_len).map(|_| AtomicBool::new(false)).collect(),
            branch_tags: (0..counters_len).map(|_| OnceLock::new()).collect(),
            finished_decisions: (0..counters_len).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

/// The builder's settings about running statements.
pub(crate) struct Execution {
    pub(crate) worker_threads: usize,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) server_limits: bool,
}

/// The builder's settings that are not about connections: how keys and ids find their
/// shard, how inserts are batched, where events go.
pub(crate) struct Routing {
    pub(crate) router: Box<dyn Router>,
    pub(crate) id_chooser: Box<dyn IdChooser>,
    pub(crate) encoded_ids: Option<IdLayout>,
    pub(crate) insert_batch_rows: usize,
    pub(crate) events: Box<dyn HandleEvent>,
}
