//! `/api/docs`: interactive documentation of `openapi/hilos.yaml`, rendered
//! by ReDoc from assets embedded in the binary, so it needs no internet.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The documentation page.
pub const DOCS_PATH: &str = "/api/docs";
/// The contract the page renders, as written.
pub const SPEC_PATH: &str = "/api/docs/openapi.yaml";
/// The ReDoc bundle.
pub const SCRIPT_PATH: &str = "/api/docs/redoc.standalone.js";

const CONTRACT: &str = include_str!("../../../openapi/hilos.yaml");
const REDOC: &str = include_str!("../assets/redoc/redoc.standalone.js");

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Hilos contact API</title>
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="/api/docs/openapi.yaml"></redoc>
    <script src="/api/docs/redoc.standalone.js"></script>
  </body>
</html>
"#;

/// The routes of the documentation page and its assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route(
            DOCS_PATH,
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            SPEC_PATH,
            get(|| async { asset("application/yaml", CONTRACT) }),
        )
        .route(
            SCRIPT_PATH,
            get(|| async { asset("text/javascript; charset=utf-8", REDOC) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
