//! The pool's own worker threads: persistent, bounded, and able to leave a stuck job
//! behind.
//!
//! A fan-out, a parallel id search or a statement with a deadline hands owned jobs
//! (`Send + 'static`) to these threads and waits for their answers, at most until its
//! deadline. A job that overruns is *abandoned*: its caller returns, the job keeps its
//! thread until the statement it is blocked in returns (a stalled network can hold it
//! for as long as the operating system keeps the connection), and that thread counts as
//! stuck. A stuck thread is replaced by a fresh one so that the pool keeps `size`
//! threads serving, up to [`MAX_STUCK`] stuck threads at once; beyond that, jobs queue
//! (and their callers still return at their deadlines). The `size` serving threads all
//! start with the first job and are kept: no call starts a thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use super::dispatch::Verdict;

/// How many stuck threads a pool replaces at most, at once.
pub(crate) const MAX_STUCK: usize = 64;

/// What a task hands back to be done once its thread counts as free again: sending
/// the answer to the caller. Sending it only then means a caller that submits its next
/// task as soon as it has the answer finds the thread free, and starts no other.
pub(crate) type Deliver = Box<dyn FnOnce() + Send + 'static>;

type Task = Box<dyn FnOnce() -> Option<Deliver> + Send + 'static>;

/// A pool of worker threads. Dropping it lets its threads finish their queue and exit.
pub(crate) struct Workers {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled when the last running job finishes while someone waits for that.
    idle: Condvar,
    size: usize,
    started: AtomicU64,
    name: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    /// Threads alive.
    live: usize,
    /// Threads running a task.
    running: usize,
    /// Threads running a task whose caller gave up on it. Signed: a stuck thread may
    /// finish (and count itself off) just before its caller counts it on.
    stuck: isize,
    closed: bool,
    /// Callers of `wait_idle` waiting now.
    idle_waiters: usize,
}

impl State {
    /// Threads that may be alive: `size` serving ones, plus one for each stuck one.
    fn allowed(&self, size: usize) -> usize {
        size + self.stuck.clamp(0, MAX_STUCK as isize) as usize
    }
}

impl Workers {
    /// A pool of at most `size` serving threads (at least 1), named `name`.
    pub(crate) fn new(size: usize, name: String) -> Self {
        Workers {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                idle: Condvar::new(),
                size: size.max(1),
                started: AtomicU64::new(0),
                name,
            }),
        }
    }

    /// The number of serving threads this pool keeps at most.
    pub(crate) fn size(&self) -> usize {
        self.shared.size
    }

    /// How many threads this pool has started since it was made.
    pub(crate) fn threads_started(&self) -> u64 {
        self.shared.started.load(Ordering::Relaxed)
    }

    /// How many of its threads are alive now.
    #[cfg(test)]
    pub(crate) fn threads_alive(&self) -> usize {
        self.shared.lock().live
    }

    /// Queues `job`, waking an idle thread or starting one if the pool may.
    pub(crate) fn submit(
        &self,
        job: JobHandle,
        task: impl FnOnce() -> Option<Deliver> + Send + 'static,
    ) {
        let _ = self.submit_all([(job, task)]);
    }

    /// Queues every job of `jobs` at once and wakes one idle thread: each thread that
    /// takes a job wakes the next while jobs wait (see `serve`), so the caller takes the
    /// queue's lock once and wakes one thread, however many jobs it hands over. Returns
    /// whether every job queued (its own and any waiting before) has a free thread to
    /// start it at once.
    pub(crate) fn submit_all<F>(&self, jobs: impl IntoIterator<Item = (JobHandle, F)>) -> bool
    where
        F: FnOnce() -> Option<Deliver> + Send + 'static,
    {
        let mut state = self.shared.lock();
        for (job, task) in jobs {
            let task: Task = Box::new(move || if job.start() { task() } else { None });
            state.queue.push_back(task);
        }
        if state.queue.is_empty() {
            return true;
        }
        // The first task starts every serving thread at once: the pool's thread count
        // is then fixed (stuck threads aside), whatever the calls do.
        while state.live < self.shared.size && spawn(&self.shared, &mut state) {}
        // A stuck thread is replaced when work waits for it.
        let free = state.live - state.running;
        if free < state.queue.len() && state.live < state.allowed(self.shared.size) {
            spawn(&self.shared, &mut state);
        }
        let all_free = state.live - state.running >= state.queue.len();
        drop(state);
        self.shared.wake.notify_one();
        all_free
    }

    /// Waits, at most `limit`, until no job runs or waits here; whether it came to that.
    pub(crate) fn wait_idle(&self, limit: Duration) -> bool {
        let busy = |s: &mut State| s.running > 0 || !s.queue.is_empty();
        let mut state = self.shared.lock();
        state.idle_waiters += 1;
        let waited = self.shared.idle.wait_timeout_while(state, limit, busy);
        let mut state = waited.unwrap_or_else(|e| e.into_inner()).0;
        state.idle_waiters -= 1;
        !busy(&mut state)
    }

    /// The handle a caller uses to abandon a job run by this pool.
    pub(crate) fn handle(&self) -> JobHandle {
        JobHandle {
            state: Arc::new(AtomicU8::new(QUEUED)),
            workers: Arc::downgrade(&self.shared),
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        super::lock(&self.state)
    }

    /// A worker thread's loop: run tasks until the pool is dropped, or until this
    /// thread is one more than the pool now needs.
    fn serve(&self) {
        let mut state = self.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                state.running += 1;
                // More jobs wait: wake the next thread before running this one.
                let more = !state.queue.is_empty() && state.live > state.running;
                drop(state);
                if more {
                    self.wake.notify_one();
                }
                // A panicking job must not take its thread down with the pool's count.
                let deliver = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                let mut done = self.lock();
                done.running -= 1;
                if done.running == 0 && done.queue.is_empty() && done.idle_waiters > 0 {
                    self.idle.notify_all();
                }
                drop(done);
                if let Ok(Some(deliver)) = deliver {
                    deliver();
                }
                state = self.lock();
                continue;
            }
            if state.closed || state.live > state.allowed(self.size) {
                state.live -= 1;
                return;
            }
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn unstick(&self) {
        self.lock().stuck -= 1;
    }

    /// Counts a thread as stuck on an abandoned job, and starts a replacement if the
    /// queued tasks need one.
    fn mark_stuck(self: &Arc<Self>) {
        let mut state = self.lock();
        state.stuck += 1;
        let free = state.live - state.running;
        if free < state.queue.len() && state.live < state.allowed(self.size) {
            spawn(self, &mut state);
        }
    }
}

