//! Configuration and URLs as hostile input: 2,000 mutations of a valid file never panic,
//! out-of-range pool settings are refused with their position, and no secret (a URL's
//! password, a value from the environment) ever reaches an error's `Display` or `Debug`
//! or a log line, whatever shape the URL has.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use diesel_sharding::{Error, ShardConfig, ShardedPool};

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const VALID: &str = r#"backend = "sqlite"
migrations = "migrations"

[pool]
max_size = 4
min_idle = 1
connection_timeout_ms = 2000
idle_timeout_ms = 60000
max_lifetime_ms = 600000
insert_batch_rows = 100

[router]
kind = "range"
ranges = [ { start = 0, end = 1000, shard = "s0" }, { start = 1000, shard = "s1" } ]

[[shards]]
id = "s0"
url = "s0.db"

[[shards]]
id = "s1"
url = "s1.db"

[ids]
timestamp_bits = 41
bucket_bits = 10
worker_bits = 4
sequence_bits = 8
"#;

/// Pieces a mutation may paste in: extreme numbers, syntax, non-ASCII text.
const PIECES: &[&str] = &[
    "0",
    "-1",
    "4294967295",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "\"",
    "=",
    "[",
    "]]",
    "{",
    "}",
    ",",
    "\n",
    "é",
    "日本",
    "${DS_FUZZ_UNSET}",
    "$$",
    "[[shards]]\nid = \"s9\"\n",
    "kind = \"lookup\"",
    "kind = \"hash\"",
    "default = \"s0\"",
    "int_keys = { 1 = \"s0\" }",
    "bucket_bits = 63",
    "timestamp_bits = 200",
    "min_idle = 4294967295",
    "max_size = 0",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut out: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + 1 + rng.below(12)).min(out.len());
                out.drain(at.min(out.len())..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                for (i, c) in piece.chars().enumerate() {
                    out.insert(at + i, c);
                }
            }
            2 if at < out.len() => {
                // Replace a digit run's digit with a larger one, or any char with another.
                out[at] = PIECES[rng.below(PIECES.len())]
                    .chars()
                    .next()
                    .unwrap_or('x');
            }
            _ => {
                let line_start = rng.below(text.lines().count());
                let line = text.lines().nth(line_start).unwrap_or("");
                for (i, c) in line.chars().chain(['\n']).enumerate() {
                    out.insert(at + i, c);
                }
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn two_thousand_mutations_of_a_valid_config_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let valid = VALID
        .replace("s0.db", &dir.path().join("s0.db").to_string_lossy())
        .replace("s1.db", &dir.path().join("s1.db").to_string_lossy());
    assert!(ShardConfig::from_toml(&valid, "valid.toml").is_ok());
    let mut rng = Rng(0x5EED_CAFE_F00D_BEEF);
    let mut panics = Vec::new();
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..2_000 {
        let text = mutate(&mut rng, &valid);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match ShardConfig::from_toml(&text, "fuzz.toml") {
                Ok(config) => {
                    // Build without connecting: files are not even created.
                    let built = config
                        .builder::<diesel::SqliteConnection>()
                        .and_then(|b| b.build_unchecked());
                    if let Err(e) = built {
                        assert!(
                            matches!(
                                e,
                                Error::Config { .. }
                                    | Error::InvalidRouter { .. }
                                    | Error::InvalidIdLayout { .. }
                                    | Error::InvalidSetting { .. }
                            ),
                            "{e}"
                        );
                    }
                    true
                }
                Err(e) => {
                    assert!(matches!(e, Error::Config { .. }), "{e}");
                    false
                }
            }
        }));
        match outcome {
            Ok(true) => parsed += 1,
            Ok(false) => refused += 1,
            Err(_) => panics.push((i, text)),
        }
    }
    assert!(
        panics.is_empty(),
        "{} panics, first: {:?}",
        panics.len(),
        panics.first()
    );
    // The mutations exercise both sides.
    assert!(
        parsed > 50 && refused > 50,
        "parsed {parsed}, refused {refused}"
    );
}

