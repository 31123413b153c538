//! Finding a `LIMIT` or `OFFSET` that would apply on each shard of a fan-out instead of
//! across them.

/// The first top-level `LIMIT` or `OFFSET` keyword of `sql` (outside parentheses,
/// quoted strings and identifiers), if any.
pub(crate) fn top_level_limit(sql: &str) -> Option<&'static str> {
    let bytes = sql.as_bytes();
    let mut depth = 0_usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                // Skip to the closing quote (a doubled quote stays inside).
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            c if depth == 0 && c.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                if word.eq_ignore_ascii_case("LIMIT") {
                    return Some("LIMIT");
                }
                if word.eq_ignore_ascii_case("OFFSET") {
                    return Some("OFFSET");
                }
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                // Inside parentheses: skip the word whole, so `xLIMIT` never matches.
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::top_level_limit;

    #[test]
    fn finds_the_limits_diesel_writes() {
        let pg = r#"SELECT "orders"."id" FROM "orders" ORDER BY "orders"."id" DESC LIMIT $1"#;
        assert_eq!(top_level_limit(pg), Some("LIMIT"));
        let my = "SELECT `orders`.`id` FROM `orders` LIMIT ? OFFSET ?";
        assert_eq!(top_level_limit(my), Some("LIMIT"));
        assert_eq!(top_level_limit("SELECT 1 FROM t offset 3"), Some("OFFSET"));
    }

    #[test]
    fn ignores_limits_inside_subqueries_strings_and_names() {
        let sub =
            r#"SELECT "t"."id" FROM "t" WHERE "t"."id" IN (SELECT "u"."id" FROM "u" LIMIT $1)"#;
        assert_eq!(top_level_limit(sub), None);
        assert_eq!(top_level_limit("SELECT 'LIMIT 5', \"limit\" FROM t"), None);
        assert_eq!(
            top_level_limit("SELECT `offset` FROM t WHERE a = 'it''s LIMIT'"),
            None
        );
        assert_eq!(
            top_level_limit("SELECT limited, offsets, x_limit FROM t"),
            None
        );
        assert_eq!(
            top_level_limit("SELECT \"orders\".\"limit_cents\" FROM \"orders\""),
            None
        );
    }
}
