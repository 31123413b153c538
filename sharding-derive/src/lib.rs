//! `#[derive(ShardedModel)]` for [diesel-sharding](https://docs.rs/diesel-sharding).
//!
//! Use it through the `diesel-sharding` crate, which re-exports it and documents the
//! attribute. The macro is split into phases, one file each: `ast` reads the input
//! and its attributes, `check` applies the rules that span several attributes, and
//! `expand` writes the impls.

mod ast;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Implements `ShardedModel` for a Diesel model and `ShardedTable` for its table.
///
/// Name the shard key on the struct, `#[sharded(key = customer_id)]`, or on the field,
/// `#[shard_key]`. Other options of `#[sharded(...)]`: `table = path` (defaults to the
/// model's `#[diesel(table_name = ...)]`), `crate = path` (defaults to
/// `::diesel_sharding`), `skip_table_impl` for a second model of a table whose
/// `ShardedTable` impl another model already derives, and `encoded_id` when the primary
/// key is a shard-encoding id.
#[proc_macro_derive(ShardedModel, attributes(sharded, shard_key))]
pub fn derive_sharded(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let (model, mut errors) = match ast::Model::from_input(&input) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_compile_error().into(),
    };
    errors.push(check::validate(&model));
    match errors.finish() {
        Ok(()) => expand::derive(&model),
        // Report the mistakes, and still implement what was understood (as thiserror
        // does), so that the user sees these errors and not a cascade behind them.
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(expand::fallback(&model));
            out
        }
    }
    .into()
}
