//! Per-operation code: response enums, handlers, the trait, the router and
//! the OpenAPI document derived from code.

use anyhow::{bail, Context, Result};
use openapiv3::{OpenAPI, Operation, ReferenceOr, SecurityScheme};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::model::{self, Field, Model, ParamLocation, Side, Struct};
use super::types::{field_ident, request_struct, rust_type};
use crate::spec;

/// The name of the generated trait.
const TRAIT: &str = "ContactApi";

/// The security scheme the router knows how to check.
const TOKEN_SCHEME: &str = "tokenAuth";

struct Response {
    status: u16,
    variant: Ident,
    description: String,
    body: Option<Ident>,
}

struct Op<'a> {
    path: &'a str,
    method: &'static str,
    operation_id: String,
    fn_ident: Ident,
    enum_ident: Ident,
    op: &'a Operation,
    secured: bool,
    /// Path parameters, in order; each becomes an argument of the method.
    path_params: Vec<Field>,
    /// Query parameters, gathered in one `<Operation>Query` struct.
    query: Option<(Ident, Struct)>,
    body: Option<(Ident, Vec<String>)>,
    responses: Vec<Response>,
}

fn variant_name(status: u16) -> Result<Ident> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .with_context(|| format!("status {status} has no standard name"))?;
    let pascal: String = reason
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                })
                .unwrap_or_default()
        })
        .collect();
    Ok(Ident::new(&pascal, Span::call_site()))
}

fn body_type(content: &indexmap::IndexMap<String, openapiv3::MediaType>) -> Result<Option<Ident>> {
    let mut names = content.values().filter_map(|media| match &media.schema {
        Some(ReferenceOr::Reference { reference }) => spec::ref_name(reference),
        _ => None,
    });
    let first = names.next();
    if names.any(|other| Some(other) != first) {
        bail!("one body schema per response or request is supported");
    }
    if first.is_none() && !content.is_empty() {
        bail!("request and response bodies must be $refs to component schemas");
    }
    Ok(first.map(|name| Ident::new(name, Span::call_site())))
}

fn collect<'a>(spec: &'a OpenAPI) -> Result<Vec<Op<'a>>> {
    let mut ops = Vec::new();
    for (path, method, op) in spec::operations(spec) {
        let operation_id = op
            .operation_id
            .clone()
            .with_context(|| format!("{method} {path} has no operationId"))?;
        let params = model::params(op).with_context(|| format!("{operation_id}: parameters"))?;
        let pascal = heck::AsUpperCamelCase(&operation_id).to_string();
        let path_params: Vec<Field> = params
            .iter()
            .filter(|p| p.location == ParamLocation::Path)
            .map(|p| p.field.clone())
            .collect();
        let query_fields: Vec<Field> = params
            .into_iter()
            .filter(|p| p.location == ParamLocation::Query)
            .map(|p| p.field)
            .collect();
        let query = (!query_fields.is_empty()).then(|| {
            let name = format!("{pascal}Query");
            let def = Struct {
                name: name.clone(),
                side: Side::Request,
                description: Some(format!("The query parameters of `{operation_id}`.")),
                fields: query_fields,
                extra: None,
            };
            (Ident::new(&name, Span::call_site()), def)
        });
        let security = op.security.as_ref().or(spec.security.as_ref());
        let mut secured = false;
        for requirement in security.into_iter().flatten() {
            for scheme in requirement.keys() {
                if scheme != TOKEN_SCHEME {
                    bail!("{operation_id}: security scheme {scheme} is not supported");
                }
                secured = true;
            }
        }
        let body = match spec::request_body(op) {
            Some(body) => {
                let ty = body_type(&body.content)?
                    .with_context(|| format!("{operation_id}: request body without schema"))?;
                Some((ty, body.content.keys().cloned().collect()))
            }
            None => None,
        };
        let mut responses = Vec::new();
        for (status, response) in spec::responses(op) {
            responses.push(Response {
                status,
                variant: variant_name(status)?,
                description: response.description.clone(),
                body: body_type(&response.content)
                    .with_context(|| format!("{operation_id}: response {status}"))?,
            });
        }
        responses.sort_by_key(|r| r.status);
        let snake = heck::AsSnakeCase(&operation_id).to_string();
        ops.push(Op {
            path,
            method,
            fn_ident: Ident::new(&snake, Span::call_site()),
            enum_ident: format_ident!("{pascal}Response"),
            operation_id,
            op,
            secured,
            path_params,
            query,
            body,
            responses,
        });
    }
    Ok(ops)
}

