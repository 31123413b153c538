//! The traits `#[derive(ShardedModel)]` implements: which column is a table's shard key, and
//! how to read the key of a row.

use diesel::associations::HasTable;
use diesel::{Column, Table};

pub use crate::insert_batch::InsertBatch;
use crate::ShardKey;

/// A Diesel table split across shards by one key column.
///
/// `#[derive(ShardedModel)]` implements it for the model's table. By hand:
///
/// ```
/// diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
///
/// impl sharding_core::ShardedTable for orders::table {
///     type KeyColumn = orders::customer_id;
///     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sharded table: no shard-key column is declared for it",
    label = "no `ShardedTable` impl",
    note = "`#[derive(ShardedModel)]` on a model of the table declares it; or implement \
            `ShardedTable` naming the key column; to run on a shard you name, use \
            `.set_shard(id)` instead of routing by key"
)]
pub trait ShardedTable: Table + HasTable<Table = Self> + Copy {
    /// The shard-key column.
    type KeyColumn: Column<Table = Self> + Copy + Default;

    /// Whether the primary key is an id made by [`ShardEncodedIds`](crate::ids::ShardEncodedIds),
    /// so that [`find_anywhere`](crate::FindAnywhereDsl::find_anywhere) reads the owning
    /// shard from the id instead of asking every shard. `#[sharded(encoded_id)]` sets it.
    /// Defaults to `false`.
    const ENCODED_ID: bool = false;

    /// The shard-key column, as a value.
    fn key_column() -> Self::KeyColumn;
}

/// A row type (a Diesel model) that knows its shard key.
///
/// `#[derive(ShardedModel)]` implements it. By hand:
///
/// ```
/// diesel::table! { orders (id) { id -> BigInt, customer_id -> BigInt, } }
/// # impl sharding_core::ShardedTable for orders::table {
/// #     type KeyColumn = orders::customer_id;
/// #     fn key_column() -> Self::KeyColumn { orders::customer_id }
/// # }
///
/// struct NewOrder { id: i64, customer_id: i64 }
///
/// impl sharding_core::ShardedModel for NewOrder {
///     type Table = orders::table;
///     type Key = i64;
///     fn shard_key(&self) -> &i64 { &self.customer_id }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no shard key, so it cannot be routed to a shard",
    label = "no `ShardedModel` impl",
    note = "derive it: `#[derive(ShardedModel)]` with `#[sharded(key = field)]` (or `#[shard_key]` \
            on the field) beside `#[derive(Insertable)]`; or implement `ShardedModel`"
)]
pub trait ShardedModel {
    /// The table the row belongs to.
    type Table: ShardedTable;
    /// The Rust type of the key field.
    type Key: ShardKey + ?Sized;

    /// The row's shard key.
    fn shard_key(&self) -> &Self::Key;
}

impl<M: ShardedModel + ?Sized> ShardedModel for &M {
    type Table = M::Table;
    type Key = M::Key;

    fn shard_key(&self) -> &Self::Key {
        (**self).shard_key()
    }
}

/// The table of a [`ShardedModel`] row type.
pub type TableOf<Row> = <Row as ShardedModel>::Table;
