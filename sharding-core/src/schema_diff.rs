//! Schema drift between shards: what each shard's database holds (tables, columns with
//! their types, indexes, constraints, the latest migration), and where one shard differs
//! from the others.
//!
//! Every shard of a pool should hold the same schema: a migration that failed on one
//! shard, an index added by hand during an incident or a column type changed on one
//! server leaves the shards disagreeing, and queries then behave differently depending on
//! the key. [`ShardedPool::schema_diff`](crate::ShardedPool::schema_diff) reads every shard's schema and reports what
//! differs; the command-line tool's `shards diff` prints the same report and exits with
//! status 1 on drift.
//!
//! ```
//! use diesel::connection::SimpleConnection;
//! use diesel::SqliteConnection;
//! use sharding_core::schema_diff::ObjectKind;
//! use sharding_core::ShardedPool;
//!
//! let dir = tempfile::tempdir()?;
//! let pool = ShardedPool::<SqliteConnection>::builder()
//!     .shard("s0", dir.path().join("s0.db").to_string_lossy())
//!     .shard("s1", dir.path().join("s1.db").to_string_lossy())
//!     .shard("s2", dir.path().join("s2.db").to_string_lossy())
//!     .build()?;
//! for shard in pool.shard_ids() {
//!     pool.connection(shard.as_str())?
//!         .batch_execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, city TEXT NOT NULL)")?;
//! }
//! assert!(pool.schema_diff()?.is_empty());
//!
//! // Someone adds an index on one shard only.
//! pool.connection("s1")?.batch_execute("CREATE INDEX orders_city ON orders (city)")?;
//! let diff = pool.schema_diff()?;
//! assert_eq!(diff.drifts().len(), 1);
//! let drift = &diff.drifts()[0];
//! assert_eq!(drift.shard, "s1");
//! assert_eq!(drift.kind(), Some(ObjectKind::Index));
//! assert!(diff.to_string().contains("index `orders_city` on `orders`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What is compared, per backend:
//!
//! | | PostgreSQL | MySQL / MariaDB | SQLite |
//! |---|---|---|---|
//! | where | the current schema (a logical shard's own) | the current database | the main database file |
//! | tables and views | kind | kind, engine, collation | kind |
//! | columns | type with modifiers, `NOT NULL`, default, identity, generated, collation | `COLUMN_TYPE`, `NOT NULL`, default, extra, collation | declared type, `NOT NULL`, default, primary key |
//! | indexes | `pg_get_indexdef`, schema name left out | uniqueness, type, columns (prefix lengths) | uniqueness, columns, partial |
//! | constraints | `pg_get_constraintdef` | type, columns, references, `CHECK` clause | foreign keys (SQLite cannot list `CHECK`s) |
//! | migration | the latest version in `__diesel_schema_migrations` | same | same |
//!
//! Column order is not compared (Diesel names every column it selects). The
//! `__diesel_schema_migrations` table itself is left out: its latest version is compared
//! instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use diesel::QueryResult;

use crate::events::Operation;
use crate::{executor, Result, ShardBackend, ShardId, ShardedPool};

/// What kind of schema object a [`SchemaObject`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A table or a view; its definition says which.
    Table,
    /// A column of a table or view.
    Column,
    /// An index on a table (primary keys and unique constraints included).
    Index,
    /// A constraint on a table: primary key, unique, foreign key, check.
    Constraint,
}

impl ObjectKind {
    /// The kind as a word: `table`, `column`, `index`, `constraint`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Index => "index",
            ObjectKind::Constraint => "constraint",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [
            ObjectKind::Table,
            ObjectKind::Column,
            ObjectKind::Index,
            ObjectKind::Constraint,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == word)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One table, column, index or constraint of a shard's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemaObject {
    /// What it is.
    pub kind: ObjectKind,
    /// The table it belongs to (a table's own name for a [`ObjectKind::Table`]).
    pub table: String,
    /// Its name (the column's, the index's, the constraint's; the table's own).
    pub name: String,
    /// Its definition as the backend describes it (a column's type and modifiers, an
    /// index's columns, ...): two shards agree on the object when these are equal.
    pub definition: String,
}

