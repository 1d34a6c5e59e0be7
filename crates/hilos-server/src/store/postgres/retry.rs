//! When a write transaction runs again, and how long it waits first.

use std::future::Future;
use std::time::Duration;

use super::queries::QueryError;
use crate::domain::{StoreError, UpdateError, UpsertError};
use crate::store::map_sqlx_error;

/// Runs of one write transaction before its error is returned.
pub(super) const ATTEMPTS: u32 = 5;
/// Backoff before the second run; it doubles each time, up to [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_millis(200);

/// Why one write transaction stopped before its commit succeeded; `E` is
/// the operation's own error (an upsert's by default).
#[derive(Debug)]
pub(super) enum Stop<E = UpsertError> {
    /// Nothing was committed and running the transaction again may succeed:
    /// a deadlock, a serialization failure, a connection lost before the
    /// commit, or an insert conflict that a new run resolves.
    Retry(StoreError),
    /// The answer to return: a refusal, or a failure a retry cannot fix.
    Fail(E),
}

impl<E: From<StoreError>> Stop<E> {
    /// A race on a unique key that the next run will see settled.
    pub(super) fn conflict(message: impl Into<String>) -> Self {
        Stop::Retry(StoreError::internal(message))
    }

    /// A failed `COMMIT` is never run again: it may have been applied, and
    /// the request then already took effect.
    pub(super) fn at_commit(err: sqlx::Error) -> Self {
        Stop::Fail(map_sqlx_error(err).into())
    }
}

impl<E: From<StoreError>> From<sqlx::Error> for Stop<E> {
    fn from(err: sqlx::Error) -> Self {
        if is_retryable(&err) {
            Stop::Retry(map_sqlx_error(err))
        } else {
            Stop::Fail(map_sqlx_error(err).into())
        }
    }
}

impl<E: From<StoreError>> From<QueryError> for Stop<E> {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Sql(e) => e.into(),
            QueryError::Store(e) => Stop::Fail(e.into()),
        }
    }
}

impl From<UpsertError> for Stop<UpsertError> {
    fn from(err: UpsertError) -> Self {
        Stop::Fail(err)
    }
}

impl From<UpdateError> for Stop<UpdateError> {
    fn from(err: UpdateError) -> Self {
        Stop::Fail(err)
    }
}

/// Runs one transaction (`run`, from `BEGIN` to `COMMIT`) until it
/// succeeds, fails for good, or has run [`ATTEMPTS`] times, with a jittered
/// backoff between runs. `what` names the operation in logs.
pub(super) async fn with_retries<T, E, F, Fut>(what: &str, mut run: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Stop<E>>>,
{
    let mut attempt = 1;
    loop {
        match run().await {
            Ok(value) => return Ok(value),
            Err(Stop::Fail(err)) => return Err(err),
            Err(Stop::Retry(err)) if attempt >= ATTEMPTS => {
                tracing::warn!(attempt, error = %err, "{what} gave up retrying");
                return Err(err.into());
            }
            Err(Stop::Retry(err)) => {
                tracing::debug!(attempt, error = %err, "{what} will run again");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// Whether a failed statement (before `COMMIT`) is worth a new transaction.
///
/// A timed-out pool is not: the request has already waited the acquire
/// timeout, and PostgreSQL is most likely down.
pub(super) fn is_retryable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_retryable_sqlstate(&code)),
        _ => false,
    }
}

/// Serialization failure, deadlock, connection exceptions, and the server
/// shutting down or starting up (the pool reconnects on the next run).
fn is_retryable_sqlstate(code: &str) -> bool {
    code == "40001" || code == "40P01" || code.starts_with("08") || code.starts_with("57P")
}

/// How long to wait after failed run `attempt` (1-based): exponential with
/// full jitter, so processes that collided once do not collide again in
/// lockstep.
pub(super) fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_DELAY
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand::random_range(micros / 4..=micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_sqlstates() {
        for code in ["40001", "40P01", "08006", "08003", "57P01", "57P03"] {
            assert!(is_retryable_sqlstate(code), "{code}");
        }
        for code in ["23505", "23503", "53300", "42P01", "22008", "25P02"] {
            assert!(!is_retryable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn pool_timeouts_are_not_retried() {
        assert!(!is_retryable(&sqlx::Error::PoolTimedOut));
        assert!(!is_retryable(&sqlx::Error::PoolClosed));
        assert!(is_retryable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..=ATTEMPTS + 20 {
            let d = backoff(attempt);
            assert!(d <= MAX_DELAY, "{attempt}: {d:?}");
        }
        assert!(backoff(1) <= BASE_DELAY);
        assert!(backoff(1) >= BASE_DELAY / 4);
    }
}
