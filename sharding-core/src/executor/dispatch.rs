//! Running one call's per-shard statements: on the caller's thread when nothing needs
//! another thread, else on the pool's workers, waiting at most until the call's deadline.
//!
//! Every per-shard statement is an owned [`Job`] (its query was collected into an
//! [`OwnedQuery`](super::OwnedQuery) on the caller's thread), so a worker can keep it
//! after its caller gave up. What the caller gets back, per shard:
//!
//! * the job's result, with the connection when the caller lent one (a unit of work);
//! * at the deadline, [`Error::Timeout`] for every shard that has not answered. Their
//!   jobs are abandoned: a started statement is cancelled from another connection
//!   (where the backend can), each job runs on (its thread counted stuck and replaced)
//!   until its statement returns, and its connection is then marked broken and dropped,
//!   never handed out again;
//! * under fail-fast, at the first failure, nothing more: shards not started are not
//!   started, and shards still running finish on their own (their connections go back
//!   to the pool as usual).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::QueryResult;

use super::inbox::Inbox;
use super::lock;
use super::workers::{Deliver, JobHandle};
use super::{Checkout, Probe, Statement};
use crate::backend::mark_broken;
use crate::events::Operation;
use crate::fanout::exec::{Parallelism, RunOptions};
use crate::pool::R2d2PooledConnection;
use crate::{Error, Result, ShardBackend, ShardedPool};

/// One shard's statement of a call, owned so that a worker can run it.
pub type Job<Conn, R> = Box<dyn FnOnce(&mut Conn) -> QueryResult<R> + Send + 'static>;

/// One shard's share of a call.
pub(crate) struct Task<Conn: ShardBackend, R> {
    /// The shard, by position.
    pub(crate) index: usize,
    /// The connection to run on, lent by a unit of work; `None`: check one out.
    pub(crate) held: Option<R2d2PooledConnection<Conn>>,
    /// The statement.
    pub(crate) job: Job<Conn, R>,
}

/// What came of one task: its result, and the connection it ran on when it was lent
/// one (or when `keep` asked for it), to be kept by the unit of work.
pub(crate) struct Done<Conn: ShardBackend, R> {
    pub(crate) index: usize,
    pub(crate) result: Result<R>,
    pub(crate) conn: Option<R2d2PooledConnection<Conn>>,
}

/// How the tasks of one call run.
#[derive(Clone, Copy)]
pub(crate) struct CallSettings {
    pub(crate) operation: Operation,
    pub(crate) options: RunOptions,
    /// Whether connections checked out for the tasks come back in [`Done`] (a unit of
    /// work keeps them) instead of going back to the pool.
    pub(crate) keep: bool,
}

