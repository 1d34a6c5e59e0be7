//! Field checks with Django REST Framework's wording.
//!
//! The generated `from_object` functions call these, one per property, and
//! collect every failure before answering, so a caller sees all of its
//! mistakes in one 400.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::errors::{messages, FieldErrors};
use super::patch::Patch;

/// Why one field's value was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldError {
    /// Messages about the value itself.
    Messages(Vec<String>),
    /// Errors inside the objects of a list, one entry per item.
    Items(Vec<FieldErrors>),
}

impl FieldError {
    fn message(message: impl Into<String>) -> Self {
        FieldError::Messages(vec![message.into()])
    }

    fn record(self, field: &str, errors: &mut FieldErrors) {
        match self {
            FieldError::Messages(list) => list.into_iter().for_each(|m| errors.add(field, m)),
            FieldError::Items(items) => errors.add_items(field, items),
        }
    }
}

/// The result of checking one value.
pub type Checked<T> = Result<T, FieldError>;

/// Python's name for a JSON value's type, as upstream's messages use it.
pub fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A property that may be absent but is never `null`.
pub fn optional<T>(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut FieldErrors,
    check: impl FnOnce(&Value) -> Checked<T>,
) -> Option<T> {
    match object.get(name)? {
        Value::Null => {
            errors.add(name, messages::NULL);
            None
        }
        value => check(value).map_err(|e| e.record(name, errors)).ok(),
    }
}

/// A property that must be present and not `null`.
pub fn required<T>(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut FieldErrors,
    check: impl FnOnce(&Value) -> Checked<T>,
) -> Option<T> {
    if !object.contains_key(name) {
        errors.add(name, messages::REQUIRED);
        return None;
    }
    optional(object, name, errors, check)
}

/// A nullable property: absent, `null` and a value stay apart.
pub fn nullable<T>(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut FieldErrors,
    check: impl FnOnce(&Value) -> Checked<T>,
) -> Patch<T> {
    match object.get(name) {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(value) => match check(value) {
            Ok(v) => Patch::Value(v),
            Err(e) => {
                e.record(name, errors);
                Patch::Absent
            }
        },
    }
}

/// The format a string property declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Any text.
    Plain,
    /// `format: email`.
    Email,
    /// `format: uri`: an absolute http(s) URL.
    Uri,
}

/// The rules of a string property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRules {
    /// `maxLength`, counted in characters.
    pub max_length: Option<usize>,
    /// The declared format.
    pub format: TextFormat,
    /// Whether an empty string is accepted.
    pub allow_blank: bool,
}

/// A string; surrounding whitespace is trimmed. Other JSON types are refused,
/// as the spec's `type: string` says.
pub fn text(value: &Value, rules: TextRules) -> Checked<String> {
    let Value::String(raw) = value else {
        return Err(FieldError::message(messages::NOT_A_STRING));
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return if rules.allow_blank {
            Ok(String::new())
        } else {
            Err(FieldError::message(messages::BLANK))
        };
    }
    let mut problems = Vec::new();
    if let Some(max) = rules.max_length {
        if trimmed.chars().count() > max {
            problems.push(messages::max_length(max));
        }
    }
    // PostgreSQL cannot store NUL in text; Django refuses it in every
    // CharField for that reason, after the length check.
    if trimmed.contains('\0') {
        problems.push(messages::NULL_CHARACTERS.to_owned());
    }
    let format_ok = match rules.format {
        TextFormat::Plain => true,
        TextFormat::Email => email_address::EmailAddress::is_valid(trimmed),
        TextFormat::Uri => is_http_url(trimmed),
    };
    if !format_ok {
        problems.push(
            match rules.format {
                TextFormat::Email => messages::EMAIL,
                _ => messages::URL,
            }
            .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(trimmed.to_owned())
    } else {
        Err(FieldError::Messages(problems))
    }
}

fn is_http_url(text: &str) -> bool {
    match url::Url::parse(text) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|host| !host.is_empty())
        }
        Err(_) => false,
    }
}

