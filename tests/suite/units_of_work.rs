//! `ShardedConnection` as a unit of work, and per-shard transactions.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_sharding::{Error, RoutingKey, TransactionError};

use super::fixture::*;
use crate::common::*;

#[test]
fn a_unit_of_work_keeps_one_connection_per_shard() {
    let shards = Shards::with(2, |b| b.max_size(3));
    let mut work = shards.pool.unit_of_work();
    assert_eq!(
        work.held_shards().count(),
        0,
        "nothing checked out before use"
    );
    // A temporary table is private to one connection: seeing it again proves the
    // second statement ran on the same connection.
    work.connection("s0")
        .unwrap()
        .batch_execute("CREATE TEMPORARY TABLE scratch (x INTEGER)")
        .unwrap();
    work.connection("s0")
        .unwrap()
        .batch_execute("INSERT INTO scratch (x) VALUES (1)")
        .unwrap();
    let seen: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT COUNT(*) FROM scratch")
        .get_result(work.connection("s0").unwrap())
        .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(
        work.held_shards().cloned().collect::<Vec<_>>(),
        vec!["s0".into()] as Vec<diesel_sharding::ShardId>
    );
    // Connections in a caller's hands: r2d2's busy ones, less those the pool keeps idle
    // on a logical shard's namespace.
    let in_hand = || {
        let state = shards.pool.shard_pool("s0").unwrap().state();
        (state.connections - state.idle_connections) as usize - shards.pool.kept_idle("s0").unwrap()
    };
    assert_eq!(in_hand(), 1);
    work.release();
    assert_eq!(work.held_shards().count(), 0);
    assert_eq!(in_hand(), 0, "released back to the pool");
}

#[test]
fn transaction_for_key_commits_on_the_owning_shard() {
    let shards = Shards::new(3);
    let owner = shards.expected_shard(RoutingKey::Int(42));
    let inserted = shards
        .pool
        .transaction_for_key(&42_i64, |conn| {
            diesel::insert_into(customers::table)
                .values(&customer(42))
                .execute(conn)?;
            diesel::insert_into(orders::table)
                .values(&order(1, 42))
                .execute(conn)?;
            Ok::<_, Error>(2)
        })
        .unwrap();
    assert_eq!(inserted, 2);
    assert_eq!(shards.customer_ids_on(owner.as_str()), vec![42]);
    assert_eq!(shards.order_ids_on(owner.as_str()), vec![1]);
}

#[test]
fn a_failed_transaction_leaves_nothing_behind() {
    let shards = Shards::new(2);
    let owner = shards.expected_shard(RoutingKey::Int(9));
    let err = shards
        .pool
        // A plain Diesel closure: its error is Diesel's.
        .transaction(owner.as_str(), |conn| {
            diesel::insert_into(customers::table)
                .values(&customer(9))
                .execute(conn)?;
            // A duplicate key fails the second insert.
            diesel::insert_into(customers::table)
                .values(&customer(9))
                .execute(conn)
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransactionError::Transaction(diesel::result::Error::DatabaseError(..))
        ),
        "{err}"
    );
    // `?` turns it into this crate's error.
    let as_sharding: Error = err.into();
    assert!(as_sharding.diesel_error().is_some(), "{as_sharding}");
    assert!(shards.customer_ids_on(owner.as_str()).is_empty());

    // A closure that returns its own error rolls back as well; the error needs only
    // `From<diesel::result::Error>`.
    #[derive(Debug)]
    enum AppError {
        Db(diesel::result::Error),
        Rejected,
    }
    impl From<diesel::result::Error> for AppError {
        fn from(e: diesel::result::Error) -> Self {
            AppError::Db(e)
        }
    }
    let mut work = shards.pool.unit_of_work();
    let err = work
        .transaction_for_key(&9_i64, |conn| {
            diesel::insert_into(customers::table)
                .values(&customer(9))
                .execute(conn)?;
            Err::<(), _>(AppError::Rejected)
        })
        .unwrap_err();
    assert!(matches!(err, TransactionError::Transaction(AppError::Rejected)));
    assert!(shards.customer_ids_on(owner.as_str()).is_empty());
    // The unit of work's connection is still usable afterwards.
    let n = work
        .transaction_for_key(&9_i64, |conn| {
            Ok::<_, Error>(
                diesel::insert_into(customers::table)
                    .values(&customer(9))
                    .execute(conn)?,
            )
        })
        .unwrap();
    assert_eq!(n, 1);
    let unknown = shards.pool.transaction("nope", |_| Ok::<_, AppError>(()));
    assert!(matches!(
        unknown,
        Err(TransactionError::Sharding(Error::UnknownShard { .. }))
    ));
    assert!(matches!(
        shards.pool.transaction("s0", |_| Err::<(), _>(AppError::Db(
            diesel::result::Error::NotFound
        ))),
        Err(TransactionError::Transaction(AppError::Db(
            diesel::result::Error::NotFound
        )))
    ));
}

#[test]
fn connection_for_key_names_the_shard() {
    let shards = Shards::new(4);
    let (shard, mut conn) = shards.pool.connection_for_key(&77_i64).unwrap();
    assert_eq!(shard, shards.expected_shard(RoutingKey::Int(77)));
    diesel::insert_into(customers::table)
        .values(&customer(77))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(shards.customer_ids_on(shard.as_str()), vec![77]);
}

/// A panic inside a transaction must not leave the unit of work's connection inside it:
/// the next transaction on the same unit of work commits for real.
#[test]
fn a_panic_in_a_transaction_leaves_no_open_transaction_behind() {
    let shards = Shards::new(2);
    let mut work = shards.pool.unit_of_work();
    let first = shards.key_on("s0");
    let second = (first + 1..)
        .find(|k| shards.expected_shard(diesel_sharding::RoutingKey::Int((*k).into())) == "s0")
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        work.transaction_for_key(&first, |conn| {
            diesel::insert_into(customers::table).values(&customer(first)).execute(conn)?;
            if first > 0 {
                panic!("a bug in the closure");
            }
            Ok::<_, diesel_sharding::Error>(())
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(work.held_shards().count(), 0, "the connection the panic left was dropped");
    work.transaction_for_key(&second, |conn| {
        diesel::insert_into(customers::table).values(&customer(second)).execute(conn)?;
        Ok::<_, diesel_sharding::Error>(())
    })
    .unwrap();
    drop(work);
    assert_eq!(shards.customer_ids_on("s0"), vec![second], "the panicked insert rolled back, the next committed");
}