/// Runs `tasks` as `settings` say and returns what came of each task that ran (or
/// timed out), in the tasks' order. Once the call stops (fail-fast's first failure, a
/// search's first hit) the tasks not started have no `Done`: their lent connections, if
/// any, come back through `unused`.
pub(crate) fn run_tasks<Conn, R>(
    pool: &ShardedPool<Conn>,
    tasks: Vec<Task<Conn, R>>,
    settings: CallSettings,
    rows: fn(&R) -> Option<usize>,
    unused: &mut Vec<(usize, R2d2PooledConnection<Conn>)>,
) -> Vec<Done<Conn, R>>
where
    Conn: ShardBackend,
    R: Send + 'static,
{
    let width = match settings.options.parallelism {
        Parallelism::Sequential => 1,
        Parallelism::Parallel(Some(max)) => max,
        Parallelism::Parallel(None) if settings.options.stop_on_rows => search_width(pool, &tasks),
        Parallelism::Parallel(None) => tasks.len(),
    }
    .clamp(1, tasks.len().max(1));
    let Some(limit) = settings.options.timeout else {
        return if width == 1 || tasks.len() <= 1 {
            run_inline(pool, tasks, settings, rows, unused)
        } else {
            run_helped(pool, tasks, settings, width, rows, unused)
        };
    };
    let deadline = Instant::now() + limit;
    let inbox = Arc::new(Inbox::<(usize, Done<Conn, R>)>::new());
    let mut queue: VecDeque<(usize, Task<Conn, R>)> = tasks.into_iter().enumerate().collect();
    let mut in_flight: Vec<(usize, usize, JobHandle, Arc<AtomicU64>)> = Vec::new();
    let mut done: Vec<(usize, Done<Conn, R>)> = Vec::new();
    let mut stop = false;
    let workers = pool.workers();
    loop {
        let mut batch = Vec::new();
        while !stop && in_flight.len() < width {
            let Some((position, task)) = queue.pop_front() else {
                break;
            };
            let index = task.index;
            let (handle, session, job) =
                watched_job(pool, position, task, settings, deadline, rows, &inbox);
            in_flight.push((position, index, handle.clone(), session));
            batch.push((handle, job));
        }
        workers.submit_all(batch);
        if in_flight.is_empty() {
            break;
        }
        // With tasks still queued, each answer frees a place for the next; else only
        // the last answer (or one that stops the call) is worth waking for.
        let wanted = if queue.is_empty() { in_flight.len() } else { 1 };
        let answers = inbox.take(wanted, Some(deadline));
        // No answer by the deadline: every shard still running or waiting timed out.
        let timed_out_now = answers.is_empty();
        for (position, answer) in answers {
            // An answer that came in with the one that stopped the call is not waited
            // for: it is dropped, as it would be had it come a moment later.
            let Some(at) = in_flight.iter().position(|(p, _, _, _)| *p == position) else {
                continue;
            };
            in_flight.remove(at);
            let stops = settings.options.stops(&answer.result, rows);
            done.push((position, answer));
            if stops {
                stop = true;
                for (_, _, handle, _) in in_flight.drain(..) {
                    handle.cancel();
                }
            }
        }
        if timed_out_now {
            let mut finished_first = 0;
            for (position, index, handle, session) in in_flight.drain(..) {
                match handle.abandon() {
                    Some(started) => {
                        // A statement that started is asked to stop on the server.
                        let session = session.load(Ordering::Acquire);
                        if started && session != 0 {
                            pool.cancel(index, session, limit);
                        }
                        done.push((position, timed_out(pool, index, settings, limit)));
                    }
                    None => finished_first += 1,
                }
            }
            // Shards that finished just before they were given up on: their answers
            // are on their way (their workers are past the statement), so wait.
            let mut late = 0;
            while late < finished_first {
                let answers = inbox.take(finished_first - late, None);
                late += answers.len();
                done.extend(answers);
            }
            for (position, task) in &queue {
                done.push((*position, timed_out(pool, task.index, settings, limit)));
            }
            break;
        }
    }
    return_unstarted(queue.into_iter().map(|(_, task)| task), unused);
    in_task_order(done)
}

/// Below this, a shard's search statements cost less than handing one to a worker
/// (an in-process SQLite file, say).
const HAND_OFF: Duration = Duration::from_micros(20);

/// Above this, a shard's search statements are taken to wait on the network rather than
/// on CPUs this machine shares with the server.
const LOCAL_ROUND_TRIP: Duration = Duration::from_micros(300);