impl SchemaObject {
    /// An object of `kind` named `name` on `table`, defined as `definition`.
    ///
    /// ```
    /// use sharding_core::schema_diff::{ObjectKind, SchemaObject};
    ///
    /// let column = SchemaObject::new(ObjectKind::Column, "orders", "city", "text NOT NULL");
    /// assert_eq!(column.to_string(), "column `orders.city`");
    /// ```
    pub fn new(
        kind: ObjectKind,
        table: impl Into<String>,
        name: impl Into<String>,
        definition: impl Into<String>,
    ) -> Self {
        SchemaObject {
            kind,
            table: table.into(),
            name: name.into(),
            definition: definition.into(),
        }
    }
}

/// Names the object as a report does: ``table `orders` ``, ``column `orders.city` ``,
/// ``index `orders_city` on `orders` ``.
impl fmt::Display for SchemaObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, self.kind, &self.table, &self.name)
    }
}

fn describe(f: &mut fmt::Formatter<'_>, kind: ObjectKind, table: &str, name: &str) -> fmt::Result {
    match kind {
        ObjectKind::Table => write!(f, "table `{table}`"),
        ObjectKind::Column => write!(f, "column `{table}.{name}`"),
        ObjectKind::Index | ObjectKind::Constraint => write!(f, "{kind} `{name}` on `{table}`"),
    }
}

/// Where an object sits in a schema: kind, table, name.
type ObjectKey = (String, ObjectKind, String);

/// The schema of one shard, as [`ShardedPool::read_schema`](crate::ShardedPool::read_schema)
/// reads it: its objects and its latest migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardSchema {
    objects: BTreeMap<ObjectKey, String>,
    migration_version: Option<String>,
}

impl ShardSchema {
    /// A schema holding `objects` at `migration_version` (for a third-party backend's
    /// [`ShardBackend::read_schema`]). Of two objects
    /// with the same kind, table and name the last one is kept.
    ///
    /// ```
    /// use sharding_core::schema_diff::{ObjectKind, SchemaObject, ShardSchema};
    ///
    /// let schema = ShardSchema::new(
    ///     [SchemaObject::new(ObjectKind::Table, "orders", "orders", "table")],
    ///     Some("20240101000000".to_owned()),
    /// );
    /// assert_eq!(schema.objects().count(), 1);
    /// assert_eq!(schema.migration_version(), Some("20240101000000"));
    /// ```
    pub fn new(
        objects: impl IntoIterator<Item = SchemaObject>,
        migration_version: Option<String>,
    ) -> Self {
        let objects = objects
            .into_iter()
            .map(|o| ((o.table, o.kind, o.name), o.definition))
            .collect();
        ShardSchema {
            objects,
            migration_version,
        }
    }

    /// The objects, table by table (each table first, then its columns, indexes and
    /// constraints), by name within a kind.
    pub fn objects(&self) -> impl Iterator<Item = SchemaObject> + '_ {
        self.objects
            .iter()
            .map(|((table, kind, name), definition)| {
                SchemaObject::new(*kind, table, name, definition)
            })
    }

    /// The definition of the object of `kind` named `name` on `table`, if the shard has it.
    pub fn definition(&self, kind: ObjectKind, table: &str, name: &str) -> Option<&str> {
        self.objects
            .get(&(table.to_owned(), kind, name.to_owned()))
            .map(String::as_str)
    }

    /// The latest migration applied to the shard, `None` if none was (or the shard has
    /// no `__diesel_schema_migrations` table).
    pub fn migration_version(&self) -> Option<&str> {
        self.migration_version.as_deref()
    }
}

/// What a [`Drift`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// A table, column, index or constraint.
    Object {
        /// What it is.
        kind: ObjectKind,
        /// The table it belongs to.
        table: String,
        /// Its name.
        name: String,
    },
    /// The latest applied migration.
    MigrationVersion,
}

/// One way one shard's schema differs from what most shards hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drift {
    /// The shard that differs.
    pub shard: ShardId,
    /// What differs.
    pub subject: Subject,
    /// What most shards hold: a definition (or migration version), `None` when they do
    /// not have the object (or have no migration).
    pub expected: Option<String>,
    /// What this shard holds, `None` when it does not have the object.
    pub found: Option<String>,
    /// How many shards hold `expected`.
    pub agreeing: usize,
}

