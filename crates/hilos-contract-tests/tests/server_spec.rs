//! Check 3: the OpenAPI document the server derives from its code equals
//! the contract.

use hilos_contract_tests::server::RunningServer;
use hilos_contract_tests::spec::{contract, parse_yaml, prepared_contract};
use hilos_contract_tests::view::{diff, report, view};
use serde_json::Value;

async fn served_document(server: &RunningServer, query: &str) -> (String, String) {
    let response = reqwest::get(format!("{}/api/schema{query}", server.base))
        .await
        .expect("GET /api/schema");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_served_document_matches_the_contract() {
    let server = RunningServer::start().await;
    let (json_type, json_text) = served_document(&server, "").await;
    let (yaml_type, yaml_text) = served_document(&server, "?format=yaml").await;
    assert_eq!(json_type, "application/json");
    assert_eq!(yaml_type, "application/yaml");
    let from_json: Value = serde_json::from_str(&json_text).expect("JSON");
    let from_yaml = parse_yaml(&yaml_text).expect("YAML");
    assert_eq!(from_json, from_yaml, "the JSON and YAML forms differ");

    // The server's types were generated from the contract after the
    // readOnly split, so that is what its document must equal.
    let expected = view(&prepared_contract(xtask::prepare::SERVER));
    let lines = diff(&expected, &view(&from_json));
    assert!(
        lines.is_empty(),
        "{}",
        report(
            "server drift",
            "openapi/hilos.yaml",
            "GET /api/schema",
            &lines
        )
    );
}

/// The one expected difference between the contract and the server's
/// document: request bodies use `ContactTagRequest`, the readOnly-free twin
/// of `ContactTag`, so a client can send `{"name": "vip"}`.
#[test]
fn the_read_only_split_is_the_only_difference_from_the_contract() {
    let lines = diff(
        &view(&contract()),
        &view(&prepared_contract(xtask::prepare::SERVER)),
    );
    assert_eq!(
        lines,
        [
            "~ components.PatchedContactEditPublic.properties.tags.items.type: ref:ContactTag -> ref:ContactTagRequest",
            "+ components.ContactTagRequest.properties.name.maxLength = 100",
            "+ components.ContactTagRequest.properties.name.nullable = false",
            "+ components.ContactTagRequest.properties.name.type = string",
            "+ components.ContactTagRequest.required = name",
            "+ components.ContactTagRequest.type = object",
        ]
    );
}
