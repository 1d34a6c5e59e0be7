//! A normalised, flat view of an OpenAPI document.
//!
//! Two documents that describe the same API can differ in ways that do not
//! matter to a client: OpenAPI 3.0's `nullable: true` against 3.1's
//! `type: [T, "null"]`, a `oneOf` around a single `$ref`, key order. The view
//! keeps only what the contract promises, each fact under a path such as
//! `components.ContactTag.properties.name.maxLength`, so that comparing two
//! views gives a readable, path-by-path diff.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};

/// Facts about a document, keyed by path.
pub type View = BTreeMap<String, String>;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The view of a whole document: operations and component schemas.
pub fn view(doc: &Value) -> View {
    let mut out = View::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    operation(&mut out, &format!("paths.{path}.{method}"), op);
                }
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            component(&mut out, &format!("components.{name}"), schema);
        }
    }
    out
}

fn operation(out: &mut View, at: &str, op: &Value) {
    put(out, format!("{at}.operationId"), op["operationId"].as_str());
    if let Some(params) = op["parameters"].as_array() {
        for param in params {
            let name = format!(
                "{at}.parameters.{}:{}",
                param["in"].as_str().unwrap_or("?"),
                param["name"].as_str().unwrap_or("?")
            );
            out.insert(
                format!("{name}.required"),
                param["required"].as_bool().unwrap_or(false).to_string(),
            );
            property(out, &format!("{name}.schema"), &param["schema"]);
        }
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.insert(format!("{at}.requestBody.mediaTypes"), keys(content));
        for (media, body) in content {
            put(
                out,
                format!("{at}.requestBody.{media}"),
                schema_ref(&body["schema"]).as_deref(),
            );
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        out.insert(format!("{at}.responses"), keys(responses));
        for (status, response) in responses {
            if let Some(content) = response["content"].as_object() {
                for (media, body) in content {
                    put(
                        out,
                        format!("{at}.responses.{status}.{media}"),
                        schema_ref(&body["schema"]).as_deref(),
                    );
                }
            }
        }
    }
    let security = op["security"]
        .as_array()
        .map(|list| {
            let mut names: Vec<&str> = list
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|req| req.keys().map(String::as_str))
                .collect();
            names.sort_unstable();
            names.join(",")
        })
        .unwrap_or_default();
    out.insert(format!("{at}.security"), security);
}

fn component(out: &mut View, at: &str, schema: &Value) {
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    required.sort_unstable();
    out.insert(format!("{at}.required"), required.join(","));
    if let Some(one_of) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let refs: Vec<String> = one_of.iter().filter_map(schema_ref).collect();
        out.insert(format!("{at}.oneOf"), refs.join(","));
        return;
    }
    put(out, format!("{at}.type"), type_of(schema).0.as_deref());
    if let Some(properties) = schema["properties"].as_object() {
        for (name, prop) in properties {
            property(out, &format!("{at}.properties.{name}"), prop);
        }
    }
    match &schema["additionalProperties"] {
        Value::Null | Value::Bool(false) => {}
        Value::Bool(true) => {
            out.insert(format!("{at}.additionalProperties"), "any".into());
        }
        extra => property(out, &format!("{at}.additionalProperties"), extra),
    }
}

/// The facts of one property schema: type (or referenced schema), format,
/// nullable, maxLength, readOnly, and the same for array items.
fn property(out: &mut View, at: &str, schema: &Value) {
    let (ty, nullable) = type_of(schema);
    put(out, format!("{at}.type"), ty.as_deref());
    out.insert(format!("{at}.nullable"), nullable.to_string());
    if let Some(format) = format_of(schema, ty.as_deref()) {
        out.insert(format!("{at}.format"), format);
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        out.insert(format!("{at}.maxLength"), max.to_string());
    }
    if schema["readOnly"].as_bool() == Some(true) {
        out.insert(format!("{at}.readOnly"), "true".into());
    }
    if ty.as_deref() == Some("array") {
        property(out, &format!("{at}.items"), &schema["items"]);
    }
}

