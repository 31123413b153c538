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

/// A user-defined PostgreSQL type (`CREATE TYPE mood AS ENUM ..`) made on each shard,
/// so each shard has its own id for it.
#[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
#[diesel(postgres_type(name = "mood"))]
pub struct Mood;

diesel::table! {
    use diesel::sql_types::BigInt;
    use super::Mood;

    feelings (id) {
        id -> BigInt,
        mood -> Mood,
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Mood)]
enum Feeling {
    Happy,
    Sad,
}

impl diesel::serialize::ToSql<Mood, diesel::pg::Pg> for Feeling {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        out.write_all(match self {
            Feeling::Happy => b"happy",
            Feeling::Sad => b"sad",
        })?;
        Ok(diesel::serialize::IsNull::No)
    }
}

impl diesel::deserialize::FromSql<Mood, diesel::pg::Pg> for Feeling {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        match value.as_bytes() {
            b"happy" => Ok(Feeling::Happy),
            b"sad" => Ok(Feeling::Sad),
            other => Err(format!("unknown mood {other:?}").into()),
        }
    }
}

/// A fan-out binding a user-defined type sends each shard that shard's own type id:
/// the statement is collected once per shard when it uses such a type (and once for
/// all shards otherwise), so no shard gets another's id.
#[test]
fn fan_outs_bind_each_shards_own_user_defined_types() {
    use diesel::connection::SimpleConnection;
    let databases = Databases::create(3, false);
    let mut type_ids = Vec::new();
    for i in 0..3 {
        let mut conn = databases.direct(i);
        // Types made before it on some shards give `mood` a different id on each.
        for j in 0..i {
            conn.batch_execute(&format!("CREATE TYPE filler_{j} AS ENUM ('x')"))
                .unwrap();
        }
        conn.batch_execute(&format!(
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE TABLE feelings (id BIGINT PRIMARY KEY, mood mood NOT NULL);
             INSERT INTO feelings VALUES ({a}, 'happy'), ({b}, 'sad');",
            a = 10 * i + 1,
            b = 10 * i + 2,
        ))
        .unwrap();
        let id: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT oid::bigint FROM pg_type WHERE typname = 'mood'",
        )
        .get_result(&mut conn)
        .unwrap();
        type_ids.push(id);
    }
    type_ids.dedup();
    assert_eq!(type_ids.len(), 3, "each shard has its own id for `mood`");
    let pool = databases.add_to(ShardedPool::builder()).build().unwrap();

    let mut sad: Vec<i64> = feelings::table
        .filter(feelings::mood.eq(Feeling::Sad))
        .select(feelings::id)
        .all_shards()
        .load::<i64>(&pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    sad.sort_unstable();
    assert_eq!(sad, [2, 12, 22]);
    let moods: Vec<Feeling> = feelings::table
        .filter(feelings::id.eq_any([1_i64, 12, 21]))
        .order(feelings::id)
        .select(feelings::mood)
        .all_shards()
        .load::<Feeling>(&pool)
        .unwrap()
        .into_iter()
        .map(Sharded::into_inner)
        .collect();
    assert_eq!(moods, [Feeling::Happy, Feeling::Sad, Feeling::Happy]);
    let updated = diesel::update(feelings::table.filter(feelings::mood.eq(Feeling::Happy)))
        .set(feelings::mood.eq(Feeling::Sad))
        .all_shards()
        .execute(&pool)
        .unwrap();
    assert_eq!(updated, 3);
}

/// Where the exit test's child finds its databases.
const EXIT_CHILD_ENV: &str = "DIESEL_SHARDING_EXIT_CHILD";

/// The short program the exit test runs: a pool with the default settings, keyed reads
/// and counts on every shard, then exit.
#[test]
#[ignore = "run by `a_program_that_exits_right_after_its_statements_exits_cleanly`"]
fn exit_child() {
    let Ok(description) = std::env::var(EXIT_CHILD_ENV) else {
        return;
    };
    let databases = Databases::attach(&description);
    let pool = databases.add_to(ShardedPool::builder()).build().unwrap();
    for _ in 0..5 {
        let found = orders::table
            .select(orders::id)
            .for_key(3_i64)
            .load::<i64>(&pool)
            .unwrap();
        assert_eq!(found, [1]);
        assert_eq!(orders::table.count().all_shards().count(&pool).unwrap(), 1);
    }
}

/// A process that exits right after its statements exits cleanly: nothing opens
/// connections in the background by default, so none is half-open (inside libpq's TLS
/// setup) while the process runs its exit handlers. With r2d2 keeping a spare idle
/// connection (`min_idle(Some(1))`, the old default) this child crashed in about 1 exit
/// of 90, and a child whose id searches return before their other shards answer in 1
/// to 3 of 30, so 60 runs catch a regression often but not always.
#[test]
fn a_program_that_exits_right_after_its_statements_exits_cleanly() {
    use std::process::{Command, Stdio};
    let databases = Databases::create(4, false);
    let pool = databases.add_to(ShardedPool::builder()).build().unwrap();
    pool.run_pending_migrations(MIGRATIONS).unwrap();
    pool.insert(order(1, 3)).unwrap();
    drop(pool);
    let name = format!(
        "{}::exit_child",
        module_path!().split_once("::").map_or("", |p| p.1)
    );
    let mut failed = Vec::new();
    for run in 0..60 {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--ignored", "--test-threads", "1"])
            .env(EXIT_CHILD_ENV, databases.describe())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if !status.success() {
            failed.push(format!("run {run}: {status}"));
        }
    }
    assert!(
        failed.is_empty(),
        "children that did not exit cleanly: {failed:?}"
    );
}
