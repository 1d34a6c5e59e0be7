//! Several server processes on one PostgreSQL: concurrent writes of the same
//! phones through both make one contact per phone and lose no merge, and a
//! token revoked from the command line is refused by every process on its
//! next request.

mod common;

use std::collections::BTreeSet;

use common::backend::Backend;
use common::process::{ServerProcess, BIN};
use hilos_server::store::ContactStore;
use serde_json::{json, Value};

const PHONES: usize = 10;
const REQUESTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_merge_every_write() {
    let backend = Backend::Postgres;
    if !backend.available() {
        return;
    }
    let db = backend.fresh_db().await;
    let store = db.store().await;
    let account = store.create_account("scale").await.expect("account");
    store
        .create_user(account, "ops@scale.test", "Op", "")
        .await
        .expect("user");
    let key = store.create_token("ops@scale.test").await.expect("token");

    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("HILOS_DATABASE_URL", db.url.as_str())];
    let servers = [
        ServerProcess::start(dir.path(), &env),
        ServerProcess::start(dir.path(), &env),
    ];
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let url = format!("{}/api/contact", servers[i % 2].base);
        let http = http.clone();
        let key = key.clone();
        // Each phone is written in two forms that canonicalise alike.
        let n = i % PHONES;
        let phone = if i % 4 < 2 {
            format!("+52 1 55 5000 00{n:02}")
        } else {
            format!("+5255500000{n:02}")
        };
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .header("authorization", format!("Token {key}"))
                .json(&json!({"phone": phone, "meta": {format!("k{i}"): i}, "tags": [{"name": format!("t{i}")}]}))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("body");
            common::leaks::assert_no_leak(status, &body);
            (status, serde_json::from_slice::<Value>(&body).expect("JSON"))
        }));
    }
    for task in tasks {
        let (status, body) = task.await.expect("task");
        assert_eq!(status, 201, "{body}");
    }

    assert_eq!(
        db.count("SELECT count(*) FROM contacts").await,
        PHONES as i64
    );
    for n in 0..PHONES {
        let contact = store
            .get_contact_by_phone(account, &format!("+5255500000{n:02}"))
            .await
            .expect("read")
            .expect("the contact exists");
        let sent: BTreeSet<usize> = (0..REQUESTS).filter(|i| i % PHONES == n).collect();
        let keys: BTreeSet<usize> = contact
            .meta
            .keys()
            .map(|k| k.trim_start_matches('k').parse().expect("key index"))
            .collect();
        let tags: BTreeSet<usize> = contact
            .tags
            .iter()
            .map(|t| t.name.trim_start_matches('t').parse().expect("tag index"))
            .collect();
        assert_eq!(keys, sent, "meta of phone {n}");
        assert_eq!(tags, sent, "tags of phone {n}");
    }
    for server in servers {
        server.terminate();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_by_every_process_on_its_next_request() {
    let backend = Backend::Postgres;
    if !backend.available() {
        return;
    }
    let db = backend.fresh_db().await;
    let store = db.store().await;
    let account = store.create_account("revoke").await.expect("account");
    store
        .create_user(account, "ops@revoke.test", "Op", "")
        .await
        .expect("user");
    let revoked = store.create_token("ops@revoke.test").await.expect("token");
    let kept = store.create_token("ops@revoke.test").await.expect("token");

    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("HILOS_DATABASE_URL", db.url.as_str())];
    let servers = [
        ServerProcess::start(dir.path(), &env),
        ServerProcess::start(dir.path(), &env),
    ];
    // One client per process, so each request after the revocation reuses
    // the keep-alive connection that the token already worked on.
    let clients = [reqwest::Client::new(), reqwest::Client::new()];
    let post = |server: usize, key: &str| {
        clients[server]
            .post(format!("{}/api/contact", servers[server].base))
            .header("authorization", format!("Token {key}"))
            .json(&json!({"phone": "+525512345678", "meta": {"server": server}}))
            .send()
    };
    for server in [0, 1] {
        let response = post(server, &revoked).await.expect("request");
        assert_eq!(response.status().as_u16(), 201, "process {server}");
    }

    let output = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .env("HILOS_DATABASE_URL", &db.url)
        .args(["tokens", "revoke", &revoked])
        .output()
        .expect("run hilos-server tokens revoke");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Process 1 first: the revocation did not go through it in any way.
    for server in [1, 0] {
        let response = post(server, &revoked).await.expect("request");
        assert_eq!(response.status().as_u16(), 401, "process {server}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().expect("ascii")),
            Some("Token")
        );
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"detail": "Invalid token."}),
            "process {server}"
        );

        let response = post(server, &kept).await.expect("request");
        assert_eq!(
            response.status().as_u16(),
            201,
            "process {server}: another token of the same user still works"
        );
    }
    for server in servers {
        server.terminate();
    }
}
