//! Property tests: whatever bytes, media types, field values, query strings
//! and path ids a client sends, the router answers without a panic and
//! without a 5xx, every error in one of Django REST Framework's shapes, and
//! the trait is called only with input that passed.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use common::{call, is_drf_error, Call, Double, BOUNDARY, KEY};
use hilos_api::runtime::body::{decode_object, query_object};
use hilos_api::{ListContactsQuery, PatchedContactEditPublic};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Every property of the request body.
const FIELDS: &[&str] = &[
    "phone",
    "first_name",
    "last_name",
    "email",
    "meta",
    "external_url",
    "id",
    "source",
    "created_on",
    "tags",
    "default_assignees",
    "overwrite_tags",
    "overwrite_default_assignees",
    "overwrite_meta",
];

/// Enough cases to find shallow mistakes while the file runs in seconds in
/// a debug build.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    );
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.borrow().block_on(future))
}

/// Sends `request` and checks what every answer must satisfy: no 5xx, a
/// DRF error body for every 4xx, and the trait called only on success.
fn answer(request: Request<Body>) -> (Call, bool) {
    let api = Arc::new(Double::default());
    let call = block_on(call(&api, request));
    assert!(
        !call.status.is_server_error(),
        "{}: {}",
        call.status,
        call.body
    );
    let reached = !api.seen.lock().expect("not poisoned").is_empty()
        || !api.queries.lock().expect("not poisoned").is_empty()
        || !api.ids.lock().expect("not poisoned").is_empty();
    if call.status.is_client_error() {
        assert!(is_drf_error(&call.body), "{}: {}", call.status, call.body);
        // The double answers 404 itself for any id it is given.
        if call.status != StatusCode::NOT_FOUND {
            assert!(!reached, "the trait saw a refused request");
        }
    } else {
        assert!(call.status.is_success(), "{}", call.status);
        assert!(reached, "only the trait answers with success");
    }
    (call, reached)
}

fn authorized(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Token {KEY}"))
}

/// Any JSON value, a few levels deep, with arbitrary Unicode text
/// (control characters and NUL included).
fn arb_json() -> impl Strategy<Value = Value> {
    json_with(any::<f64>().prop_filter_map("finite", |f| {
        serde_json::Number::from_f64(f).map(Value::Number)
    }))
}

/// [`arb_json`] with integers for numbers: serde_json parses some floats to
/// a neighbouring value, so only these survive a text round trip exactly.
fn arb_exact_json() -> impl Strategy<Value = Value> {
    json_with(any::<i64>().prop_map(Value::from))
}

fn json_with(number: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        number,
        any::<String>().prop_map(Value::String),
        "[ -~]{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body object: known fields (sometimes with a plausible shape) and
/// unknown ones, each with any JSON value.
fn arb_body() -> impl Strategy<Value = Map<String, Value>> {
    body_with(arb_json)
}

fn body_with<S: Strategy<Value = Value> + 'static>(
    arb_json: fn() -> S,
) -> impl Strategy<Value = Map<String, Value>> {
    let name = prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let tags = prop::collection::vec(
        prop_oneof![
            arb_json().prop_map(|name| serde_json::json!({ "name": name })),
            arb_json(),
        ],
        0..4,
    )
    .prop_map(Value::Array);
    (
        prop::collection::btree_map(name, arb_json(), 0..8),
        prop::option::of(tags),
        prop::option::of("[+0-9 ()./-]{0,40}"),
    )
        .prop_map(|(fields, tags, phone)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            if let Some(tags) = tags {
                object.insert("tags".into(), tags);
            }
            if let Some(phone) = phone {
                object.insert("phone".into(), Value::String(phone));
            }
            object
        })
}

