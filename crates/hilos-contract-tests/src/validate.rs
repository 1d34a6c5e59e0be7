//! Validating response bodies against the spec's schema for their operation
//! and status.
//!
//! OpenAPI 3.0 schemas are almost JSON Schema; the one difference that
//! matters here, `nullable`, is rewritten, and every `$ref` resolves inside a
//! root document that carries the spec's components.

use serde_json::{json, Map, Value};

/// Validates responses against one OpenAPI document.
pub struct ResponseValidator {
    spec: Value,
    schemas: Value,
}

impl ResponseValidator {
    /// A validator for `spec`, an OpenAPI 3.0 document as JSON.
    pub fn new(spec: &Value) -> Self {
        let schemas = spec["components"]["schemas"]
            .as_object()
            .map(|all| {
                all.iter()
                    .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
                    .collect::<Map<String, Value>>()
            })
            .unwrap_or_default();
        Self {
            spec: spec.clone(),
            schemas: Value::Object(schemas),
        }
    }

    /// Checks that `status` is documented for `method path`, and that `body`
    /// matches its schema (an undocumented body must be empty).
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
        let operation = &self.spec["paths"][path][method.to_ascii_lowercase()];
        if operation.is_null() {
            return Err(format!("{method} {path} is not in the spec"));
        }
        let response = &operation["responses"][status.to_string()];
        if response.is_null() {
            return Err(format!(
                "{method} {path}: status {status} is not documented"
            ));
        }
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return if body.is_null() {
                Ok(())
            } else {
                Err(format!(
                    "{method} {path} {status}: documented without a body, got {body}"
                ))
            };
        }
        let root = json!({
            "components": {"schemas": self.schemas},
            "allOf": [to_json_schema(schema)],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the spec's schema does not compile: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{method} {path} {status}: the body does not match the spec:\n  {}\nbody: {body}",
                errors.join("\n  ")
            ))
        }
    }
}

/// Rewrites an OpenAPI 3.0 schema into JSON Schema: `nullable: true` admits
/// `null`, the rest is kept.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(ty)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([ty, "null"]));
                } else {
                    return json!({"anyOf": [Value::Object(out), {"type": "null"}]});
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        json!({
            "paths": {"/x": {"post": {"responses": {
                "201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}},
                "204": {"description": ""},
            }}}},
            "components": {"schemas": {"X": {
                "type": "object",
                "properties": {"name": {"type": "string", "nullable": true, "maxLength": 3},
                               "when": {"type": "string", "format": "date-time"}},
                "required": ["name"],
            }}},
        })
    }

    #[test]
    fn accepts_matching_bodies_and_names_mismatches() {
        let validator = ResponseValidator::new(&spec());
        assert!(validator
            .check("POST", "/x", 201, &json!({"name": null}))
            .is_ok());
        assert!(validator
            .check("POST", "/x", 201, &json!({"name": "abcd"}))
            .is_err());
        assert!(validator.check("POST", "/x", 201, &json!({})).is_err());
        assert!(validator
            .check(
                "POST",
                "/x",
                201,
                &json!({"name": "a", "when": "yesterday"})
            )
            .is_err());
        assert!(validator.check("POST", "/x", 204, &Value::Null).is_ok());
        assert!(validator.check("POST", "/x", 500, &json!({})).is_err());
    }
}
