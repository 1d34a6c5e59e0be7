//! Reading a request body and decoding it into one JSON object, whatever
//! media type it came in.
//!
//! JSON bodies are parsed as they are. Form-urlencoded and multipart bodies are
//! flat lists of text fields, so they are mapped onto the JSON shape of the
//! request type with the help of a [`FormField`] table that the generator
//! writes from the spec:
//!
//! - scalars are plain values; an empty value of a nullable field is `null`;
//! - booleans are `true/false/1/0/on/off/yes/no`, case-insensitive;
//! - a list repeats its field, one item per value; a single empty value is an
//!   empty list;
//! - a list of objects with one writable property (such as `tags`) takes that
//!   property's value (`tags=vip` is `{"name": "vip"}`);
//! - a map is written `meta[KEY]=VALUE`, or as a single `meta` field holding a
//!   JSON object.
//!
//! The decoded object then goes through the same validation as JSON.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::errors::{detail, messages, FieldErrors};
use super::fields::python_type_name;

/// How one property of a request type is written in a form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// A single text value: strings, and formats such as uuid or date-time.
    Text,
    /// A single boolean.
    Boolean,
    /// A single integer.
    Integer,
    /// A repeated field of integers.
    IntegerList,
    /// A repeated field of text values.
    TextList,
    /// A repeated field; each value is the named property of one object.
    ObjectList(&'static str),
    /// A free-form object: `name[KEY]=VALUE`, or `name` holding JSON.
    Map,
}

/// One property of a request type, as a form body carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormField {
    /// The property name.
    pub name: &'static str,
    /// How its values are written.
    pub kind: FormKind,
    /// Whether an empty value means `null`.
    pub nullable: bool,
}

/// Why a body could not be turned into a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    /// 415: not JSON, form-urlencoded or multipart.
    UnsupportedMediaType(String),
    /// 413: over the size limit.
    TooLarge,
    /// 400 `{"detail": ...}`: the body could not be parsed.
    Malformed(String),
    /// 400 with field errors: parsed, but not an object of fields.
    Fields(FieldErrors),
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        match self {
            BodyError::UnsupportedMediaType(media_type) => detail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Unsupported media type \"{media_type}\" in request."),
            ),
            BodyError::TooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, messages::TOO_LARGE),
            BodyError::Malformed(message) => detail(StatusCode::BAD_REQUEST, message),
            BodyError::Fields(errors) => errors.into_response(),
        }
    }
}

/// Reads at most `limit` bytes of `body` and decodes them according to the
/// `Content-Type` header. An empty body is an empty object.
pub async fn read_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    form: &[FormField],
) -> Result<Map<String, Value>, BodyError> {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|err| body_read_error(&err))?;
    decode_object(headers, &bytes, form).await
}

fn body_read_error(err: &axum::Error) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return BodyError::TooLarge;
        }
        source = cause.source();
    }
    BodyError::Malformed("The request body could not be read.".to_owned())
}

/// The percent-decoded value of a path parameter; `None` when it is missing
/// or not valid UTF-8.
pub fn path_param(params: &axum::extract::RawPathParams, name: &str) -> Option<String> {
    let (_, raw) = params.iter().find(|(key, _)| *key == name)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Decodes a query string, which is written like a form body.
///
/// NUL characters are removed from the values, as Django REST Framework's
/// `SearchFilter` removes them from the search term, so `?search=a%00b`
/// searches for `ab` rather than being refused.
pub fn query_object(
    raw: Option<&str>,
    form: &[FormField],
) -> Result<Map<String, Value>, BodyError> {
    let pairs = parse_urlencoded(raw.unwrap_or_default().as_bytes())?
        .into_iter()
        .map(|(name, value)| (name, value.replace('\0', "")))
        .collect();
    form_to_object(pairs, form).map_err(BodyError::Fields)
}

/// Decodes a complete body according to the `Content-Type` header.
pub async fn decode_object(
    headers: &HeaderMap,
    bytes: &[u8],
    form: &[FormField],
) -> Result<Map<String, Value>, BodyError> {
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        None if bytes.is_empty() => return Ok(Map::new()),
        None => String::new(),
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => decode_json(bytes),
        "application/x-www-form-urlencoded" => {
            let pairs = parse_urlencoded(bytes)?;
            form_to_object(pairs, form).map_err(BodyError::Fields)
        }
        "multipart/form-data" => {
            let pairs = parse_multipart(&content_type, bytes).await?;
            form_to_object(pairs, form).map_err(BodyError::Fields)
        }
        _ => Err(BodyError::UnsupportedMediaType(media_type)),
    }
}