/// Bytes that a header value may hold: visible ASCII, space, tab and
/// obs-text.
fn arb_header_value() -> impl Strategy<Value = HeaderValue> {
    prop::collection::vec(
        any::<u8>().prop_filter("header byte", |&b| (b >= 0x20 && b != 0x7f) || b == b'\t'),
        0..80,
    )
    .prop_map(|bytes| HeaderValue::from_bytes(&bytes).expect("only legal bytes"))
}

fn arb_content_type() -> impl Strategy<Value = Option<HeaderValue>> {
    let fixed = |text: &'static str| Just(Some(HeaderValue::from_static(text)));
    prop_oneof![
        fixed("application/json"),
        fixed("application/json; charset=utf-8"),
        fixed("application/x-www-form-urlencoded"),
        fixed("multipart/form-data; boundary=XyZBoundary"),
        fixed("multipart/form-data"),
        fixed("multipart/form-data; boundary="),
        fixed("multipart/form-data; boundary=\"\""),
        arb_header_value().prop_map(|boundary| {
            let mut value = b"multipart/form-data; boundary=".to_vec();
            value.extend_from_slice(boundary.as_bytes());
            Some(HeaderValue::from_bytes(&value).expect("legal bytes"))
        }),
        arb_header_value().prop_map(Some),
        Just(None),
    ]
}

/// A multipart body with the expected boundary around parts whose names,
/// file names and values are arbitrary bytes, and sometimes a broken end.
fn arb_multipart() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(|f| f.as_bytes().to_vec()),
        1 => Just(b"meta[plan]".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let extra_headers = prop_oneof![
        3 => Just(Vec::new()),
        1 => Just(b"Content-Type: text/plain; charset=utf-8".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ];
    let part = (
        name,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
        value,
        extra_headers,
    );
    (prop::collection::vec(part, 0..5), any::<bool>()).prop_map(|(parts, closed)| {
        let mut out = Vec::new();
        for (name, file_name, value, extra_headers) in parts {
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            out.extend_from_slice(b"Content-Disposition: form-data; name=\"");
            out.extend_from_slice(&name);
            out.push(b'"');
            if let Some(file_name) = file_name {
                out.extend_from_slice(b"; filename=\"");
                out.extend_from_slice(&file_name);
                out.push(b'"');
            }
            if !extra_headers.is_empty() {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&extra_headers);
            }
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        if closed {
            out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        }
        out
    })
}

/// A form body of `name=value` pairs, names mostly known, both sides
/// arbitrary bytes, percent-encoded or raw.
fn arb_form() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(|f| f.as_bytes().to_vec()),
        1 => "meta\\[[a-z%]{0,5}\\]".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(|text| {
            utf8_percent_encode(&text, NON_ALPHANUMERIC)
                .to_string()
                .into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..24),
        "(%[0-9A-Fa-f]{2}|%|[a-z+&=])*".prop_map(String::into_bytes),
    ];
    prop::collection::vec((name, value), 0..10).prop_map(|pairs| {
        let mut out = Vec::new();
        for (name, value) in pairs {
            out.extend_from_slice(&name);
            out.push(b'=');
            out.extend_from_slice(&value);
            out.push(b'&');
        }
        out
    })
}

fn body_request(
    method: Method,
    content_type: Option<HeaderValue>,
    bytes: Vec<u8>,
) -> Request<Body> {
    let uri = if method == Method::PATCH {
        "/api/contact/67e55044-10b1-426f-9247-bb680e5fe0c8"
    } else {
        "/api/contact"
    };
    let mut builder = authorized(method, uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(bytes)).expect("valid request")
}

fn arb_body_method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::POST), Just(Method::PATCH)]
}

/// Characters that must be escaped to sit in a URI's path or query.
const NOT_IN_URI: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// [`NOT_IN_URI`], and what would end a path segment or start an escape.
const NOT_IN_SEGMENT: &AsciiSet = &NOT_IN_URI.add(b'/').add(b'?').add(b'%');

