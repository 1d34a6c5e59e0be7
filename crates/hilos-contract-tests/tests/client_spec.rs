//! Check 4: the JSON Schemas of the client's types (schemars) agree with
//! the contract's component schemas.
//!
//! The client is generated from the contract after the client transforms
//! (readOnly split, request defaults, JSON-only bodies, error union), so it
//! is compared with that prepared document. What typify cannot express in a
//! derived JSON Schema is left out of the comparison, each for a stated
//! reason, and where the client enforces it another way a test shows that.

use std::collections::BTreeMap;

use hilos_client::types;
use hilos_contract_tests::spec::prepared_contract;
use hilos_contract_tests::view::{diff, only, report, view, View};
use serde_json::{json, Map, Value};

/// Each spec component, its client type's JSON Schema, and a check that a
/// JSON value deserialises into that type.
type Entry = (&'static str, Value, fn(Value) -> Result<(), String>);

macro_rules! client_types {
    ($($spec_name:literal => $ty:ident),* $(,)?) => {
        vec![$((
            $spec_name,
            serde_json::to_value(schemars::schema_for!(types::$ty)).expect("serialise schema"),
            (|value: Value| serde_json::from_value::<types::$ty>(value).map(drop).map_err(|e| e.to_string()))
                as fn(Value) -> Result<(), String>,
        )),*]
    };
}

fn client_types() -> Vec<Entry> {
    client_types![
        "AccountMemberUserBasicRead" => AccountMemberUserBasicRead,
        "ContactDetailRead" => ContactDetailRead,
        "ContactDetailReadPublic" => ContactDetailReadPublic,
        "ContactListReadPublic" => ContactListReadPublic,
        "ContactNoteRead" => ContactNoteRead,
        "ContactTag" => ContactTag,
        "ContactTagRequest" => ContactTagRequest,
        "ErrorDetail" => ErrorDetail,
        "ErrorDetailOrValidationError" => ErrorDetailOrValidationError,
        // typify spells the acronym in Rust's style.
        "InboxContactURL" => InboxContactUrl,
        "PaginatedContactListReadPublicList" => PaginatedContactListReadPublicList,
        "PatchedContactEditPublic" => PatchedContactEditPublic,
        "UserBasicRead" => UserBasicRead,
        "ValidationError" => ValidationError,
    ]
}

fn client_spec() -> Value {
    prepared_contract(xtask::prepare::CLIENT)
}

/// schemars puts constrained strings (newtypes) in `definitions`; inline
/// those so a property reads as the string it is.
fn inline_scalars(schema: &Value, definitions: &Map<String, Value>) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let name = target.rsplit('/').next().unwrap_or_default();
                if let Some(def) = definitions.get(name) {
                    if def["type"] != "object" && def.get("anyOf").is_none() {
                        return inline_scalars(def, definitions);
                    }
                }
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline_scalars(v, definitions)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline_scalars(v, definitions))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The client's types as an OpenAPI-like document, under the spec's names.
fn client_document() -> Value {
    let mut schemas = Map::new();
    for (name, root, _) in client_types() {
        let definitions = root["definitions"].as_object().cloned().unwrap_or_default();
        schemas.insert(name.to_owned(), inline_scalars(&root, &definitions));
    }
    // References use the Rust names; the spec's names are what we compare.
    let text = serde_json::to_string(&json!({"components": {"schemas": schemas}}))
        .expect("serialise")
        .replace("/InboxContactUrl\"", "/InboxContactURL\"");
    serde_json::from_str(&text).expect("parse")
}

