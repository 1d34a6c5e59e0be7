//! Every validation message, with upstream's wording, through the server.

use serde_json::{json, Value};

use crate::common::backend::Backend;
use crate::support::TestServer;

crate::backend_tests!(
    each_field_rule_has_its_message,
    phone_rules,
    bad_fields_are_reported_together_and_nothing_is_stored,
    meta_is_bounded,
);

async fn error_for(server: &TestServer, body: Value) -> Value {
    let caller = server.caller().await;
    let reply = server.post_json(&caller, body).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    reply.body
}

async fn each_field_rule_has_its_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = "+525512345678";
    let cases = [
        (json!({"first_name": "x".repeat(101)}), "first_name", "Ensure this field has no more than 100 characters."),
        (json!({"last_name": "x".repeat(101)}), "last_name", "Ensure this field has no more than 100 characters."),
        (json!({"email": "nope"}), "email", "Enter a valid email address."),
        (json!({"email": format!("{}@{}.{}.{}.com", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(63))}), "email", "Ensure this field has no more than 254 characters."),
        (json!({"external_url": "crm/contact/1"}), "external_url", "Enter a valid URL."),
        (json!({"external_url": format!("https://example.com/{}", "a".repeat(200))}), "external_url", "Ensure this field has no more than 200 characters."),
        (json!({"id": "42"}), "id", "Must be a valid UUID."),
        (json!({"first_name": {"a": 1}}), "first_name", "Not a valid string."),
        (json!({"created_on": "last tuesday"}), "created_on", "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."),
        (json!({"source": "s".repeat(256)}), "source", "Ensure this field has no more than 255 characters."),
        (json!({"default_assignees": ["x"]}), "default_assignees", "A valid integer is required."),
        (json!({"default_assignees": [424242]}), "default_assignees", "Invalid pk \"424242\" - object does not exist."),
        (json!({"overwrite_tags": "sometimes"}), "overwrite_tags", "Must be a valid boolean."),
        (json!({"meta": "flat"}), "meta", "Expected a dictionary of items but got type \"str\"."),
    ];
    for (mut body, field, message) in cases {
        body["phone"] = json!(phone);
        let error = error_for(&server, body.clone()).await;
        assert_eq!(error, json!({ field: [message] }), "body {body}");
    }
    let tag = error_for(
        &server,
        json!({"phone": phone, "tags": [{"name": "t".repeat(101)}]}),
    )
    .await;
    assert_eq!(
        tag,
        json!({"tags": [{"name": ["Ensure this field has no more than 100 characters."]}]})
    );
    let blank_tag = error_for(&server, json!({"phone": phone, "tags": [{"name": ""}]})).await;
    assert_eq!(
        blank_tag,
        json!({"tags": [{"name": ["This field may not be blank."]}]})
    );
}

async fn phone_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let required = error_for(&server, json!({"first_name": "Ana"})).await;
    assert_eq!(required, json!({"phone": ["This field is required."]}));
    let too_long = error_for(
        &server,
        json!({"phone": "+52 55 1234 5678 0000 0000 0000 00"}),
    )
    .await;
    assert_eq!(
        too_long,
        json!({"phone": ["Ensure this field has no more than 30 characters."]})
    );
    for invalid in ["abc", "+52 55 CALL NOW", "12", "+999 1234 5678", "++5255"] {
        let error = error_for(&server, json!({"phone": invalid})).await;
        assert_eq!(
            error,
            json!({"phone": ["Enter a valid phone number."]}),
            "{invalid}"
        );
    }
    // The spec says `type: string`; a JSON number is refused.
    let number = error_for(&server, json!({"phone": 5215512345678_i64})).await;
    assert_eq!(number, json!({"phone": ["Not a valid string."]}));
}

async fn bad_fields_are_reported_together_and_nothing_is_stored(backend: Backend) {
    let server = TestServer::start(backend).await;
    let error = error_for(
        &server,
        json!({
            "phone": "not a phone", "email": "x", "external_url": "y",
            "id": "z", "created_on": "w", "first_name": "f".repeat(101),
        }),
    )
    .await;
    let fields: Vec<&str> = error
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    // Checks against the spec run first and are all reported together; the
    // phone is checked once the body fits the spec.
    assert_eq!(
        fields,
        ["created_on", "email", "external_url", "first_name", "id"]
    );
    let phone_and_meta = error_for(
        &server,
        json!({"phone": "not a phone", "meta": {"k": "v".repeat(10_001)}, "source": "s".repeat(300)}),
    )
    .await;
    let fields: Vec<&str> = phone_and_meta
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["meta", "phone", "source"]);
    assert_eq!(server.contact_count().await, 0);
}

async fn meta_is_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let many: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("k{i}"), json!("v"))).collect();
    let error = error_for(&server, json!({"phone": "+525512345678", "meta": many})).await;
    assert!(
        error["meta"][0].as_str().expect("message").contains("1000"),
        "{error}"
    );
    let long_key = error_for(
        &server,
        json!({"phone": "+525512345678", "meta": {"k".repeat(256): "v"}}),
    )
    .await;
    assert!(long_key["meta"][0].is_string(), "{long_key}");
    let caller = server.caller().await;
    let at_limit: serde_json::Map<String, Value> =
        (0..1000).map(|i| (format!("k{i}"), json!(i))).collect();
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678", "meta": at_limit}))
        .await;
    assert_eq!(contact["meta"].as_object().expect("meta").len(), 1000);
}
