//! Check 2: `openapi/hilos.yaml` still carries upstream's fragment unchanged.

use hilos_contract_tests::spec::{contract, upstream};
use serde_json::Value;

/// The attributes of a property that must not change.
const PROPERTY_FACTS: [&str; 9] = [
    "type",
    "format",
    "maxLength",
    "nullable",
    "readOnly",
    "default",
    "description",
    "title",
    "$ref",
];

fn property_facts(schema: &Value) -> Vec<(String, Value)> {
    let mut facts: Vec<(String, Value)> = PROPERTY_FACTS
        .iter()
        .filter_map(|key| schema.get(*key).map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    for nested in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(nested) {
            facts.extend(
                property_facts(inner)
                    .into_iter()
                    .map(|(k, v)| (format!("{nested}.{k}"), v)),
            );
        }
    }
    facts
}

#[test]
fn every_upstream_operation_is_kept() {
    let (ours, theirs) = (contract(), upstream());
    let mut problems = Vec::new();
    for (path, item) in theirs["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let mine = &ours["paths"][path][method];
            let at = format!("{method} {path}");
            if mine.is_null() {
                problems.push(format!("{at}: missing"));
                continue;
            }
            for key in [
                "operationId",
                "parameters",
                "security",
                "summary",
                "description",
                "tags",
            ] {
                if op.get(key) != mine.get(key) {
                    problems.push(format!("{at}: {key} changed"));
                }
            }
            if op["requestBody"]["content"] != mine["requestBody"]["content"] {
                problems.push(format!(
                    "{at}: request media types or their schemas changed"
                ));
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if Some(response) != mine["responses"].get(status) {
                    problems.push(format!("{at}: response {status} changed"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_upstream_schema_property_is_kept() {
    let (ours, theirs) = (contract(), upstream());
    let mut problems = Vec::new();
    for (name, schema) in theirs["components"]["schemas"]
        .as_object()
        .expect("schemas")
    {
        let mine = &ours["components"]["schemas"][name];
        if mine.is_null() {
            problems.push(format!("{name}: missing"));
            continue;
        }
        if schema.get("required") != mine.get("required") {
            problems.push(format!("{name}.required changed"));
        }
        for (property, facts) in schema["properties"].as_object().expect("properties") {
            let Some(kept) = mine["properties"].get(property) else {
                problems.push(format!("{name}.{property}: missing"));
                continue;
            };
            let (before, after) = (property_facts(facts), property_facts(kept));
            if before != after {
                problems.push(format!("{name}.{property}: {before:?} -> {after:?}"));
            }
        }
    }
    if theirs["components"]["securitySchemes"] != ours["components"]["securitySchemes"] {
        problems.push("securitySchemes changed".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
