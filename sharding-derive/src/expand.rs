//! Code generation: the `ShardedModel` and `ShardedTable` impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Path;

use crate::ast::{Field, KeyRef, Model};

/// The key field the model names, if it names one that exists.
fn key_field<'m, 'a>(model: &'m Model<'a>) -> Option<&'m Field<'a>> {
    model.keys.first().and_then(|key| match key {
        KeyRef::Named(ident) => model.fields.iter().find(|f| f.ident == ident),
        KeyRef::Marked(index, _) => model.fields.get(*index),
    })
}

fn crate_path(model: &Model<'_>) -> Path {
    model
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::diesel_sharding))
}

fn table_path(model: &Model<'_>) -> Path {
    model.table.clone().unwrap_or_else(|| {
        let name = format_ident!("{}s", snake_case(&model.input.ident.to_string()));
        syn::parse_quote!(#name)
    })
}

/// What to emit beside the errors of a model with mistakes: the impls, when the key
/// could still be understood (a mistake elsewhere, such as an unknown option or a second
/// key), so that code using the model does not add "trait not implemented" errors to the
/// real ones. Without a key there is nothing sound to implement.
pub(crate) fn fallback(model: &Model<'_>) -> TokenStream {
    derive(model)
}

/// Writes the impls for a model that passed [`check::validate`](crate::check::validate).
pub(crate) fn derive(model: &Model<'_>) -> TokenStream {
    let Some(field) = key_field(model) else {
        return TokenStream::new();
    };
    let krate = crate_path(model);
    let table = table_path(model);
    let ident = &model.input.ident;
    let field_ident = field.ident;
    let key_ty = field.ty;
    let column = field.column.as_ref().unwrap_or(field.ident);
    // A generic key type must be a shard key: say so in the impl's bounds.
    let mut generics = model.input.generics.clone();
    generics
        .make_where_clause()
        .predicates
        .push(syn::parse_quote!(#key_ty: #krate::ShardKey));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let encoded_id = model.encoded_id.map(|_| {
        quote!(
            const ENCODED_ID: bool = true;
        )
    });
    // A second model of a table (`skip_table_impl`) must use the table's key column, or
    // its rows would be routed by another column and land on the wrong shards.
    let same_key_column = model.skip_table_impl.then(|| {
        // Every token at the key's own token (`key = x` or `#[shard_key]`), where the
        // error belongs.
        let span = model
            .keys
            .first()
            .map_or_else(|| column.span(), KeyRef::span);
        let table = respan(quote!(#table), span);
        let column = respan(quote!(#column), span);
        quote_spanned! {span=>
            const _: fn() = || {
                fn key_column_is<Expected, Given>()
                where
                    Given: #krate::__private::IsKeyColumnOf<Expected>,
                {
                }
                key_column_is::<
                    <#table::table as #krate::ShardedTable>::KeyColumn,
                    #table::#column,
                >();
            };
        }
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
            impl #impl_generics #krate::ShardedModel for #ident #ty_generics #where_clause {
                type Table = #table::table;
                type Key = #key_ty;

                #[inline]
                fn shard_key(&self) -> &Self::Key {
                    &self.#field_ident
                }
            }

            #table_impl
            #same_key_column
        };
    }
}

/// `tokens` with every token (groups' contents included) at `span`.
fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
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
