//! The client crate's generated code, written by progenitor.

use anyhow::Result;
use openapiv3::OpenAPI;
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle};

use crate::codegen::header;
use crate::prepare;

/// Where the client's generated code lives, relative to the project root.
pub const OUTPUT: &str = "crates/hilos-client/src/generated.rs";

/// Generates the client from the spec as written.
pub fn generate(spec: &OpenAPI) -> Result<String> {
    let prepared = prepare::prepare(spec, prepare::CLIENT);
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Positional)
        // The client carries its retry policy, read by its `exec` hook.
        .with_inner_type(quote::quote!(crate::RetryPolicy))
        .with_derive("schemars::JsonSchema")
        .with_derive("PartialEq");
    let mut generator = Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&prepared)
        .map_err(|err| anyhow::anyhow!("progenitor: {err}"))?;
    let body = crate::rust_file::render(tokens)?;
    Ok(format!(
        "{}{}",
        header(&prepare::names(prepare::CLIENT), "progenitor-impl 0.15.1"),
        body
    ))
}
