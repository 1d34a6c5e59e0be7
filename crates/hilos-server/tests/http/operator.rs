//! The operator endpoints: liveness, readiness and metrics, with no token.

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::TestServer;

crate::backend_tests!(health_needs_no_token, metrics_count_requests_and_upserts);

async fn health_needs_no_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reply = server.fetch("/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reply.bytes).expect("JSON"),
        json!({"status": "ok"})
    );
}

/// The value of the sample whose line starts with `prefix`, or 0.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_count_requests_and_upserts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let scrape = || async {
        let reply = server.fetch("/metrics").await;
        assert_eq!(reply.status, 200);
        reply.text()
    };
    let created = r#"hilos_contacts_upserted_total{outcome="created"}"#;
    let updated = r#"hilos_contacts_upserted_total{outcome="updated"}"#;
    let posts = r#"hilos_http_requests_total{route="/api/contact",method="POST",status="201"}"#;
    let not_found =
        r#"hilos_http_requests_total{route="/api/contact/{id}",method="GET",status="404"}"#;
    let before = scrape().await;

    server
        .upsert(&caller, json!({"phone": "+525512345678"}))
        .await;
    server
        .upsert(&caller, json!({"phone": "+52 1 55 1234 5678"}))
        .await;
    server
        .upsert(&caller, json!({"phone": "+14155550100"}))
        .await;
    server
        .get(&caller, "/api/contact/00000000-0000-4000-8000-000000000000")
        .await;

    let after = scrape().await;
    assert_eq!(
        sample(&after, created) - sample(&before, created),
        2.0,
        "{after}"
    );
    assert_eq!(sample(&after, updated) - sample(&before, updated), 1.0);
    assert_eq!(sample(&after, posts) - sample(&before, posts), 3.0);
    assert_eq!(
        sample(&after, not_found) - sample(&before, not_found),
        1.0,
        "ids never become labels"
    );
    assert!(
        after.contains("hilos_http_request_duration_seconds_bucket{"),
        "latency histogram"
    );
    assert!(after.contains(r#"hilos_db_pool_connections{state="idle"}"#));
    // SQLite group-commits contact writes: three upserts, one at a time,
    // are three one-write transactions. PostgreSQL has no such batches.
    let batches = "hilos_db_commit_batch_writes_count";
    let writes = "hilos_db_commit_batch_writes_sum";
    let singles = r#"hilos_db_commit_batch_writes_bucket{le="1.0"}"#;
    match backend {
        Backend::Sqlite => {
            assert_eq!(sample(&after, batches) - sample(&before, batches), 3.0);
            assert_eq!(sample(&after, writes) - sample(&before, writes), 3.0);
            assert_eq!(sample(&after, singles) - sample(&before, singles), 3.0);
        }
        Backend::Postgres => assert!(!after.contains(batches), "{after}"),
    }
}
