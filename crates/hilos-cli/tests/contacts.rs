//! `hilos contacts upsert|update|get|list|delete` against a real server.

mod common;

use common::{hilos, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_get_list_update_delete_round_trip() {
    let server = Server::start().await;

    // Create.
    let created = server
        .hilos([
            "contacts",
            "upsert",
            "--phone",
            "+52 1 55 1234 5678",
            "--first-name",
            "Ana",
            "--email",
            "ana@example.com",
            "--meta",
            "plan=gold",
            "--meta",
            "note=a=b",
            "--tag",
            "vip",
            "--tag",
            "mx",
        ])
        .await;
    created.expect_code(0);
    let contact = created.json();
    let id = contact["id"].as_str().expect("id").to_owned();
    assert_eq!(contact["canonical_phone"], "+525512345678");
    assert_eq!(contact["first_name"], "Ana");
    assert_eq!(contact["email"], "ana@example.com");
    assert_eq!(contact["meta"], json!({"plan": "gold", "note": "a=b"}));
    let mut tags: Vec<&str> = contact["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["mx", "vip"]);
    assert_eq!(server.count().await, 1);

    // The same phone in another format updates the same contact; tags merge
    // unless told to overwrite.
    let again = server
        .hilos([
            "contacts",
            "upsert",
            "--phone",
            "5215512345678",
            "--last-name",
            "Pérez",
            "--tag",
            "new",
            "--overwrite-tags",
        ])
        .await;
    again.expect_code(0);
    let contact = again.json();
    assert_eq!(contact["id"], id.as_str());
    assert_eq!(contact["last_name"], "Pérez");
    assert_eq!(contact["first_name"], "Ana");
    assert_eq!(contact["tags"].as_array().map(Vec::len), Some(1));
    assert_eq!(contact["tags"][0]["name"], "new");
    assert_eq!(server.count().await, 1);

    // Get.
    let got = server.hilos(["contacts", "get", &id]).await;
    got.expect_code(0);
    assert_eq!(got.json()["id"], id.as_str());
    assert_eq!(got.json()["last_name"], "Pérez");

    // Update (PATCH).
    let updated = server
        .hilos(["contacts", "update", &id, "--first-name", "Ana María"])
        .await;
    updated.expect_code(0);
    assert_eq!(updated.json()["first_name"], "Ana María");

    // List, with and without a search.
    server
        .hilos(["contacts", "upsert", "--phone", "+1 415 555 2671"])
        .await
        .expect_code(0);
    let all = server
        .hilos(["contacts", "list", "--page", "1", "--page-size", "10"])
        .await;
    all.expect_code(0);
    assert_eq!(all.json()["count"], 2);
    let found = server
        .hilos(["contacts", "list", "--search", "maría"])
        .await;
    found.expect_code(0);
    let page = found.json();
    assert_eq!(page["count"], 1);
    assert_eq!(page["results"][0]["id"], id.as_str());

    // Delete, then the contact is gone.
    let deleted = server.hilos(["contacts", "delete", &id]).await;
    deleted.expect_code(0);
    assert!(deleted.stdout.is_empty());
    assert_eq!(server.count().await, 1);
    let missing = server.hilos(["contacts", "get", &id]).await;
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("HTTP 404 Not Found"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_readable_and_exit_non_zero() {
    let server = Server::start().await;

    // The server's validation errors, as `field: message`.
    for (flag, value, message) in [
        (
            "--phone",
            "not-a-phone",
            "error: phone: Enter a valid phone number.",
        ),
        ("--email", "x", "error: email: Enter a valid email address."),
    ] {
        let mut args = vec!["contacts", "upsert", flag, value];
        if flag != "--phone" {
            args.extend(["--phone", "5215512345678"]);
        }
        let invalid = server.hilos(&args).await;
        invalid.expect_code(1);
        assert!(invalid.stdout.is_empty());
        assert_eq!(invalid.stderr.trim(), message);
    }

    // A value over the spec's maxLength never leaves the client.
    let long = "a".repeat(101);
    let too_long = server
        .hilos([
            "contacts",
            "upsert",
            "--phone",
            "5215512345678",
            "--first-name",
            &long,
        ])
        .await;
    too_long.expect_code(1);
    assert!(
        too_long
            .stderr
            .contains("first_name: longer than 100 characters (checked by hilos before sending"),
        "{}",
        too_long.stderr
    );
    assert_eq!(server.count().await, 0);

    // A refused token.
    let refused = hilos(
        ["contacts", "list"],
        &[("HILOS_BASE_URL", &server.base), ("HILOS_TOKEN", "wrong")],
    )
    .await;
    refused.expect_code(1);
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);

    // No token at all is a usage error.
    let no_token = hilos(["contacts", "list"], &[("HILOS_BASE_URL", &server.base)]).await;
    no_token.expect_code(2);
    assert!(
        no_token.stderr.contains("HILOS_TOKEN"),
        "{}",
        no_token.stderr
    );

    // Flags work after the subcommand too, and a bad id is a usage error.
    let bad_id = hilos(
        [
            "contacts",
            "get",
            "nope",
            "--token",
            "t",
            "--base-url",
            &server.base,
        ],
        &[],
    )
    .await;
    bad_id.expect_code(2);

    // Nothing listening.
    let down = hilos(
        ["contacts", "list"],
        &[
            ("HILOS_BASE_URL", "http://127.0.0.1:9"),
            ("HILOS_TOKEN", "t"),
        ],
    )
    .await;
    down.expect_code(1);
    assert!(
        down.stderr.contains("could not reach the server"),
        "{}",
        down.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flag_has_help() {
    for command in [
        vec!["--help"],
        vec!["contacts", "--help"],
        vec!["contacts", "upsert", "--help"],
        vec!["contacts", "update", "--help"],
        vec!["contacts", "get", "--help"],
        vec!["contacts", "list", "--help"],
        vec!["contacts", "delete", "--help"],
        vec!["contacts", "import", "--help"],
    ] {
        hilos(&command, &[]).await.expect_code(0);
    }
    let import = hilos(["contacts", "import", "--help"], &[]).await;
    for flag in [
        "--concurrency",
        "--report",
        "--skip-column",
        "--base-url",
        "--token",
    ] {
        assert!(import.stdout.contains(flag), "{flag} missing");
    }
}
