//! A loopback proxy that checks every response body against the spec.
//!
//! Tests point the generated client (or raw requests) at the proxy; it
//! forwards each request to the server unchanged, validates the answer with
//! [`ResponseValidator`], records any mismatch, and hands the answer back.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::validate::ResponseValidator;

struct Shared {
    upstream: String,
    validator: ResponseValidator,
    templates: Vec<String>,
    http: reqwest::Client,
    checked: Mutex<usize>,
    violations: Mutex<Vec<String>>,
}

/// The running proxy.
pub struct ValidatingProxy {
    /// `http://127.0.0.1:PORT`: point clients here.
    pub base: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ValidatingProxy {
    /// Starts a proxy to `upstream` that validates against `spec`.
    pub async fn start(upstream: &str, spec: &Value) -> Self {
        let templates = spec["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            validator: ResponseValidator::new(spec),
            templates,
            http: reqwest::Client::new(),
            checked: Mutex::new(0),
            violations: Mutex::new(Vec::new()),
        });
        // The server sets the body limit; the proxy forwards whatever comes.
        let app = axum::Router::new()
            .fallback(forward)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
                .expect("proxy runs");
        });
        Self {
            base,
            shared,
            shutdown: Some(shutdown),
        }
    }

    /// How many responses were checked so far.
    pub fn checked(&self) -> usize {
        *self.shared.checked.lock().expect("not poisoned")
    }

    /// Panics with every mismatch seen so far.
    pub fn assert_all_valid(&self) {
        let violations = self.shared.violations.lock().expect("not poisoned");
        assert!(
            violations.is_empty(),
            "{} response(s) did not match openapi/hilos.yaml:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

impl Drop for ValidatingProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The spec path template that `path` matches, such as `/api/contact/{id}`.
pub fn match_template<'a>(templates: &'a [String], path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    templates
        .iter()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .map(String::as_str)
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = shared.http.request(method.clone(), target);
    for (name, value) in &headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = match request.body(body).send().await {
        Ok(response) => response,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("proxy: {error}")).into_response();
        }
    };
    let status = response.status();
    let response_headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();

    let problem = match match_template(&shared.templates, uri.path()) {
        None => Some(format!("{method} {}: not a path of the spec", uri.path())),
        Some(template) => {
            let json = if bytes.is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_slice::<Value>(&bytes)
            };
            match json {
                Ok(json) => shared
                    .validator
                    .check(method.as_str(), template, status.as_u16(), &json)
                    .err(),
                Err(error) => Some(format!(
                    "{method} {template} {status}: body is not JSON: {error}"
                )),
            }
        }
    };
    *shared.checked.lock().expect("not poisoned") += 1;
    if let Some(problem) = problem {
        shared
            .violations
            .lock()
            .expect("not poisoned")
            .push(problem);
    }

    let mut out = (status, bytes).into_response();
    for (name, value) in &response_headers {
        if name != "content-length" && name != "transfer-encoding" {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
