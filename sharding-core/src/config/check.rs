//! Checks of a parsed file, each error pointing at the offending value.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::ShardConfig;
use crate::Result;

impl ShardConfig {
    /// Checks `[pool]` with the builder's own rules, each error at its value.
    pub(super) fn check_pool(&self) -> Result<()> {
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
    pub(super) fn check(&self) -> Result<()> {
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
    pub(super) fn check_router(
        &self,
        router: &RawRouter,
        kind: &str,
        shards: &[RawShard],
    ) -> Result<()> {
        // `span`: where the field is, if it is there at all.
        let only_for = |span: Option<Range<usize>>, field: &str, for_kind: &str| match span {
            Some(span) if kind != for_kind => Err(self.error(
                span,
                &format!("router.{field}"),
                format!(
                    "`{field}` is for the {for_kind} router, and this router is `{kind}`: \
                     remove it, or set `kind = \"{for_kind}\"`"
                ),
            )),
            _ => Ok(()),
        };
        only_for(router.ranges.as_ref().map(Spanned::span), "ranges", "range")?;
        only_for(
            router.default.as_ref().map(Spanned::span),
            "default",
            "lookup",
        )?;
        only_for(
            router.int_keys.as_ref().map(Spanned::span),
            "int_keys",
            "lookup",
        )?;
        only_for(
            router.text_keys.as_ref().map(Spanned::span),
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
}
