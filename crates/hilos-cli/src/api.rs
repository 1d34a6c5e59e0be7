//! Talking to the API: errors as readable messages, and bounded retries.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hilos_client::Error;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// A failed API call, as the user should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, when the server answered.
    pub status: Option<StatusCode>,
    /// What went wrong: for a validation error, `field: message` per
    /// problem, joined with `; `.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            // A validation error speaks for itself: `phone: Enter a valid phone number.`
            Some(StatusCode::BAD_REQUEST) | None => f.write_str(&self.message),
            Some(status) => write!(f, "HTTP {status}: {}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Describes a client error; reads the body of an unexpected response.
    pub async fn from_client<E: Serialize + std::fmt::Debug>(error: Error<E>) -> Self {
        match error {
            Error::ErrorResponse(response) => {
                let status = response.status();
                let body = serde_json::to_value(response.into_inner()).unwrap_or(Value::Null);
                Self::answer(status, &body)
            }
            Error::UnexpectedResponse(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                match serde_json::from_str::<Value>(&text) {
                    Ok(body) => Self::answer(status, &body),
                    Err(_) => Self::answer(status, &Value::String(shorten(&text))),
                }
            }
            Error::InvalidResponsePayload(bytes, e) => Self {
                status: None,
                message: format!(
                    "the server's answer could not be read ({e}): {}",
                    shorten(&String::from_utf8_lossy(&bytes))
                ),
            },
            Error::CommunicationError(e) => Self {
                status: e.status(),
                message: format!("could not reach the server: {}", chain(&e)),
            },
            other => Self {
                status: other.status(),
                message: other.to_string(),
            },
        }
    }

    fn answer(status: StatusCode, body: &Value) -> Self {
        let mut messages = Vec::new();
        collect_messages("", body, &mut messages);
        let message = if messages.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_owned()
        } else {
            messages.join("; ")
        };
        Self {
            status: Some(status),
            message,
        }
    }
}

/// Flattens an error body into `field: message` lines.
///
/// `{"phone": ["Enter a valid phone number."]}` gives
/// `phone: Enter a valid phone number.`; `detail` and `non_field_errors`
/// give their message alone; list items that are objects (such as `tags`)
/// are named by index: `tags[1].name: ...`.
pub fn collect_messages(path: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::String(text) if path.is_empty() => out.push(text.clone()),
        Value::String(text) => out.push(format!("{path}: {text}")),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if item.is_object() || item.is_array() {
                    collect_messages(&format!("{path}[{index}]"), item, out);
                } else {
                    collect_messages(path, item, out);
                }
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let inner = match key.as_str() {
                    "detail" | "non_field_errors" => path.to_owned(),
                    _ if path.is_empty() => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                collect_messages(&inner, item, out);
            }
        }
        other if path.is_empty() => out.push(other.to_string()),
        other => out.push(format!("{path}: {other}")),
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Retries calls that met a busy server (`503`, `429`) or could not
/// connect, a bounded number of times.
///
/// The wait is the server's `Retry-After` (in seconds; capped at
/// [`Retrier::max_delay`]) or else an exponential backoff from
/// [`Retrier::base_delay`] with jitter. A connection that was refused never
/// reached the server, so repeating it is always safe; upserts are
/// idempotent anyway. Timeouts are not retried: the server may be working
/// on the request.
#[derive(Debug)]
pub struct Retrier {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff when the server gives no `Retry-After`.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    retried: AtomicU64,
}

impl Default for Retrier {
    fn default() -> Self {
        Self::new(3, Duration::from_millis(250), Duration::from_secs(10))
    }
}

impl Retrier {
    /// A retrier with these bounds.
    pub fn new(max_retries: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_retries,
            base_delay,
            max_delay,
            retried: AtomicU64::new(0),
        }
    }

    /// How many retries were made so far, over every call.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// Runs `call`, again after a wait while it fails in a retryable way
    /// and retries are left.
    pub async fn run<T, E, F, Fut>(&self, mut call: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        let mut attempt = 0;
        loop {
            let result = call().await;
            let wait = match &result {
                Err(error) if attempt < self.max_retries => retry_wait(error),
                _ => None,
            };
            let Some(hint) = wait else {
                return result;
            };
            tokio::time::sleep(self.delay(attempt, hint)).await;
            self.retried.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
        }
    }

    /// The wait before retry number `attempt + 1`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let backoff = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_delay);
        // Up to half again, so that many rows that failed together do not
        // all come back together.
        let jitter = RandomState::new().hash_one(attempt) % 1000;
        backoff + backoff.mul_f64(jitter as f64 / 2000.0)
    }
}

/// `Some(retry_after)` when `error` is worth retrying.
fn retry_wait<E>(error: &Error<E>) -> Option<Option<Duration>> {
    let (status, headers) = match error {
        Error::ErrorResponse(response) => (response.status(), response.headers()),
        Error::UnexpectedResponse(response) => (response.status(), response.headers()),
        Error::CommunicationError(e) if e.is_connect() => return Some(None),
        _ => return None,
    };
    match status {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            Some(retry_after(headers))
        }
        _ => None,
    }
}

/// `Retry-After` in seconds; the HTTP-date form is not read (the backoff
/// applies instead).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(body: Value) -> String {
        ApiError::answer(StatusCode::BAD_REQUEST, &body).message
    }

    #[test]
    fn field_errors_read_as_field_colon_message() {
        assert_eq!(
            messages(json!({"phone": ["Enter a valid phone number."]})),
            "phone: Enter a valid phone number."
        );
        assert_eq!(
            messages(json!({
                "email": ["Enter a valid email address."],
                "phone": ["This field is required."],
            })),
            "email: Enter a valid email address.; phone: This field is required."
        );
        assert_eq!(
            messages(json!({"tags": [{}, {"name": ["Too long."]}]})),
            "tags[1].name: Too long."
        );
        assert_eq!(
            messages(json!({"non_field_errors": ["Bad."], "detail": "Worse."})),
            "Worse.; Bad."
        );
    }

    #[test]
    fn other_statuses_carry_the_status() {
        let error = ApiError::answer(StatusCode::NOT_FOUND, &json!({"detail": "Not found."}));
        assert_eq!(error.to_string(), "HTTP 404 Not Found: Not found.");
        let empty = ApiError::answer(StatusCode::BAD_GATEWAY, &Value::Null);
        assert_eq!(empty.to_string(), "HTTP 502 Bad Gateway: Bad Gateway");
    }

    #[test]
    fn retry_after_seconds_are_honoured_and_capped() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), None);

        let retrier = Retrier::default();
        assert_eq!(
            retrier.delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            retrier.delay(0, Some(Duration::from_secs(3600))),
            retrier.max_delay
        );
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let retrier = Retrier::default();
        for attempt in 0..3 {
            let base = retrier.base_delay * 2u32.pow(attempt);
            let delay = retrier.delay(attempt, None);
            assert!(delay >= base && delay <= base.mul_f64(1.5), "{delay:?}");
        }
        assert!(retrier.delay(40, None) <= retrier.max_delay.mul_f64(1.5));
    }

    #[test]
    fn long_text_is_shortened() {
        assert_eq!(shorten(" short "), "short");
        assert_eq!(shorten(&"é".repeat(300)).chars().count(), 203);
    }
}
