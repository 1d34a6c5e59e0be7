//! Request paths that cannot name anything.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::errors::not_found;

/// Answers 404 `{"detail": "Not found."}` when the request path has
/// percent-escapes that do not decode to UTF-8.
///
/// No route of the API can match such a path, but axum's path extractor
/// refuses it with a plain-text 400 before any handler runs, which no client
/// of a Django REST Framework API expects. Add it around the router:
///
/// ```
/// # use std::sync::Arc;
/// # fn wrap<A: hilos_api::ContactApi>(api: Arc<A>) -> axum::Router {
/// hilos_api::router(api).layer(axum::middleware::from_fn(hilos_api::runtime::paths::utf8_paths))
/// # }
/// ```
pub async fn utf8_paths(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .is_err()
    {
        return not_found();
    }
    next.run(request).await
}
