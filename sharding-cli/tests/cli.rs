//! The real `diesel-sharding` binary against real databases: SQLite always, PostgreSQL
//! and MySQL/MariaDB with the `postgres` / `mysql` features.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diesel_sharding::{HashRouter, RoutingKey};

struct Session {
    dir: tempfile::TempDir,
}

impl Session {
    /// A directory with the repository's migrations and a `shards.toml` of `config`.
    fn new(config: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        copy_dir(&migrations, &dir.path().join("migrations"));
        std::fs::write(dir.path().join("shards.toml"), config).unwrap();
        Session { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_diesel-sharding"))
            .current_dir(self.dir.path())
            .args(["--config", "shards.toml", "--timeout-ms", "500"])
            .args(args)
            .output()
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sqlite_config(shards: &[(&str, &str)]) -> String {
    let mut config = String::from("backend = \"sqlite\"\nmigrations = \"migrations\"\n");
    for (id, path) in shards {
        config.push_str(&format!("\n[[shards]]\nid = \"{id}\"\nurl = \"{path}\"\n"));
    }
    config
}

const VERSION: &str = "20261123000001";

/// What `route` prints for `key` on `n` shards `s0..` under the default router, built
/// from the library's own hash: the line `explain_route` gives a query keyed by `key`.
fn explained(key: RoutingKey<'_>, n: usize) -> String {
    let bucket = HashRouter::new().bucket(key, n);
    format!(
        "key {key} ({}) -> hash router (stable hash {:#018x}, jump hash over {n} buckets = \
         {bucket}) -> position {bucket} of {n} -> shard s{bucket}",
        key.kind(),
        diesel_sharding::router::stable_hash(key)
    )
}

fn has_orders(db: &Path) -> bool {
    use diesel::prelude::*;
    let mut conn = diesel::SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    diesel::sql_query("SELECT 1 FROM orders LIMIT 1")
        .execute(&mut conn)
        .is_ok()
}

#[test]
fn a_full_migration_session_on_sqlite() {
    let s = Session::new(&sqlite_config(&[
        ("s0", "s0.db"),
        ("s1", "s1.db"),
        ("s2", "s2.db"),
    ]));

    let pending = s.run(&["migration", "pending"]);
    assert!(pending.status.success(), "{}", stderr(&pending));
    for shard in ["s0", "s1", "s2"] {
        assert!(
            stdout(&pending).contains(&format!("{shard}: pending: {VERSION}\n")),
            "{}",
            stdout(&pending)
        );
    }

    let run = s.run(&["migration", "run"]);
    assert!(run.status.success(), "{}", stderr(&run));
    for shard in ["s0", "s1", "s2"] {
        assert!(
            stdout(&run).contains(&format!("{shard}: applied {VERSION}\n")),
            "{}",
            stdout(&run)
        );
    }
    for shard in ["s0.db", "s1.db", "s2.db"] {
        assert!(has_orders(&s.path(shard)), "{shard} migrated");
    }

    let check = s.run(&["shards", "check"]);
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains(&format!("all 3 shards up, at version {VERSION}")));

    // Revert one shard: the shards now disagree, and `check` says so.
    let revert = s.run(&["migration", "revert", "--shard", "s1"]);
    assert!(revert.status.success(), "{}", stderr(&revert));
    assert!(!has_orders(&s.path("s1.db")));
    assert!(has_orders(&s.path("s0.db")));
    let check = s.run(&["shards", "check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).contains("disagree"), "{}", stderr(&check));

    // Running again migrates only the one behind.
    let run = s.run(&["migration", "run"]);
    assert!(run.status.success());
    let out = stdout(&run);
    assert!(
        out.contains("s0: up to date") && out.contains("s2: up to date"),
        "{out}"
    );
    assert!(out.contains(&format!("s1: applied {VERSION}")), "{out}");

    let list = s.run(&["migration", "list", "--shard", "s2"]);
    assert!(stdout(&list).contains(&format!("applied: {VERSION}; pending: none")));
    assert!(!stdout(&list).contains("s0:"), "only the shard asked for");
}

#[test]
fn a_shard_that_is_down_fails_alone_and_sets_the_exit_code() {
    let s = Session::new(&sqlite_config(&[
        ("s0", "s0.db"),
        ("gone", "no-such-dir/x.db"),
        ("s2", "s2.db"),
    ]));
    let run = s.run(&["migration", "run"]);
    assert_eq!(run.status.code(), Some(1));
    let out = stdout(&run);
    assert!(out.contains(&format!("s0: applied {VERSION}")), "{out}");
    assert!(
        out.contains(&format!("s2: applied {VERSION}")),
        "the shard after the dead one ran: {out}"
    );
    assert!(out.contains("gone: FAILED"), "{out}");
    assert!(has_orders(&s.path("s0.db")) && has_orders(&s.path("s2.db")));

    let check = s.run(&["shards", "check"]);
    assert_eq!(check.status.code(), Some(1));
    let out = stdout(&check);
    let gone = out.lines().find(|l| l.starts_with("gone")).unwrap();
    assert!(gone.contains("DOWN"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("s0") && l.contains(" up ")),
        "{out}"
    );
}

#[test]
fn configuration_errors_point_at_the_line_and_key() {
    let s = Session::new("backend = \"sqlite\"\n\n[[shards]]\nid = \"s0\"\nurl = 7\n");
    let out = s.run(&["shards", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("shards.toml:5:7: url: invalid type"),
        "{}",
        stderr(&out)
    );

    let s = Session::new("backend = \"sqlite\"\n[router]\nkind = \"random\"\n[[shards]]\nid = \"s0\"\nurl = \"a.db\"\n");
    let out = s.run(&["route", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("shards.toml:3:8: router.kind: unknown router `random`"),
        "{}",
        stderr(&out)
    );

    let s = Session::new(&sqlite_config(&[("s0", "${DS_CLI_TEST_UNSET}/a.db")]));
    let out = s.run(&["shards", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("shards[0].url: the environment variable `DS_CLI_TEST_UNSET` is not set"),
        "{}",
        stderr(&out)
    );
    assert!(!s.path("a.db").exists());
}

#[test]
fn route_names_the_shard_the_library_would_use() {
    let s =
        Session::new(&format!(
        "{}\n[ids]\ntimestamp_bits = 41\nbucket_bits = 8\nworker_bits = 4\nsequence_bits = 10\n",
        sqlite_config(&[("s0", "s0.db"), ("s1", "s1.db"), ("s2", "s2.db"), ("s3", "s3.db")])
    ));
    for key in [1_i64, 42, 7_777] {
        let out = s.run(&["route", &key.to_string()]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out).trim(),
            explained(RoutingKey::Int(key.into()), 4)
        );
    }
    let out = s.run(&["route", "--text", "42"]);
    assert_eq!(stdout(&out).trim(), explained(RoutingKey::Text("42"), 4));

    let layout = diesel_sharding::ids::IdLayout::default();
    let id = layout.encode(123_456, 2, 3, 9).unwrap();
    let out = s.run(&["route", "--id", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("id {id} -> shard s2 (bucket 2, worker 3, sequence 9, 123456 ms after the epoch)")
    );
}

/// Under `kind = "pg-hash"`, `route` shows PostgreSQL's partition hash and remainder.
#[test]
fn route_shows_the_postgresql_partition_hash_under_the_pg_hash_router() {
    let s = Session::new(&format!(
        "{}\n[router]\nkind = \"pg-hash\"\n",
        sqlite_config(&[
            ("s0", "s0.db"),
            ("s1", "s1.db"),
            ("s2", "s2.db"),
            ("s3", "s3.db")
        ])
    ));
    for key in [-7_i64, 0, 1, 42] {
        let out = s.run(&["route", &key.to_string()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let r = diesel_sharding::PgHashRouter::new()
            .remainder(RoutingKey::Int(key.into()), 4)
            .unwrap();
        let line = stdout(&out).trim().to_owned();
        assert!(
            line.starts_with(&format!(
                "key {key} (integer) -> pg-hash router (partition hash 0x"
            )) && line.ends_with(&format!(
                " mod 4 = remainder {r}) -> position {r} of 4 -> shard s{r}"
            )),
            "{line}"
        );
    }
}

/// Keys that are not i64 route as the library routes them: a u64 above `i64::MAX` as
/// that integer, a UUID as its 16 bytes, hex as bytes; and routing opens no shard.
#[test]
fn route_reads_u64_uuid_and_byte_keys_as_the_library_does_and_touches_no_shard() {
    let s = Session::new(&sqlite_config(&[
        ("s0", "s0.db"),
        ("s1", "s1.db"),
        ("s2", "s2.db"),
    ]));
    let route = |args: &[&str]| {
        let out = s.run(args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    let big = u64::MAX - 5;
    assert_eq!(
        route(&["route", &big.to_string()]),
        explained(RoutingKey::Int(big.into()), 3)
    );
    let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&uuid.replace('-', "")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        route(&["route", "--uuid", uuid]),
        explained(RoutingKey::Bytes(&bytes), 3)
    );
    assert_eq!(
        route(&["route", "--bytes", "0xdeadbeef"]),
        explained(RoutingKey::Bytes(&[0xde, 0xad, 0xbe, 0xef]), 3)
    );
    // Out of range and malformed keys are refused, not routed as text.
    let out = s.run(&["route", "99999999999999999999999"]);
    assert!(
        !out.status.success() && stderr(&out).contains("--text"),
        "{}",
        stderr(&out)
    );
    let out = s.run(&["route", "--uuid", "not-a-uuid"]);
    assert!(
        !out.status.success() && stderr(&out).contains("UUID"),
        "{}",
        stderr(&out)
    );
    for file in ["s0.db", "s1.db", "s2.db"] {
        assert!(!s.path(file).exists(), "route created {file}");
    }
}

/// `shards check` is read-only: a missing SQLite file is reported, not created, and an
/// unmigrated shard is not given a migrations table.
#[test]
fn shards_check_creates_nothing() {
    let s = Session::new(&sqlite_config(&[("s0", "s0.db"), ("s1", "s1.db")]));
    {
        use diesel::prelude::*;
        let mut conn =
            diesel::SqliteConnection::establish(&s.path("s0.db").to_string_lossy()).unwrap();
        diesel::sql_query("CREATE TABLE t (id INTEGER)")
            .execute(&mut conn)
            .unwrap();
    }
    let check = s.run(&["shards", "check"]);
    assert!(!check.status.success());
    assert!(
        stdout(&check).contains("does not exist"),
        "{}",
        stdout(&check)
    );
    assert!(!s.path("s1.db").exists(), "check created s1.db");
    use diesel::prelude::*;
    let mut conn = diesel::SqliteConnection::establish(&s.path("s0.db").to_string_lossy()).unwrap();
    let tables: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = '__diesel_schema_migrations'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(tables, 0, "check created the migrations table");
}

/// `shards diff` on four SQLite shards: nothing on identical shards; an added column, a
/// dropped index and a changed column type each reported on their shard, with status 1;
/// a missing file reported and not created.
#[test]
fn shards_diff_reports_each_drift_on_its_shard() {
    use diesel::prelude::*;
    let names = ["s0", "s1", "s2", "s3"];
    let files: Vec<(&str, String)> = names.iter().map(|n| (*n, format!("{n}.db"))).collect();
    let config: Vec<(&str, &str)> = files.iter().map(|(n, f)| (*n, f.as_str())).collect();
    let s = Session::new(&sqlite_config(&config));
    assert!(s.run(&["migration", "run"]).status.success());
    let same = s.run(&["shards", "diff"]);
    assert!(same.status.success(), "{}{}", stdout(&same), stderr(&same));
    assert_eq!(
        stdout(&same).trim(),
        "no drift: all 4 shards hold the same schema"
    );

    let on = |shard: &str, sql: &str| {
        let mut conn =
            diesel::SqliteConnection::establish(&s.path(&format!("{shard}.db")).to_string_lossy())
                .unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, sql).unwrap();
    };
    on("s1", "DROP INDEX orders_customer_id");
    on("s2", "ALTER TABLE orders ADD COLUMN coupon TEXT");
    on(
        "s3",
        "ALTER TABLE customers DROP COLUMN region; ALTER TABLE customers ADD COLUMN region INTEGER",
    );
    let drift = s.run(&["shards", "diff"]);
    assert_eq!(drift.status.code(), Some(1), "{}", stderr(&drift));
    let lines: Vec<String> = stdout(&drift).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "shard `s3`: column `customers.region` is `INTEGER`; 3 other shards have `TEXT NOT NULL`",
            "shard `s2`: column `orders.coupon` (`TEXT`) is not on the 3 other shards",
            "shard `s1`: index `orders_customer_id` on `orders` is missing; 3 other shards have `(customer_id)`",
        ]
    );
    assert!(
        stderr(&drift).contains("3 difference(s) on 3 of the 4 shards read"),
        "{}",
        stderr(&drift)
    );

    std::fs::remove_file(s.path("s0.db")).unwrap();
    let missing = s.run(&["shards", "diff"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stdout(&missing).contains("shard `s0`: cannot read its schema: the database file"),
        "{}",
        stdout(&missing)
    );
    assert!(!s.path("s0.db").exists(), "diff created s0.db");
}

/// SQLite has no prepared transactions: nothing to list or recover.
#[test]
fn transactions_on_sqlite_lists_nothing() {
    let s = Session::new(&sqlite_config(&[("s0", "s0.db")]));
    let out = s.run(&["transactions", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0 prepared branch(es)\n");
}

#[test]
fn a_zero_timeout_is_refused() {
    let s = Session::new(&sqlite_config(&[("s0", "s0.db")]));
    let out = Command::new(env!("CARGO_BIN_EXE_diesel-sharding"))
        .current_dir(s.dir.path())
        .args(["--config", "shards.toml", "--timeout-ms", "0", "route", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("timeout-ms"), "{}", stderr(&out));
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod servers {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};

    use super::*;

    fn unique() -> String {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            % 1_000_000_000;
        format!("ds_cli_{}_{micros}", std::process::id())
    }

    fn with_database(url: &str, database: &str) -> String {
        let (root, _) = url.rsplit_once('/').unwrap();
        format!("{root}/{database}")
    }

    /// Creates `names` on the server and drops them again when dropped.
    struct Databases<Conn: Connection> {
        admin: String,
        names: Vec<String>,
        quote: char,
        _conn: std::marker::PhantomData<Conn>,
    }

    impl<Conn: Connection> Databases<Conn> {
        fn create(admin: &str, names: Vec<String>, quote: char) -> Self {
            let mut conn =
                Conn::establish(admin).unwrap_or_else(|e| panic!("no server at {admin}: {e}"));
            for name in &names {
                conn.batch_execute(&format!("CREATE DATABASE {quote}{name}{quote}"))
                    .unwrap();
            }
            Databases {
                admin: admin.to_owned(),
                names,
                quote,
                _conn: std::marker::PhantomData,
            }
        }
    }

    impl<Conn: Connection> Drop for Databases<Conn> {
        fn drop(&mut self) {
            if let Ok(mut conn) = Conn::establish(&self.admin) {
                for name in &self.names {
                    let q = self.quote;
                    let force = if q == '"' { " WITH (FORCE)" } else { "" };
                    let _ =
                        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {q}{name}{q}{force}"));
                }
            }
        }
    }

    fn session_on_server(
        backend: &str,
        admin: &str,
        logical_namespaces: &[String],
        dbs: &[String],
        add_column_on_l1: impl FnOnce(),
    ) {
        // Two physical shards and, on a shared pool, two logical ones.
        let mut config = format!(
            "backend = \"{backend}\"\nmigrations = \"migrations\"\n\n[[shared_pools]]\nname = \"main\"\nurl = \"{}\"\n",
            with_database(admin, &dbs[2])
        );
        for (i, db) in dbs[..2].iter().enumerate() {
            config.push_str(&format!(
                "\n[[shards]]\nid = \"p{i}\"\nurl = \"{}\"\n",
                with_database(admin, db)
            ));
        }
        for (i, ns) in logical_namespaces.iter().enumerate() {
            config.push_str(&format!(
                "\n[[shards]]\nid = \"l{i}\"\npool = \"main\"\nnamespace = \"{ns}\"\n"
            ));
        }
        config.push_str("\n[[shards]]\nid = \"dead\"\n");
        let dead = if backend == "postgres" {
            "postgres://postgres@127.0.0.1:1/x"
        } else {
            "mysql://root@127.0.0.1:1/x"
        };
        config.push_str(&format!("url = \"{dead}\"\n"));
        let s = Session::new(&config);
        let run = s.run(&["migration", "run"]);
        assert_eq!(
            run.status.code(),
            Some(1),
            "{}{}",
            stdout(&run),
            stderr(&run)
        );
        let out = stdout(&run);
        for shard in ["p0", "p1", "l0", "l1"] {
            assert!(
                out.contains(&format!("{shard}: applied {VERSION}")),
                "{shard}: {out}"
            );
        }
        assert!(out.contains("dead: FAILED"), "{out}");
        let check = s.run(&["shards", "check"]);
        assert_eq!(check.status.code(), Some(1));
        let out = stdout(&check);
        assert_eq!(
            out.lines()
                .filter(|l| l.contains(" up ") && l.contains(VERSION))
                .count(),
            4,
            "{out}"
        );

        let diff = s.run(&["shards", "diff"]);
        assert_eq!(diff.status.code(), Some(1), "the dead shard fails the diff");
        let out = stdout(&diff);
        let err = stderr(&diff);
        assert!(
            out.contains("shard `dead`: cannot read its schema"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1, "no drift among the others: {out}");
        assert!(err.contains("no drift between the 4 shards read"), "{err}");
        add_column_on_l1();
        let diff = s.run(&["shards", "diff"]);
        let out = stdout(&diff);
        assert!(
            out.starts_with("shard `l1`: column `orders.coupon` ("),
            "{out}"
        );
        assert_eq!(out.lines().count(), 2, "{out}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_session_on_postgresql_with_physical_logical_and_dead_shards() {
        let admin = std::env::var("PG_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let base = unique();
        let dbs: Vec<String> = (0..3).map(|i| format!("{base}_{i}")).collect();
        let _guard = Databases::<diesel::PgConnection>::create(&admin, dbs.clone(), '"');
        let shared = with_database(&admin, &dbs[2]);
        session_on_server(
            "postgres",
            &admin,
            &["shard_0".into(), "shard_1".into()],
            &dbs,
            || {
                diesel::PgConnection::establish(&shared)
                    .unwrap()
                    .batch_execute("ALTER TABLE shard_1.orders ADD COLUMN coupon TEXT")
                    .unwrap();
            },
        );
    }

    /// `transactions list` and `recover` on MariaDB, with branches prepared by hand as a
    /// crashed writer leaves them: an undecided one is left while young and rolled back
    /// once old; one whose coordinator decided `commit` is committed.
    #[cfg(feature = "mysql")]
    #[test]
    fn transactions_list_and_recover_finish_what_a_crashed_writer_left() {
        use diesel_sharding::router::stable_hash;
        use diesel_sharding::RoutingKey;
        let admin = std::env::var("MYSQL_DATABASE_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
        let base = unique();
        let dbs: Vec<String> = (0..2).map(|i| format!("{base}_{i}")).collect();
        let _guard = Databases::<diesel::MysqlConnection>::create(&admin, dbs.clone(), '`');
        let mut config = "backend = \"mysql\"\nmigrations = \"migrations\"\n".to_owned();
        for (i, db) in dbs.iter().enumerate() {
            config.push_str(&format!(
                "\n[[shards]]\nid = \"p{i}\"\nurl = \"{}\"\n",
                with_database(&admin, db)
            ));
        }
        let s = Session::new(&config);
        assert!(s.run(&["migration", "run"]).status.success());
        let tag = |i: usize| format!("p{i}+{:08x}", stable_hash(RoutingKey::Text(&dbs[i])) as u32);
        let ten_minutes_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            - 600_000;
        let prepare = |n: u64, order: i64| {
            let id = format!("ds:{ten_minutes_ago:011x}{n:012x}:{}", tag(0));
            let mut conn =
                diesel::MysqlConnection::establish(&with_database(&admin, &dbs[1])).unwrap();
            let xid = format!("'{id}','{}'", tag(1));
            conn.batch_execute(&format!(
                "XA START {xid}; INSERT INTO orders VALUES ({order}, 1, 1, 'x'); XA END {xid}; \
                 XA PREPARE {xid}"
            ))
            .unwrap();
            id
        };
        let undecided = prepare(1, 10);
        let decided = prepare(2, 20);
        let mut coordinator =
            diesel::MysqlConnection::establish(&with_database(&admin, &dbs[0])).unwrap();
        coordinator
            .batch_execute(&format!(
                "CREATE TABLE diesel_sharding_decisions (xid VARCHAR(64) PRIMARY KEY, \
                 outcome VARCHAR(8) NOT NULL, participants TEXT NOT NULL, \
                 decided_at_ms BIGINT NOT NULL); \
                 INSERT INTO diesel_sharding_decisions VALUES ('{decided}', 'commit', 'p0,p1', 0)"
            ))
            .unwrap();

        let list = s.run(&["transactions", "list"]);
        assert!(list.status.success(), "{}", stderr(&list));
        let out = stdout(&list);
        assert!(
            out.contains(&format!("{undecided} on `p1` (coordinator `p0`, ")),
            "{out}"
        );
        assert!(out.contains("s old): undecided"), "{out}");
        assert!(
            out.contains(&format!("{decided} on `p1`")) && out.contains("): commit"),
            "{out}"
        );
        assert!(out.ends_with("2 prepared branch(es)\n"), "{out}");

        let young = s.run(&["transactions", "recover", "--older-than-ms", "3600000"]);
        assert_eq!(
            young.status.code(),
            Some(1),
            "the undecided one is left: {}",
            stdout(&young)
        );
        assert!(
            stdout(&young).contains(&format!("committed {decided}")),
            "{}",
            stdout(&young)
        );
        let old = s.run(&["transactions", "recover", "--older-than-ms", "0"]);
        assert!(old.status.success(), "{}{}", stdout(&old), stderr(&old));
        assert!(
            stdout(&old).contains(&format!("rolled back {undecided}")),
            "{}",
            stdout(&old)
        );
        let after = s.run(&["transactions", "list"]);
        assert!(
            stdout(&after).ends_with("0 prepared branch(es)\n"),
            "{}",
            stdout(&after)
        );
        let mut shard =
            diesel::MysqlConnection::establish(&with_database(&admin, &dbs[1])).unwrap();
        let ids: Vec<i64> = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT id FROM orders")
            .load(&mut shard)
            .unwrap();
        assert_eq!(
            ids,
            [20],
            "the decided order is in, the undecided one is not"
        );
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn a_session_on_mysql_with_physical_logical_and_dead_shards() {
        let admin = std::env::var("MYSQL_DATABASE_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
        let base = unique();
        let dbs: Vec<String> = (0..3).map(|i| format!("{base}_{i}")).collect();
        let namespaces: Vec<String> = (0..2).map(|i| format!("{base}_ns{i}")).collect();
        // The namespaces are created by `migration run`; the guard drops them too.
        let guard = Databases::<diesel::MysqlConnection>::create(&admin, dbs.clone(), '`');
        let cleanup = Databases::<diesel::MysqlConnection> {
            admin: admin.clone(),
            names: namespaces.clone(),
            quote: '`',
            _conn: std::marker::PhantomData,
        };
        session_on_server("mysql", &admin, &namespaces, &dbs, || {
            diesel::MysqlConnection::establish(&admin)
                .unwrap()
                .batch_execute(&format!(
                    "ALTER TABLE `{}`.orders ADD COLUMN coupon TEXT",
                    namespaces[1]
                ))
                .unwrap();
        });
        drop((guard, cleanup));
    }
}
