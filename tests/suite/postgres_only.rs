//! PostgreSQL-only behaviour of the physical layout.

use diesel::prelude::*;
use diesel_sharding::prelude::*;
use diesel_sharding::{AtomicError, Error};

use super::backend::{admin, Databases};
use crate::common::*;

/// On a server with `max_prepared_transactions = 0` (PostgreSQL's default, as this
/// machine's main server has it) an atomic transaction fails with a message saying what
/// to set, and commits nothing on any shard.
#[test]
fn atomic_transactions_on_a_server_without_prepared_transactions_fail_clearly_and_commit_nothing() {
    let allowed: String =
        diesel::dsl::sql::<diesel::sql_types::Text>("SHOW max_prepared_transactions")
            .get_result(&mut admin())
            .unwrap();
    assert_eq!(
        allowed, "0",
        "this test needs the main server at its default"
    );
    let databases = Databases::create(2, false);
    let pool = databases.add_to(ShardedPool::builder()).build().unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    let result = pool.atomic(|tx| {
        for (i, shard) in ["s0", "s1"].iter().enumerate() {
            diesel::insert_into(orders::table)
                .values(&order(i as i64, 1))
                .execute(tx.connection(shard)?)?;
        }
        Ok::<_, Error>(())
    });
    let err = result.unwrap_err();
    let AtomicError::RolledBack(cause) = &err else {
        panic!("expected RolledBack, got {err:?}");
    };
    assert!(
        matches!(cause, Error::PreparedTransactionsDisabled { shard } if shard == "s1"),
        "{cause}"
    );
    assert!(
        cause.to_string().contains("max_prepared_transactions"),
        "{cause}"
    );
    for i in 0..2 {
        let n: i64 = orders::table
            .count()
            .get_result(&mut databases.direct(i))
            .unwrap();
        assert_eq!(n, 0, "s{i} committed nothing");
    }
}