fn config_error(text: &str) -> Error {
    match ShardConfig::from_toml(text, "pool.toml") {
        Err(e) => e,
        Ok(config) => config
            .builder::<diesel::SqliteConnection>()
            .and_then(|b| b.build_unchecked())
            .expect_err("refused"),
    }
}

#[test]
fn out_of_range_pool_settings_in_a_file_are_refused_at_their_value() {
    let cases = [
        ("max_size = 0", "pool.max_size", 12),
        ("max_size = 4294967295", "pool.max_size", 12),
        ("max_size = 2\nmin_idle = 3", "pool.min_idle", 12),
        (
            "connection_timeout_ms = 0",
            "pool.connection_timeout_ms",
            25,
        ),
        (
            "connection_timeout_ms = 18446744073709551615",
            "pool.connection_timeout_ms",
            25,
        ),
        ("idle_timeout_ms = 0", "pool.idle_timeout_ms", 19),
        ("max_lifetime_ms = 0", "pool.max_lifetime_ms", 19),
        ("insert_batch_rows = 0", "pool.insert_batch_rows", 21),
        ("default_timeout_ms = 0", "pool.default_timeout_ms", 22),
        ("worker_threads = 0", "pool.worker_threads", 18),
        ("worker_threads = 100000", "pool.worker_threads", 18),
    ];
    for (setting, key, column) in cases {
        let text = format!(
            "backend = \"sqlite\"\n[pool]\n{setting}\n[[shards]]\nid = \"s0\"\nurl = \"x.db\"\n"
        );
        let err = config_error(&text);
        let line = 2 + setting.lines().count();
        match &err {
            Error::Config {
                line: l,
                column: c,
                key: k,
                ..
            } => {
                assert_eq!(
                    (*l, *c, k.as_str()),
                    (line, column, key),
                    "{setting}: {err}"
                );
            }
            other => panic!("{setting}: {other}"),
        }
    }
}

