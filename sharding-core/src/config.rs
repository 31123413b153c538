//! Shard configuration files (TOML).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::{
    Error, HashRouter, IdLayout, LookupRouter, ModuloRouter, PgHashRouter, RangeRouter, Result,
    ShardBackend, ShardedPool, ShardedPoolBuilder,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    backend: Spanned<String>,
    migrations: Option<String>,
    #[serde(default)]
    pool: RawPool,
    router: Option<RawRouter>,
    #[serde(default)]
    shared_pools: Vec<RawSharedPool>,
    shards: Option<Spanned<Vec<RawShard>>>,
    ids: Option<RawIds>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    max_size: Option<Spanned<u32>>,
    min_idle: Option<Spanned<u32>>,
    connection_timeout_ms: Option<Spanned<u64>>,
    test_on_check_out: Option<bool>,
    idle_timeout_ms: Option<Spanned<u64>>,
    max_lifetime_ms: Option<Spanned<u64>>,
    insert_batch_rows: Option<Spanned<usize>>,
    default_timeout_ms: Option<Spanned<u64>>,
    worker_threads: Option<Spanned<usize>>,
    server_statement_limits: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    kind: Spanned<String>,
    ranges: Option<Spanned<Vec<Spanned<RawRange>>>>,
    default: Option<Spanned<String>>,
    int_keys: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    text_keys: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    start: Option<i64>,
    end: Option<i64>,
    shard: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSharedPool {
    name: Spanned<String>,
    url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    id: Spanned<String>,
    url: Option<Spanned<String>>,
    pool: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIds {
    timestamp_bits: u8,
    bucket_bits: u8,
    worker_bits: u8,
    sequence_bits: u8,
    epoch_ms: Option<u64>,
}

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

    /// Checks `[pool]` with the builder's own rules, each error at its value.
    fn check_pool(&self) -> Result<()> {
        let pool = &self.raw.pool;
        let at = |value_span: Range<usize>, key: &str| {
            let key = format!("pool.{key}");
            move |reason: String| self.error(value_span, &key, format!("it {reason}"))
        };
        let max_size = pool.max_size.as_ref().map_or(10, |v| *v.get_ref());
        if let Some(v) = &pool.max_size {
            crate::builder::check_max_size(*v.get_ref()).map_err(at(v.span(), "max_size"))?;
        }
        if let Some(v) = &pool.min_idle {
            crate::builder::check_min_idle(Some(*v.get_ref()), max_size)
                .map_err(at(v.span(), "min_idle"))?;
        }
        for (value, key, zero_means) in [
            (
                &pool.connection_timeout_ms,
                "connection_timeout_ms",
                "give the time a checkout may wait",
            ),
            (
                &pool.idle_timeout_ms,
                "idle_timeout_ms",
                "leave the key out for the default",
            ),
            (
                &pool.max_lifetime_ms,
                "max_lifetime_ms",
                "leave the key out for the default",
            ),
            (
                &pool.default_timeout_ms,
                "default_timeout_ms",
                "leave the key out for no deadline",
            ),
        ] {
            if let Some(v) = value {
                crate::builder::check_time_limit(Duration::from_millis(*v.get_ref()), zero_means)
                    .map_err(at(v.span(), key))?;
            }
        }
        if let Some(v) = &pool.worker_threads {
            crate::builder::check_worker_threads(*v.get_ref())
                .map_err(at(v.span(), "worker_threads"))?;
        }
        if let Some(v) = &pool.insert_batch_rows {
            if *v.get_ref() == 0 {
                return Err(self.error(
                    v.span(),
                    "pool.insert_batch_rows",
                    "it must be at least 1 row per INSERT",
                ));
            }
        }
        Ok(())
    }

    /// Checks what needs no backend: backend name, shard ids, pool references, router.
    fn check(&self) -> Result<()> {
        self.check_pool()?;
        let backend = &self.raw.backend;
        if !matches!(backend.get_ref().as_str(), "sqlite" | "postgres" | "mysql") {
            return Err(self.error(
                backend.span(),
                "backend",
                format!(
                    "unknown backend `{}`: use sqlite, postgres or mysql",
                    backend.get_ref()
                ),
            ));
        }
        let shards = match &self.raw.shards {
            Some(shards) if !shards.get_ref().is_empty() => shards.get_ref(),
            Some(empty) => {
                return Err(self.error(
                    empty.span(),
                    "shards",
                    "no shards: add at least one [[shards]] table",
                ))
            }
            None => {
                return Err(self.error(
                    self.text.len()..self.text.len(),
                    "shards",
                    "no shards: add at least one [[shards]] table (at the end of the file)",
                ))
            }
        };
        let pools: Vec<&str> = self
            .raw
            .shared_pools
            .iter()
            .map(|p| p.name.get_ref().as_str())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (i, shard) in shards.iter().enumerate() {
            let key = |k: &str| format!("shards[{i}].{k}");
            let id = shard.id.get_ref();
            if let Some(reason) = crate::ShardId::from(id.as_str()).invalid_reason() {
                return Err(self.error(shard.id.span(), &key("id"), reason));
            }
            if !seen.insert(id.as_str()) {
                return Err(self.error(
                    shard.id.span(),
                    &key("id"),
                    format!("shard id `{id}` is used twice: give every shard its own id"),
                ));
            }
            match (&shard.url, &shard.pool, &shard.namespace) {
                (Some(_), None, None) => {}
                (None, Some(pool), Some(namespace)) => {
                    if !pools.contains(&pool.get_ref().as_str()) {
                        return Err(self.error(
                            pool.span(),
                            &key("pool"),
                            format!(
                                "no shared pool is named `{}`: declare it in a [[shared_pools]] table",
                                pool.get_ref()
                            ),
                        ));
                    }
                    if let Some(reason) = crate::backend::invalid_namespace(namespace.get_ref()) {
                        return Err(self.error(
                            namespace.span(),
                            &key("namespace"),
                            format!(
                                "{:?} cannot name a schema or database because {reason}",
                                namespace.get_ref()
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(self.error(
                        shard.id.span(),
                        &format!("shards[{i}]"),
                        "give a shard either `url` (its own database) or both `pool` and \
                         `namespace` (a schema or database on a shared pool)",
                    ))
                }
            }
        }
        if let Some(router) = &self.raw.router {
            let kind = router.kind.get_ref().as_str();
            if !matches!(kind, "hash" | "pg-hash" | "modulo" | "range" | "lookup") {
                return Err(self.error(
                    router.kind.span(),
                    "router.kind",
                    format!("unknown router `{kind}`: use hash, pg-hash, modulo, range or lookup"),
                ));
            }
            self.check_router(router, kind, shards)?;
        }
        Ok(())
    }

    /// Checks the router's fields against its kind and the shards, each error at its value.
    fn check_router(&self, router: &RawRouter, kind: &str, shards: &[RawShard]) -> Result<()> {
        let only_for = |present: bool, span: Range<usize>, field: &str, for_kind: &str| {
            if present && kind != for_kind {
                Err(self.error(
                    span,
                    &format!("router.{field}"),
                    format!(
                        "`{field}` is for the {for_kind} router, and this router is `{kind}`: \
                         remove it, or set `kind = \"{for_kind}\"`"
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let span_of = |v: Option<Range<usize>>| v.unwrap_or(0..0);
        only_for(
            router.ranges.is_some(),
            span_of(router.ranges.as_ref().map(Spanned::span)),
            "ranges",
            "range",
        )?;
        only_for(
            router.default.is_some(),
            span_of(router.default.as_ref().map(Spanned::span)),
            "default",
            "lookup",
        )?;
        only_for(
            router.int_keys.is_some(),
            span_of(router.int_keys.as_ref().map(Spanned::span)),
            "int_keys",
            "lookup",
        )?;
        only_for(
            router.text_keys.is_some(),
            span_of(router.text_keys.as_ref().map(Spanned::span)),
            "text_keys",
            "lookup",
        )?;
        let known = |shard: &Spanned<String>, key: &str| {
            if shards.iter().any(|s| s.id.get_ref() == shard.get_ref()) {
                Ok(())
            } else {
                Err(self.error(
                    shard.span(),
                    key,
                    format!(
                        "no shard has the id `{}`: use the `id` of one of the [[shards]]",
                        shard.get_ref()
                    ),
                ))
            }
        };
        if kind == "range" {
            let Some(ranges) = router.ranges.as_ref().filter(|r| !r.get_ref().is_empty()) else {
                return Err(self.error(
                    router.kind.span(),
                    "router.ranges",
                    "a range router needs `ranges`: [ { start = 0, end = 1000, shard = \"s0\" }, ... ]",
                ));
            };
            let mut bounds = Vec::new();
            for (i, range) in ranges.get_ref().iter().enumerate() {
                let r = range.get_ref();
                known(&r.shard, &format!("router.ranges[{i}].shard"))?;
                let (start, end) = (r.start.unwrap_or(i64::MIN), r.end.unwrap_or(i64::MAX));
                if start >= end {
                    return Err(self.error(
                        range.span(),
                        &format!("router.ranges[{i}]"),
                        format!("the range is empty ({start}..{end}): `start` must be below `end`"),
                    ));
                }
                bounds.push((start, end, i, range.span()));
            }
            bounds.sort_by_key(|(start, end, i, _)| (*start, *end, *i));
            for pair in bounds.windows(2) {
                let ((_, end_a, a, _), (start_b, _, b, span_b)) = (&pair[0], &pair[1]);
                if start_b < end_a {
                    return Err(self.error(
                        span_b.clone(),
                        &format!("router.ranges[{b}]"),
                        format!(
                            "it overlaps `router.ranges[{a}]` at key {start_b}: every key must \
                             have one owner"
                        ),
                    ));
                }
            }
        }
        if kind == "lookup" {
            for (name, shard) in router.int_keys.iter().flat_map(|m| m.get_ref()) {
                if name.get_ref().parse::<i64>().is_err() {
                    return Err(self.error(
                        name.span(),
                        "router.int_keys",
                        format!(
                            "`{}` is not an integer: put text keys in `text_keys`",
                            name.get_ref()
                        ),
                    ));
                }
                known(shard, &format!("router.int_keys.{}", name.get_ref()))?;
            }
            for (name, shard) in router.text_keys.iter().flat_map(|m| m.get_ref()) {
                known(shard, &format!("router.text_keys.{}", name.get_ref()))?;
            }
            if let Some(default) = &router.default {
                known(default, "router.default")?;
            }
        }
        Ok(())
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
                    ids.epoch_ms.unwrap_or(crate::DEFAULT_EPOCH_MS),
                )
            })
            .transpose()
    }

    /// Replaces `${NAME}` with the environment variable `NAME`, and `$$` with `$`.
    /// A value that lands in the user name or password of a URL is percent-encoded, so
    /// a password may hold `@`, `/`, `#`, `%` or `:`. Every substituted value is added
    /// to `secrets` (masked in messages).
    fn substitute(
        &self,
        value: &Spanned<String>,
        key: &str,
        secrets: &mut Vec<String>,
    ) -> Result<String> {
        let text = value.get_ref();
        let userinfo = userinfo_range(text);
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find('$') {
            let offset = text.len() - rest.len() + at;
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
            } else if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = after.find('}') else {
                    return Err(self.error(value.span(), key, "`${` without a closing `}`"));
                };
                let name = &after[..end];
                let found = std::env::var(name).map_err(|_| {
                    self.error(
                        value.span(),
                        key,
                        format!("the environment variable `{name}` is not set"),
                    )
                })?;
                if userinfo.contains(&offset) {
                    out.push_str(&crate::redact::percent_encode_userinfo(&found));
                } else {
                    out.push_str(&found);
                }
                secrets.push(found);
                rest = &after[end + 1..];
            } else {
                out.push('$');
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// SQLite paths are taken from the file's directory, like `migrations`.
    fn relative_to_file<Conn: ShardBackend>(&self, url: String) -> String {
        let is_plain_path =
            !url.starts_with("file:") && !url.contains("://") && !url.starts_with(':');
        if Conn::NAME == "sqlite" && is_plain_path && Path::new(&url).is_relative() {
            self.base_dir.join(url).to_string_lossy().into_owned()
        } else {
            url
        }
    }

    /// A pool builder with everything the file says, for backend `Conn` (which must be
    /// the file's `backend`). Further settings can be chained before `build()`.
    pub fn builder<Conn: ShardBackend>(&self) -> Result<ShardedPoolBuilder<Conn>> {
        if self.backend() != Conn::NAME {
            return Err(self.error(
                self.raw.backend.span(),
                "backend",
                format!(
                    "the file is for `{}`, but this pool is for `{}`",
                    self.backend(),
                    Conn::NAME
                ),
            ));
        }
        let mut builder = ShardedPool::<Conn>::builder();
        let pool = &self.raw.pool;
        let millis = |v: &Spanned<u64>| Duration::from_millis(*v.get_ref());
        if let Some(n) = &pool.max_size {
            builder = builder.max_size(*n.get_ref());
        }
        if let Some(n) = &pool.min_idle {
            builder = builder.min_idle(Some(*n.get_ref()));
        }
        if let Some(ms) = &pool.connection_timeout_ms {
            builder = builder.connection_timeout(millis(ms));
        }
        if let Some(test) = pool.test_on_check_out {
            builder = builder.test_on_check_out(test);
        }
        if let Some(ms) = &pool.idle_timeout_ms {
            builder = builder.idle_timeout(Some(millis(ms)));
        }
        if let Some(ms) = &pool.max_lifetime_ms {
            builder = builder.max_lifetime(Some(millis(ms)));
        }
        if let Some(rows) = &pool.insert_batch_rows {
            builder = builder.insert_batch_rows(*rows.get_ref());
        }
        if let Some(ms) = &pool.default_timeout_ms {
            builder = builder.default_timeout(millis(ms));
        }
        if let Some(threads) = &pool.worker_threads {
            builder = builder.worker_threads(*threads.get_ref());
        }
        if let Some(on) = pool.server_statement_limits {
            builder = builder.server_statement_limits(on);
        }
        let mut secrets = Vec::new();
        for (i, shared) in self.raw.shared_pools.iter().enumerate() {
            let key = format!("shared_pools[{i}].url");
            let url = self.substitute(&shared.url, &key, &mut secrets)?;
            Conn::check_url(&url).map_err(|m| self.error(shared.url.span(), &key, m))?;
            builder = builder.shared_pool(shared.name.get_ref().as_str(), url);
        }
        for (i, shard) in self.shards().iter().enumerate() {
            let id = shard.id.get_ref().as_str();
            builder = match (&shard.url, &shard.pool, &shard.namespace) {
                (Some(url_value), _, _) => {
                    let key = format!("shards[{i}].url");
                    let url = self.relative_to_file::<Conn>(self.substitute(
                        url_value,
                        &key,
                        &mut secrets,
                    )?);
                    Conn::check_url(&url).map_err(|m| self.error(url_value.span(), &key, m))?;
                    builder.shard(id, url)
                }
                (None, Some(pool), Some(namespace)) => {
                    builder.logical_shard(id, pool.get_ref().as_str(), namespace.get_ref().as_str())
                }
                _ => builder,
            };
        }
        if let Some(router) = &self.raw.router {
            builder = match router.kind.get_ref().as_str() {
                "modulo" => builder.router(ModuloRouter::new()),
                "pg-hash" => builder.router(PgHashRouter::new()),
                "range" => builder.router(
                    router
                        .ranges
                        .iter()
                        .flat_map(|r| r.get_ref())
                        .map(Spanned::get_ref)
                        .fold(RangeRouter::new(), |r, range| {
                            r.range(
                                range.start.unwrap_or(i64::MIN)..range.end.unwrap_or(i64::MAX),
                                range.shard.get_ref().as_str(),
                            )
                        }),
                ),
                "lookup" => {
                    let mut lookup = LookupRouter::new();
                    for (k, shard) in router.int_keys.iter().flat_map(|m| m.get_ref()) {
                        // `check` proved every key an integer.
                        let k = k.get_ref().parse::<i64>().unwrap_or_default();
                        lookup = lookup.key(k, shard.get_ref().as_str());
                    }
                    for (k, shard) in router.text_keys.iter().flat_map(|m| m.get_ref()) {
                        lookup = lookup.key(k.get_ref().as_str(), shard.get_ref().as_str());
                    }
                    if let Some(default) = &router.default {
                        lookup = lookup.default_shard(default.get_ref().as_str());
                    }
                    builder.router(lookup)
                }
                _ => builder.router(HashRouter::new()),
            };
        }
        if let Some(layout) = self.id_layout()? {
            builder = builder.encoded_ids(layout);
        }
        // Short values (a port, a host name) are not worth masking everywhere; values in
        // a URL's password are masked whatever their length, as part of the password.
        for secret in secrets.iter().filter(|s| s.chars().count() >= 4) {
            builder = builder.secret(secret);
        }
        Ok(builder)
    }
}

/// A redactor for every URL-like secret in a file's text.
fn redactor_for_text(text: &str) -> crate::redact::Redactor {
    let mut redactor = crate::redact::Redactor::default();
    for token in text.split(['"', '\'', '\n']) {
        redactor.add_url(token);
    }
    redactor
}

/// The byte range of a URL template's user name and password (`user:pw` in
/// `scheme://user:pw@host/...`), empty when it has none.
fn userinfo_range(template: &str) -> Range<usize> {
    let Some(scheme_end) = template.find("://") else {
        return 0..0;
    };
    let start = scheme_end + 3;
    let authority = template[start..]
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    match authority.rfind('@') {
        Some(at) => start..start + at,
        None => 0..0,
    }
}

/// The key assigned on 1-based `line` (`url` for `url = 7`), or nothing.
fn key_on_line(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| key.trim().to_owned())
        .filter(|key| !key.is_empty() && !key.starts_with('['))
        .unwrap_or_default()
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
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
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