impl Drift {
    /// The kind of object that differs, `None` for the migration version.
    pub fn kind(&self) -> Option<ObjectKind> {
        match &self.subject {
            Subject::Object { kind, .. } => Some(*kind),
            Subject::MigrationVersion => None,
        }
    }
}

/// One line: ``shard `s2`: index `orders_city` on `orders` is missing; ...``.
impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (others, have, are) = match self.agreeing {
            1 => ("1 other shard".to_owned(), "has", "is"),
            n => (format!("{n} other shards"), "have", "are"),
        };
        write!(f, "shard `{}`: ", self.shard)?;
        match &self.subject {
            Subject::MigrationVersion => {
                let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                write!(
                    f,
                    "latest migration is {}; {others} {are} at {}",
                    version(&self.found),
                    version(&self.expected)
                )
            }
            Subject::Object { kind, table, name } => {
                describe(f, *kind, table, name)?;
                match (&self.found, &self.expected) {
                    (None, Some(expected)) => {
                        write!(f, " is missing; {others} {have} `{expected}`")
                    }
                    (Some(found), None) => write!(f, " (`{found}`) is not on the {others}"),
                    (Some(found), Some(expected)) => {
                        write!(f, " is `{found}`; {others} {have} `{expected}`")
                    }
                    (None, None) => Ok(()),
                }
            }
        }
    }
}

/// How the schemas of several shards differ: for every object (and the migration
/// version), the shards that do not hold what most shards hold.
///
/// The reference is the majority, so a single odd shard is the one reported, whichever
/// its position; on a tie the shard listed first wins. An object missing because its
/// whole table is missing (or extra) is not reported again: the table is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaDiff {
    shards: usize,
    drifts: Vec<Drift>,
}

impl SchemaDiff {
    /// Compares the schemas of the given shards.
    ///
    /// ```
    /// use sharding_core::schema_diff::{ObjectKind, SchemaDiff, SchemaObject, ShardSchema};
    /// use sharding_core::ShardId;
    ///
    /// let with = |ty: &str| {
    ///     ShardSchema::new(
    ///         [
    ///             SchemaObject::new(ObjectKind::Table, "orders", "orders", "table"),
    ///             SchemaObject::new(ObjectKind::Column, "orders", "amount", ty),
    ///         ],
    ///         None,
    ///     )
    /// };
    /// let ids: Vec<ShardId> = ["s0", "s1", "s2"].map(ShardId::from).to_vec();
    /// let schemas = [with("bigint"), with("integer"), with("bigint")];
    /// let diff = SchemaDiff::between(ids.iter().zip(&schemas));
    /// assert_eq!(
    ///     diff.to_string(),
    ///     "shard `s1`: column `orders.amount` is `integer`; 2 other shards have `bigint`\n"
    /// );
    /// ```
    pub fn between<'a>(shards: impl IntoIterator<Item = (&'a ShardId, &'a ShardSchema)>) -> Self {
        let shards: Vec<(&ShardId, &ShardSchema)> = shards.into_iter().collect();
        let keys: BTreeSet<&ObjectKey> =
            shards.iter().flat_map(|(_, s)| s.objects.keys()).collect();
        let mut drifts = Vec::new();
        // Tables whose presence on a shard is itself a drift: their objects are not
        // reported again on that shard.
        let mut odd_tables: BTreeSet<(usize, &str)> = BTreeSet::new();
        for key in keys {
            let values: Vec<Option<&String>> =
                shards.iter().map(|(_, s)| s.objects.get(key)).collect();
            let (table, kind, name) = key;
            let (expected, agreeing) = majority(&values);
            for (position, value) in values.iter().enumerate() {
                if *value == expected {
                    continue;
                }
                if *kind == ObjectKind::Table && value.is_some() != expected.is_some() {
                    odd_tables.insert((position, table.as_str()));
                } else if odd_tables.contains(&(position, table.as_str())) {
                    continue;
                }
                drifts.push(Drift {
                    shard: shards[position].0.clone(),
                    subject: Subject::Object {
                        kind: *kind,
                        table: table.clone(),
                        name: name.clone(),
                    },
                    expected: expected.cloned(),
                    found: value.cloned(),
                    agreeing,
                });
            }
        }
        let versions: Vec<Option<&String>> = shards
            .iter()
            .map(|(_, s)| s.migration_version.as_ref())
            .collect();
        let (expected, agreeing) = majority(&versions);
        for (position, version) in versions.iter().enumerate() {
            if *version != expected {
                drifts.push(Drift {
                    shard: shards[position].0.clone(),
                    subject: Subject::MigrationVersion,
                    expected: expected.cloned(),
                    found: version.cloned(),
                    agreeing,
                });
            }
        }
        SchemaDiff {
            shards: shards.len(),
            drifts,
        }
    }

    /// Whether every shard holds the same schema.
    pub fn is_empty(&self) -> bool {
        self.drifts.is_empty()
    }

    /// The differences, table by table, then the migration versions.
    pub fn drifts(&self) -> &[Drift] {
        &self.drifts
    }

    /// How many shards were compared.
    pub fn shards_compared(&self) -> usize {
        self.shards
    }
}

