//! The three documented media types, and the refusals of everything else.

use serde_json::{json, Value};

use crate::common::backend::Backend;
use crate::support::{tag_names, TestServer};

crate::backend_tests!(
    json_form_and_multipart_store_the_same_contact,
    other_media_types_get_415,
    bodies_over_the_limit_get_413,
    malformed_json_gets_400_detail,
);

const BOUNDARY: &str = "hilosBoundary7MA4YWxk";

fn multipart(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    out + &format!("--{BOUNDARY}--\r\n")
}

/// The parts of a contact that the request set.
fn written(contact: &Value) -> Value {
    json!({
        "canonical_phone": contact["canonical_phone"],
        "first_name": contact["first_name"],
        "email": contact["email"],
        "meta": contact["meta"],
        "tags": tag_names(contact),
        "assignees": contact["default_assignees"].as_array().map(Vec::len),
    })
}

async fn json_form_and_multipart_store_the_same_contact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let auth = format!("Token {}", caller.token);
    let member = server.member(caller.account_id).await.user_id.to_string();

    let from_json = server
        .upsert(
            &caller,
            json!({
                "phone": "+525510000001", "first_name": "Ana", "email": "ana@example.com",
                "meta": {"plan": "gold", "seats": 3}, "tags": [{"name": "vip"}, {"name": "new"}],
                "default_assignees": [member.parse::<i64>().expect("id")],
            }),
        )
        .await;

    let form = format!(
        "phone=%2B525510000002&first_name=Ana&email=ana%40example.com&meta%5Bplan%5D=gold\
         &meta%5Bseats%5D=3&tags=vip&tags=new&default_assignees={member}"
    );
    let from_form = server
        .post(Some(&auth), Some("application/x-www-form-urlencoded"), form)
        .await;
    assert_eq!(from_form.status, 201, "{}", from_form.body);

    let parts = multipart(&[
        ("phone", "+525510000003"),
        ("first_name", "Ana"),
        ("email", "ana@example.com"),
        ("meta", r#"{"plan": "gold", "seats": 3}"#),
        ("tags", "vip"),
        ("tags", "new"),
        ("default_assignees", &member),
    ]);
    let from_multipart = server
        .post(
            Some(&auth),
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            parts,
        )
        .await;
    assert_eq!(from_multipart.status, 201, "{}", from_multipart.body);

    let mut expected = written(&from_json);
    for (label, contact) in [
        ("form", &from_form.body),
        ("multipart", &from_multipart.body),
    ] {
        let mut got = written(contact);
        got["canonical_phone"] = expected["canonical_phone"].clone();
        assert_eq!(got, expected, "{label}");
    }
    expected["canonical_phone"] = json!("+525510000001");
    assert_eq!(written(&from_json), expected);
    assert_eq!(from_json["meta"], json!({"plan": "gold", "seats": "3"}));

    // Form booleans and an update through a form body.
    let overwrite = server
        .post(
            Some(&auth),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            "phone=%2B525510000001&tags=solo&overwrite_tags=on&first_name=",
        )
        .await;
    assert_eq!(overwrite.status, 201, "{}", overwrite.body);
    assert_eq!(tag_names(&overwrite.body), ["solo"]);
    assert_eq!(
        overwrite.body["first_name"],
        json!(null),
        "an empty nullable form value is null"
    );
}

async fn other_media_types_get_415(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let auth = format!("Token {}", caller.token);
    for media_type in ["text/plain", "application/xml"] {
        let reply = server
            .post(Some(&auth), Some(media_type), "phone=+525512345678")
            .await;
        assert_eq!(reply.status, 415);
        assert_eq!(
            reply.body,
            json!({"detail": format!("Unsupported media type \"{media_type}\" in request.")})
        );
    }
    assert_eq!(server.contact_count().await, 0);
}

async fn bodies_over_the_limit_get_413(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let big = json!({"phone": "+525512345678", "meta": {"blob": "x".repeat(1024 * 1024)}});
    let reply = server.post_json(&caller, big).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body, json!({"detail": "Request body is too large."}));
    assert_eq!(server.contact_count().await, 0);
}

async fn malformed_json_gets_400_detail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let reply = server
        .post(
            Some(&format!("Token {}", caller.token)),
            Some("application/json"),
            "{\"phone\": +52}",
        )
        .await;
    assert_eq!(reply.status, 400);
    let detail = reply.body["detail"].as_str().expect("detail");
    assert!(detail.starts_with("JSON parse error - "), "{detail}");
}
