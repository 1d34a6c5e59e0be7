//! Contact `meta`: free-form key/value attributes, stored as strings.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A change to meta: `Some(v)` sets a key, `None` deletes it (JSON `null`).
pub type MetaPatch = BTreeMap<String, Option<String>>;

/// Size limits for one meta patch, so a huge body is a 400, not a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaLimits {
    /// Most keys one patch may carry.
    pub max_keys: usize,
    /// Longest key, in characters.
    pub max_key_len: usize,
    /// Longest stored value, in characters.
    pub max_value_len: usize,
}

impl Default for MetaLimits {
    fn default() -> Self {
        Self {
            max_keys: 1000,
            max_key_len: 255,
            max_value_len: 10_000,
        }
    }
}

/// Turns a JSON `meta` object into a patch, checking `limits`.
///
/// Strings are kept as they are; numbers and booleans become their JSON
/// text; objects and arrays become compact JSON text; `null` deletes the
/// key. On failure every broken limit is reported, one message each, in
/// DRF's wording.
pub fn meta_patch_from_json(
    obj: &Map<String, Value>,
    limits: &MetaLimits,
) -> Result<MetaPatch, Vec<String>> {
    let mut errors = Vec::new();
    if obj.len() > limits.max_keys {
        errors.push(format!(
            "Ensure this field has no more than {} keys.",
            limits.max_keys
        ));
    }
    let mut patch = MetaPatch::new();
    let mut long_key = false;
    let mut long_value = false;
    let mut nul = false;
    for (key, value) in obj {
        long_key |= key.chars().count() > limits.max_key_len;
        nul |= key.contains('\0');
        let text = value_text(value);
        if let Some(text) = &text {
            long_value |= text.chars().count() > limits.max_value_len;
            nul |= text.contains('\0');
        }
        patch.insert(key.clone(), text);
    }
    if long_key {
        errors.push(format!(
            "Ensure every key has no more than {} characters.",
            limits.max_key_len
        ));
    }
    if long_value {
        errors.push(format!(
            "Ensure every value has no more than {} characters.",
            limits.max_value_len
        ));
    }
    // PostgreSQL cannot store NUL in text; a NUL inside a nested value is
    // escaped in its JSON text and is fine.
    if nul {
        errors.push("Null characters are not allowed.".to_owned());
    }
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(errors)
    }
}

/// The stored string for one JSON value; `None` for `null`.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        // `Value`'s Display is compact JSON for numbers, bools, arrays and
        // objects alike.
        other => Some(other.to_string()),
    }
}