#[test]
fn out_of_range_pool_settings_in_the_builder_are_refused() {
    type Builder = diesel_sharding::ShardedPoolBuilder<diesel::SqliteConnection>;
    type Configure = fn(Builder) -> Builder;
    let cases: [(&str, Configure); 11] = [
        ("max_size", |b| b.max_size(0)),
        ("max_size", |b| b.max_size(u32::MAX)),
        ("min_idle", |b| b.max_size(2).min_idle(Some(3))),
        ("connection_timeout", |b| {
            b.connection_timeout(Duration::ZERO)
        }),
        ("connection_timeout", |b| {
            b.connection_timeout(Duration::MAX)
        }),
        ("idle_timeout", |b| b.idle_timeout(Some(Duration::ZERO))),
        ("max_lifetime", |b| b.max_lifetime(Some(Duration::ZERO))),
        ("default_timeout", |b| b.default_timeout(Duration::ZERO)),
        ("default_timeout", |b| b.default_timeout(Duration::MAX)),
        ("worker_threads", |b| b.worker_threads(0)),
        ("worker_threads", |b| b.worker_threads(usize::MAX)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s0.db").to_string_lossy().into_owned();
    for (expected, configure) in cases {
        for connect in [false, true] {
            let b = configure(
                ShardedPool::<diesel::SqliteConnection>::builder().shard("s0", path.as_str()),
            );
            let result = if connect {
                b.build()
            } else {
                b.build_unchecked()
            };
            match result {
                Err(Error::InvalidSetting { setting, reason }) => {
                    assert_eq!(setting, expected);
                    assert!(!reason.is_empty());
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was opened"
    );
}

// --- secrets ---------------------------------------------------------------------------

const SECRET: &str = "Zq9xK2mW7v";

/// Lines logged through the `log` crate while the tests run.
static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOGGED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record.args().to_string());
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static LOGGER: Capture = Capture;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

/// Every shape of URL, well or badly formed, holding `secret` as a password.
fn url_shapes(secret: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for scheme in ["postgres", "postgresql", "mysql", "sqlite", "ftp", ""] {
        for sep in ["://", ":/", "//", ":", ""] {
            for host in ["127.0.0.1:1", "h@st:notaport"] {
                urls.push(format!("{scheme}{sep}u:{secret}@{host}/db"));
                urls.push(format!("{scheme}{sep}u:{secret}@{host}/db?sslmode=bogus"));
                urls.push(format!("{scheme}{sep}{host}/db?user=u&password={secret}"));
            }
        }
    }
    urls.push(format!("host=127.0.0.1 port=1 password={secret} dbname=x"));
    urls.push(format!(
        "host=127.0.0.1 port=1 password='{secret}' dbname=x"
    ));
    urls.push(format!("host=127.0.0.1 password = {secret}"));
    urls.push(format!("u:{secret}@host/db"));
    urls.push(format!("postgres://u:{secret}%ZZ@127.0.0.1:1/db"));
    urls
}

/// The error, its Debug, and every source's Display and Debug.
fn all_text(err: &Error) -> String {
    let mut text = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    text
}

fn assert_no_secret<Conn: diesel_sharding::ShardBackend>(secret: &str) -> usize {
    let mut errors = 0;
    for url in url_shapes(secret) {
        let check = |err: &Error| {
            let text = all_text(err);
            assert!(
                !text.contains(secret),
                "{} leaked by {url:?}:\n{text}",
                secret
            );
        };
        let builder = || {
            ShardedPool::<Conn>::builder()
                .shard("s0", url.as_str())
                .connection_timeout(Duration::from_millis(100))
        };
        assert!(!format!("{:?}", builder()).contains(secret));
        match builder().build() {
            Err(e) => {
                check(&e);
                errors += 1;
            }
            Ok(pool) => assert!(!format!("{pool:?}").contains(secret)),
        }
        if let Ok(pool) = builder().build_unchecked() {
            if let Err(e) = pool.connection("s0") {
                check(&e);
                errors += 1;
            }
        }
    }
    errors
}

#[test]
fn no_url_shape_leaks_its_password_into_errors_debug_or_logs() {
    capture_logs();
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_mut))]
    let mut errors = 0;
    #[cfg(feature = "postgres")]
    {
        errors += assert_no_secret::<diesel::PgConnection>(SECRET);
        errors += assert_no_secret::<diesel::PgConnection>("p@ss/w#rd%25:x");
    }
    #[cfg(feature = "mysql")]
    {
        errors += assert_no_secret::<diesel::MysqlConnection>(SECRET);
        errors += assert_no_secret::<diesel::MysqlConnection>("p@ss/w#rd%25:x");
    }
    assert!(errors > 0 || cfg!(not(any(feature = "postgres", feature = "mysql"))));
    let logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    for line in logged.iter() {
        assert!(
            !line.contains(SECRET) && !line.contains("p@ss/w#rd"),
            "logged: {line}"
        );
    }
}

#[test]
fn secrets_from_the_environment_stay_out_of_errors_and_debug() {
    // A value substituted into the URL's password, and one substituted elsewhere.
    std::env::set_var("DS_TEST_SECRET_PASSWORD", SECRET);
    std::env::set_var("DS_TEST_SECRET_DB", "Zq9xK2mW7v_db");
    for backend in ["postgres", "mysql"] {
        let text = format!(
            "backend = \"{backend}\"\n[[shards]]\nid = \"s0\"\nurl = \"{backend}:/u:${{DS_TEST_SECRET_PASSWORD}}@127.0.0.1:1/${{DS_TEST_SECRET_DB}}\"\n\
             [[shards]]\nid = \"s1\"\nurl = \"{backend}://u:${{DS_TEST_SECRET_PASSWORD}}@127.0.0.1:1/${{DS_TEST_SECRET_DB}}\"\n"
        );
        let config = ShardConfig::from_toml(&text, "secret.toml").unwrap();
        assert!(!format!("{config:?}").contains(SECRET));
        #[cfg(feature = "postgres")]
        if backend == "postgres" {
            let err = config
                .builder::<diesel::PgConnection>()
                .expect_err("shard s0 is malformed");
            assert!(!all_text(&err).contains(SECRET), "{err}");
        }
        #[cfg(feature = "mysql")]
        if backend == "mysql" {
            let err = config
                .builder::<diesel::MysqlConnection>()
                .expect_err("shard s0 is malformed");
            assert!(!all_text(&err).contains(SECRET), "{err}");
        }
    }
    // A malformed file whose text holds a password: the parse error does not repeat it.
    let err = ShardConfig::from_toml(
        &format!(
            "backend = \"postgres://u:{SECRET}@h/db\"\n[[shards]]\nid = \"s0\"\nurl = \"x\"\n"
        ),
        "bad.toml",
    )
    .unwrap_err();
    assert!(!all_text(&err).contains(SECRET), "{err}");
}

/// A password with every URL delimiter, substituted from the environment into a config
/// file's URL, reaches the server intact (percent-encoded on the way) and appears in no
/// error. MariaDB/MySQL checks the password, so a mangled one fails to log in.
#[cfg(feature = "mysql")]
#[test]
fn a_password_from_the_environment_may_hold_url_delimiters() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    let admin_url = std::env::var("MYSQL_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned());
    let mut admin =
        diesel::MysqlConnection::establish(&admin_url).expect("MariaDB/MySQL is reachable");
    let user = crate::common::unique_name();
    let password = "p@ss/w#rd%:?&=x";
    for host in ["%", "localhost", "127.0.0.1"] {
        admin
            .batch_execute(&format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"
            ))
            .expect("create user");
    }
    std::env::set_var("DS_TEST_MYSQL_PASSWORD", password);
    let address = crate::common::proxy::address_of(&admin_url);
    let text = format!(
        "backend = \"mysql\"\n[[shards]]\nid = \"s0\"\nurl = \"mysql://{user}:${{DS_TEST_MYSQL_PASSWORD}}@{address}/information_schema\"\n"
    );
    let built = ShardConfig::from_toml(&text, "pw.toml")
        .and_then(|c| c.builder::<diesel::MysqlConnection>())
        .and_then(|b| b.connection_timeout(Duration::from_secs(10)).build());
    let outcome = built.and_then(|pool| {
        let mut conn = pool.connection("s0")?;
        conn.batch_execute("SELECT 1").map_err(Error::Diesel)
    });
    // A wrong password is refused, and not repeated in the error either.
    std::env::set_var("DS_TEST_MYSQL_PASSWORD", "wrong-p@ss/word");
    let refused = ShardConfig::from_toml(&text, "pw.toml")
        .and_then(|c| c.builder::<diesel::MysqlConnection>())
        .and_then(|b| b.connection_timeout(Duration::from_secs(2)).build());
    for host in ["%", "localhost", "127.0.0.1"] {
        let _ = admin.batch_execute(&format!("DROP USER IF EXISTS '{user}'@'{host}'"));
    }
    outcome.expect("the password with delimiters logs in");
    let err = refused.expect_err("a wrong password is refused");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(!all_text(&err).contains("wrong-p@ss"), "{err}");
}

