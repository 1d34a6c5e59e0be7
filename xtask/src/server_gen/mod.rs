//! The server-trait crate's generated code, written by xtask's own generator.
//!
//! From the prepared spec it writes, into one file:
//! - a type per component schema: request types that keep absent, `null` and
//!   set apart and check every field, and plain response types;
//! - per operation, a response enum holding only the documented statuses, and
//!   an axum handler that authenticates, decodes and validates before calling
//!   the trait;
//! - the `ContactApi` trait, `router()`, and `ApiDoc`, the OpenAPI document
//!   derived from the code by utoipa.

mod model;
mod operations;
mod types;

use anyhow::Result;
use openapiv3::OpenAPI;
use proc_macro2::TokenStream;
use quote::quote;

use crate::codegen::header;
use crate::prepare;

/// Where the server-trait crate's generated code lives.
pub const OUTPUT: &str = "crates/hilos-api/src/generated.rs";

/// Generates the server-trait code from the spec as written.
pub fn generate(spec: &OpenAPI) -> Result<String> {
    let prepared = prepare::prepare(spec, prepare::SERVER);
    let tokens = tokens(&prepared)?;
    let body = crate::rust_file::render(tokens)?;
    Ok(format!(
        "{}{}",
        header(&prepare::names(prepare::SERVER), "xtask server_gen"),
        body
    ))
}

fn tokens(spec: &OpenAPI) -> Result<TokenStream> {
    let model = model::Model::build(spec)?;
    let types = types::generate(&model)?;
    let operations = operations::generate(spec, &model)?;
    Ok(quote! {
        use std::sync::Arc;

        use axum::body::Body;
        use axum::extract::State;
        use axum::http::{HeaderMap, Method, StatusCode};
        use axum::response::{IntoResponse, Response};
        use serde::{Deserialize, Serialize};

        #[allow(unused_imports)]
        use crate::runtime::{auth, body, errors, fields};
        #[allow(unused_imports)]
        use crate::runtime::body::{FormField, FormKind};
        #[allow(unused_imports)]
        use crate::runtime::errors::FieldErrors;
        #[allow(unused_imports)]
        use crate::runtime::fields::{TextFormat, TextRules};
        #[allow(unused_imports)]
        use crate::Patch;

        #types
        #operations
    })
}