/// `format: uuid`.
pub fn uuid(value: &Value) -> Checked<Uuid> {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
        .ok_or_else(|| FieldError::message(messages::UUID))
}

/// `format: date-time`: ISO-8601 with `T` or a space, optional seconds and
/// fraction, and an offset or `Z`. A time without offset is taken as UTC.
pub fn date_time(value: &Value) -> Checked<DateTime<Utc>> {
    value
        .as_str()
        .and_then(parse_date_time)
        .ok_or_else(|| FieldError::message(messages::DATETIME))
}

fn parse_date_time(input: &str) -> Option<DateTime<Utc>> {
    let input = input.trim();
    if input.len() < 16 || !input.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = input.split_at(10);
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let normalised = format!("{date}T{}", rest.trim_end_matches(['Z', 'z']));
    let utc_suffix = rest.ends_with(['Z', 'z']);
    let with_offset = [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ];
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];
    let parsed = if utc_suffix {
        None
    } else {
        with_offset
            .iter()
            .find_map(|f| DateTime::parse_from_str(&normalised, f).ok())
            .map(|dt| dt.with_timezone(&Utc))
    };
    let parsed = parsed.or_else(|| {
        naive
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(&normalised, f).ok())
            .map(|dt| dt.and_utc())
    })?;
    // Upstream's datetimes are Python's: years 1 to 9999.
    (1..=9999)
        .contains(&chrono::Datelike::year(&parsed))
        .then_some(parsed)
}

/// A JSON integer (`4.0` counts, as in JSON Schema). Form bodies arrive here
/// with their integers already parsed.
pub fn integer(value: &Value) -> Checked<i64> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        _ => None,
    };
    parsed.ok_or_else(|| FieldError::message(messages::INTEGER))
}

/// A JSON boolean. Form bodies arrive here with `true/false/1/0/on/off/
/// yes/no` already turned into booleans.
pub fn boolean(value: &Value) -> Checked<bool> {
    value
        .as_bool()
        .ok_or_else(|| FieldError::message(messages::BOOLEAN))
}

/// A free-form object.
pub fn object(value: &Value) -> Checked<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        other => Err(FieldError::message(messages::not_a_dict(python_type_name(
            other,
        )))),
    }
}