/// Applies `patch` to `existing`.
///
/// With `overwrite` the result holds only the patch's non-null entries;
/// otherwise the patch is merged key by key and a `None` removes its key.
pub fn merge_meta(
    existing: &BTreeMap<String, String>,
    patch: &MetaPatch,
    overwrite: bool,
) -> BTreeMap<String, String> {
    let mut merged = if overwrite {
        BTreeMap::new()
    } else {
        existing.clone()
    };
    for (key, value) in patch {
        match value {
            Some(v) => {
                merged.insert(key.clone(), v.clone());
            }
            None => {
                merged.remove(key);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("test input must be an object"),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_become_strings() {
        let patch = meta_patch_from_json(
            &obj(json!({
                "s": "plain text",
                "n": 42,
                "f": 1.5,
                "neg": -3,
                "b": true,
                "o": {"a": 1, "b": [1, 2]},
                "a": ["x", null],
                "gone": null,
                "empty": ""
            })),
            &MetaLimits::default(),
        )
        .expect("within limits");
        assert_eq!(patch["s"].as_deref(), Some("plain text"));
        assert_eq!(patch["n"].as_deref(), Some("42"));
        assert_eq!(patch["f"].as_deref(), Some("1.5"));
        assert_eq!(patch["neg"].as_deref(), Some("-3"));
        assert_eq!(patch["b"].as_deref(), Some("true"));
        assert_eq!(patch["o"].as_deref(), Some(r#"{"a":1,"b":[1,2]}"#));
        assert_eq!(patch["a"].as_deref(), Some(r#"["x",null]"#));
        assert_eq!(patch["gone"], None);
        assert_eq!(patch["empty"].as_deref(), Some(""));
        assert_eq!(patch.len(), 9);
    }

    #[test]
    fn too_many_keys() {
        let limits = MetaLimits {
            max_keys: 2,
            ..MetaLimits::default()
        };
        let errs = meta_patch_from_json(&obj(json!({"a": 1, "b": 2, "c": 3})), &limits)
            .expect_err("three keys over a limit of two");
        assert_eq!(errs, vec!["Ensure this field has no more than 2 keys."]);
        assert!(meta_patch_from_json(&obj(json!({"a": 1, "b": 2})), &limits).is_ok());
    }

    #[test]
    fn default_limits_and_messages() {
        let many: Map<String, Value> = (0..1001).map(|i| (format!("k{i}"), json!(i))).collect();
        let errs = meta_patch_from_json(&many, &MetaLimits::default()).expect_err("1001 keys");
        assert_eq!(errs, vec!["Ensure this field has no more than 1000 keys."]);

        let mut big = Map::new();
        big.insert("k".repeat(256), json!("v"));
        big.insert("v".into(), json!("x".repeat(10_001)));
        let errs = meta_patch_from_json(&big, &MetaLimits::default()).expect_err("too long");
        assert_eq!(
            errs,
            vec![
                "Ensure every key has no more than 255 characters.",
                "Ensure every value has no more than 10000 characters.",
            ]
        );
    }

    #[test]
    fn lengths_are_counted_in_chars_not_bytes() {
        let limits = MetaLimits {
            max_key_len: 3,
            max_value_len: 3,
            ..MetaLimits::default()
        };
        // Three chars, six or more bytes each side.
        assert!(meta_patch_from_json(&obj(json!({"ñáé": "日本語"})), &limits).is_ok());
        assert!(meta_patch_from_json(&obj(json!({"ñáéí": "x"})), &limits).is_err());
        assert!(meta_patch_from_json(&obj(json!({"k": "日本語!"})), &limits).is_err());
    }

    #[test]
    fn value_limit_applies_to_serialised_json() {
        let limits = MetaLimits {
            max_value_len: 5,
            ..MetaLimits::default()
        };
        // [1,2,3] is seven characters once serialised.
        assert!(meta_patch_from_json(&obj(json!({"k": [1, 2, 3]})), &limits).is_err());
        assert!(meta_patch_from_json(&obj(json!({"k": [1, 2]})), &limits).is_ok());
    }

    #[test]
    fn nul_is_refused_in_keys_and_values_but_not_when_escaped() {
        let limits = MetaLimits::default();
        let nul = Err(vec!["Null characters are not allowed.".to_owned()]);
        assert_eq!(
            meta_patch_from_json(&obj(json!({"k": "a\u{0}"})), &limits),
            nul
        );
        assert_eq!(
            meta_patch_from_json(&obj(json!({"\u{0}": "v"})), &limits),
            nul
        );
        let nested = meta_patch_from_json(&obj(json!({"k": ["a\u{0}"]})), &limits);
        assert_eq!(
            nested.expect("escaped")["k"].as_deref(),
            Some(r#"["a\u0000"]"#)
        );
    }

    #[test]
    fn merge_adds_replaces_and_deletes() {
        let existing = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let mut patch = MetaPatch::new();
        patch.insert("b".into(), Some("20".into()));
        patch.insert("c".into(), None);
        patch.insert("d".into(), Some("4".into()));
        patch.insert("missing".into(), None);
        let merged = merge_meta(&existing, &patch, false);
        assert_eq!(merged, map(&[("a", "1"), ("b", "20"), ("d", "4")]));
    }

    #[test]
    fn overwrite_replaces_everything_and_never_stores_null() {
        let existing = map(&[("a", "1"), ("b", "2")]);
        let mut patch = MetaPatch::new();
        patch.insert("b".into(), Some("20".into()));
        patch.insert("z".into(), None);
        let merged = merge_meta(&existing, &patch, true);
        assert_eq!(merged, map(&[("b", "20")]));
        assert!(merge_meta(&existing, &MetaPatch::new(), true).is_empty());
    }

    #[test]
    fn empty_patch_merge_keeps_existing() {
        let existing = map(&[("a", "1")]);
        assert_eq!(merge_meta(&existing, &MetaPatch::new(), false), existing);
    }
}
