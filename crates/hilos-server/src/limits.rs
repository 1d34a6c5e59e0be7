//! Protection against overload and slow clients.
//!
//! - The request head must arrive within [`Limits::header_read_timeout`]
//!   (enforced by the connection, see [`crate::serve`]); otherwise the
//!   connection is closed without an answer. Idle keep-alive connections
//!   are closed after the same time.
//! - The whole request, reading its body included, must be answered within
//!   [`Limits::request_timeout`]; otherwise the answer is
//!   `503 {"detail": "Request timed out."}` with `Retry-After: 1`. (503
//!   rather than 408 because a slow handler, not only a slow client, can
//!   cause it, and clients retry 503 with `Retry-After`.)
//! - At most [`Limits::max_concurrent_requests`] requests are handled at
//!   once; the ones above are not queued but answered at once with
//!   `503 {"detail": "Server overloaded, try again later."}` and
//!   `Retry-After: 1`. The health, readiness and metrics endpoints are
//!   exempt.
//! - Optionally, each `Authorization` header value may make at most
//!   [`Limits::rate_limit_per_minute`] requests a minute (a token bucket
//!   holding that many tokens, refilled evenly over a minute). Over it, the
//!   answer is `429 {"detail": "Request was throttled. Expected available
//!   in N seconds."}` with `Retry-After: N`. The buckets live in memory:
//!   the limit is per process, so N replicas allow up to N times as much.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

/// Default [`Limits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Limits::max_concurrent_requests`].
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;

/// Most distinct keys the rate limiter remembers before forgetting the
/// ones whose bucket is full again.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The limits a server applies.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a connection gets to send a complete request head.
    pub header_read_timeout: Duration,
    /// Time a request gets to be answered, reading its body included.
    pub request_timeout: Duration,
    /// Most requests handled at once; more get 503.
    pub max_concurrent_requests: usize,
    /// Requests a minute per `Authorization` value; `None` for no limit.
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            rate_limit_per_minute: None,
        }
    }
}

fn detail(status: StatusCode, retry_after: u64, message: &str) -> Response {
    let body = serde_json::json!({ "detail": message }).to_string();
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::RETRY_AFTER, HeaderValue::from(retry_after)),
        ],
        body,
    )
        .into_response()
}

/// Middleware: answer 503 when the request is not answered in time.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            detail(StatusCode::SERVICE_UNAVAILABLE, 1, "Request timed out.")
        }
    }
}

/// Paths that are never shed: probes must see the process even when busy.
fn exempt(path: &str) -> bool {
    path == crate::app::HEALTH_PATH
        || path == crate::app::READY_PATH
        || path == crate::app::METRICS_PATH
}

/// Middleware: answer 503 at once when all permits are taken.
pub async fn concurrency(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            1,
            "Server overloaded, try again later.",
        ),
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// In-memory token buckets keyed by `Authorization` value.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_minute` requests a minute per key, in bursts of up to as many.
    pub fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`: `Ok` or `Err(seconds until one is there)`.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            let (capacity, per_second) = (self.capacity, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / self.per_second).ceil();
            Err((wait as u64).max(1))
        }
    }
}

/// Middleware: answer 429 when the request's `Authorization` value is over
/// its rate. Requests without one are not limited here (they get 401).
pub async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(key) = key {
        if let Err(wait) = limiter.check(&key, Instant::now()) {
            return detail(
                StatusCode::TOO_MANY_REQUESTS,
                wait,
                &format!("Request was throttled. Expected available in {wait} seconds."),
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_rate_then_refills() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert_eq!(limiter.check("a", t0), Ok(()));
        assert_eq!(limiter.check("a", t0), Ok(()));
        assert_eq!(limiter.check("a", t0), Err(30));
        assert_eq!(limiter.check("b", t0), Ok(()), "keys are independent");
        assert_eq!(limiter.check("a", t0 + Duration::from_secs(30)), Ok(()));
    }
}
