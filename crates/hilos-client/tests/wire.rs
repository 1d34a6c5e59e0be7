//! What the generated client puts on the wire, seen by a loopback server.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Json;
use hilos_client::{types, Client, Error};
use serde_json::{json, Value};

#[derive(Default)]
struct Seen {
    authorization: Option<String>,
    body: Option<Value>,
}

/// Starts a server on 127.0.0.1:0 that records the last request and answers
/// with `status` and `reply`.
async fn server(status: StatusCode, reply: Value) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route(
            "/api/contact",
            post(
                move |State(seen): State<Arc<Mutex<Seen>>>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| {
                    let reply = reply.clone();
                    async move {
                        let mut seen = seen.lock().expect("not poisoned");
                        seen.authorization = headers
                            .get("authorization")
                            .map(|v| v.to_str().expect("ascii").to_owned());
                        seen.body = Some(body);
                        (status, Json(reply))
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn contact() -> Value {
    json!({
        "first_name": null, "last_name": null, "email": null, "external_url": null,
        "meta": {}, "canonical_phone": "+525512345678", "created_by": 1,
        "phone": "+52 1 55 1234 5678", "id": "0190b8a0-0000-7000-8000-000000000000",
        "created_on": "2024-05-01T10:20:30Z", "last_updated_on": "2024-05-01T10:20:30Z",
        "source": "website", "tags": [{"id": 3, "name": "vip"}], "default_assignees": [],
        "inbox_contacts": [], "default_conversation_url": "http://localhost/c/1",
    })
}

fn body_with_tag() -> types::PatchedContactEditPublic {
    types::PatchedContactEditPublic {
        phone: Some("+52 1 55 1234 5678".parse().expect("valid phone")),
        tags: vec![types::ContactTagRequest {
            name: "vip".parse().expect("valid tag"),
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn sends_the_token_name_only_tags_and_no_unasked_defaults() {
    let (base, seen) = server(StatusCode::CREATED, contact()).await;
    let client = Client::with_token(&base, "s3cr3t").expect("client");

    let created = client
        .create_or_update_contact(&body_with_tag())
        .await
        .expect("201");

    assert_eq!(created.status(), 201);
    assert_eq!(created.tags[0].id, 3);
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(seen.authorization.as_deref(), Some("Token s3cr3t"));
    let body = seen.body.clone().expect("a body was sent");
    assert_eq!(body["tags"], json!([{"name": "vip"}]));
    let sent: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        sent,
        ["phone", "tags"],
        "only the fields the caller set are sent"
    );
}

#[tokio::test]
async fn documented_errors_come_back_typed() {
    let (base, _) = server(
        StatusCode::BAD_REQUEST,
        json!({"phone": ["Enter a valid phone number."]}),
    )
    .await;
    let client = Client::with_token(&base, "t").expect("client");
    let err = client
        .create_or_update_contact(&body_with_tag())
        .await
        .expect_err("400");
    let Error::ErrorResponse(response) = err else {
        panic!("expected a typed error, got {err:?}");
    };
    assert_eq!(response.status(), 400);
    match response.into_inner() {
        types::ErrorDetailOrValidationError::ValidationError(errors) => {
            assert_eq!(
                errors.extra["phone"],
                vec![json!("Enter a valid phone number.")]
            );
        }
        other => panic!("expected field errors, got {other:?}"),
    }

    let (base, _) = server(
        StatusCode::UNAUTHORIZED,
        json!({"detail": "Invalid token."}),
    )
    .await;
    let client = Client::with_token(&base, "t").expect("client");
    let Err(Error::ErrorResponse(response)) =
        client.create_or_update_contact(&body_with_tag()).await
    else {
        panic!("expected a typed 401");
    };
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.into_inner(),
        types::ErrorDetailOrValidationError::ErrorDetail(types::ErrorDetail {
            detail: "Invalid token.".into()
        })
    );
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused() {
    assert!(Client::with_token("http://127.0.0.1:1", "bad\ntoken").is_err());
}

/// A server that answers `failures` times with `status` and `Retry-After: 0`,
/// then with a contact; returns its address and a request counter.
async fn flaky(status: StatusCode, failures: usize) -> (String, Arc<Mutex<usize>>) {
    let calls = Arc::new(Mutex::new(0usize));
    let app = axum::Router::new()
        .route(
            "/api/contact",
            post(move |State(calls): State<Arc<Mutex<usize>>>| async move {
                let n = {
                    let mut calls = calls.lock().expect("not poisoned");
                    *calls += 1;
                    *calls
                };
                if n <= failures {
                    (
                        status,
                        [("retry-after", "0")],
                        Json(json!({"detail": "try again"})),
                    )
                } else {
                    (StatusCode::CREATED, [("retry-after", "0")], Json(contact()))
                }
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn retries_503_and_429_only_when_asked() {
    for status in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (base, calls) = flaky(status, 2).await;
        let plain = Client::with_token(&base, "t").expect("client");
        assert!(plain
            .create_or_update_contact(&body_with_tag())
            .await
            .is_err());
        assert_eq!(
            *calls.lock().expect("not poisoned"),
            1,
            "no retries by default"
        );

        let (base, calls) = flaky(status, 2).await;
        let patient = Client::with_token(&base, "t")
            .expect("client")
            .with_retries(hilos_client::RetryPolicy {
                max_retries: 3,
                ..Default::default()
            });
        let created = patient
            .create_or_update_contact(&body_with_tag())
            .await
            .expect("201 after two retries");
        assert_eq!(created.status(), 201);
        assert_eq!(*calls.lock().expect("not poisoned"), 3, "{status}");

        let (base, calls) = flaky(status, 5).await;
        let limited = Client::with_token(&base, "t")
            .expect("client")
            .with_retries(hilos_client::RetryPolicy {
                max_retries: 2,
                ..Default::default()
            });
        assert!(limited
            .create_or_update_contact(&body_with_tag())
            .await
            .is_err());
        assert_eq!(
            *calls.lock().expect("not poisoned"),
            3,
            "one try and two retries"
        );
    }
}