/// Text made safe for a URI while keeping `%`, `&`, `=` and `+` raw, so
/// broken escapes and odd pairs reach the decoder.
fn uri_text(text: &str, also: &'static AsciiSet) -> String {
    utf8_percent_encode(text, also).to_string()
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn arbitrary_bytes_in_any_media_type(
        method in arb_body_method(),
        content_type in arb_content_type(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        answer(body_request(method, content_type, bytes));
    }

    #[test]
    fn arbitrary_multipart_parts(method in arb_body_method(), bytes in arb_multipart()) {
        let content_type = HeaderValue::from_static("multipart/form-data; boundary=XyZBoundary");
        answer(body_request(method, Some(content_type), bytes));
    }

    #[test]
    fn arbitrary_form_pairs(method in arb_body_method(), bytes in arb_form()) {
        let content_type = HeaderValue::from_static("application/x-www-form-urlencoded");
        answer(body_request(method, Some(content_type), bytes));
    }

    #[test]
    fn arbitrary_json_values_for_every_field(method in arb_body_method(), object in arb_body()) {
        let bytes = serde_json::to_vec(&Value::Object(object)).expect("serialise");
        let content_type = HeaderValue::from_static("application/json");
        answer(body_request(method, Some(content_type), bytes));
    }

    #[test]
    fn arbitrary_authorization_headers(value in arb_header_value()) {
        let request = Request::get("/api/contact")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .expect("valid request");
        let (call, _) = answer(request);
        prop_assert_eq!(call.status, StatusCode::UNAUTHORIZED);
        prop_assert_eq!(call.www_authenticate.as_deref(), Some("Token"));
    }

    #[test]
    fn arbitrary_query_strings(
        raw in any::<String>(),
        page in prop::option::of("[-+ 0-9a-z.]{0,25}"),
        search in prop::option::of(any::<String>()),
    ) {
        let mut query = uri_text(&raw, NOT_IN_URI);
        if let Some(page) = page {
            query.push_str("&page=");
            query.push_str(&uri_text(&page, NON_ALPHANUMERIC));
        }
        if let Some(search) = search {
            query.push_str("&search=");
            query.push_str(&uri_text(&search, NON_ALPHANUMERIC));
        }
        let request = authorized(Method::GET, &format!("/api/contact?{query}"))
            .body(Body::empty())
            .expect("the query is URI-safe");
        let (call, _) = answer(request);
        prop_assert!(
            call.status == StatusCode::OK || call.status == StatusCode::BAD_REQUEST,
            "{}", call.status
        );
    }

    #[test]
    fn arbitrary_path_ids(
        method in prop_oneof![Just(Method::GET), Just(Method::DELETE), Just(Method::PATCH)],
        id in prop_oneof![
            any::<String>(),
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).simple().to_string().to_uppercase()),
        ],
        raw_escape in any::<bool>(),
    ) {
        prop_assume!(!id.is_empty());
        let mut segment = uri_text(&id, NOT_IN_SEGMENT);
        if raw_escape {
            // A broken or non-UTF-8 escape in the path.
            segment.push_str("%FF%");
        }
        let request = authorized(method, &format!("/api/contact/{segment}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("the segment is URI-safe");
        let (call, reached) = answer(request);
        let valid = !raw_escape && uuid::Uuid::parse_str(&id).is_ok();
        prop_assert_eq!(reached, valid, "the trait sees exactly the valid ids");
        if !valid {
            prop_assert_eq!(call.status, StatusCode::NOT_FOUND);
            prop_assert_eq!(call.body, serde_json::json!({"detail": "Not found."}));
        }
    }
}

fn decode(content_type: &str, bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("content type"),
    );
    block_on(decode_object(
        &headers,
        bytes,
        PatchedContactEditPublic::FORM,
    ))
    .map_err(|error| format!("{error:?}"))
}

