//! `/api/docs`: the documentation page and every asset it loads come from
//! this server.

use crate::common::backend::Backend;
use crate::support::TestServer;

/// Every `src="..."`, `href="..."` and `spec-url="..."` value in `html`.
fn referenced(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attribute in ["src=\"", "href=\"", "spec-url=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').expect("a closing quote");
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_loads_only_assets_of_this_server() {
    let server = TestServer::start(Backend::Sqlite).await;
    let page = server.fetch("/api/docs").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let html = page.text();

    let assets = referenced(&html);
    assert_eq!(assets.len(), 2, "the script and the spec: {assets:?}");
    for asset in &assets {
        assert!(
            asset.starts_with('/') && !asset.starts_with("//"),
            "{asset} is not on this origin"
        );
        let response = server.fetch(asset).await;
        assert_eq!(response.status, 200, "{asset}");
        let content_type = response.headers["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = response.text();
        if asset.ends_with(".js") {
            assert!(
                content_type.starts_with("text/javascript"),
                "{content_type}"
            );
            assert!(
                body.len() > 100_000 && body.contains("ReDoc"),
                "the ReDoc bundle"
            );
        } else {
            assert_eq!(content_type, "application/yaml");
            let contract = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../openapi/hilos.yaml"
            ))
            .expect("read the contract");
            assert_eq!(
                body, contract,
                "the page documents openapi/hilos.yaml as written"
            );
        }
    }
}