/// Router fields that do not apply to the router's kind, range and lookup mistakes, and a
/// file without shards are all reported at the value at fault.
#[test]
fn router_mistakes_and_missing_shards_are_reported_where_they_are() {
    let shards =
        "[[shards]]\nid = \"s0\"\nurl = \"a.db\"\n[[shards]]\nid = \"s1\"\nurl = \"b.db\"\n";
    let cases: [(String, (usize, usize, &str), &str); 9] = [
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"hash\"\nranges = [ {{ start = 0, shard = \"s0\" }} ]\n{shards}"),
            (4, 10, "router.ranges"),
            "for the range router",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"modulo\"\ndefault = \"s0\"\n{shards}"),
            (4, 11, "router.default"),
            "for the lookup router",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"range\"\ntext_keys = {{ a = \"s0\" }}\n{shards}"),
            (4, 13, "router.text_keys"),
            "for the lookup router",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"range\"\nranges = [ {{ start = 0, end = 10, shard = \"s9\" }} ]\n{shards}"),
            (4, 43, "router.ranges[0].shard"),
            "no shard has the id `s9`",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"range\"\nranges = [ {{ start = 5, end = 5, shard = \"s0\" }} ]\n{shards}"),
            (4, 12, "router.ranges[0]"),
            "empty",
        ),
        (
            format!(
                "backend = \"sqlite\"\n[router]\nkind = \"range\"\nranges = [\n  {{ start = 0, end = 10, shard = \"s0\" }},\n  {{ start = 5, shard = \"s1\" }},\n]\n{shards}"
            ),
            (6, 3, "router.ranges[1]"),
            "overlaps `router.ranges[0]`",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"lookup\"\nint_keys = {{ 7 = \"s0\", x = \"s1\" }}\n{shards}"),
            (4, 24, "router.int_keys"),
            "not an integer",
        ),
        (
            format!("backend = \"sqlite\"\n[router]\nkind = \"lookup\"\ndefault = \"nope\"\n{shards}"),
            (4, 11, "router.default"),
            "no shard has the id `nope`",
        ),
        ("backend = \"sqlite\"\n[pool]\nmax_size = 2\n".to_owned(), (4, 1, "shards"), "no shards"),
    ];
    for (text, (line, column, key), says) in cases {
        let err = config_error(&text);
        match &err {
            Error::Config {
                line: l,
                column: c,
                key: k,
                message,
                ..
            } => {
                assert_eq!((*l, *c, k.as_str()), (line, column, key), "{err}\n{text}");
                assert!(message.contains(says), "{err}");
            }
            other => panic!("{other}\n{text}"),
        }
    }
    let err = config_error("backend = \"sqlite\"\nshards = []\n");
    assert!(
        err.to_string()
            .starts_with("pool.toml:2:10: shards: no shards"),
        "{err}"
    );
}