/// Drops the facts a derived JSON Schema of a typify type cannot carry:
/// - `maxLength`: typify checks it in the newtype's `FromStr` and
///   `Deserialize`, not in the derived schema
///   (`max_length_is_enforced_by_the_client_types` covers it);
/// - `readOnly`: schemars has no such flag; the readOnly split already gives
///   requests their own types;
/// - `format` `email` and `uri`: typify maps both to `String`;
/// - `nullable` of a property that is not required: an `Option` there means
///   "may be absent", which schemars writes as nullable too;
/// - `additionalProperties`: schemars 0.8 leaves a `#[serde(flatten)]` map
///   out of the schema (the client's `wire` test shows `ValidationError`'s
///   field errors arriving in `extra`).
///
/// Operations are not part of a type's schema; the server-side check and the
/// end-to-end tests cover them.
fn comparable(view: &View) -> View {
    let required: BTreeMap<String, Vec<String>> = view
        .iter()
        .filter_map(|(k, v)| {
            let schema = k.strip_suffix(".required")?;
            Some((schema.to_owned(), v.split(',').map(str::to_owned).collect()))
        })
        .collect();
    only(view, &["components."])
        .into_iter()
        .filter(|(key, value)| {
            if key.contains(".additionalProperties") {
                return false;
            }
            if key.ends_with(".maxLength") || key.ends_with(".readOnly") {
                return false;
            }
            if key.ends_with(".format") && matches!(value.as_str(), "email" | "uri") {
                return false;
            }
            if let Some(property) = key.strip_suffix(".nullable") {
                if let Some((schema, name)) = property.split_once(".properties.") {
                    let name = name.split('.').next().unwrap_or_default();
                    let is_required = required
                        .get(schema)
                        .is_some_and(|list| list.iter().any(|r| r == name));
                    return is_required && !property.ends_with(".items");
                }
            }
            true
        })
        .collect()
}

#[test]
fn every_component_has_a_client_type() {
    let spec = client_spec();
    let mut spec_names: Vec<&str> = spec["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
        .map(String::as_str)
        .collect();
    spec_names.sort_unstable();
    let client_names: Vec<&str> = client_types()
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(client_names, spec_names);
}

#[test]
fn client_schemas_match_the_contract() {
    let expected = comparable(&view(&client_spec()));
    let actual = comparable(&view(&client_document()));
    let lines = diff(&expected, &actual);
    assert!(
        lines.is_empty(),
        "{}",
        report(
            "client drift",
            "openapi/hilos.yaml",
            "hilos-client types",
            &lines
        )
    );
}

/// A minimal valid JSON value for a property schema of the spec.
fn sample(schema: &Value, spec: &Value) -> Value {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or_default();
        return sample_object(&spec["components"]["schemas"][name], spec);
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("string"), Some("date-time")) => json!("2024-01-02T03:04:05Z"),
        (Some("string"), Some("uuid")) => json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
        (Some("string"), Some("email")) => json!("a@example.com"),
        (Some("string"), Some("uri")) => json!("https://example.com/"),
        (Some("string"), _) => json!("x"),
        (Some("integer"), _) => json!(1),
        (Some("boolean"), _) => json!(true),
        (Some("array"), _) => json!([]),
        (Some("object"), _) => sample_object(schema, spec),
        _ => json!("x"),
    }
}

fn sample_object(schema: &Value, spec: &Value) -> Value {
    let mut object = Map::new();
    if let Some(required) = schema["required"].as_array() {
        for name in required.iter().filter_map(Value::as_str) {
            object.insert(name.to_owned(), sample(&schema["properties"][name], spec));
        }
    }
    Value::Object(object)
}

#[test]
fn max_length_is_enforced_by_the_client_types() {
    let spec = client_spec();
    let mut checked = 0;
    for (name, _, deserialize) in client_types() {
        let schema = &spec["components"]["schemas"][name];
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (property, facts) in properties {
            let Some(max) = facts["maxLength"].as_u64() else {
                continue;
            };
            let mut at_limit = sample_object(schema, &spec);
            at_limit[property] = json!("a".repeat(max as usize));
            let mut over = at_limit.clone();
            over[property] = json!("a".repeat(max as usize + 1));
            assert_eq!(
                deserialize(at_limit.clone()),
                Ok(()),
                "{name}.{property} at {max}: {at_limit}"
            );
            assert!(
                deserialize(over).is_err(),
                "{name}.{property} accepts {} characters",
                max + 1
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} maxLength properties found");
}
