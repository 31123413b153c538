//! Code generation: the `ShardKeyed` and `ShardedTable` impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Path;

use crate::ast::{KeyRef, Model};

/// Writes the impls for a model that passed [`check::validate`](crate::check::validate).
pub(crate) fn derive(model: &Model<'_>) -> TokenStream {
    let Some(field) = model.keys.first().and_then(|key| match key {
        KeyRef::Named(ident) => model.fields.iter().find(|f| f.ident == ident),
        KeyRef::Marked(index, _) => model.fields.get(*index),
    }) else {
        return TokenStream::new();
    };
    let krate = model
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::diesel_sharding));
    let table: Path = model.table.clone().unwrap_or_else(|| {
        let name = format_ident!("{}s", snake_case(&model.input.ident.to_string()));
        syn::parse_quote!(#name)
    });
    let ident = &model.input.ident;
    let (impl_generics, ty_generics, where_clause) = model.input.generics.split_for_impl();
    let field_ident = field.ident;
    let key_ty = field.ty;
    let column = field.column.as_ref().unwrap_or(field.ident);

    let encoded_id = model.encoded_id.map(|_| {
        quote!(
            const ENCODED_ID: bool = true;
        )
    });
    let table_impl = (!model.skip_table_impl).then(|| {
        quote! {
            #[automatically_derived]
            impl #krate::ShardedTable for #table::table {
                type KeyColumn = #table::#column;
                #encoded_id

                #[inline]
                fn key_column() -> Self::KeyColumn {
                    #table::#column
                }
            }
        }
    });

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::ShardKeyed for #ident #ty_generics #where_clause {
                type Table = #table::table;
                type Key = #key_ty;

                #[inline]
                fn shard_key(&self) -> &Self::Key {
                    &self.#field_ident
                }
            }

            #table_impl
        };
    }
}

/// `NewOrder` → `new_order`, as Diesel infers table names.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