/// How many of a search's shards (`find_first`, `get_by_id`) run at once when its
/// caller set no limit, from each shard's measured search time (a low estimate that
/// ignores moments of contention):
///
/// * all of them when any is slower than [`LOCAL_ROUND_TRIP`]: the search waits on the
///   network, and asking every shard at once costs one round trip instead of one each;
/// * one at a time, on the caller's thread, when every one is faster than [`HAND_OFF`]:
///   waking a worker would cost more than the statement;
/// * else as many as this machine has cores: the servers are near and compete for its
///   CPUs, so asking more at once only spends work that a hit would have spared.
///
/// A shard not measured yet counts as near.
fn search_width<Conn: ShardBackend, R>(pool: &ShardedPool<Conn>, tasks: &[Task<Conn, R>]) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let floors = || tasks.iter().map(|task| pool.search_floor(task.index));
    if floors().any(|floor| floor.is_some_and(|f| f > LOCAL_ROUND_TRIP)) {
        tasks.len()
    } else if floors().all(|floor| floor.is_some_and(|f| f < HAND_OFF)) {
        1
    } else {
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Hands the lent connections of tasks that never ran back to the caller.
fn return_unstarted<Conn: ShardBackend, R>(
    tasks: impl IntoIterator<Item = Task<Conn, R>>,
    unused: &mut Vec<(usize, R2d2PooledConnection<Conn>)>,
) {
    unused.extend(
        tasks
            .into_iter()
            .filter_map(|task| task.held.map(|conn| (task.index, conn))),
    );
}

/// The answers, each tagged with its task's position, in the tasks' order.
fn in_task_order<Conn: ShardBackend, R>(
    mut done: Vec<(usize, Done<Conn, R>)>,
) -> Vec<Done<Conn, R>> {
    done.sort_by_key(|(position, _)| *position);
    done.into_iter().map(|(_, done)| done).collect()
}

/// The caller's span (with the `tracing` feature), for the statements a call runs on
/// other threads: their spans are its children, on whichever thread they run.
struct CallerSpan(#[cfg(feature = "tracing")] tracing::Span);

impl CallerSpan {
    fn current() -> Self {
        CallerSpan(
            #[cfg(feature = "tracing")]
            tracing::Span::current(),
        )
    }

    /// Runs `f` in the caller's span, catching a panic in it (a `FromSql` impl, say), so
    /// that a worker answers instead of leaving its caller waiting.
    fn run_caught<T>(&self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        #[cfg(feature = "tracing")]
        let f = || self.0.in_scope(f);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    }
}

/// Runs one job on the shard at `index` under the deadline `limit`, on the lent
/// connection `held` if there is one; returns its result and the connection to keep
/// (the lent one, unless it was given up on at the deadline).
pub(crate) fn run_one<Conn, R>(
    pool: &ShardedPool<Conn>,
    index: usize,
    operation: Operation,
    limit: Duration,
    held: Option<R2d2PooledConnection<Conn>>,
    rows: fn(&R) -> Option<usize>,
    job: Job<Conn, R>,
) -> (Result<R>, Option<R2d2PooledConnection<Conn>>)
where
    Conn: ShardBackend,
    R: Send + 'static,
{
    let keep = held.is_some();
    let settings = CallSettings {
        operation,
        options: RunOptions {
            parallelism: Parallelism::Sequential,
            timeout: Some(limit),
            stop_on_failure: true,
            stop_on_rows: false,
        },
        keep,
    };
    let task = Task { index, held, job };
    let mut unused = Vec::new();
    let done = run_tasks(pool, vec![task], settings, rows, &mut unused);
    let conn = unused.pop().map(|(_, conn)| conn);
    match done.into_iter().next() {
        Some(done) => (done.result, done.conn.or(conn)),
        // Every task leaves a result when nothing stops early; never reached.
        None => (
            Err(Error::Timeout {
                shard: pool.id(index).clone(),
                limit,
            }),
            conn,
        ),
    }
}

/// The tasks of one call without a deadline, shared between the caller and helpers.
struct Shared<Conn: ShardBackend, R> {
    queue: VecDeque<(usize, Task<Conn, R>)>,
    /// Tasks taken, by the caller or a helper.
    taken: usize,
    /// The call stopped (fail-fast's first failure, a search's first hit): take no more.
    stop: bool,
}

impl<Conn: ShardBackend, R> Shared<Conn, R> {
    /// The next task to run, unless the call stopped or none is left.
    fn take(shared: &Mutex<Self>) -> Option<(usize, Task<Conn, R>)> {
        let mut state = lock(shared);
        if state.stop {
            return None;
        }
        let next = state.queue.pop_front();
        state.taken += usize::from(next.is_some());
        next
    }
}

/// What came of one task run by a helper, by the task's position (`None`: nobody waits
/// for it).
type Answer<Conn, R> = (usize, Option<Done<Conn, R>>);

/// Tasks without a deadline, in parallel: `width - 1` workers help, and the caller's
/// own thread runs tasks too instead of only waiting, so a call whose statements take
/// microseconds (SQLite in-process) pays no thread hand-off for the tasks the caller
/// gets to first, and a call whose statements wait on the network runs `width` at once.
///
/// A search that asks every shard at once is the exception when every one of its tasks
/// finds a free worker: its caller only waits, so that it returns at the first hit
/// rather than after its own statement too (which would make a search as slow as the
/// slower of two shards, not as fast as the hit).
///
/// The helpers leave their answers in an [`Inbox`], which wakes the caller only for an
/// answer that stops the call or for the last one.
fn run_helped<Conn, R>(
    pool: &ShardedPool<Conn>,
    tasks: Vec<Task<Conn, R>>,
    settings: CallSettings,
    width: usize,
    rows: fn(&R) -> Option<usize>,
    unused: &mut Vec<(usize, R2d2PooledConnection<Conn>)>,
) -> Vec<Done<Conn, R>>
where
    Conn: ShardBackend,
    R: Send + 'static,
{
    let count = tasks.len();
    let shared = Arc::new(Mutex::new(Shared {
        queue: tasks.into_iter().enumerate().collect(),
        taken: 0,
        stop: false,
    }));
    let inbox = Arc::new(Inbox::<Answer<Conn, R>>::new());
    let workers = pool.workers();
    let search_all = settings.options.stop_on_rows && width >= count;
    let helpers = (usize::from(!search_all)..width.min(count)).map(|_| {
        let (shared, inbox, pool) = (Arc::clone(&shared), Arc::clone(&inbox), pool.clone());
        let caller = CallerSpan::current();
        (workers.handle(), move || {
            let mut pool = Some(pool);
            let mut next = Shared::take(&shared);
            while let (Some((position, task)), Some(on)) = (next, &pool) {
                let index = task.index;
                let done = caller
                    .run_caught(|| run_task(on, task, settings, None, rows, || Verdict::Deliver))
                    .unwrap_or_else(|_| Some(panicked(on, index)));
                let stops = done
                    .as_ref()
                    .is_some_and(|d| settings.options.stops(&d.result, rows));
                next = if stops {
                    lock(&shared).stop = true;
                    None
                } else {
                    Shared::take(&shared)
                };
                if next.is_none() {
                    // This helper's last answer: it lets go of the pool first. A caller
                    // that returns and drops its own handle at once then closes the
                    // pool itself, instead of this thread closing connections while
                    // the process may be exiting.
                    pool = None;
                }
                inbox.post((position, done), stops);
            }
            None
        })
    });
    let all_served = workers.submit_all(helpers.collect::<Vec<_>>());
    let mut done: Vec<(usize, Done<Conn, R>)> = Vec::with_capacity(count);
    let mut ran_here = 0;
    let mut stopped = false;
    if !(search_all && all_served) {
        while let Some((position, task)) = Shared::take(&shared) {
            ran_here += 1;
            if let Some(answer) = run_task(pool, task, settings, None, rows, || Verdict::Deliver) {
                if settings.options.stops(&answer.result, rows) {
                    lock(&shared).stop = true;
                    stopped = true;
                }
                done.push((position, answer));
            }
        }
    }
    // The helpers' answers: one for each task they took. Once the call has stopped
    // (fail-fast, or a search's first hit: an answer in hand, not only the flag) it
    // returns at once, unless it must get lent connections back: the helpers still
    // running finish on their own, report their statements and return their
    // connections to the pool.
    let mut answered = 0;
    while !stopped || settings.keep {
        let wanted = {
            let state = lock(&shared);
            // While tasks wait, every one of them will answer unless the call stops
            // (whose answer wakes the caller); after that, those taken.
            let taken = if state.stop || state.queue.is_empty() {
                state.taken
            } else {
                count
            };
            taken - ran_here - answered
        };
        if wanted == 0 {
            break;
        }
        for (position, answer) in inbox.take(wanted, None) {
            answered += 1;
            if let Some(answer) = answer {
                stopped |= settings.options.stops(&answer.result, rows);
                done.push((position, answer));
            }
        }
    }
    let mut state = lock(&shared);
    return_unstarted(state.queue.drain(..).map(|(_, task)| task), unused);
    drop(state);
    in_task_order(done)
}

/// The answer of a task whose statement panicked on a worker (a `FromSql` impl, say):
/// its caller gets an error instead of waiting for an answer that would never come.
fn panicked<Conn: ShardBackend, R>(pool: &ShardedPool<Conn>, index: usize) -> Done<Conn, R> {
    Done {
        index,
        result: Err(Error::Query {
            shard: pool.id(index).clone(),
            source: diesel::result::Error::QueryBuilderError(
                "the statement panicked on a worker thread".into(),
            ),
        }),
        conn: None,
    }
}

/// The tasks one after another on the caller's thread (no deadline, nothing to run in
/// parallel).
fn run_inline<Conn, R>(
    pool: &ShardedPool<Conn>,
    tasks: Vec<Task<Conn, R>>,
    settings: CallSettings,
    rows: fn(&R) -> Option<usize>,
    unused: &mut Vec<(usize, R2d2PooledConnection<Conn>)>,
) -> Vec<Done<Conn, R>>
where
    Conn: ShardBackend,
{
    let mut done = Vec::with_capacity(tasks.len());
    let mut tasks = tasks.into_iter();
    for task in tasks.by_ref() {
        let answer = run_task(pool, task, settings, None, rows, || Verdict::Deliver);
        let stops = answer
            .as_ref()
            .is_some_and(|a| settings.options.stops(&a.result, rows));
        done.extend(answer);
        if stops {
            break;
        }
    }
    return_unstarted(tasks, unused);
    done
}

/// The job that runs `task` on a worker under the call's deadline and sends what came
/// of it on `tx`, with its handle and where it leaves its session's server id.
fn watched_job<Conn, R>(
    pool: &ShardedPool<Conn>,
    position: usize,
    task: Task<Conn, R>,
    settings: CallSettings,
    deadline: Instant,
    rows: fn(&R) -> Option<usize>,
    inbox: &Arc<Inbox<(usize, Done<Conn, R>)>>,
) -> (
    JobHandle,
    Arc<AtomicU64>,
    impl FnOnce() -> Option<Deliver> + Send + 'static,
)
where
    Conn: ShardBackend,
    R: Send + 'static,
{
    let handle = pool.workers().handle();
    let job = handle.clone();
    let worker_pool = pool.clone();
    let session = Arc::new(AtomicU64::new(0));
    let session_seen = Arc::clone(&session);
    let inbox = Arc::clone(inbox);
    let caller = CallerSpan::current();
    let run = move || {
        let index = task.index;
        let watch = Some(Watch {
            deadline,
            session: &session_seen,
        });
        let ran = caller
            .run_caught(|| run_task(&worker_pool, task, settings, watch, rows, || job.finish()));
        let answer = match ran {
            Ok(answer) => answer?,
            Err(_) => match job.finish() {
                Verdict::Deliver => panicked(&worker_pool, index),
                _ => return None,
            },
        };
        let stops = settings.options.stops(&answer.result, rows);
        let deliver: Deliver = Box::new(move || inbox.post((position, answer), stops));
        Some(deliver)
    };
    (handle, session, run)
}

/// What a finished task does with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Its caller waits: report it and send it.
    Deliver,
    /// Its caller stopped waiting (fail-fast): report it, return its connection to the
    /// pool, send nothing.
    Cancelled,
    /// Its caller gave up at the deadline and reported the timeout: drop the connection.
    Abandoned,
}

/// What a task run under a deadline keeps its caller informed of.
#[derive(Clone, Copy)]
struct Watch<'a> {
    /// When the caller gives up: the checkout waits no longer.
    deadline: Instant,
    /// Where the task leaves its session's server id, for a cancel request.
    session: &'a AtomicU64,
}