fn decode_json(bytes: &[u8]) -> Result<Map<String, Value>, BodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let mut errors = FieldErrors::new();
            errors.add(
                "non_field_errors",
                messages::invalid_data(python_type_name(&other)),
            );
            Err(BodyError::Fields(errors))
        }
        Err(err) => Err(BodyError::Malformed(format!("JSON parse error - {err}"))),
    }
}

fn parse_urlencoded(bytes: &[u8]) -> Result<Vec<(String, String)>, BodyError> {
    let decode = |part: &[u8]| -> Result<String, BodyError> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| {
                BodyError::Malformed("Form parse error - the text is not valid UTF-8.".to_owned())
            })
    };
    bytes
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

async fn parse_multipart(
    content_type: &str,
    bytes: &[u8],
) -> Result<Vec<(String, String)>, BodyError> {
    let malformed =
        |err: multer::Error| BodyError::Malformed(format!("Multipart form parse error - {err}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let chunk = bytes::Bytes::copy_from_slice(bytes);
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(chunk) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        // Uploaded files are not fields of the contact; upstream keeps them
        // apart from the data too.
        if field.file_name().is_some() {
            continue;
        }
        let Some(name) = field.name().map(str::to_owned) else {
            // multer reads a name that is not UTF-8 as no name; such a part
            // is refused, as a form field with such a name is.
            let disposition = field.headers().get(header::CONTENT_DISPOSITION);
            if disposition.is_some_and(|value| std::str::from_utf8(value.as_bytes()).is_err()) {
                return Err(BodyError::Malformed(
                    "Multipart form parse error - a field name is not valid UTF-8.".to_owned(),
                ));
            }
            continue;
        };
        let value = field.bytes().await.map_err(malformed)?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| {
            BodyError::Malformed(format!(
                "Multipart form parse error - field \"{name}\" is not valid UTF-8."
            ))
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Maps the flat fields of a form body onto the JSON shape described by
/// `form`. Fields that are not in the table are ignored, as unknown JSON
/// properties are.
pub fn form_to_object(
    pairs: Vec<(String, String)>,
    form: &[FormField],
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut object = Map::new();
    for field in form {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(name, _)| name == field.name)
            .map(|(_, value)| value.as_str())
            .collect();
        let decoded = match field.kind {
            FormKind::Map => map_value(field.name, &values, &pairs),
            _ if values.is_empty() => continue,
            FormKind::IntegerList | FormKind::TextList | FormKind::ObjectList(_) => {
                Ok(list_value(field.kind, &values))
            }
            _ if values.len() > 1 => Err(messages::SINGLE_VALUE.to_owned()),
            _ => Ok(scalar_value(field, values[0])),
        };
        match decoded {
            Ok(Value::Null) if field.kind == FormKind::Map => {}
            Ok(value) => {
                object.insert(field.name.to_owned(), value);
            }
            Err(message) => errors.add(field.name, message),
        }
    }
    if errors.is_empty() {
        Ok(object)
    } else {
        Err(errors)
    }
}

fn scalar_value(field: &FormField, value: &str) -> Value {
    if value.is_empty() && field.nullable {
        return Value::Null;
    }
    match field.kind {
        FormKind::Boolean => parse_bool(value).map_or_else(|| text(value), Value::Bool),
        FormKind::Integer => parse_integer(value),
        _ => text(value),
    }
}

fn list_value(kind: FormKind, values: &[&str]) -> Value {
    if let [""] = values {
        return Value::Array(Vec::new());
    }
    let items = values.iter().map(|&value| match kind {
        FormKind::IntegerList => parse_integer(value),
        FormKind::ObjectList(property) => {
            let mut item = Map::new();
            item.insert(property.to_owned(), text(value));
            Value::Object(item)
        }
        _ => text(value),
    });
    Value::Array(items.collect())
}

/// `meta={"a": 1}` and `meta[a]=1` both build the object; keys given with
/// brackets win over the same key inside the JSON.
fn map_value(name: &str, whole: &[&str], pairs: &[(String, String)]) -> Result<Value, String> {
    let mut object = match whole {
        [] => None,
        [json] => match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Some(map),
            Ok(other) => return Err(messages::not_a_dict(python_type_name(&other))),
            Err(_) => return Err(messages::JSON_VALUE.to_owned()),
        },
        _ => return Err(messages::SINGLE_VALUE.to_owned()),
    };
    for (field, value) in pairs {
        let key = field
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'));
        if let Some(key) = key {
            object
                .get_or_insert_with(Map::new)
                .insert(key.to_owned(), text(value));
        }
    }
    Ok(object.map_or(Value::Null, Value::Object))
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// Parses `true/false/1/0/on/off/yes/no`, ignoring case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// A form or query integer. The spec's integers have no bounds, so a
/// well-formed integer beyond 64 bits saturates (a page number that large is
/// simply past the last page) rather than being refused as malformed.
fn parse_integer(value: &str) -> Value {
    let trimmed = value.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        return Value::from(n);
    }
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let saturated = if trimmed.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        };
        return Value::from(saturated);
    }
    text(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FORM: &[FormField] = &[
        FormField {
            name: "phone",
            kind: FormKind::Text,
            nullable: false,
        },
        FormField {
            name: "email",
            kind: FormKind::Text,
            nullable: true,
        },
        FormField {
            name: "flag",
            kind: FormKind::Boolean,
            nullable: false,
        },
        FormField {
            name: "ids",
            kind: FormKind::IntegerList,
            nullable: false,
        },
        FormField {
            name: "tags",
            kind: FormKind::ObjectList("name"),
            nullable: false,
        },
        FormField {
            name: "meta",
            kind: FormKind::Map,
            nullable: false,
        },
    ];

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn maps_each_kind_of_field() {
        let object = form_to_object(
            pairs(&[
                ("phone", "+52 55"),
                ("email", ""),
                ("flag", "ON"),
                ("ids", "4"),
                ("ids", "x"),
                ("tags", "vip"),
                ("tags", "new"),
                ("meta[a]", "1"),
                ("unknown", "ignored"),
            ]),
            FORM,
        )
        .expect("valid form");
        assert_eq!(
            Value::Object(object),
            json!({
                "phone": "+52 55",
                "email": null,
                "flag": true,
                "ids": [4, "x"],
                "tags": [{"name": "vip"}, {"name": "new"}],
                "meta": {"a": "1"},
            })
        );
    }

    #[test]
    fn meta_as_json_merges_with_bracket_keys() {
        let object = form_to_object(
            pairs(&[("meta", r#"{"a": 1, "b": "x"}"#), ("meta[b]", "y")]),
            FORM,
        )
        .expect("valid form");
        assert_eq!(Value::Object(object), json!({"meta": {"a": 1, "b": "y"}}));
    }

    #[test]
    fn a_single_empty_value_is_an_empty_list() {
        let object = form_to_object(pairs(&[("tags", "")]), FORM).expect("valid form");
        assert_eq!(Value::Object(object), json!({"tags": []}));
    }

    #[test]
    fn repeated_scalars_and_bad_meta_are_field_errors() {
        let errors = form_to_object(
            pairs(&[("phone", "1"), ("phone", "2"), ("meta", "{nope")]),
            FORM,
        )
        .expect_err("invalid form");
        assert_eq!(
            errors.into_json(),
            json!({"phone": [messages::SINGLE_VALUE], "meta": [messages::JSON_VALUE]})
        );
    }

    #[test]
    fn integers_beyond_64_bits_saturate() {
        assert_eq!(
            parse_integer("36024207634290958525267968000"),
            json!(i64::MAX)
        );
        assert_eq!(parse_integer("-99999999999999999999"), json!(i64::MIN));
        assert_eq!(parse_integer(" 42 "), json!(42));
        assert_eq!(parse_integer("4x"), json!("4x"));
        assert_eq!(parse_integer("-"), json!("-"));
    }

    #[test]
    fn urlencoded_rejects_invalid_utf8() {
        assert!(parse_urlencoded(b"phone=%FF").is_err());
        assert_eq!(
            parse_urlencoded(b"a=b+c&d=%C3%A9&e").expect("valid"),
            pairs(&[("a", "b c"), ("d", "é"), ("e", "")])
        );
    }
}