fn doc_lines(text: &str) -> TokenStream {
    let lines = text
        .trim()
        .lines()
        .map(|line| format!(" {}", line.trim_end()));
    quote!(#(#[doc = #lines])*)
}

fn response_enum(op: &Op) -> TokenStream {
    let name = &op.enum_ident;
    let doc = format!(" The documented responses of `{}`.", op.operation_id);
    let variants = op.responses.iter().map(|r| {
        let variant = &r.variant;
        let doc = if r.description.trim().is_empty() {
            format!(" {}.", r.status)
        } else {
            format!(" {}: {}", r.status, r.description.trim())
        };
        match &r.body {
            Some(body) => quote!(#[doc = #doc] #variant(#body),),
            None => quote!(#[doc = #doc] #variant,),
        }
    });
    let arms = op.responses.iter().map(|r| {
        let variant = &r.variant;
        let status = r.status;
        let code =
            quote!(StatusCode::from_u16(#status).expect("documented status codes are valid"));
        let respond = match &r.body {
            Some(_) => quote!(errors::json_response(#code, &body)),
            None => quote!(#code.into_response()),
        };
        let respond = match status {
            401 => quote!(errors::with_token_challenge(#respond)),
            503 => quote!(errors::with_retry_after(#respond)),
            _ => respond,
        };
        match &r.body {
            Some(_) => quote!(Self::#variant(body) => #respond,),
            None => quote!(Self::#variant => #respond,),
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant, reason = "built once per request and moved into the response")]
        pub enum #name {
            #(#variants)*
        }

        impl IntoResponse for #name {
            fn into_response(self) -> Response {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}

fn path_attr(op: &Op) -> TokenStream {
    let method = Ident::new(op.method, Span::call_site());
    let path = op.path;
    let operation_id = &op.operation_id;
    let mut parts = vec![
        quote!(#method),
        quote!(path = #path),
        quote!(operation_id = #operation_id),
    ];
    if let Some(tag) = op.op.tags.first() {
        parts.push(quote!(tag = #tag));
    }
    if let Some(summary) = &op.op.summary {
        parts.push(quote!(summary = #summary));
    }
    if let Some(description) = &op.op.description {
        parts.push(quote!(description = #description));
    }
    let mut params = Vec::new();
    for field in &op.path_params {
        params.push(param_tuple(field, quote!(Path)));
    }
    if let Some((_, query)) = &op.query {
        for field in &query.fields {
            params.push(param_tuple(field, quote!(Query)));
        }
    }
    if !params.is_empty() {
        parts.push(quote!(params(#(#params),*)));
    }
    if let Some((ty, media_types)) = &op.body {
        let content = media_types.iter().map(|media| quote!((#ty = #media)));
        parts.push(quote!(request_body(content(#(#content),*))));
    }
    let responses = op.responses.iter().map(|r| {
        let status = r.status;
        let description = &r.description;
        match &r.body {
            Some(body) => quote!((status = #status, description = #description, body = #body)),
            None => quote!((status = #status, description = #description)),
        }
    });
    parts.push(quote!(responses(#(#responses),*)));
    if op.secured {
        parts.push(quote!(security((#TOKEN_SCHEME = []))));
    }
    quote!(#[utoipa::path(#(#parts),*)])
}

/// `("name" = Type, Path|Query, description = "...")` for `#[utoipa::path]`.
fn param_tuple(field: &Field, location: TokenStream) -> TokenStream {
    let name = &field.name;
    let value = rust_type(&field.shape);
    let ty = if field.required {
        value
    } else {
        quote!(Option<#value>)
    };
    match &field.description {
        Some(description) => quote!((#name = #ty, #location, description = #description)),
        None => quote!((#name = #ty, #location)),
    }
}

fn handler(op: &Op, trait_ident: &Ident) -> TokenStream {
    let fn_ident = &op.fn_ident;
    let attr = path_attr(op);
    let mut steps = Vec::new();
    let mut args = Vec::new();
    if op.secured {
        steps.push(quote! {
            let principal = match authenticate(api.as_ref(), &headers).await {
                Ok(principal) => principal,
                Err(response) => return response,
            };
        });
        args.push(quote!(principal));
    }
    let mut extractors = Vec::new();
    if !op.path_params.is_empty() {
        extractors.push(quote!(path: axum::extract::RawPathParams,));
        for field in &op.path_params {
            let ident = field_ident(&field.name);
            let name = &field.name;
            let parse = match &field.shape {
                model::Shape::Uuid => quote!(uuid::Uuid::parse_str(&raw).ok()),
                model::Shape::Integer => quote!(raw.parse::<i64>().ok()),
                _ => quote!(Some(raw)),
            };
            // A path segment that does not parse names no resource: 404.
            steps.push(quote! {
                let Some(#ident) = body::path_param(&path, #name).and_then(|raw| #parse) else {
                    return errors::not_found();
                };
            });
            args.push(quote!(#ident));
        }
    }
    if let Some((ty, _)) = &op.query {
        extractors.push(quote!(axum::extract::RawQuery(raw_query): axum::extract::RawQuery,));
        steps.push(quote! {
            let query = match body::query_object(raw_query.as_deref(), #ty::FORM) {
                Ok(object) => object,
                Err(error) => return error.into_response(),
            };
            let query = match #ty::from_object(&query) {
                Ok(query) => query,
                Err(errors) => return errors.into_response(),
            };
        });
        args.push(quote!(query));
    }
    if let Some((ty, _)) = &op.body {
        steps.push(quote! {
            let object = match body::read_object(&headers, request, api.max_body_bytes(), #ty::FORM).await {
                Ok(object) => object,
                Err(error) => return error.into_response(),
            };
            let input = match #ty::from_object(&object) {
                Ok(input) => input,
                Err(errors) => return errors.into_response(),
            };
        });
        args.push(quote!(input));
    }
    let request_arg = if op.body.is_some() {
        quote!(request: Body)
    } else {
        quote!(_request: Body)
    };
    let doc = format!(" `{} {}`.", op.method.to_uppercase(), op.path);
    quote! {
        #[doc = #doc]
        #attr
        pub async fn #fn_ident<A: #trait_ident>(
            State(api): State<Arc<A>>,
            #(#extractors)*
            headers: HeaderMap,
            #request_arg,
        ) -> Response {
            #(#steps)*
            api.#fn_ident(#(#args),*).await.into_response()
        }
    }
}

fn trait_method(op: &Op) -> TokenStream {
    let fn_ident = &op.fn_ident;
    let enum_ident = &op.enum_ident;
    let mut doc = String::new();
    if let Some(summary) = &op.op.summary {
        doc.push_str(summary);
        doc.push_str("\n\n");
    }
    doc.push_str(&format!("`{} {}`", op.method.to_uppercase(), op.path));
    if let Some(description) = &op.op.description {
        doc.push_str("\n\n");
        doc.push_str(description);
    }
    let doc = doc_lines(&doc);
    let mut params = Vec::new();
    if op.secured {
        params.push(quote!(principal: Self::Principal));
    }
    for field in &op.path_params {
        let ident = field_ident(&field.name);
        let ty = rust_type(&field.shape);
        params.push(quote!(#ident: #ty));
    }
    if let Some((ty, _)) = &op.query {
        params.push(quote!(query: #ty));
    }
    if let Some((ty, _)) = &op.body {
        params.push(quote!(body: #ty));
    }
    quote! {
        #doc
        fn #fn_ident(&self, #(#params),*) -> impl std::future::Future<Output = #enum_ident> + Send;
    }
}

fn security_modifier(spec: &OpenAPI) -> Result<TokenStream> {
    let mut adds = Vec::new();
    let schemes = spec
        .components
        .iter()
        .flat_map(|c| c.security_schemes.iter());
    for (name, scheme) in schemes {
        let ReferenceOr::Item(SecurityScheme::APIKey {
            location: openapiv3::APIKeyLocation::Header,
            name: header,
            description,
            ..
        }) = scheme
        else {
            bail!("security scheme {name}: only apiKey in a header is supported");
        };
        let value = match description {
            Some(description) => {
                quote!(utoipa::openapi::security::ApiKeyValue::with_description(#header, #description))
            }
            None => quote!(utoipa::openapi::security::ApiKeyValue::new(#header)),
        };
        adds.push(quote! {
            components.add_security_scheme(
                #name,
                utoipa::openapi::security::SecurityScheme::ApiKey(
                    utoipa::openapi::security::ApiKey::Header(#value),
                ),
            );
        });
    }
    Ok(quote! {
        /// Adds the spec's security schemes to [`ApiDoc`].
        pub struct SecuritySchemes;

        impl utoipa::Modify for SecuritySchemes {
            fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
                let components = openapi.components.get_or_insert_with(Default::default);
                #(#adds)*
            }
        }
    })
}

pub fn generate(spec: &OpenAPI, model: &Model) -> Result<TokenStream> {
    let ops = collect(spec)?;
    let trait_ident = Ident::new(TRAIT, Span::call_site());
    let mut query_structs = Vec::new();
    for op in &ops {
        if let Some((_, def)) = &op.query {
            query_structs.push(request_struct(def, model)?);
        }
    }
    let enums = ops.iter().map(response_enum);
    let handlers = ops.iter().map(|op| handler(op, &trait_ident));
    let methods = ops.iter().map(trait_method);

    let mut paths: Vec<&str> = ops.iter().map(|op| op.path).collect();
    paths.dedup();
    let routes = paths.iter().map(|path| {
        let on_path: Vec<&Op> = ops.iter().filter(|op| op.path == *path).collect();
        let allow = on_path
            .iter()
            .map(|op| op.method.to_uppercase())
            .collect::<Vec<_>>()
            .join(", ");
        let chain = on_path.iter().enumerate().map(|(i, op)| {
            let method = Ident::new(op.method, Span::call_site());
            let fn_ident = &op.fn_ident;
            if i == 0 {
                quote!(axum::routing::#method(handlers::#fn_ident::<A>))
            } else {
                quote!(.#method(handlers::#fn_ident::<A>))
            }
        });
        quote! {
            .route(#path, #(#chain)*.fallback(|method: Method| async move {
                errors::method_not_allowed(method.as_str(), #allow)
            }))
        }
    });

    let path_fns = ops.iter().map(|op| {
        let fn_ident = &op.fn_ident;
        quote!(handlers::#fn_ident)
    });
    let schemas = model
        .structs
        .iter()
        .map(|s| Ident::new(&s.name, Span::call_site()));
    let title = &spec.info.title;
    let version = &spec.info.version;
    let description = spec.info.description.clone().unwrap_or_default();
    let security = security_modifier(spec)?;

    Ok(quote! {
        #(#query_structs)*

        #(#enums)*

        /// The Hilos contact API, one method per operation of the spec.
        ///
        /// [`router`] calls these methods only with an authenticated principal
        /// and a decoded, validated body. A new operation in the spec becomes a
        /// new required method here.
        pub trait #trait_ident: Send + Sync + 'static {
            /// Who a valid token belongs to; handed to every secured operation.
            type Principal: Send + 'static;

            /// Looks up the key of an `Authorization: Token <key>` header.
            /// `Ok(None)` means the key is unknown or revoked.
            fn authenticate(
                &self,
                key: &str,
            ) -> impl std::future::Future<Output = Result<Option<Self::Principal>, crate::ServiceError>> + Send;

            /// The largest request body accepted, in bytes; larger ones get 413.
            fn max_body_bytes(&self) -> usize {
                crate::DEFAULT_MAX_BODY_BYTES
            }

            #(#methods)*
        }

        /// The axum handlers behind [`router`], one per operation.
        pub mod handlers {
            use super::*;

            async fn authenticate<A: #trait_ident>(
                api: &A,
                headers: &HeaderMap,
            ) -> Result<A::Principal, Response> {
                let key = auth::token_key(headers).map_err(auth::AuthFailure::into_response)?;
                match api.authenticate(key).await {
                    Ok(Some(principal)) => Ok(principal),
                    Ok(None) => Err(auth::AuthFailure::InvalidToken.into_response()),
                    Err(error) => Err(error.into_response()),
                }
            }

            #(#handlers)*
        }

        /// Routes every operation of the spec to `api`. No layers are added:
        /// timeouts, tracing and limits are the caller's to choose.
        pub fn router<A: #trait_ident>(api: Arc<A>) -> axum::Router {
            axum::Router::new()
                #(#routes)*
                .fallback(|| async { errors::not_found() })
                .with_state(api)
        }

        #security

        /// The OpenAPI document derived from this code.
        #[derive(utoipa::OpenApi)]
        #[openapi(
            info(title = #title, version = #version, description = #description),
            paths(#(#path_fns),*),
            components(schemas(#(#schemas),*)),
            modifiers(&SecuritySchemes)
        )]
        pub struct ApiDoc;
    })
}
