//! The generated router against a test double of the trait: everything the
//! router does before the trait is called.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{call, json_post, last_seen, multipart, post, Double, BOUNDARY, KEY, LIMIT};
use hilos_api::{ContactTagRequest, Patch};
use serde_json::{json, Value};

#[tokio::test]
async fn json_form_and_multipart_decode_to_the_same_request() {
    let api = Arc::new(Double::default());
    let json = json!({
        "phone": "+52 1 55 1234 5678",
        "first_name": "Ana",
        "email": null,
        "meta": {"plan": "gold", "seats": "3"},
        "tags": [{"name": "vip"}, {"name": "new"}],
        "default_assignees": [7, 8],
        "overwrite_tags": true,
        "created_on": "2024-05-01T10:20:30Z",
        "id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
    });
    let form =
        "phone=%2B52+1+55+1234+5678&first_name=Ana&email=&meta%5Bplan%5D=gold&meta%5Bseats%5D=3\
        &tags=vip&tags=new&default_assignees=7&default_assignees=8&overwrite_tags=on\
        &created_on=2024-05-01T10%3A20%3A30Z&id=67e55044-10b1-426f-9247-bb680e5fe0c8";
    let parts = multipart(&[
        ("phone", "+52 1 55 1234 5678"),
        ("first_name", "Ana"),
        ("email", ""),
        ("meta", r#"{"plan": "gold", "seats": 3}"#),
        ("tags", "vip"),
        ("tags", "new"),
        ("default_assignees", "7"),
        ("default_assignees", "8"),
        ("overwrite_tags", "TRUE"),
        ("created_on", "2024-05-01T10:20:30Z"),
        ("id", "67e55044-10b1-426f-9247-bb680e5fe0c8"),
    ]);

    let mut decoded = Vec::new();
    for request in [
        json_post(json),
        post(Some("application/x-www-form-urlencoded"), form),
        post(
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            parts,
        ),
    ] {
        let call = call(&api, request).await;
        assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
        decoded.push(last_seen(&api));
    }

    let expected = &decoded[0];
    assert_eq!(expected.phone.as_deref(), Some("+52 1 55 1234 5678"));
    assert_eq!(expected.email, Patch::Null);
    assert_eq!(
        expected.tags,
        Some(vec![
            ContactTagRequest { name: "vip".into() },
            ContactTagRequest { name: "new".into() },
        ])
    );
    assert_eq!(expected.default_assignees, Some(vec![7, 8]));
    assert!(expected.overwrite_tags_or_default());
    assert!(!expected.overwrite_meta_or_default());
    assert_eq!(expected.source_or_default(), "website");
    // The multipart `meta` carried a number, which stays a JSON number until
    // the server stores it as text.
    let mut multipart_meta = decoded[2].clone();
    multipart_meta
        .meta
        .as_mut()
        .expect("meta decoded")
        .insert("seats".into(), json!("3"));
    assert_eq!(&decoded[1], expected, "form differs from JSON");
    assert_eq!(&multipart_meta, expected, "multipart differs from JSON");
}

#[tokio::test]
async fn absent_and_null_reach_the_trait_as_different_values() {
    let api = Arc::new(Double::default());
    call(&api, json_post(json!({"phone": "1", "first_name": null}))).await;
    assert_eq!(last_seen(&api).first_name, Patch::Null);
    call(&api, json_post(json!({"phone": "1"}))).await;
    assert_eq!(last_seen(&api).first_name, Patch::Absent);
    call(&api, json_post(json!({"phone": "1", "first_name": "Ana"}))).await;
    assert_eq!(last_seen(&api).first_name, Patch::Value("Ana".into()));
}

#[tokio::test]
async fn other_media_types_get_415() {
    let api = Arc::new(Double::default());
    let call = call(&api, post(Some("text/plain"), "phone=1")).await;
    assert_eq!(call.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        call.body,
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
    assert!(api.seen.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let api = Arc::new(Double::default());
    let big = json!({"phone": "1", "first_name": "x".repeat(LIMIT)}).to_string();
    let call_with_length = call(&api, json_post(serde_json::from_str(&big).expect("json"))).await;
    assert_eq!(call_with_length.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        call_with_length.body,
        json!({"detail": "Request body is too large."})
    );

    // Without a Content-Length, the limit still holds while streaming.
    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = post(Some("application/json"), Body::from_stream(chunks));
    assert!(streamed.headers().get(header::CONTENT_LENGTH).is_none());
    assert_eq!(
        call(&api, streamed).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn malformed_json_gets_400_with_detail() {
    let api = Arc::new(Double::default());
    let call = call(&api, post(Some("application/json"), "{\"phone\": ")).await;
    assert_eq!(call.status, StatusCode::BAD_REQUEST);
    let detail = call.body["detail"].as_str().expect("detail");
    assert!(detail.starts_with("JSON parse error - "), "{detail}");

    let list = call_list(&api).await;
    assert_eq!(
        list,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
}

async fn call_list(api: &Arc<Double>) -> Value {
    let call = call(api, post(Some("application/json"), "[1]")).await;
    assert_eq!(call.status, StatusCode::BAD_REQUEST);
    call.body
}

#[tokio::test]
async fn each_auth_failure_gets_its_drf_401() {
    let api = Arc::new(Double::default());
    let cases: [(Option<&str>, &str); 5] = [
        (None, "Authentication credentials were not provided."),
        (
            Some("Bearer abc"),
            "Authentication credentials were not provided.",
        ),
        (
            Some("Token"),
            "Invalid token header. No credentials provided.",
        ),
        (
            Some("Token abc def"),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (Some("Token 0000"), "Invalid token."),
    ];
    for (authorization, message) in cases {
        let mut request = Request::post("/api/contact").header(header::CONTENT_TYPE, "text/plain");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let call = call(&api, request.body(Body::from("x")).expect("request")).await;
        assert_eq!(call.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(call.body, json!({ "detail": message }), "{authorization:?}");
        assert_eq!(call.www_authenticate.as_deref(), Some("Token"));
    }
    assert!(api.seen.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn every_bad_field_is_reported_in_one_400() {
    let api = Arc::new(Double::default());
    let call = call(
        &api,
        json_post(json!({
            "phone": "1",
            "first_name": "x".repeat(101),
            "email": "not-an-email",
            "external_url": "notaurl",
            "id": "42",
            "created_on": "yesterday",
            "tags": [{"name": "ok"}, {"name": "y".repeat(101)}],
            "default_assignees": "7",
            "overwrite_meta": "perhaps",
            "meta": [],
        })),
    )
    .await;
    assert_eq!(call.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        call.body,
        json!({
            "first_name": ["Ensure this field has no more than 100 characters."],
            "email": ["Enter a valid email address."],
            "external_url": ["Enter a valid URL."],
            "id": ["Must be a valid UUID."],
            "created_on": ["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."],
            "tags": [{}, {"name": ["Ensure this field has no more than 100 characters."]}],
            "default_assignees": ["Expected a list of items but got type \"str\"."],
            "overwrite_meta": ["Must be a valid boolean."],
            "meta": ["Expected a dictionary of items but got type \"list\"."],
        })
    );
    assert!(api.seen.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn type_errors_use_upstream_wording() {
    let api = Arc::new(Double::default());
    let call = call(
        &api,
        json_post(json!({"phone": null, "first_name": ["x"], "tags": [{}], "source": ""})),
    )
    .await;
    assert_eq!(
        call.body,
        json!({
            "phone": ["This field may not be null."],
            "first_name": ["Not a valid string."],
            "tags": [{"name": ["This field is required."]}],
            "source": ["This field may not be blank."],
        })
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_drf_bodies() {
    let api = Arc::new(Double::default());
    let put = Request::put("/api/contact")
        .body(Body::empty())
        .expect("request");
    let call_put = call(&api, put).await;
    assert_eq!(call_put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        call_put.body,
        json!({"detail": "Method \"PUT\" not allowed."})
    );

    let missing = Request::get("/api/nope")
        .body(Body::empty())
        .expect("request");
    let call_missing = call(&api, missing).await;
    assert_eq!(call_missing.status, StatusCode::NOT_FOUND);
    assert_eq!(call_missing.body, json!({"detail": "Not found."}));
}

#[test]
fn the_openapi_document_is_derived_from_code() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(hilos_api::ApiDoc::openapi()).expect("serialise");
    let post = &doc["paths"]["/api/contact"]["post"];
    assert_eq!(post["operationId"], "Create or Update Contact");
    let content = post["requestBody"]["content"].as_object().expect("content");
    assert_eq!(content.len(), 3);
    let phone = &doc["components"]["schemas"]["PatchedContactEditPublic"]["properties"]["phone"];
    assert_eq!(phone["maxLength"], 30);
    assert!(doc["components"]["securitySchemes"]["tokenAuth"].is_object());
}

#[tokio::test]
async fn path_and_query_parameters_are_parsed_before_the_trait() {
    let api = Arc::new(Double::default());
    let get = |uri: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Token {KEY}"))
            .body(Body::empty())
            .expect("request")
    };
    let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    assert_eq!(
        call(&api, get(&format!("/api/contact/{id}"))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.ids.lock().expect("not poisoned").as_slice(),
        [uuid::Uuid::parse_str(id).expect("uuid")]
    );

    let bad_id = call(&api, get("/api/contact/not-a-uuid")).await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_id.body, json!({"detail": "Not found."}));
    assert_eq!(
        api.ids.lock().expect("not poisoned").len(),
        1,
        "the trait never saw it"
    );

    let list = call(
        &api,
        get("/api/contact?page=2&page_size=5&search=ana+ruiz&other=x"),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    let query = api
        .queries
        .lock()
        .expect("not poisoned")
        .pop()
        .expect("query");
    assert_eq!(
        (query.page, query.page_size, query.search.as_deref()),
        (Some(2), Some(5), Some("ana ruiz"))
    );

    let bad_page = call(&api, get("/api/contact?page=two")).await;
    assert_eq!(bad_page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_page.body,
        json!({"page": ["A valid integer is required."]})
    );

    let unauthenticated = call(
        &api,
        Request::delete(format!("/api/contact/{id}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    let delete = Request::delete(format!("/api/contact/{id}"))
        .header(header::AUTHORIZATION, format!("Token {KEY}"))
        .body(Body::empty())
        .expect("request");
    let deleted = call(&api, delete).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
}

#[tokio::test]
async fn path_escapes_that_are_not_utf8_get_the_drf_404() {
    let api = Arc::new(Double::default());
    for method in ["GET", "PATCH", "DELETE"] {
        let request = Request::builder()
            .method(method)
            .uri("/api/contact/%FF%FE")
            .header(header::AUTHORIZATION, format!("Token {KEY}"))
            .body(Body::empty())
            .expect("request");
        let call = call(&api, request).await;
        assert_eq!(call.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(call.body, json!({"detail": "Not found."}), "{method}");
    }
    assert!(api.ids.lock().expect("not poisoned").is_empty());
}