/// Text that the form and multipart writers below carry as it is.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,30}"]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn json_objects_decode_to_themselves(object in body_with(arb_exact_json)) {
        let bytes = serde_json::to_vec(&Value::Object(object.clone())).expect("serialise");
        prop_assert_eq!(decode("application/json", &bytes), Ok(object));
    }

    #[test]
    fn form_values_decode_to_what_was_encoded(
        first_name in arb_text(),
        meta in prop::collection::btree_map(arb_text(), arb_text(), 0..5),
        tags in prop::collection::vec(arb_text(), 1..4),
    ) {
        let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
        let mut form = format!("first_name={}", encode(&first_name));
        for (key, value) in &meta {
            form.push_str(&format!("&{}={}", encode(&format!("meta[{key}]")), encode(value)));
        }
        for tag in &tags {
            form.push_str(&format!("&tags={}", encode(tag)));
        }
        let decoded = decode("application/x-www-form-urlencoded", form.as_bytes())
            .expect("a well-formed form");
        prop_assert_eq!(&decoded["first_name"], &expected_text(&first_name, true));
        prop_assert_eq!(decoded.get("meta").cloned(), expected_meta(&meta));
        prop_assert_eq!(&decoded["tags"], &expected_tags(&tags));
    }

    #[test]
    fn multipart_values_decode_to_what_was_sent(
        first_name in arb_text(),
        meta in prop::collection::btree_map("[a-z0-9_]{1,8}", arb_text(), 0..5),
        tags in prop::collection::vec(arb_text(), 1..4),
    ) {
        let mut fields = vec![("first_name".to_owned(), first_name.clone())];
        fields.extend(meta.iter().map(|(k, v)| (format!("meta[{k}]"), v.clone())));
        fields.extend(tags.iter().map(|t| ("tags".to_owned(), t.clone())));
        let delimiter = format!("\r\n--{BOUNDARY}");
        prop_assume!(fields.iter().all(|(_, v)| !v.contains(&delimiter) && !v.starts_with(&delimiter[2..])));
        let borrowed: Vec<(&str, &str)> =
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = common::multipart(&borrowed);
        let decoded = decode(&format!("multipart/form-data; boundary={BOUNDARY}"), body.as_bytes())
            .expect("a well-formed multipart body");
        prop_assert_eq!(&decoded["first_name"], &expected_text(&first_name, true));
        prop_assert_eq!(decoded.get("meta").cloned(), expected_meta(&meta));
        prop_assert_eq!(&decoded["tags"], &expected_tags(&tags));
    }

    #[test]
    fn query_integers_and_text_decode(page in any::<i64>(), search in arb_text()) {
        let query = format!(
            "page={page}&search={}",
            utf8_percent_encode(&search, NON_ALPHANUMERIC)
        );
        let object = query_object(Some(&query), ListContactsQuery::FORM).expect("a valid query");
        let parsed = ListContactsQuery::from_object(&object).expect("valid fields");
        prop_assert_eq!(parsed.page, Some(page));
        prop_assert_eq!(parsed.search.as_deref(), Some(search.trim()));
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(
        content_type in "(application/json|application/x-www-form-urlencoded|multipart/form-data; boundary=[ -~]{0,20})",
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = decode(&content_type, &bytes);
        let _ = query_object(Some(&String::from_utf8_lossy(&bytes)), ListContactsQuery::FORM);
    }
}

/// An empty value of a nullable field is `null`.
fn expected_text(text: &str, nullable: bool) -> Value {
    if text.is_empty() && nullable {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

fn expected_meta(meta: &BTreeMap<String, String>) -> Option<Value> {
    (!meta.is_empty()).then(|| {
        Value::Object(
            meta.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    })
}

/// A single empty value is an empty list.
fn expected_tags(tags: &[String]) -> Value {
    if let [only] = tags {
        if only.is_empty() {
            return Value::Array(Vec::new());
        }
    }
    Value::Array(
        tags.iter()
            .map(|t| serde_json::json!({ "name": t }))
            .collect(),
    )
}
