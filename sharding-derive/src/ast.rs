//! The derive input as a model: the struct, its fields and the parsed attributes, each
//! with the span of the token it came from.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Path, Type};

/// The options of the derive, before the rules that relate them are checked.
pub(crate) struct Model<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) fields: Vec<Field<'a>>,
    /// Every place that names the key: `#[sharded(key = x)]` on the struct and
    /// `#[shard_key]` on fields.
    pub(crate) keys: Vec<KeyRef>,
    /// `#[sharded(table = ...)]`, else `#[diesel(table_name = ...)]`.
    pub(crate) table: Option<Path>,
    pub(crate) krate: Option<Path>,
    pub(crate) skip_table_impl: bool,
    /// `encoded_id`, with its span: the primary key is a shard-encoding id.
    pub(crate) encoded_id: Option<Span>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// `#[diesel(column_name = ...)]`, if any.
    pub(crate) column: Option<Ident>,
}

/// A place that names the shard key.
pub(crate) enum KeyRef {
    /// `#[sharded(key = ident)]`: the field by name.
    Named(Ident),
    /// `#[shard_key]` on the field at this index; the span is the attribute's.
    Marked(usize, Span),
}

impl KeyRef {
    pub(crate) fn span(&self) -> Span {
        match self {
            KeyRef::Named(ident) => ident.span(),
            KeyRef::Marked(_, span) => *span,
        }
    }
}

const OPTIONS: &str =
    "`key = field`, `table = path`, `crate = path`, `skip_table_impl`, `encoded_id`";
const HELP: &str = "help: the correct format looks like `#[sharded(key = customer_id)]`";

impl<'a> Model<'a> {
    /// Reads the input. An input that is not a struct with named fields is an error;
    /// otherwise the model is read as far as it can be, and every attribute mistake is
    /// collected in the returned [`Errors`], so that the caller can both report them
    /// and still emit impls for what was understood (no cascade of "trait not
    /// implemented" errors behind one typo).
    pub(crate) fn from_input(input: &'a DeriveInput) -> syn::Result<(Self, Errors)> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(fields) => {
                    return Err(syn::Error::new(
                        fields.span(),
                        "#[derive(ShardedModel)] needs a struct with named fields: a tuple struct \
                         has no field name for the shard key; name the fields",
                    ))
                }
                Fields::Unit => return Err(syn::Error::new(
                    input.ident.span(),
                    "#[derive(ShardedModel)] needs a struct with named fields, one of them the \
                         shard key; a unit struct has none",
                )),
            },
            Data::Enum(data) => {
                return Err(syn::Error::new(
                    data.enum_token.span,
                    "#[derive(ShardedModel)] works on structs only: a Diesel model is a struct \
                     with one field per column",
                ))
            }
            Data::Union(data) => {
                return Err(syn::Error::new(
                    data.union_token.span,
                    "#[derive(ShardedModel)] works on structs only: a Diesel model is a struct \
                     with one field per column",
                ))
            }
        };

        let mut errors = Errors::default();
        let mut model = Model {
            input,
            fields: Vec::new(),
            keys: Vec::new(),
            table: None,
            krate: None,
            skip_table_impl: false,
            encoded_id: None,
        };
        let mut diesel_table = None;

        for attr in &input.attrs {
            if attr.path().is_ident("sharded") {
                errors.push(model.parse_struct_attr(attr));
            } else if attr.path().is_ident("shard_key") {
                errors.push(Err(syn::Error::new(
                    attr.span(),
                    "#[shard_key] goes on the key field, not on the struct; on the struct \
                     write `#[sharded(key = field)]`",
                )));
            } else if attr.path().is_ident("diesel") {
                diesel_table = diesel_table.or(diesel_option(attr, "table_name"));
            }
        }

        for (index, field) in named.named.iter().enumerate() {
            let Some(ident) = field.ident.as_ref() else {
                continue;
            };
            let mut column = None;
            for attr in &field.attrs {
                if attr.path().is_ident("shard_key") {
                    match attr.meta.require_path_only() {
                        Ok(path) => model.keys.push(KeyRef::Marked(index, path.span())),
                        Err(_) => errors.push(Err(syn::Error::new(
                            attr.meta.span(),
                            "#[shard_key] takes no arguments: write `#[shard_key]` on the key field",
                        ))),
                    }
                } else if attr.path().is_ident("sharded") {
                    errors.push(Err(syn::Error::new(
                        attr.span(),
                        "#[sharded(...)] goes on the struct; to mark this field as the key write \
                         `#[shard_key]`",
                    )));
                } else if attr.path().is_ident("diesel") && column.is_none() {
                    match diesel_column_name(attr) {
                        Ok(found) => column = found,
                        Err(e) => errors.push(Err(e)),
                    }
                }
            }
            model.fields.push(Field {
                ident,
                ty: &field.ty,
                column,
            });
        }

        if model.table.is_none() {
            model.table = diesel_table;
        }
        Ok((model, errors))
    }

    fn parse_struct_attr(&mut self, attr: &Attribute) -> syn::Result<()> {
        let mut errors = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
                return Err(
                    meta.error(format!("unknown option; expected one of {OPTIONS}\n{HELP}"))
                );
            };
            match name.as_str() {
                "key" => {
                    let ident: Ident = meta.value()?.parse()?;
                    self.keys.push(KeyRef::Named(ident));
                }
                "table" => {
                    let path: Path = meta.value()?.parse()?;
                    if self.table.replace(path).is_some() {
                        errors.push(Err(meta.error("`table` is given twice: keep one")));
                    }
                }
                "crate" => {
                    let path: Path = meta.value()?.parse()?;
                    if self.krate.replace(path).is_some() {
                        errors.push(Err(meta.error("`crate` is given twice: keep one")));
                    }
                }
                "encoded_id" => {
                    if self.encoded_id.replace(meta.path.span()).is_some() {
                        errors.push(Err(meta.error("`encoded_id` is given twice: keep one")));
                    }
                }
                "skip_table_impl" => {
                    if self.skip_table_impl {
                        errors.push(Err(meta.error("`skip_table_impl` is given twice: keep one")));
                    }
                    self.skip_table_impl = true;
                }
                other => {
                    errors.push(Err(meta.error(format!(
                        "unknown option `{other}`; expected one of {OPTIONS}\n{HELP}"
                    ))));
                    // Skip a value so that parsing can go on to the next option.
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(mut e) = parsed {
            e = syn::Error::new(e.span(), format!("{e}\n{HELP}"));
            errors.push(Err(e));
        }
        errors.finish()
    }
}

