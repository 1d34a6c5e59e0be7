//! PostgreSQL going away under a running server, seen over HTTP: requests
//! get 503 with `Retry-After` within seconds instead of hanging, readiness
//! fails, liveness holds, and the server serves again once the database is
//! back, without a restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backend::Backend;
use common::relay::{postgres_addr, via, Relay};
use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AnyStore, ContactStore, StoreOptions};
use serde_json::json;

async fn status_of(request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = response.text().await.expect("body");
    common::leaks::assert_no_leak(status, body.as_bytes());
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_quick_503_and_the_server_recovers() {
    let backend = Backend::Postgres;
    if !backend.available() {
        return;
    }
    let db = backend.fresh_db().await;
    let direct = db.store().await;
    let account = direct.create_account("outage").await.expect("account");
    direct
        .create_user(account, "ops@outage.test", "Op", "")
        .await
        .expect("user");
    let key = direct.create_token("ops@outage.test").await.expect("token");

    let upstream = postgres_addr(&db.url).await.expect("PostgreSQL over TCP");
    let mut relay = Relay::start(upstream).await;
    let store = AnyStore::connect(&via(&db.url, relay.addr), &StoreOptions::default())
        .await
        .expect("connect through the relay");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let service = ContactService::new(store, ServiceConfig::default());
    tokio::spawn(async move {
        axum::serve(listener, hilos_server::app::build(Arc::new(service)))
            .await
            .expect("serve");
    });
    let http = reqwest::Client::new();
    let post = |n: u32| {
        http.post(format!("{base}/api/contact"))
            .header("authorization", format!("Token {key}"))
            .json(&json!({"phone": format!("+52551234{n:04}")}))
    };
    let ready = || http.get(format!("{base}/readyz"));

    assert_eq!(status_of(post(1)).await.0, 201);
    assert_eq!(status_of(ready()).await.0, 200);

    relay.cut().await;
    let started = Instant::now();
    let (status, retry_after, body) = status_of(post(2)).await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains("temporarily unavailable"), "{body}");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    assert_eq!(status_of(ready()).await.0, 503);
    assert_eq!(status_of(http.get(format!("{base}/healthz"))).await.0, 200);

    relay.restore().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 3;
    loop {
        let (status, _, body) = status_of(post(n)).await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503, "only 503 while recovering: {body}");
        assert!(Instant::now() < deadline, "the server did not recover");
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status_of(ready()).await.0, 200);
}