/// One drift per line.
impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for drift in &self.drifts {
            writeln!(f, "{drift}")?;
        }
        Ok(())
    }
}

impl<Conn: ShardBackend> ShardedPool<Conn> {
    /// Reads the schema of one shard (its objects and latest migration), read-only.
    ///
    /// Runs under the pool's [default deadline](crate::ShardedPoolBuilder::default_timeout)
    /// when it has one. Fails with the shard's error when it cannot be reached, or when
    /// the backend cannot read schemas.
    pub fn read_schema(&self, shard: &str) -> Result<ShardSchema> {
        let index = self.shard_index(shard)?;
        executor::run_pooled(
            self,
            index,
            Operation::Query,
            |_| None,
            executor::job(|conn| Conn::read_schema(conn)),
        )
    }

    /// Reads every shard's schema and compares them (see the [module docs](self)): what
    /// the command-line tool's `shards diff` reports. Fails on the first shard that
    /// cannot be read; read shards one by one with [`read_schema`](Self::read_schema) and
    /// compare them with [`SchemaDiff::between`] to report on the others too.
    pub fn schema_diff(&self) -> Result<SchemaDiff> {
        let schemas = self
            .shard_ids()
            .iter()
            .map(|shard| self.read_schema(shard.as_str()))
            .collect::<Result<Vec<_>>>()?;
        Ok(SchemaDiff::between(self.shard_ids().iter().zip(&schemas)))
    }
}

/// The value most shards hold and how many hold it; on a tie, the one seen first.
fn majority<'v>(values: &[Option<&'v String>]) -> (Option<&'v String>, usize) {
    let mut best: (Option<&String>, usize) = (None, 0);
    for candidate in values {
        let count = values.iter().filter(|v| *v == candidate).count();
        if count > best.1 {
            best = (*candidate, count);
        }
    }
    best
}

/// The table Diesel records applied migrations in.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// Reads a schema with `queries`, each returning rows of four text columns (table, kind
/// as [`ObjectKind::as_str`], name, definition), then the latest migration version.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn read_with<C>(conn: &mut C, queries: &[&str]) -> QueryResult<ShardSchema>
where
    C: diesel::Connection,
    diesel::expression::SqlLiteral<ObjectRow>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, (String, String, String, String)>,
    diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Text>>:
        for<'a> diesel::query_dsl::LoadQuery<'a, C, Option<String>>,
{
    use diesel::RunQueryDsl;
    let mut objects = Vec::new();
    for query in queries {
        let rows: Vec<(String, String, String, String)> =
            diesel::dsl::sql::<ObjectRow>(query).load(conn)?;
        for (table, kind, name, definition) in rows {
            let kind = ObjectKind::parse(&kind).ok_or_else(|| {
                diesel::result::Error::QueryBuilderError(
                    format!("the schema query returned an unknown kind `{kind}`").into(),
                )
            })?;
            objects.push(SchemaObject::new(kind, table, name, definition));
        }
    }
    let has_migrations = objects
        .iter()
        .any(|o| o.kind == ObjectKind::Table && o.table == MIGRATIONS_TABLE);
    // The decision log of atomic transactions is created on demand, on coordinators only.
    objects.retain(|o| o.table != MIGRATIONS_TABLE && o.table != crate::atomic::DECISIONS_TABLE);
    let migration_version = if has_migrations {
        diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(&format!(
            "SELECT MAX(version) FROM {MIGRATIONS_TABLE}"
        ))
        .get_result(conn)?
    } else {
        None
    };
    Ok(ShardSchema::new(objects, migration_version))
}

