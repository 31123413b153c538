//! Shard configuration files (TOML): [`ShardConfig`].
//!
//! `raw` is the file format, `check` the checks of a parsed file, `build` the way from a
//! file to a pool builder, `text` positions and secrets in the file's text.

mod build;
mod check;
mod raw;
mod text;

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::ids::IdLayout;
use crate::{Error, Result, ShardBackend, ShardedPool};

use raw::*;
use text::{key_on_line, line_column, redactor_for_text};

/// A parsed shard configuration file, for [`ShardedPool::from_config`] and the
/// `diesel-sharding` command-line tool. The format:
///
///
/// ```toml
/// backend = "postgres"                 # sqlite | postgres | mysql
/// migrations = "migrations"            # for the CLI; relative to this file
///
/// [pool]                               # optional; defaults as in ShardedPoolBuilder
/// max_size = 10
/// min_idle = 1
/// connection_timeout_ms = 30000
/// test_on_check_out = false
/// default_timeout_ms = 5000            # every call's deadline unless it sets its own
/// worker_threads = 16                  # threads for fan-outs and deadlines
/// server_statement_limits = true       # also send deadlines as session statement limits
///
/// [router]                             # optional; default: kind = "hash"
/// kind = "range"                       # hash | pg-hash | modulo | range | lookup
/// ranges = [ { start = 0, end = 1000, shard = "s0" }, { start = 1000, shard = "s1" } ]
/// # lookup: default = "s0", int_keys = { 42 = "s1" }, text_keys = { acme = "s1" }
///
/// [[shared_pools]]                     # a pool several logical shards share
/// name = "main"
/// url = "postgres://app:${PG_PASSWORD}@db1/app"
///
/// [[shards]]                           # a physical shard
/// id = "s0"
/// url = "postgres://app:${PG_PASSWORD}@db2/app"
///
/// [[shards]]                           # a logical shard: a schema on a shared pool
/// id = "s1"
/// pool = "main"
/// namespace = "shard_1"
/// ```
///
/// `${NAME}` in a URL is replaced by the environment variable `NAME` (`$$` is a `$`), so
/// no password needs to live in the file. Relative SQLite paths and the `migrations`
/// directory are taken from the file's directory. Every mistake is reported with the
/// file, line, column and key.
///
/// ```
/// use diesel::SqliteConnection;
/// use sharding_core::ShardConfig;
///
/// let dir = tempfile::tempdir()?;
/// let text = format!(
///     "backend = \"sqlite\"\n[[shards]]\nid = \"s0\"\nurl = \"{}/s0.db\"\n",
///     dir.path().display()
/// );
/// let config = ShardConfig::from_toml(&text, "inline.toml")?;
/// assert_eq!(config.backend(), "sqlite");
/// let pool = config.builder::<SqliteConnection>()?.build()?;
/// assert_eq!(pool.shard_ids().len(), 1);
///
/// let err = ShardConfig::from_toml("backend = \"sqlite\"\nshards = 3\n", "bad.toml").unwrap_err();
/// assert!(err.to_string().starts_with("bad.toml:2:"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardConfig {
    origin: String,
    text: String,
    base_dir: PathBuf,
    raw: RawConfig,
}

/// Shows the file's origin, backend and shard ids only: never its URLs, which may hold
/// passwords.
impl std::fmt::Debug for ShardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardConfig")
            .field("origin", &self.origin)
            .field("backend", &self.backend())
            .field("shards", &self.shard_ids())
            .finish_non_exhaustive()
    }
}