/// Reads `name = path` from `#[diesel(...)]`, ignoring everything else in it (Diesel's
/// own derives report their mistakes).
fn diesel_option(attr: &Attribute, name: &str) -> Option<Path> {
    let mut found = None;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(name) {
            found = Some(meta.value()?.parse::<Path>()?);
            Ok(())
        } else {
            skip_option(&meta)
        }
    });
    found
}

/// Skips the value of a `#[diesel(...)]` option this derive does not read.
fn skip_option(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

/// Reads `column_name = ident` or `column_name = "name"` from `#[diesel(...)]` (Diesel
/// accepts both). A string that is not an identifier is an error at the string.
fn diesel_column_name(attr: &Attribute) -> syn::Result<Option<Ident>> {
    let mut found = None;
    let mut error = None;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("column_name") {
            let value = meta.value()?;
            if value.peek(syn::LitStr) {
                let lit: syn::LitStr = value.parse()?;
                match syn::parse_str::<Ident>(&lit.value()) {
                    Ok(mut ident) => {
                        ident.set_span(lit.span());
                        found = Some(ident);
                    }
                    Err(_) if syn::parse_str::<Ident>(&format!("r#{}", lit.value())).is_ok() => {
                        found = Some(Ident::new_raw(&lit.value(), lit.span()));
                    }
                    Err(_) => {
                        error = Some(syn::Error::new(
                            lit.span(),
                            format!(
                                "`{}` is not a Rust identifier, so it cannot name a column of \
                                 `table!`: use the column's name in `table!` here (and \
                                 `#[sql_name = ...]` in `table!` for the SQL name)",
                                lit.value()
                            ),
                        ));
                    }
                }
            } else {
                found = Some(value.parse::<Ident>()?);
            }
            Ok(())
        } else {
            skip_option(&meta)
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Collects errors so that the user sees every mistake in one build.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, result: syn::Result<()>) {
        if let Err(e) = result {
            match &mut self.0 {
                Some(all) => all.combine(e),
                None => self.0 = Some(e),
            }
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
