//! Request and response types.

use anyhow::{bail, Result};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::model::{Field, Model, Shape, Side, Struct, TextFormat};

pub fn generate(model: &Model) -> Result<TokenStream> {
    let mut out = TokenStream::new();
    for def in &model.structs {
        out.extend(match def.side {
            Side::Request => request_struct(def, model)?,
            Side::Response => response_struct(def)?,
        });
    }
    Ok(out)
}

/// A Rust field name for a property.
pub fn field_ident(name: &str) -> Ident {
    let snake = heck::AsSnakeCase(name).to_string();
    match syn::parse_str::<Ident>(&snake) {
        Ok(ident) => ident,
        Err(_) => format_ident!("r#{snake}"),
    }
}

/// The Rust type of a shape, as a value.
pub fn rust_type(shape: &Shape) -> TokenStream {
    match shape {
        Shape::Text(_) => quote!(String),
        Shape::Uuid => quote!(uuid::Uuid),
        Shape::DateTime => quote!(chrono::DateTime<chrono::Utc>),
        Shape::Integer => quote!(i64),
        Shape::Boolean => quote!(bool),
        Shape::FreeObject => quote!(serde_json::Map<String, serde_json::Value>),
        Shape::Any => quote!(serde_json::Value),
        Shape::List(items) => {
            let items = rust_type(items);
            quote!(Vec<#items>)
        }
        Shape::Named(name) => {
            let ident = Ident::new(name, Span::call_site());
            quote!(#ident)
        }
    }
}

/// The type utoipa should describe for a shape.
fn schema_value_type(shape: &Shape) -> TokenStream {
    match shape {
        Shape::FreeObject => quote!(Object),
        Shape::Any => quote!(Value),
        Shape::List(items) => {
            let items = schema_value_type(items);
            quote!(Vec<#items>)
        }
        other => rust_type(other),
    }
}

fn docs(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => {
            let lines = text
                .trim()
                .lines()
                .map(|line| format!(" {}", line.trim_end()));
            quote!(#(#[doc = #lines])*)
        }
        None => TokenStream::new(),
    }
}

/// The `#[schema(...)]` attribute that makes utoipa describe a field exactly
/// as the spec does.
fn schema_attr(field: &Field) -> TokenStream {
    let value_type = schema_value_type(&field.shape);
    let required = field.required;
    let mut parts = vec![
        quote!(value_type = #value_type),
        quote!(required = #required),
    ];
    if field.nullable {
        parts.push(quote!(nullable));
    }
    if field.read_only {
        parts.push(quote!(read_only));
    }
    if let Some(max) = field.max_length {
        let max = proc_macro2::Literal::usize_unsuffixed(max);
        parts.push(quote!(max_length = #max));
    }
    match &field.shape {
        Shape::Text(TextFormat::Email) => parts.push(quote!(format = "email")),
        Shape::Text(TextFormat::Uri) => parts.push(quote!(format = "uri")),
        _ => {}
    }
    match &field.default {
        Some(serde_json::Value::String(text)) => parts.push(quote!(default = #text)),
        Some(serde_json::Value::Bool(flag)) => parts.push(quote!(default = #flag)),
        Some(serde_json::Value::Number(n)) => {
            let n: TokenStream = n
                .to_string()
                .parse()
                .expect("a JSON number is a Rust literal");
            parts.push(quote!(default = #n));
        }
        _ => {}
    }
    quote!(#[schema(#(#parts),*)])
}

fn response_struct(def: &Struct) -> Result<TokenStream> {
    let name = Ident::new(&def.name, Span::call_site());
    let doc = docs(def.description.as_deref());
    let mut fields = Vec::new();
    for field in &def.fields {
        let ident = field_ident(&field.name);
        let rename = &field.name;
        let value = rust_type(&field.shape);
        let doc = docs(field.description.as_deref());
        let schema = schema_attr(field);
        let (ty, serde) = match (field.required, field.nullable) {
            (true, false) => (value, quote!()),
            // Upstream always sends nullable fields, as `null` when empty.
            (_, true) => (quote!(Option<#value>), quote!(#[serde(default)])),
            (false, false) => (
                quote!(Option<#value>),
                quote!(#[serde(default, skip_serializing_if = "Option::is_none")]),
            ),
        };
        fields.push(quote! {
            #doc
            #[serde(rename = #rename)]
            #serde
            #schema
            pub #ident: #ty,
        });
    }
    if let Some(extra) = &def.extra {
        let value = rust_type(extra);
        let value_type = schema_value_type(extra);
        fields.push(quote! {
            /// Every other property.
            #[serde(flatten)]
            #[schema(additional_properties, value_type = std::collections::BTreeMap<String, #value_type>)]
            pub extra: std::collections::BTreeMap<String, #value>,
        });
    }
    Ok(quote! {
        #doc
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
        pub struct #name {
            #(#fields)*
        }
    })
}

fn form_kind(field: &Field, model: &Model) -> Result<TokenStream> {
    Ok(match &field.shape {
        Shape::Text(_) | Shape::Uuid | Shape::DateTime => quote!(FormKind::Text),
        Shape::Integer => quote!(FormKind::Integer),
        Shape::Boolean => quote!(FormKind::Boolean),
        Shape::FreeObject => quote!(FormKind::Map),
        Shape::List(items) => match items.as_ref() {
            Shape::Integer => quote!(FormKind::IntegerList),
            Shape::Text(_) | Shape::Uuid | Shape::DateTime => quote!(FormKind::TextList),
            Shape::Named(name) => {
                let Some(item) = model.get(name) else {
                    bail!("{} refers to unknown schema {name}", field.name);
                };
                let [only] = item.fields.as_slice() else {
                    bail!(
                        "{}: a form body can carry a list of objects only when they have one property",
                        field.name
                    );
                };
                let property = &only.name;
                quote!(FormKind::ObjectList(#property))
            }
            other => bail!(
                "{}: lists of {other:?} are not supported in forms",
                field.name
            ),
        },
        other => bail!(
            "{}: {other:?} is not supported in request bodies",
            field.name
        ),
    })
}

/// The expression that checks one value of `shape`.
fn checker(shape: &Shape, field: &Field) -> Result<TokenStream> {
    Ok(match shape {
        Shape::Text(format) => {
            let max = match field.max_length {
                Some(max) => quote!(Some(#max)),
                None => quote!(None),
            };
            let format = match format {
                TextFormat::Plain => quote!(TextFormat::Plain),
                TextFormat::Email => quote!(TextFormat::Email),
                TextFormat::Uri => quote!(TextFormat::Uri),
            };
            let allow_blank = field.allow_blank;
            quote!(|v| fields::text(v, TextRules { max_length: #max, format: #format, allow_blank: #allow_blank }))
        }
        Shape::Uuid => quote!(fields::uuid),
        Shape::DateTime => quote!(fields::date_time),
        Shape::Integer => quote!(fields::integer),
        Shape::Boolean => quote!(fields::boolean),
        Shape::FreeObject => quote!(fields::object),
        Shape::List(items) => match items.as_ref() {
            Shape::Named(name) => {
                let ident = Ident::new(name, Span::call_site());
                quote!(|v| fields::object_list(v, #ident::from_object))
            }
            other => {
                let item = checker(other, field)?;
                quote!(|v| fields::list(v, #item))
            }
        },
        other => bail!(
            "{}: {other:?} is not supported in request bodies",
            field.name
        ),
    })
}

pub(super) fn request_struct(def: &Struct, model: &Model) -> Result<TokenStream> {
    if def.extra.is_some() {
        bail!(
            "{}: additionalProperties on a request body is not supported",
            def.name
        );
    }
    let name = Ident::new(&def.name, Span::call_site());
    let doc = docs(def.description.as_deref());
    let mut fields = Vec::new();
    let mut form = Vec::new();
    let mut reads = Vec::new();
    let mut unwraps = Vec::new();
    let mut inits = Vec::new();
    let mut defaults = Vec::new();
    for field in &def.fields {
        let ident = field_ident(&field.name);
        let property = &field.name;
        let value = rust_type(&field.shape);
        let check = checker(&field.shape, field)?;
        let (ty, read) = match (field.required, field.nullable) {
            (false, true) => (
                quote!(Patch<#value>),
                quote!(fields::nullable(object, #property, &mut errors, #check)),
            ),
            (false, false) => (
                quote!(Option<#value>),
                quote!(fields::optional(object, #property, &mut errors, #check)),
            ),
            (true, nullable) => {
                let read = if nullable {
                    quote!(match object.get(#property) {
                        Some(serde_json::Value::Null) => Some(None),
                        _ => fields::required(object, #property, &mut errors, #check).map(Some),
                    })
                } else {
                    quote!(fields::required(object, #property, &mut errors, #check))
                };
                unwraps.push(quote! {
                    let Some(#ident) = #ident else { return Err(errors) };
                });
                let ty = if nullable {
                    quote!(Option<#value>)
                } else {
                    value.clone()
                };
                (ty, read)
            }
        };
        let doc = docs(field.description.as_deref());
        let schema = schema_attr(field);
        fields.push(quote! {
            #doc
            #schema
            pub #ident: #ty,
        });
        reads.push(quote!(let #ident = #read;));
        inits.push(quote!(#ident));
        let kind = form_kind(field, model)?;
        let nullable = field.nullable;
        form.push(quote!(FormField { name: #property, kind: #kind, nullable: #nullable }));
        if let Some(default) = &field.default {
            defaults.push(default_accessor(field, default)?);
        }
    }
    let derive_default = if def.fields.iter().all(|f| !f.required) {
        quote!(Default,)
    } else {
        quote!()
    };
    Ok(quote! {
        #doc
        #[derive(Debug, Clone, PartialEq, #derive_default utoipa::ToSchema)]
        pub struct #name {
            #(#fields)*
        }

        impl #name {
            /// How each property is written in form-urlencoded and multipart bodies.
            pub const FORM: &'static [FormField] = &[#(#form),*];

            /// Checks every property of a decoded body, reporting all failures together.
            pub fn from_object(
                object: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, FieldErrors> {
                let mut errors = FieldErrors::new();
                #(#reads)*
                if !errors.is_empty() {
                    return Err(errors);
                }
                #(#unwraps)*
                Ok(Self { #(#inits),* })
            }

            #(#defaults)*
        }
    })
}

/// `source_or_default()`: the spec's default, which applies on create only.
fn default_accessor(field: &Field, default: &serde_json::Value) -> Result<TokenStream> {
    let ident = field_ident(&field.name);
    let method = format_ident!("{}_or_default", ident.to_string().trim_start_matches("r#"));
    let doc = format!(
        " `{}` as sent, or the spec's default `{default}` when absent.",
        field.name
    );
    Ok(match (&field.shape, default) {
        (Shape::Text(_), serde_json::Value::String(text)) => quote! {
            #[doc = #doc]
            pub fn #method(&self) -> String {
                self.#ident.clone().unwrap_or_else(|| #text.to_owned())
            }
        },
        (Shape::Boolean, serde_json::Value::Bool(flag)) => quote! {
            #[doc = #doc]
            pub fn #method(&self) -> bool {
                self.#ident.unwrap_or(#flag)
            }
        },
        (Shape::Integer, serde_json::Value::Number(n)) if n.is_i64() => {
            let n = n.as_i64().unwrap_or_default();
            quote! {
                #[doc = #doc]
                pub fn #method(&self) -> i64 {
                    self.#ident.unwrap_or(#n)
                }
            }
        }
        (shape, value) => bail!("{}: unsupported default {value} for {shape:?}", field.name),
    })
}
