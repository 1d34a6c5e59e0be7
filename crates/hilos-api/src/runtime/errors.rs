//! Error bodies in Django REST Framework's shapes.
//!
//! Two shapes exist: `{"detail": "..."}` for errors that are not about a
//! field, and `{"<field>": ["<message>", ...], ...}` for validation errors.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Every field error of one request, keyed by field name.
///
/// A field maps to a list of messages, or, for a list of objects such as
/// `tags`, to one object of field errors per item (`{}` for a valid item), as
/// Django REST Framework reports nested serializers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors {
    fields: BTreeMap<String, Vec<Value>>,
}

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message to a field.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_default()
            .push(Value::String(message.into()));
    }

    /// Records the per-item errors of a list of objects.
    pub fn add_items(&mut self, field: &str, items: Vec<FieldErrors>) {
        let items = items.into_iter().map(FieldErrors::into_json).collect();
        self.fields.insert(field.to_owned(), items);
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether the field has an error.
    pub fn contains(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// The names of the failing fields, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Adds every error of `other`.
    pub fn extend(&mut self, other: FieldErrors) {
        for (field, entries) in other.fields {
            self.fields.entry(field).or_default().extend(entries);
        }
    }

    /// Each failing field with its entries: messages, or per-item objects.
    pub fn into_fields(self) -> BTreeMap<String, Vec<Value>> {
        self.fields
    }

    /// The body Django REST Framework would send.
    pub fn into_json(self) -> Value {
        Value::Object(
            self.fields
                .into_iter()
                .map(|(field, entries)| (field, Value::Array(entries)))
                .collect(),
        )
    }

    /// A 400 response carrying these errors.
    pub fn into_response(self) -> Response {
        json_response(StatusCode::BAD_REQUEST, &self.into_json())
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        // Serialising plain data types cannot fail; answer honestly if it does.
        Err(_) => server_error(),
    }
}

/// `{"detail": message}` with the given status.
pub fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "detail": message.into() }))
}

/// A 401 with `WWW-Authenticate: Token`, as Django REST Framework's
/// `TokenAuthentication` answers.
pub fn unauthorized(message: &str) -> Response {
    with_token_challenge(detail(StatusCode::UNAUTHORIZED, message))
}

/// Adds `WWW-Authenticate: Token`, which every 401 carries.
pub fn with_token_challenge(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    response
}

/// How long a client should wait before retrying a 503, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Adds `Retry-After`, which every 503 carries.
pub fn with_retry_after(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

/// 500 with a body that says nothing about the cause.
pub fn server_error() -> Response {
    detail(StatusCode::INTERNAL_SERVER_ERROR, messages::SERVER_ERROR)
}

/// 404 `{"detail": "Not found."}`.
pub fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, messages::NOT_FOUND)
}

/// 405 with Django REST Framework's body and an `Allow` header.
pub fn method_not_allowed(method: &str, allow: &'static str) -> Response {
    let mut response = detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A failure of the service behind the trait that is not the caller's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceError {
    /// A dependency such as the database is unreachable for now; the caller
    /// may retry. Answered with 503 and `Retry-After`.
    Unavailable,
    /// Anything else. Answered with 500; the cause must be logged by the
    /// implementation, never sent.
    Internal,
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        match self {
            ServiceError::Unavailable => {
                let mut response = detail(StatusCode::SERVICE_UNAVAILABLE, messages::UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            ServiceError::Internal => server_error(),
        }
    }
}

/// Django REST Framework's wording, kept in one place.
pub mod messages {
    /// A required field is missing.
    pub const REQUIRED: &str = "This field is required.";
    /// `null` for a field that is not nullable.
    pub const NULL: &str = "This field may not be null.";
    /// An empty string for a field that needs text.
    pub const BLANK: &str = "This field may not be blank.";
    /// Not a string.
    pub const NOT_A_STRING: &str = "Not a valid string.";
    /// Not an integer.
    pub const INTEGER: &str = "A valid integer is required.";
    /// Not a boolean.
    pub const BOOLEAN: &str = "Must be a valid boolean.";
    /// Not an email address.
    pub const EMAIL: &str = "Enter a valid email address.";
    /// Not an absolute http(s) URL.
    pub const URL: &str = "Enter a valid URL.";
    /// Not a UUID.
    pub const UUID: &str = "Must be a valid UUID.";
    /// Not an ISO-8601 date-time.
    pub const DATETIME: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
    /// Text holding a NUL character.
    pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
    /// A form field given more than once where one value is expected.
    pub const SINGLE_VALUE: &str = "Expected a single value, but got several.";
    /// A `meta` form field that is not a JSON object.
    pub const JSON_VALUE: &str = "Value must be valid JSON.";
    /// 404.
    pub const NOT_FOUND: &str = "Not found.";
    /// 500.
    pub const SERVER_ERROR: &str = "A server error occurred.";
    /// 503.
    pub const UNAVAILABLE: &str = "The service is temporarily unavailable. Try again shortly.";
    /// 413.
    pub const TOO_LARGE: &str = "Request body is too large.";

    /// "Ensure this field has no more than N characters."
    pub fn max_length(n: usize) -> String {
        format!("Ensure this field has no more than {n} characters.")
    }

    /// `Expected a list of items but got type "str".`
    pub fn not_a_list(got: &str) -> String {
        format!("Expected a list of items but got type \"{got}\".")
    }

    /// `Expected a dictionary of items but got type "str".`
    pub fn not_a_dict(got: &str) -> String {
        format!("Expected a dictionary of items but got type \"{got}\".")
    }

    /// `Invalid data. Expected a dictionary, but got str.`
    pub fn invalid_data(got: &str) -> String {
        format!("Invalid data. Expected a dictionary, but got {got}.")
    }
}