impl ShardConfig {
    /// Reads and parses the file at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<ShardConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            origin: path.display().to_string(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        let mut config = ShardConfig::from_toml(&text, &path.display().to_string())?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Parses configuration text; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<ShardConfig> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_column(text, span.start));
            Error::Config {
                origin: origin.to_owned(),
                line,
                column,
                key: key_on_line(text, line),
                message: redactor_for_text(text).redact(e.message().trim()),
            }
        })?;
        let config = ShardConfig {
            origin: origin.to_owned(),
            text: text.to_owned(),
            base_dir: PathBuf::new(),
            raw,
        };
        config.check()?;
        Ok(config)
    }

    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> Error {
        let (line, column) = line_column(&self.text, span.start);
        Error::Config {
            origin: self.origin.clone(),
            line,
            column,
            key: key.to_owned(),
            message: redactor_for_text(&self.text).redact(&message.into()),
        }
    }

    /// The backend the file names: `sqlite`, `postgres` or `mysql`.
    pub fn backend(&self) -> &str {
        self.raw.backend.get_ref()
    }

    /// The migrations directory the file names (relative paths are taken from the
    /// file's directory), if any.
    pub fn migrations_dir(&self) -> Option<PathBuf> {
        self.raw
            .migrations
            .as_ref()
            .map(|dir| self.base_dir.join(dir))
    }

    /// The shard ids, in file order.
    pub fn shard_ids(&self) -> Vec<&str> {
        self.shards()
            .iter()
            .map(|s| s.id.get_ref().as_str())
            .collect()
    }

    /// The `[[shards]]` tables (`check` proved there is at least one).
    fn shards(&self) -> &[RawShard] {
        self.raw
            .shards
            .as_ref()
            .map_or(&[], |s| s.get_ref().as_slice())
    }

    /// For a SQLite file, each shard's database file (with `${VAR}` substituted, relative
    /// paths taken from the file's directory), by shard id; empty for server backends
    /// and for SQLite URIs that are not plain paths. Tools use it to check shards without
    /// creating missing files, as opening one would.
    pub fn database_files(&self) -> Result<Vec<(String, PathBuf)>> {
        if self.backend() != "sqlite" {
            return Ok(Vec::new());
        }
        let mut files = Vec::new();
        for (i, shard) in self.shards().iter().enumerate() {
            let Some(url) = &shard.url else { continue };
            let key = format!("shards[{i}].url");
            let path = self.substitute(url, &key, &mut Vec::new())?;
            let path = path.strip_prefix("sqlite://").unwrap_or(&path).to_owned();
            if path.starts_with("file:") || path.starts_with(':') {
                continue;
            }
            let path = PathBuf::from(path);
            let path = if path.is_relative() {
                self.base_dir.join(path)
            } else {
                path
            };
            files.push((shard.id.get_ref().clone(), path));
        }
        Ok(files)
    }

    /// The id layout of `[ids]`, if the file has one.
    pub fn id_layout(&self) -> Result<Option<IdLayout>> {
        self.raw
            .ids
            .as_ref()
            .map(|ids| {
                IdLayout::new(
                    ids.timestamp_bits,
                    ids.bucket_bits,
                    ids.worker_bits,
                    ids.sequence_bits,
                    ids.epoch_ms.unwrap_or(crate::ids::DEFAULT_EPOCH_MS),
                )
            })
            .transpose()
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Builds a pool from a configuration file. See [`ShardConfig`] for the format.
    pub fn from_config(path: impl AsRef<Path>) -> Result<Self> {
        ShardConfig::from_path(path)?.builder::<Conn>()?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        ShardConfig::from_toml(text, "t.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e = err("backend = \"sqlite\"\n\n[[shards]]\nid = \"s0\"\nurl = 5\n");
        assert!(e.starts_with("t.toml:5:7: url: invalid type"), "{e}");
        let e = err("backend = \"oracle\"\n[[shards]]\nid = \"s0\"\nurl = \"x\"\n");
        assert!(e.starts_with("t.toml:1:11: backend:"), "{e}");
        let e = err("backend = \"sqlite\"\n[[shards]]\nid = \"s0\"\nurl = \"a\"\n[[shards]]\nid = \"s0\"\nurl = \"b\"\n");
        assert!(
            e.starts_with("t.toml:6:6: shards[1].id:") && e.contains("twice"),
            "{e}"
        );
        let e = err(
            "backend = \"postgres\"\n[[shards]]\nid = \"s0\"\npool = \"nope\"\nnamespace = \"a\"\n",
        );
        assert!(
            e.contains("shards[0].pool") && e.contains("[[shared_pools]]"),
            "{e}"
        );
        let e = err("backend = \"sqlite\"\nsharts = []\n[[shards]]\nid = \"s0\"\nurl = \"x\"\n");
        assert!(e.starts_with("t.toml:2:") && e.contains("sharts"), "{e}");
        let e = err("backend = \"postgres\"\n[[shared_pools]]\nname = \"m\"\nurl = \"postgres://x/y\"\n[[shards]]\nid = \"s0\"\npool = \"m\"\nnamespace = \"x; DROP TABLE t\"\n");
        assert!(e.contains("shards[0].namespace"), "{e}");
    }

    #[test]
    fn environment_variables_are_substituted() {
        let config = ShardConfig::from_toml(
            "backend = \"sqlite\"\n[[shards]]\nid = \"s0\"\nurl = \"${DS_TEST_NO_SUCH_VAR}/x.db\"\n",
            "t.toml",
        )
        .unwrap();
        let e = config
            .builder::<diesel::SqliteConnection>()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml:4:7: shards[0].url:") && e.contains("DS_TEST_NO_SUCH_VAR"),
            "{e}"
        );
        let path = std::env::var("PATH").unwrap();
        let config = ShardConfig::from_toml(
            "backend = \"sqlite\"\n[[shards]]\nid = \"s0\"\nurl = \"$$${PATH}\"\n",
            "t.toml",
        )
        .unwrap();
        let value = config
            .substitute(
                &config.shards()[0].url.clone().unwrap(),
                "k",
                &mut Vec::new(),
            )
            .unwrap();
        assert_eq!(value, format!("${path}"));
    }

    #[test]
    fn a_router_field_of_another_kind_is_an_error_at_that_field() {
        let shard = "[[shards]]\nid = \"s0\"\nurl = \"x\"\n";
        let e = err(&format!(
            "backend = \"sqlite\"\n{shard}[router]\nkind = \"modulo\"\ndefault = \"s0\"\n"
        ));
        assert!(
            e.starts_with("t.toml:7:11: router.default:")
                && e.contains("`default` is for the lookup router, and this router is `modulo`"),
            "{e}"
        );
        // On the kind it belongs to, the same field is accepted.
        ShardConfig::from_toml(
            &format!(
                "backend = \"sqlite\"\n{shard}[router]\nkind = \"lookup\"\ndefault = \"s0\"\n"
            ),
            "t.toml",
        )
        .unwrap();
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
