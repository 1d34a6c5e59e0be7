//! Prometheus metrics, served as text at `/metrics`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::store::{BatchSizes, PoolStats};

/// Group-commit transaction sizes: the store counts them, and the latest
/// counts are copied in when the metrics are rendered.
#[derive(Debug, Clone, Default)]
struct CommitBatches(Arc<Mutex<Option<BatchSizes>>>);

impl EncodeMetric for CommitBatches {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let sizes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sizes) = sizes.as_ref() else {
            return Ok(());
        };
        let buckets: Vec<(f64, u64)> = sizes
            .buckets
            .iter()
            .map(|&(bound, n)| {
                let bound = if bound == u64::MAX {
                    f64::INFINITY
                } else {
                    bound as f64
                };
                (bound, n)
            })
            .collect();
        encoder.encode_histogram::<NoLabelSet>(sizes.sum as f64, sizes.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn is_empty(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

/// The labels of a request metric. `route` is the matched route template
/// (`/api/contact/{id}`), never the raw path, so ids do not become labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    contacts: Family<OutcomeLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    commit_batches: CommitBatches,
}

impl Metrics {
    /// A fresh set of metrics, all at zero.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("hilos");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route, method and status",
            latency.clone(),
        );
        let contacts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "contacts_upserted",
            "Contacts written by POST /api/contact, by outcome (created or updated)",
            contacts.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state (in_use or idle)",
            pool.clone(),
        );
        let commit_batches = CommitBatches::default();
        registry.register(
            "db_commit_batch_writes",
            "Contact writes per group-commit transaction (SQLite)",
            commit_batches.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            latency,
            contacts,
            pool,
            commit_batches,
        })
    }

    /// Counts one upsert.
    pub fn contact_upserted(&self, created: bool) {
        let outcome = if created { "created" } else { "updated" };
        self.contacts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The metrics in Prometheus' text format, with the pool and the
    /// group-commit counts as they are now.
    pub fn render(&self, pool: PoolStats, commit_batches: Option<BatchSizes>) -> String {
        *self
            .commit_batches
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = commit_batches;
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(pool.in_use));
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(pool.idle));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }
}

/// Middleware that records every request's count and latency.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics.observe(
        RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        },
        started.elapsed().as_secs_f64(),
    );
    response
}
