//! `transactions list | recover`.

use std::time::Duration;

use diesel_sharding::atomic::InDoubt;
use diesel_sharding::{ShardBackend, ShardedPool};

use super::Failure;
use crate::cli::TransactionsAction;

pub(crate) fn run<Conn: ShardBackend>(
    pool: &ShardedPool<Conn>,
    action: TransactionsAction,
) -> Result<(), Failure> {
    match action {
        TransactionsAction::List => {
            let in_doubt = pool
                .in_doubt_transactions()
                .map_err(|e| Failure::Shards(super::chain(&e)))?;
            print_each("", &in_doubt);
            println!("{} prepared branch(es)", in_doubt.len());
            Ok(())
        }
        TransactionsAction::Recover { older_than_ms } => {
            let report = pool.recover_transactions(Duration::from_millis(older_than_ms));
            print_each("committed ", &report.committed);
            print_each("rolled back ", &report.rolled_back);
            print_each("left (younger than the age) ", &report.waiting);
            for failure in &report.failures {
                println!(
                    "shard `{}` FAILED: {}",
                    failure.shard,
                    super::chain(&failure.error)
                );
            }
            println!(
                "{} committed, {} rolled back, {} left, {} shard failure(s), {} decision(s) deleted",
                report.committed.len(),
                report.rolled_back.len(),
                report.waiting.len(),
                report.failures.len(),
                report.decisions_deleted
            );
            if report.is_clean() {
                Ok(())
            } else {
                Err(Failure::Shards(
                    "some prepared branches are left: run `transactions recover` again once the \
                     shards are up (or the transactions are older than --older-than-ms)"
                        .into(),
                ))
            }
        }
    }
}

fn print_each(what: &str, branches: &[InDoubt]) {
    for branch in branches {
        println!("{what}{branch}");
    }
}