/// A list of plain values; every failing item's messages are reported.
pub fn list<T>(value: &Value, item: impl Fn(&Value) -> Checked<T>) -> Checked<Vec<T>> {
    let Value::Array(items) = value else {
        return Err(FieldError::message(messages::not_a_list(python_type_name(
            value,
        ))));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for value in items {
        match item(value) {
            Ok(v) => out.push(v),
            Err(FieldError::Messages(list)) => problems.extend(list),
            Err(FieldError::Items(_)) => problems.push(messages::NOT_A_STRING.to_owned()),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.dedup();
        Err(FieldError::Messages(problems))
    }
}

/// A list of objects, each checked by `item`; errors are reported per item.
pub fn object_list<T>(
    value: &Value,
    item: impl Fn(&Map<String, Value>) -> Result<T, FieldErrors>,
) -> Checked<Vec<T>> {
    let Value::Array(items) = value else {
        return Err(FieldError::message(messages::not_a_list(python_type_name(
            value,
        ))));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut item_errors = Vec::with_capacity(items.len());
    for value in items {
        let checked = match value {
            Value::Object(map) => item(map),
            other => {
                let mut errors = FieldErrors::new();
                errors.add(
                    "non_field_errors",
                    messages::invalid_data(python_type_name(other)),
                );
                Err(errors)
            }
        };
        match checked {
            Ok(v) => {
                out.push(v);
                item_errors.push(FieldErrors::new());
            }
            Err(errors) => item_errors.push(errors),
        }
    }
    if item_errors.iter().all(FieldErrors::is_empty) {
        Ok(out)
    } else {
        Err(FieldError::Items(item_errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAIN: TextRules = TextRules {
        max_length: Some(5),
        format: TextFormat::Plain,
        allow_blank: false,
    };

    #[test]
    fn text_applies_length_blank_and_type() {
        assert_eq!(text(&json!(" ab "), PLAIN), Ok("ab".into()));
        assert_eq!(
            text(&json!(12), PLAIN),
            Err(FieldError::Messages(vec![messages::NOT_A_STRING.into()]))
        );
        assert_eq!(
            text(&json!("abcdef"), PLAIN),
            Err(FieldError::Messages(vec![messages::max_length(5)]))
        );
        assert_eq!(
            text(&json!(""), PLAIN),
            Err(FieldError::Messages(vec![messages::BLANK.into()]))
        );
        assert_eq!(
            text(&json!(true), PLAIN),
            Err(FieldError::Messages(vec![messages::NOT_A_STRING.into()]))
        );
        assert_eq!(
            text(&json!("a\u{0}bcdef"), PLAIN),
            Err(FieldError::Messages(vec![
                messages::max_length(5),
                messages::NULL_CHARACTERS.into()
            ]))
        );
    }

    #[test]
    fn formats_are_checked() {
        let email = TextRules {
            max_length: None,
            format: TextFormat::Email,
            allow_blank: true,
        };
        let uri = TextRules {
            format: TextFormat::Uri,
            ..email
        };
        assert!(text(&json!("ana@example.com"), email).is_ok());
        assert!(text(&json!("not-an-email"), email).is_err());
        assert!(text(&json!("https://crm.example.com/c/1"), uri).is_ok());
        assert!(text(&json!("ftp://example.com"), uri).is_err());
        assert!(text(&json!("example.com"), uri).is_err());
        assert!(uuid(&json!("67e55044-10b1-426f-9247-bb680e5fe0c8")).is_ok());
        assert!(uuid(&json!("42")).is_err());
    }

    #[test]
    fn date_times_in_iso_forms() {
        let expected = "2024-05-01T10:20:30Z"
            .parse::<DateTime<Utc>>()
            .expect("valid");
        for input in [
            "2024-05-01T10:20:30Z",
            "2024-05-01 10:20:30",
            "2024-05-01T12:20:30+02:00",
            "2024-05-01T10:20:30.000+0000",
        ] {
            assert_eq!(date_time(&json!(input)), Ok(expected), "{input}");
        }
        assert!(date_time(&json!("2024-05-01T10:20")).is_ok());
        for bad in [
            "2024-13-01T10:20:30Z",
            "yesterday",
            "2024-05-01",
            "0000-01-01T00:00",
        ] {
            assert!(date_time(&json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_and_booleans_keep_to_their_json_types() {
        assert_eq!(integer(&json!(4)), Ok(4));
        assert_eq!(integer(&json!(4.0)), Ok(4));
        assert!(integer(&json!("4")).is_err());
        assert!(integer(&json!(4.5)).is_err());
        assert!(integer(&json!(true)).is_err());
        assert_eq!(boolean(&json!(false)), Ok(false));
        assert!(boolean(&json!("true")).is_err());
        assert!(boolean(&json!(0)).is_err());
    }

    #[test]
    fn object_lists_report_errors_per_item() {
        let check = |map: &Map<String, Value>| {
            let mut errors = FieldErrors::new();
            let name = required(map, "name", &mut errors, |v| text(v, PLAIN));
            if errors.is_empty() {
                Ok(name)
            } else {
                Err(errors)
            }
        };
        let result = object_list(&json!([{"name": "ok"}, {"name": ""}, "x"]), check);
        let Err(FieldError::Items(items)) = result else {
            panic!("expected item errors, got {result:?}");
        };
        let items: Vec<Value> = items.into_iter().map(FieldErrors::into_json).collect();
        assert_eq!(
            items,
            vec![
                json!({}),
                json!({"name": [messages::BLANK]}),
                json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
            ]
        );
    }
}