/// The SQL type of a row of a schema query.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) type ObjectRow = (
    diesel::sql_types::Text,
    diesel::sql_types::Text,
    diesel::sql_types::Text,
    diesel::sql_types::Text,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ShardId {
        ShardId::from(s)
    }

    fn schema(objects: &[(ObjectKind, &str, &str, &str)], version: Option<&str>) -> ShardSchema {
        ShardSchema::new(
            objects
                .iter()
                .map(|(k, t, n, d)| SchemaObject::new(*k, *t, *n, *d)),
            version.map(str::to_owned),
        )
    }

    const ORDERS: (ObjectKind, &str, &str, &str) = (ObjectKind::Table, "orders", "orders", "table");
    const ID: (ObjectKind, &str, &str, &str) = (ObjectKind::Column, "orders", "id", "bigint");

    #[test]
    fn the_odd_shard_is_reported_wherever_it_sits() {
        let ids = [id("s0"), id("s1"), id("s2"), id("s3")];
        let normal = schema(&[ORDERS, ID], Some("2"));
        let odd = schema(&[ORDERS], Some("1"));
        for odd_at in 0..4 {
            let schemas: Vec<&ShardSchema> = (0..4)
                .map(|i| if i == odd_at { &odd } else { &normal })
                .collect();
            let diff = SchemaDiff::between(ids.iter().zip(schemas));
            assert_eq!(diff.drifts().len(), 2, "{diff}");
            assert!(diff.drifts().iter().all(|d| d.shard == ids[odd_at]));
            assert!(diff.drifts().iter().all(|d| d.agreeing == 3));
            assert_eq!(diff.drifts()[0].found, None);
            assert_eq!(diff.drifts()[0].expected.as_deref(), Some("bigint"));
            assert_eq!(diff.drifts()[1].subject, Subject::MigrationVersion);
        }
    }

    #[test]
    fn a_missing_table_is_one_drift_not_one_per_column() {
        let ids = [id("s0"), id("s1"), id("s2")];
        let full = schema(&[ORDERS, ID], None);
        let empty = schema(&[], None);
        let diff = SchemaDiff::between(ids.iter().zip([&full, &empty, &full]));
        assert_eq!(diff.drifts().len(), 1, "{diff}");
        assert_eq!(
            diff.to_string(),
            "shard `s1`: table `orders` is missing; 2 other shards have `table`\n"
        );
        let diff = SchemaDiff::between(ids.iter().zip([&empty, &full, &empty]));
        assert_eq!(
            diff.to_string(),
            "shard `s1`: table `orders` (`table`) is not on the 2 other shards\n"
        );
    }

    #[test]
    fn identical_shards_and_a_single_shard_have_no_drift() {
        let ids = [id("s0"), id("s1")];
        let a = schema(&[ORDERS, ID], Some("7"));
        assert!(SchemaDiff::between(ids.iter().zip([&a, &a.clone()])).is_empty());
        assert!(SchemaDiff::between(ids.iter().take(1).zip([&a])).is_empty());
    }

    #[test]
    fn on_a_tie_the_first_shard_is_the_reference() {
        let ids = [id("s0"), id("s1")];
        let a = schema(&[ORDERS], Some("1"));
        let b = schema(&[ORDERS], Some("2"));
        let diff = SchemaDiff::between(ids.iter().zip([&a, &b]));
        assert_eq!(
            diff.to_string(),
            "shard `s1`: latest migration is 2; 1 other shard is at 1\n"
        );
    }
}
