//! JSON lines on stdout, as WORKLOAD.md specifies.

use std::time::Duration;

use super::args::Args;

pub struct Report {
    system: String,
    backend: String,
    shards: usize,
}

#[derive(Default, Debug)]
pub struct Check {
    pub orders_after_insert_batch: i64,
    pub sum_amount_cents_after_update_keyed: i64,
    pub fanout_count_total: i64,
    pub fanout_filter_first_ids: Vec<i64>,
    pub delete_fanout_rows: i64,
}

impl Report {
    pub fn new(args: &Args) -> Report {
        Report {
            system: if args.logical {
                format!("{}-logical", args.system)
            } else {
                args.system.clone()
            },
            backend: args.backend.clone(),
            shards: args.shards,
        }
    }

    pub fn phase(&mut self, phase: &str, ops: usize, took: Duration) {
        let seconds = took.as_secs_f64();
        println!(
            "{{\"system\": \"{}\", \"backend\": \"{}\", \"shards\": {}, \"phase\": \"{phase}\", \"ops\": {ops}, \"seconds\": {seconds:.6}, \"ops_per_s\": {:.1}}}",
            self.system,
            self.backend,
            self.shards,
            ops as f64 / seconds.max(1e-9)
        );
    }

    pub fn check(&mut self, check: &Check) {
        let ids: Vec<String> = check
            .fanout_filter_first_ids
            .iter()
            .map(i64::to_string)
            .collect();
        println!(
            "{{\"system\": \"{}\", \"check\": {{\"orders_after_insert_batch\": {}, \"sum_amount_cents_after_update_keyed\": {}, \"fanout_count_total\": {}, \"fanout_filter_first_ids\": [{}], \"delete_fanout_rows\": {}}}}}",
            self.system,
            check.orders_after_insert_batch,
            check.sum_amount_cents_after_update_keyed,
            check.fanout_count_total,
            ids.join(", "),
            check.delete_fanout_rows
        );
    }
}
