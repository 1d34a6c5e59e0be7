//! The HTTP application: the generated router around a [`ContactService`],
//! with the layers every request goes through.

use std::sync::{Arc, OnceLock};

use axum::extract::{Query, State};
use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use tokio::sync::Semaphore;

use crate::limits::{Limits, RateLimiter};
use crate::service::ContactService;
use crate::store::ContactStore;

/// Liveness: answers 200 while the process serves HTTP.
pub const HEALTH_PATH: &str = "/healthz";

/// Readiness: 200 while the database answers, 503 when it does not.
pub const READY_PATH: &str = "/readyz";

/// Prometheus metrics. They need no token: keep this path behind the
/// operator's network boundary.
pub const METRICS_PATH: &str = "/metrics";

/// Where the OpenAPI document derived from the code is served: JSON, or
/// YAML with `?format=yaml`.
pub const SCHEMA_PATH: &str = "/api/schema";

/// Where the placeholder profile image of users is served.
pub const AVATAR_PATH: &str = "/static/avatar.svg";

const AVATAR_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" fill="#d0d5dd"/><circle cx="32" cy="25" r="12" fill="#98a2b3"/><path d="M10 60c2-14 12-20 22-20s20 6 22 20z" fill="#98a2b3"/></svg>"##;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application for `service`: API routes, a request id on every
/// request and response, a trace span per request, and panics turned into
/// a 500 whose body says nothing about the cause; with the default
/// [`Limits`].
pub fn build<S: ContactStore>(service: Arc<ContactService<S>>) -> axum::Router {
    build_with(service, &Limits::default())
}

/// [`build`] with the given request timeout, concurrency limit and rate
/// limit (see [`crate::limits`]; the head timeout is applied by
/// [`crate::serve`]).
pub fn build_with<S: ContactStore>(
    service: Arc<ContactService<S>>,
    limits: &Limits,
) -> axum::Router {
    let operator = axum::Router::new()
        .route(HEALTH_PATH, get(health))
        .route(READY_PATH, get(ready::<S>))
        .route(METRICS_PATH, get(render_metrics::<S>))
        .with_state(service.clone());
    let tracked = service.metrics().clone();
    let app = hilos_api::router(service)
        .layer(axum::middleware::from_fn(
            hilos_api::runtime::paths::utf8_paths,
        ))
        .route(SCHEMA_PATH, get(schema))
        .route(AVATAR_PATH, get(avatar))
        .merge(operator)
        .merge(crate::docs::routes());
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout,
        crate::limits::timeout,
    ));
    let app = match limits.rate_limit_per_minute {
        Some(per_minute) => app.layer(axum::middleware::from_fn_with_state(
            Arc::new(RateLimiter::new(per_minute)),
            crate::limits::rate_limit,
        )),
        None => app,
    };
    app.layer(axum::middleware::from_fn_with_state(
        Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        crate::limits::concurrency,
    ))
    .layer(axum::middleware::from_fn_with_state(
        tracked,
        crate::metrics::track,
    ))
    .layer(CatchPanicLayer::custom(|_| server_error()))
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                )
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn server_error() -> Response {
    tracing::error!("a request handler panicked");
    hilos_api::runtime::errors::server_error()
}

#[derive(serde::Deserialize)]
struct SchemaQuery {
    format: Option<String>,
}

/// The document is built from code once; it cannot change while running.
fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(<hilos_api::ApiDoc as utoipa::OpenApi>::openapi)
}

async fn schema(Query(query): Query<SchemaQuery>) -> Response {
    let doc = openapi();
    let rendered = match query.format.as_deref() {
        Some("yaml") => doc
            .to_yaml()
            .map(|text| ("application/yaml", text))
            .map_err(|e| e.to_string()),
        _ => doc
            .to_json()
            .map(|text| ("application/json", text))
            .map_err(|e| e.to_string()),
    };
    match rendered {
        Ok((content_type, text)) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the OpenAPI document");
            hilos_api::runtime::errors::server_error()
        }
    }
}

async fn health() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn ready<S: ContactStore>(State(service): State<Arc<ContactService<S>>>) -> Response {
    match service.store().ping().await {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            r#"{"status":"ready"}"#,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: the database does not answer");
            hilos_api::ServiceError::Unavailable.into_response()
        }
    }
}

async fn render_metrics<S: ContactStore>(
    State(service): State<Arc<ContactService<S>>>,
) -> Response {
    let store = service.store();
    let text = service
        .metrics()
        .render(store.pool_stats(), store.commit_batches());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn avatar() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        AVATAR_SVG,
    )
        .into_response()
}
