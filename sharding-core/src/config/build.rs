//! From a checked file to a pool builder: URLs with their placeholders filled in, paths
//! made relative to the file, routers and settings.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::ShardConfig;
use crate::{
    HashRouter, LookupRouter, ModuloRouter, PgHashRouter, RangeRouter, Result, ShardBackend,
    ShardedPool, ShardedPoolBuilder,
};

impl ShardConfig {
    /// Replaces `${NAME}` with the environment variable `NAME`, and `$$` with `$`.
    /// A value that lands in the user name or password of a URL is percent-encoded, so
    /// a password may hold `@`, `/`, `#`, `%` or `:`. Every substituted value is added
    /// to `secrets` (masked in messages).
    pub(super) fn substitute(
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
    pub(super) fn relative_to_file<Conn: ShardBackend>(&self, url: String) -> String {
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