/// `kind = "pg-hash"` builds a pool that places keys as PostgreSQL's hash partitioning.
#[test]
fn a_config_file_can_name_the_pg_hash_router() {
    let dir = tempfile::tempdir().unwrap();
    let shards: String = (0..4)
        .map(|i| {
            let path = dir.path().join(format!("s{i}.db"));
            format!("[[shards]]\nid = \"s{i}\"\nurl = \"{}\"\n", path.display())
        })
        .collect();
    let text = format!("backend = \"sqlite\"\n[router]\nkind = \"pg-hash\"\n{shards}");
    let config = ShardConfig::from_toml(&text, "pg-hash.toml").unwrap();
    let pool = config
        .builder::<diesel::SqliteConnection>()
        .unwrap()
        .build()
        .unwrap();
    let router = diesel_sharding::PgHashRouter::new();
    for key in [-3_i64, 0, 1, 99, 123_456_789] {
        let position = router
            .remainder(diesel_sharding::RoutingKey::Int(key.into()), 4)
            .unwrap();
        assert_eq!(
            pool.shard_for_key(&key).unwrap().as_str(),
            format!("s{position}"),
            "key {key}"
        );
        let why = pool.explain_key(&key).unwrap().to_string();
        assert!(
            why.starts_with(&format!(
                "key {key} (integer) -> pg-hash router (partition hash 0x"
            )) && why.ends_with(&format!(
                " mod 4 = remainder {position}) -> position {position} of 4 -> shard s{position}"
            )),
            "{why}"
        );
    }
    let err = ShardConfig::from_toml(&text.replace("pg-hash", "pghash"), "typo.toml").unwrap_err();
    assert!(
        err.to_string().contains("pg-hash"),
        "the error lists the kinds: {err}"
    );
}
