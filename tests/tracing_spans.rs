//! The `tracing` feature: one span per statement, with the shard and the operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::common::*;

/// This test's shards: the subscriber is global (a thread-local one can miss spans
/// whose callsites other threads registered first), so it keeps only these.
const PREFIX: &str = "traced_";

/// Spans seen on this test's shards: (name, shard, operation), by span id; and the
/// outcomes recorded on them.
#[derive(Default)]
struct Spans {
    opened: Mutex<Vec<(u64, String, String, String)>>,
    outcomes: Mutex<Vec<String>>,
    next: AtomicU64,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

struct Capture(Arc<Spans>);

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Vec::new();
        span.record(&mut Fields(&mut fields));
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let shard = get("shard");
        if shard.starts_with(PREFIX) {
            let name = span.metadata().name().to_owned();
            self.0
                .opened
                .lock()
                .unwrap()
                .push((id, name, shard, get("operation")));
        }
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let ours = self
            .0
            .opened
            .lock()
            .unwrap()
            .iter()
            .any(|(id, ..)| *id == span.into_u64());
        if !ours {
            return;
        }
        let mut fields = Vec::new();
        values.record(&mut Fields(&mut fields));
        for (name, value) in fields {
            if name == "outcome" {
                self.0.outcomes.lock().unwrap().push(value);
            }
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn every_statement_opens_a_span_with_its_shard_and_operation() {
    let spans = Arc::new(Spans::default());
    tracing::subscriber::set_global_default(Capture(Arc::clone(&spans)))
        .expect("the only global subscriber of this test binary");
    let dir = tempfile::tempdir().unwrap();
    let pool = ShardedPool::<diesel::SqliteConnection>::builder()
        .shard("traced_s0", dir.path().join("s0.db").to_string_lossy())
        .shard("traced_s1", dir.path().join("s1.db").to_string_lossy())
        .build()
        .unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    spans.opened.lock().unwrap().clear();
    spans.outcomes.lock().unwrap().clear();
    let key = (1..)
        .find(|k: &i64| pool.shard_for_key(k).unwrap() == "traced_s1")
        .unwrap();
    pool.insert(customer(key)).unwrap();
    let n: i64 = customers::table
        .count()
        .for_key(key)
        .get_result(&pool)
        .unwrap();
    assert_eq!(n, 1);
    // Sequential, so that the spans open in pool order.
    let total = customers::table
        .count()
        .all_shards()
        .sequential()
        .count(&pool)
        .unwrap();
    assert_eq!(total, 1);
    let opened = spans.opened.lock().unwrap().clone();
    let ours: Vec<(String, String)> = opened
        .iter()
        .filter(|(_, name, _, _)| name == "shard_statement")
        .map(|(_, _, shard, op)| (shard.clone(), op.clone()))
        .collect();
    assert_eq!(
        ours,
        [
            ("traced_s1".to_owned(), "insert".to_owned()),
            ("traced_s1".to_owned(), "query".to_owned()),
            ("traced_s0".to_owned(), "query".to_owned()),
            ("traced_s1".to_owned(), "query".to_owned()),
        ]
    );
    assert_eq!(spans.outcomes.lock().unwrap().len(), 4);
    assert!(spans
        .outcomes
        .lock()
        .unwrap()
        .iter()
        .all(|o| o == "success"));
}