/// Checks out (or takes the lent connection), runs the job and reports it, as
/// `verdict` says once the job is done. `None` when nobody waits for the answer.
fn run_task<Conn, R>(
    pool: &ShardedPool<Conn>,
    task: Task<Conn, R>,
    settings: CallSettings,
    watch: Option<Watch<'_>>,
    rows: fn(&R) -> Option<usize>,
    verdict: impl FnOnce() -> Verdict,
) -> Option<Done<Conn, R>>
where
    Conn: ShardBackend,
{
    let Task { index, held, job } = task;
    let lent = held.is_some();
    let started = Instant::now();
    let left = watch.map(|w| w.deadline.saturating_duration_since(started));
    let had = match held {
        Some(mut conn) => pool.ensure_namespace(index, &mut conn).map(|switched| {
            let checkout = Checkout {
                wait: Duration::ZERO,
                switched,
            };
            (conn, checkout)
        }),
        None => pool.checkout_timed(index, left),
    };
    let (mut conn, checkout) = match had {
        Ok(had) => had,
        Err(error) => {
            return match verdict() {
                Verdict::Abandoned => None,
                v => {
                    super::checkout_failed(
                        pool,
                        index,
                        settings.operation,
                        started.elapsed(),
                        &error,
                    );
                    (v == Verdict::Deliver).then_some(Done {
                        index,
                        result: Err(error),
                        conn: None,
                    })
                }
            };
        }
    };
    let statement = Statement {
        index,
        operation: settings.operation,
        checkout,
        timeout: settings.options.timeout,
    };
    // Under a deadline, the caller learns the session's server id, to cancel the
    // statement if it gives up on it.
    if let Some(watch) = watch {
        if let Some(id) = pool.session_of(&mut conn) {
            watch.session.store(id, Ordering::Release);
        }
    }
    let ran = Instant::now();
    let (result, probe) = super::execute(pool, statement, &mut conn, job);
    let took = ran.elapsed();
    let verdict = verdict();
    if settings.options.stop_on_rows && result.is_ok() && verdict != Verdict::Abandoned {
        pool.note_search(index, took);
    }
    match verdict {
        Verdict::Abandoned => {
            mark_broken(&mut *conn);
            None
        }
        Verdict::Cancelled => {
            probe.finish(pool, result.as_ref().map(rows).map_err(Some));
            pool.give_back(index, conn);
            None
        }
        Verdict::Deliver => {
            probe.finish(pool, result.as_ref().map(rows).map_err(Some));
            let conn = if lent || settings.keep {
                Some(conn)
            } else {
                pool.give_back(index, conn);
                None
            };
            Some(Done {
                index,
                result,
                conn,
            })
        }
    }
}

