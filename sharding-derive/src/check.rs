//! Rules that relate several attributes: exactly one key, naming a real field.

use crate::ast::{Errors, KeyRef, Model};

/// Checks the model; every violation is reported at its own token.
pub(crate) fn validate(model: &Model<'_>) -> syn::Result<()> {
    let mut errors = Errors::default();
    match model.keys.as_slice() {
        [] => errors.push(Err(syn::Error::new(
            model.input.ident.span(),
            format!(
                "`{}` has no shard key: add `#[sharded(key = field)]` to the struct or \
                 `#[shard_key]` to the key field",
                model.input.ident
            ),
        ))),
        [_first, rest @ ..] => {
            for extra in rest {
                errors.push(Err(syn::Error::new(
                    extra.span(),
                    "a second shard key: a model has exactly one shard key; keep either \
                     `#[sharded(key = ...)]` or one `#[shard_key]`",
                )));
            }
        }
    }
    if let (Some(span), true) = (model.encoded_id, model.skip_table_impl) {
        errors.push(Err(syn::Error::new(
            span,
            "`encoded_id` describes the table, and `skip_table_impl` leaves the table to another \
             model: put `encoded_id` on the model that implements the table",
        )));
    }
    for key in &model.keys {
        if let KeyRef::Named(ident) = key {
            if !model.fields.iter().any(|f| f.ident == ident) {
                let names: Vec<String> = model
                    .fields
                    .iter()
                    .map(|f| format!("`{}`", f.ident))
                    .collect();
                errors.push(Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "`{}` has no field `{ident}`; the key must be one of its fields: {}",
                        model.input.ident,
                        names.join(", ")
                    ),
                )));
            }
        }
    }
    errors.finish()
}
