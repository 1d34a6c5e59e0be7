//! Authentication with `Authorization: Token <key>`, and revocation.

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::TestServer;

crate::backend_tests!(
    each_401_has_drfs_body_and_challenge,
    a_revoked_key_fails_on_its_next_request
);

async fn each_401_has_drfs_body_and_challenge(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let body = json!({"phone": "+525512345678"}).to_string();
    let cases = [
        (None, "Authentication credentials were not provided."),
        (
            Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_owned()),
            "Authentication credentials were not provided.",
        ),
        (
            Some("Token".to_owned()),
            "Invalid token header. No credentials provided.",
        ),
        (
            Some(format!("Token {} extra", caller.token)),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            Some("Token 0123456789abcdef0123456789abcdef01234567".to_owned()),
            "Invalid token.",
        ),
    ];
    for (authorization, message) in cases {
        let reply = server
            .post(
                authorization.as_deref(),
                Some("application/json"),
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(
            reply.body,
            json!({ "detail": message }),
            "{authorization:?}"
        );
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Token")
        );
    }
    assert_eq!(server.contact_count().await, 0);
    // The scheme is case-insensitive.
    let ok = server
        .post(
            Some(&format!("token {}", caller.token)),
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(ok.status, 201);
}

async fn a_revoked_key_fails_on_its_next_request(backend: Backend) {
    use hilos_server::store::ContactStore;
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    server
        .upsert(&caller, json!({"phone": "+525512345678"}))
        .await;

    assert!(server
        .store
        .revoke_token(&caller.token)
        .await
        .expect("revoke"));

    let reply = server
        .post_json(&caller, json!({"phone": "+525512345678"}))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, json!({"detail": "Invalid token."}));
}