/// Reports the statement on the shard at `index` as timed out after `limit`.
fn timed_out<Conn: ShardBackend, R>(
    pool: &ShardedPool<Conn>,
    index: usize,
    settings: CallSettings,
    limit: Duration,
) -> Done<Conn, R> {
    let error = Error::Timeout {
        shard: pool.id(index).clone(),
        limit,
    };
    Probe::start(pool, index, settings.operation, Checkout::default()).finish_after(
        pool,
        limit,
        Err(Some(&error)),
    );
    Done {
        index,
        result: Err(error),
        conn: None,
    }
}

#[cfg(test)]
#[cfg(feature = "sqlite")]
mod tests {
    use super::*;
    use diesel::SqliteConnection;

    fn pool(dir: &tempfile::TempDir, shards: usize) -> ShardedPool<SqliteConnection> {
        (0..shards)
            .fold(ShardedPool::builder(), |builder, i| {
                let path = dir.path().join(format!("s{i}.db"));
                builder.shard(format!("s{i}"), path.to_string_lossy())
            })
            .build()
            .expect("a pool of SQLite files")
    }

    fn tasks(shards: usize) -> Vec<Task<SqliteConnection, ()>> {
        (0..shards)
            .map(|index| Task {
                index,
                held: None,
                job: super::super::job(|_| Ok(())),
            })
            .collect()
    }

    #[test]
    fn a_search_is_as_wide_as_its_measured_shards_call_for() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pool = pool(&dir, 4);
        let tasks = tasks(4);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            search_width(&pool, &tasks),
            cores,
            "unmeasured shards count as near"
        );
        for index in 0..4 {
            pool.note_search(index, Duration::from_micros(5));
        }
        assert_eq!(
            search_width(&pool, &tasks),
            1,
            "in-process shards: one at a time"
        );
        // One slow answer barely moves the estimate; a steady 100 µs makes it near.
        pool.note_search(2, Duration::from_micros(100));
        assert_eq!(search_width(&pool, &tasks), 1);
        for _ in 0..200 {
            pool.note_search(2, Duration::from_micros(100));
        }
        assert_eq!(
            search_width(&pool, &tasks),
            cores,
            "near servers: as many as cores"
        );
        // One shard behind the network makes the search ask every shard at once; one
        // fast answer from it brings the estimate straight back down.
        for _ in 0..200 {
            pool.note_search(3, Duration::from_millis(2));
        }
        assert_eq!(search_width(&pool, &tasks), 4, "a far shard: all at once");
        pool.note_search(3, Duration::from_micros(100));
        assert_eq!(search_width(&pool, &tasks), cores);
    }
}
