//! Loading the OpenAPI document and walking its schema references.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use openapiv3::{
    AdditionalProperties, OpenAPI, Operation, ReferenceOr, RequestBody, Response, Schema,
    SchemaKind, Type,
};

/// The contract, relative to the project root.
pub const SPEC_PATH: &str = "openapi/hilos.yaml";

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// Parses an OpenAPI 3.0 document from YAML.
pub fn load(path: &Path) -> Result<OpenAPI> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Parses an OpenAPI 3.0 document from YAML text.
pub fn parse(text: &str) -> Result<OpenAPI> {
    Ok(yaml_serde::from_str(text)?)
}

/// The component name of a `#/components/schemas/...` reference.
pub fn ref_name(reference: &str) -> Option<&str> {
    reference.strip_prefix(SCHEMA_PREFIX)
}

/// A reference to the named component schema.
pub fn schema_ref(name: &str) -> String {
    format!("{SCHEMA_PREFIX}{name}")
}

/// Every operation with its path and lowercase method, in document order.
pub fn operations(spec: &OpenAPI) -> Vec<(&str, &'static str, &Operation)> {
    let mut out = Vec::new();
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (method, op) in item.iter() {
            out.push((path.as_str(), static_method(method), op));
        }
    }
    out
}

fn static_method(method: &str) -> &'static str {
    match method {
        "get" => "get",
        "put" => "put",
        "post" => "post",
        "delete" => "delete",
        "options" => "options",
        "head" => "head",
        "patch" => "patch",
        _ => "trace",
    }
}

/// Mutable access to every operation.
pub fn operations_mut(spec: &mut OpenAPI) -> impl Iterator<Item = &mut Operation> {
    spec.paths
        .paths
        .values_mut()
        .filter_map(|item| match item {
            ReferenceOr::Item(item) => Some(item),
            ReferenceOr::Reference { .. } => None,
        })
        .flat_map(|item| {
            [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
        })
}

/// The request body of an operation, when given inline.
pub fn request_body(op: &Operation) -> Option<&RequestBody> {
    match op.request_body.as_ref()? {
        ReferenceOr::Item(body) => Some(body),
        ReferenceOr::Reference { .. } => None,
    }
}

/// Responses of an operation that are given inline, with their status code.
pub fn responses(op: &Operation) -> Vec<(u16, &Response)> {
    op.responses
        .responses
        .iter()
        .filter_map(|(status, response)| match (status, response) {
            (openapiv3::StatusCode::Code(code), ReferenceOr::Item(r)) => Some((*code, r)),
            _ => None,
        })
        .collect()
}

/// Calls `f` on every schema reference directly inside `schema`.
pub fn for_each_ref_mut(schema: &mut Schema, f: &mut dyn FnMut(&mut String)) {
    let visit = |item: &mut ReferenceOr<Box<Schema>>, f: &mut dyn FnMut(&mut String)| match item {
        ReferenceOr::Reference { reference } => f(reference),
        ReferenceOr::Item(inner) => for_each_ref_mut(inner, f),
    };
    match &mut schema.schema_kind {
        SchemaKind::Type(Type::Object(object)) => {
            for property in object.properties.values_mut() {
                visit(property, f);
            }
            if let Some(AdditionalProperties::Schema(extra)) = &mut object.additional_properties {
                visit_unboxed(extra, f);
            }
        }
        SchemaKind::Type(Type::Array(array)) => {
            if let Some(items) = &mut array.items {
                visit(items, f);
            }
        }
        SchemaKind::OneOf { one_of: list }
        | SchemaKind::AllOf { all_of: list }
        | SchemaKind::AnyOf { any_of: list } => {
            for item in list {
                visit_unboxed(item, f);
            }
        }
        SchemaKind::Not { not } => visit_unboxed(not, f),
        SchemaKind::Type(_) | SchemaKind::Any(_) => {}
    }
}

fn visit_unboxed(item: &mut ReferenceOr<Schema>, f: &mut dyn FnMut(&mut String)) {
    match item {
        ReferenceOr::Reference { reference } => f(reference),
        ReferenceOr::Item(inner) => for_each_ref_mut(inner, f),
    }
}

/// The component schemas named by references directly inside `schema`.
pub fn refs_in(schema: &Schema) -> BTreeSet<String> {
    let mut copy = schema.clone();
    let mut names = BTreeSet::new();
    for_each_ref_mut(&mut copy, &mut |reference| {
        if let Some(name) = ref_name(reference) {
            names.insert(name.to_owned());
        }
    });
    names
}

/// The component schemas, by name.
pub fn component_schemas(spec: &OpenAPI) -> BTreeMap<String, Schema> {
    spec.components
        .iter()
        .flat_map(|c| c.schemas.iter())
        .filter_map(|(name, schema)| match schema {
            ReferenceOr::Item(schema) => Some((name.clone(), schema.clone())),
            ReferenceOr::Reference { .. } => None,
        })
        .collect()
}

/// `roots` and every component schema reachable from them.
pub fn reachable(spec: &OpenAPI, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let schemas = component_schemas(spec);
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            todo.extend(refs_in(schema));
        }
    }
    seen
}

/// Component schemas named directly by request bodies.
pub fn request_roots(spec: &OpenAPI) -> BTreeSet<String> {
    let mut roots = BTreeSet::new();
    for (_, _, op) in operations(spec) {
        for media in request_body(op)
            .into_iter()
            .flat_map(|b| b.content.values())
        {
            if let Some(ReferenceOr::Reference { reference }) = &media.schema {
                roots.extend(ref_name(reference).map(str::to_owned));
            }
        }
    }
    roots
}

/// Component schemas named directly by responses.
pub fn response_roots(spec: &OpenAPI) -> BTreeSet<String> {
    let mut roots = BTreeSet::new();
    for (_, _, op) in operations(spec) {
        for (_, response) in responses(op) {
            for media in response.content.values() {
                if let Some(ReferenceOr::Reference { reference }) = &media.schema {
                    roots.extend(ref_name(reference).map(str::to_owned));
                }
            }
        }
    }
    roots
}