/// The type of a schema as one word, and whether it admits `null`.
///
/// `$ref` becomes `ref:Name`; a `oneOf`/`anyOf`/`allOf` of one schema and
/// `{"type": "null"}` is that schema, nullable; `{}` is `any`.
pub fn type_of(schema: &Value) -> (Option<String>, bool) {
    if schema == &Value::Bool(true) {
        return (Some("any".into()), false);
    }
    let mut nullable = schema["nullable"].as_bool() == Some(true);
    if let Some(reference) = schema_ref(schema) {
        return (Some(reference), nullable);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema[combinator].as_array() {
            let non_null: Vec<&Value> = list.iter().filter(|s| s["type"] != "null").collect();
            nullable |= non_null.len() < list.len();
            if let [only] = non_null.as_slice() {
                let (ty, inner_nullable) = type_of(only);
                return (ty, nullable || inner_nullable);
            }
        }
    }
    let ty = match &schema["type"] {
        Value::String(ty) => Some(ty.clone()),
        Value::Array(types) => {
            nullable |= types.iter().any(|t| t == "null");
            types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .map(str::to_owned)
        }
        _ if schema.as_object().is_some_and(Map::is_empty) => Some("any".into()),
        _ => None,
    };
    (ty, nullable)
}

/// A schema's format, except the integer widths `int32`/`int64`: OpenAPI
/// makes them advisory, and the spec leaves integers without one while Rust
/// integer types always carry one.
fn format_of(schema: &Value, ty: Option<&str>) -> Option<String> {
    let format = schema["format"].as_str()?;
    if ty == Some("integer") && matches!(format, "int32" | "int64") {
        return None;
    }
    Some(format.to_owned())
}

/// `ref:Name` for a `$ref` to a component schema (or a schemars definition).
pub fn schema_ref(schema: &Value) -> Option<String> {
    let reference = schema["$ref"].as_str()?;
    let name = reference.rsplit('/').next()?;
    Some(format!("ref:{name}"))
}

fn keys(object: &Map<String, Value>) -> String {
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.join(",")
}

fn put(out: &mut View, key: String, value: Option<&str>) {
    if let Some(value) = value {
        out.insert(key, value.to_owned());
    }
}

/// Every difference between two views, one line per path:
/// `- path = value` only on the left, `+ path = value` only on the right,
/// `~ path: left -> right` where they differ.
pub fn diff(left: &View, right: &View) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, value) in left {
        match right.get(key) {
            None => lines.push(format!("- {key} = {value}")),
            Some(other) if other != value => lines.push(format!("~ {key}: {value} -> {other}")),
            Some(_) => {}
        }
    }
    for (key, value) in right {
        if !left.contains_key(key) {
            lines.push(format!("+ {key} = {value}"));
        }
    }
    lines
}

/// Only the entries under `prefixes`.
pub fn only(view: &View, prefixes: &[&str]) -> View {
    view.iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A report for a failing comparison.
pub fn report(title: &str, left: &str, right: &str, lines: &[String]) -> String {
    let mut out = format!(
        "{title}: {} difference(s) between {left} (-) and {right} (+)\n",
        lines.len()
    );
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_30_and_31_nullability_look_the_same() {
        let v30 = json!({"type": "string", "nullable": true, "maxLength": 5});
        let v31 = json!({"type": ["string", "null"], "maxLength": 5});
        let (mut a, mut b) = (View::new(), View::new());
        property(&mut a, "p", &v30);
        property(&mut b, "p", &v31);
        assert_eq!(a, b);
        let wrapped = json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/X"}]});
        assert_eq!(type_of(&wrapped), (Some("ref:X".into()), true));
    }

    #[test]
    fn diff_names_each_path() {
        let left: View = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into();
        let right: View = [("b".to_string(), "3".to_string()), ("c".into(), "4".into())].into();
        assert_eq!(diff(&left, &right), ["- a = 1", "~ b: 2 -> 3", "+ c = 4"]);
    }
}