/// Starts a thread; false if the system would not start one (the task then waits for a
/// running thread).
fn spawn(shared: &Arc<Shared>, state: &mut State) -> bool {
    let serving = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(shared.name.clone())
        .spawn(move || serving.serve());
    match spawned {
        Ok(_) => {
            state.live += 1;
            shared.started.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(error) => {
            log::warn!("diesel-sharding: could not start a worker thread: {error}");
            false
        }
    }
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;
const CANCELLED: u8 = 4;

/// Who owns the outcome of one job: its worker (once it finished) or its caller (once
/// it gave up on it, or stopped waiting for it). The worker learns which from
/// [`finish`](Self::finish).
#[derive(Clone)]
pub(crate) struct JobHandle {
    state: Arc<AtomicU8>,
    workers: std::sync::Weak<Shared>,
}

impl JobHandle {
    /// The worker starts the job; false if its caller gave up or stopped waiting while
    /// it was queued (it is then not run at all).
    fn start(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The worker finished the job: what to do with its outcome.
    pub(crate) fn finish(&self) -> Verdict {
        match self
            .state
            .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Verdict::Deliver,
            // Finished already (asked again after a panic): nobody waits any more.
            Err(DONE) => Verdict::Abandoned,
            Err(state) => {
                // Given up on while running: this thread was counted stuck until now.
                if let Some(shared) = self.workers.upgrade() {
                    shared.unstick();
                }
                if state == CANCELLED {
                    Verdict::Cancelled
                } else {
                    Verdict::Abandoned
                }
            }
        }
    }

    /// The caller gives up at its deadline. Returns `None` if the worker finished first
    /// (its answer is on its way), else whether the job had started (its thread is then
    /// counted stuck, and replaced, until the job returns).
    pub(crate) fn abandon(&self) -> Option<bool> {
        self.give_up(ABANDONED)
    }

    /// The caller stops waiting (fail-fast): a queued job is not run, a running one
    /// finishes and reports itself.
    pub(crate) fn cancel(&self) {
        let _ = self.give_up(CANCELLED);
    }

    fn give_up(&self, to: u8) -> Option<bool> {
        for from in [QUEUED, RUNNING] {
            if self
                .state
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let started = from == RUNNING;
                if started {
                    if let Some(shared) = self.workers.upgrade() {
                        shared.mark_stuck();
                    }
                }
                return Some(started);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Submits a job that sends `value` on `tx` once delivered.
    fn send_when_done<T: Send + 'static>(workers: &Workers, tx: mpsc::Sender<T>, value: T) {
        let job = workers.handle();
        let done = job.clone();
        workers.submit(job, move || {
            (done.finish() == Verdict::Deliver).then(|| {
                Box::new(move || {
                    let _ = tx.send(value);
                }) as Deliver
            })
        });
    }

    #[test]
    fn threads_are_kept_and_reused() {
        let workers = Workers::new(2, "test-worker".into());
        for _ in 0..200 {
            let (tx, rx) = mpsc::channel();
            for i in 0..2 {
                send_when_done(&workers, tx.clone(), i);
            }
            let mut got: Vec<i32> = rx.iter().take(2).collect();
            got.sort_unstable();
            assert_eq!(got, [0, 1]);
        }
        assert_eq!(
            workers.threads_started(),
            2,
            "{}",
            workers.threads_started()
        );
    }

    /// Jobs queued together all run at once, though `submit_all` wakes one thread: each
    /// thread that takes a job wakes the next. The jobs wait for each other at a
    /// barrier, which only opens when all of them run (a watchdog of minutes bounds a
    /// hang).
    #[test]
    fn jobs_queued_together_run_together() {
        let workers = Workers::new(4, "test-worker".into());
        // The first submission starts the threads; wait until they are parked.
        let (tx, rx) = mpsc::channel();
        send_when_done(&workers, tx, 0);
        assert_eq!(rx.recv_timeout(Duration::from_secs(120)), Ok(0));
        for _ in 0..50 {
            let barrier = Arc::new(std::sync::Barrier::new(4));
            let (tx, rx) = mpsc::channel();
            let jobs: Vec<_> = (0..4)
                .map(|i| {
                    let (barrier, tx) = (Arc::clone(&barrier), tx.clone());
                    let job = workers.handle();
                    let done = job.clone();
                    (job, move || {
                        barrier.wait();
                        (done.finish() == Verdict::Deliver).then(|| {
                            Box::new(move || {
                                let _ = tx.send(i);
                            }) as Deliver
                        })
                    })
                })
                .collect();
            workers.submit_all(jobs);
            let mut got: Vec<i32> = (0..4)
                .map(|_| {
                    rx.recv_timeout(Duration::from_secs(120))
                        .expect("every job ran")
                })
                .collect();
            got.sort_unstable();
            assert_eq!(got, [0, 1, 2, 3]);
        }
        assert_eq!(workers.threads_started(), 4);
    }

    #[test]
    fn waiting_for_idle_threads_ends_when_the_last_job_does() {
        let workers = Workers::new(2, "test-worker".into());
        assert!(workers.wait_idle(Duration::ZERO), "nothing runs yet");
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let job = workers.handle();
        workers.submit(job, move || {
            let _ = started_tx.send(());
            let _ = release_rx.recv();
            None
        });
        assert_eq!(started_rx.recv_timeout(Duration::from_secs(120)), Ok(()));
        // The job holds on until released: a short wait ends without idle threads.
        assert!(!workers.wait_idle(Duration::from_millis(50)));
        let _ = release_tx.send(());
        assert!(
            workers.wait_idle(Duration::from_secs(120)),
            "idle once it returned"
        );
    }

    #[test]
    fn a_stuck_job_is_replaced_and_its_thread_comes_back() {
        let workers = Workers::new(1, "test-worker".into());
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let stuck = workers.handle();
        let stuck_done = stuck.clone();
        workers.submit(stuck.clone(), move || {
            let _ = started_tx.send(());
            let _ = release_rx.recv();
            assert_eq!(stuck_done.finish(), Verdict::Abandoned);
            None
        });
        // Once it runs, give up on it: its thread is stuck.
        assert_eq!(started_rx.recv_timeout(Duration::from_secs(120)), Ok(()));
        assert_eq!(stuck.abandon(), Some(true));
        assert_eq!(workers.threads_alive(), 1);
        // Another job still runs, on a replacement thread.
        let (tx, rx) = mpsc::channel();
        send_when_done(&workers, tx, 7);
        assert_eq!(rx.recv_timeout(Duration::from_secs(120)), Ok(7));
        assert_eq!(workers.threads_started(), 2);
        let _ = release_tx.send(());
        // The stuck thread finishes and counts itself off; the pool still serves.
        let (tx, rx) = mpsc::channel();
        send_when_done(&workers, tx, 8);
        assert_eq!(rx.recv_timeout(Duration::from_secs(120)), Ok(8));
        assert!(workers.threads_started() <= 3);
    }
}
