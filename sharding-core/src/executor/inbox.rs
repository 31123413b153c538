//! Where the workers of one call leave their answers, waking the caller only when it has
//! something to do: when as many answers as it waits for are in, or when one of them
//! ends the call (fail-fast's first failure, a search's first hit).
//!
//! A channel would wake the caller once per answer. A fan-out's caller has nothing to do
//! until the last shard answers, and a search's caller nothing until the hit, so waking
//! it for every miss only spends CPU that the shards still running compete for.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::lock;

/// The answers of one call's workers, and what its caller waits for.
pub(crate) struct Inbox<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    answers: Vec<T>,
    /// How many answers the waiting caller wants before it wakes (`usize::MAX`: no
    /// caller waits).
    wanted: usize,
    /// An answer that ends the call came in since the caller last looked.
    ends_call: bool,
}

impl<T> Inbox<T> {
    /// An empty inbox.
    pub(crate) fn new() -> Self {
        Inbox {
            state: Mutex::new(State {
                answers: Vec::new(),
                wanted: usize::MAX,
                ends_call: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Leaves an answer; `ends_call`: it ends the call, so the caller wakes for it
    /// whatever it waits for.
    pub(crate) fn post(&self, answer: T, ends_call: bool) {
        let mut state = lock(&self.state);
        state.answers.push(answer);
        state.ends_call |= ends_call;
        if ends_call || state.answers.len() >= state.wanted {
            self.ready.notify_one();
        }
    }

    /// Waits until `wanted` answers are in, one that ends the call is, or `deadline`
    /// passes, then takes the answers there are (none: the deadline passed first).
    pub(crate) fn take(&self, wanted: usize, deadline: Option<Instant>) -> Vec<T> {
        let mut state = lock(&self.state);
        state.wanted = wanted;
        let waiting = move |s: &mut State<T>| !(s.ends_call || s.answers.len() >= wanted);
        state = match deadline {
            None => self
                .ready
                .wait_while(state, waiting)
                .unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let waited = self.ready.wait_timeout_while(state, left, waiting);
                waited.unwrap_or_else(|e| e.into_inner()).0
            }
        };
        state.wanted = usize::MAX;
        state.ends_call = false;
        std::mem::take(&mut state.answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_caller_gets_every_answer_it_waits_for() {
        let inbox = Arc::new(Inbox::new());
        let posting: Vec<_> = (0..4)
            .map(|i| {
                let inbox = Arc::clone(&inbox);
                std::thread::spawn(move || inbox.post(i, false))
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 4 {
            got.extend(inbox.take(4 - got.len(), None));
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);
        for thread in posting {
            thread.join().expect("a posting thread");
        }
    }

    #[test]
    fn an_answer_that_ends_the_call_is_handed_over_alone() {
        let inbox = Inbox::new();
        inbox.post("miss", false);
        inbox.post("hit", true);
        assert_eq!(inbox.take(10, None), ["miss", "hit"]);
        // The hit was seen: the next wait is for what it asks for again.
        inbox.post("late", false);
        let deadline = Instant::now() + Duration::from_millis(1);
        assert_eq!(inbox.take(2, Some(deadline)), ["late"]);
    }

    #[test]
    fn a_passed_deadline_hands_over_what_there_is() {
        let inbox: Inbox<u8> = Inbox::new();
        assert!(inbox.take(1, Some(Instant::now())).is_empty());
    }
}
