//! Keyset pagination across shards: [`Keyset`], made by [`FanOut::keyset`].

use diesel::dsl::{Asc, Desc, Filter, Gt, Lt, Order};
use diesel::expression::AsExpression;
use diesel::query_dsl::methods::{FilterDsl, OrderDsl};
use diesel::sql_types::SqlType;
use diesel::{Expression, ExpressionMethods};

use super::{FailurePolicy, FanOut, Merged};

/// The per-shard query of a [`Keyset::first_page`]: the query ordered by the key column.
pub type FirstPageQuery<Q, Col> = Order<Q, Asc<Col>>;

/// The per-shard query of a [`Keyset::after`]: `WHERE column > last`, ordered by it.
pub type AfterKeyQuery<Q, Col, K> = Order<Filter<Q, Gt<Col, K>>, Asc<Col>>;

/// The per-shard query of a [`KeysetDesc::first_page`]: ordered by the key column,
/// greatest first.
pub type FirstPageDescQuery<Q, Col> = Order<Q, Desc<Col>>;

/// The per-shard query of a [`KeysetDesc::after`]: `WHERE column < last`, greatest first.
pub type AfterKeyDescQuery<Q, Col, K> = Order<Filter<Q, Lt<Col, K>>, Desc<Col>>;

/// A fan-out paged by a unique, ordered key column, resumable from the last key seen.
/// See [`FanOut::keyset`].
#[derive(Debug)]
#[must_use = "pick a page with `.first_page(n)` or `.after(last_key, n)`"]
pub struct Keyset<Q, P, Col, F> {
    fan_out: FanOut<Q, P>,
    column: Col,
    key: F,
}

impl<Q, P: FailurePolicy> FanOut<Q, P> {
    /// Keyset pagination across shards: pages of the rows of every shard ordered by
    /// `column` (ascending), which must be unique across shards (a primary key made by
    /// [`ShardEncodedIds`](crate::ids::ShardEncodedIds) or [`BlockIds`](crate::ids::BlockIds), say);
    /// `key` reads that column's value from a loaded row.
    ///
    /// [`first_page(n)`](Keyset::first_page) asks every shard for its first `n` rows by
    /// `column`; [`after(last, n)`](Keyset::after) adds `WHERE column > last` on every
    /// shard. Each shard returns at most `n` rows, merged into the `n` first overall, so
    /// page 1,000 costs what page 1 costs (an `OFFSET` would make every shard read and
    /// skip all the rows before it). Pass the last row's key to `after` for the next page;
    /// a page shorter than `n` is the last. Any `ORDER BY` or `LIMIT` of the query is
    /// replaced. [`descending()`](Keyset::descending) pages greatest key first.
    ///
    /// ```
    /// use diesel::prelude::*;
    /// use diesel::SqliteConnection;
    /// use sharding_core::{ShardPinDsl, ShardedPool};
    ///
    /// diesel::table! { orders (id) { id -> BigInt, } }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pool = ShardedPool::<SqliteConnection>::builder()
    ///     .shard("s0", dir.path().join("s0.db").to_string_lossy())
    ///     .shard("s1", dir.path().join("s1.db").to_string_lossy())
    ///     .build()?;
    /// for (shard, ids) in [("s0", "(1), (4), (5)"), ("s1", "(2), (3), (6)")] {
    ///     let mut conn = pool.connection(shard)?;
    ///     diesel::sql_query("CREATE TABLE orders (id BIGINT PRIMARY KEY)").execute(&mut conn)?;
    ///     diesel::sql_query(format!("INSERT INTO orders VALUES {ids}")).execute(&mut conn)?;
    /// }
    /// let pages = || orders::table.select(orders::id).all_shards().keyset(orders::id, |id: &i64| *id);
    /// let first: Vec<i64> = pages().first_page(4).load(&pool)?.into_iter().map(|r| r.into_inner()).collect();
    /// assert_eq!(first, [1, 2, 3, 4]);
    /// let next: Vec<i64> = pages().after(4_i64, 4).load(&pool)?.into_iter().map(|r| r.into_inner()).collect();
    /// assert_eq!(next, [5, 6]); // shorter than 4: the last page
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keyset<Col, F>(self, column: Col, key: F) -> Keyset<Q, P, Col, F> {
        Keyset {
            fan_out: self,
            column,
            key,
        }
    }
}

impl<Q, P: FailurePolicy, Col, F> Keyset<Q, P, Col, F>
where
    Col: Expression + ExpressionMethods + Copy,
{
    /// The first `size` rows by the key column, across all shards.
    pub fn first_page(self, size: u32) -> Merged<FirstPageQuery<Q, Col>, P, F>
    where
        Q: OrderDsl<Asc<Col>>,
    {
        let column = self.column;
        Merged::first(
            self.fan_out.map_query(|q| q.order(column.asc())),
            self.key,
            size,
            false,
        )
    }

    /// The `size` rows after the key `last` (the key of the last row of the previous
    /// page), across all shards.
    pub fn after<K>(self, last: K, size: u32) -> Merged<AfterKeyQuery<Q, Col, K>, P, F>
    where
        Col::SqlType: SqlType,
        K: AsExpression<Col::SqlType>,
        Q: FilterDsl<Gt<Col, K>>,
        Filter<Q, Gt<Col, K>>: OrderDsl<Asc<Col>>,
    {
        let column = self.column;
        let fan_out = self
            .fan_out
            .map_query(|q| q.filter(column.gt(last)).order(column.asc()));
        Merged::first(fan_out, self.key, size, false)
    }

    /// The same pages, greatest key first: `ORDER BY column DESC`, and `after(last, n)`
    /// adds `WHERE column < last`.
    pub fn descending(self) -> KeysetDesc<Q, P, Col, F> {
        KeysetDesc(self)
    }
}

/// A [`Keyset`] paged greatest key first. Made by [`Keyset::descending`].
#[derive(Debug)]
#[must_use = "pick a page with `.first_page(n)` or `.after(last_key, n)`"]
pub struct KeysetDesc<Q, P, Col, F>(Keyset<Q, P, Col, F>);

impl<Q, P: FailurePolicy, Col, F> KeysetDesc<Q, P, Col, F>
where
    Col: Expression + ExpressionMethods + Copy,
{
    /// The `size` rows with the greatest keys, across all shards.
    pub fn first_page(self, size: u32) -> Merged<FirstPageDescQuery<Q, Col>, P, F>
    where
        Q: OrderDsl<Desc<Col>>,
    {
        let Keyset {
            fan_out,
            column,
            key,
        } = self.0;
        Merged::first(
            fan_out.map_query(|q| q.order(column.desc())),
            key,
            size,
            true,
        )
    }

    /// The `size` rows below the key `last` (the key of the last row of the previous
    /// page), greatest first, across all shards.
    pub fn after<K>(self, last: K, size: u32) -> Merged<AfterKeyDescQuery<Q, Col, K>, P, F>
    where
        Col::SqlType: SqlType,
        K: AsExpression<Col::SqlType>,
        Q: FilterDsl<Lt<Col, K>>,
        Filter<Q, Lt<Col, K>>: OrderDsl<Desc<Col>>,
    {
        let Keyset {
            fan_out,
            column,
            key,
        } = self.0;
        let fan_out = fan_out.map_query(|q| q.filter(column.lt(last)).order(column.desc()));
        Merged::first(fan_out, key, size, true)
    }
}
