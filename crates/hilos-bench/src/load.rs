//! The load generator: `connections` keep-alive HTTP/1.1 connections, each
//! sending its next request as soon as the last answer is read (a closed
//! loop), for a fixed time or a fixed number of requests.
//!
//! Latency is recorded per request, from just before the request is written
//! to the end of its body, in an HDR histogram (microseconds, 3 significant
//! digits). A warm-up period runs the same load unrecorded first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Builds request number `seq` of a workload (numbers count from 0 over the
/// whole run, across connections).
pub type MakeRequest = dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync;

/// When a load run stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this long (not counting the warm-up).
    After(Duration),
    /// After this many recorded requests.
    Requests(u64),
}

/// How to drive one load run.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// The server.
    pub addr: SocketAddr,
    /// Concurrent keep-alive connections (the `-c` of the bench).
    pub connections: usize,
    /// Unrecorded load before measuring.
    pub warmup: Duration,
    /// When to stop measuring.
    pub stop: Stop,
    /// The status every answer must have; anything else is an error.
    pub expect: StatusCode,
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Answers with the expected status after the warm-up.
    pub ok: u64,
    /// Other answers and failed exchanges after the warm-up.
    pub errors: u64,
    /// The first few unexpected answers, for diagnosis.
    pub error_samples: Vec<String>,
    /// Measured time.
    pub elapsed: Duration,
    /// Latency of the expected answers, microseconds.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    /// Expected answers per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Latency at quantile `q` (0..=1), milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Highest latency, milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

/// Error samples kept per run.
const SAMPLES: usize = 5;

/// State shared by the connections of one run.
struct Shared {
    plan: LoadPlan,
    make: Arc<MakeRequest>,
    next_seq: AtomicU64,
    /// Requests recorded so far (for [`Stop::Requests`]).
    recorded: AtomicU64,
    measure_from: Instant,
    deadline: Option<Instant>,
}

impl Shared {
    fn done(&self, now: Instant) -> bool {
        match (self.plan.stop, self.deadline) {
            (_, Some(deadline)) => now >= deadline,
            (Stop::Requests(n), None) => {
                now >= self.measure_from && self.recorded.load(Ordering::Relaxed) >= n
            }
            (Stop::After(_), None) => unreachable!("a timed run has a deadline"),
        }
    }
}

/// Per-connection tallies.
struct Tally {
    ok: u64,
    errors: u64,
    samples: Vec<String>,
    latency: Histogram<u64>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds are valid")
}

/// Runs the plan on the current Tokio runtime and returns the merged result.
pub async fn run(plan: LoadPlan, make: Arc<MakeRequest>) -> Result<LoadResult> {
    let measure_from = Instant::now() + plan.warmup;
    let deadline = match plan.stop {
        Stop::After(d) => Some(measure_from + d),
        Stop::Requests(_) => None,
    };
    let shared = Arc::new(Shared {
        plan,
        make,
        next_seq: AtomicU64::new(0),
        recorded: AtomicU64::new(0),
        measure_from,
        deadline,
    });
    let mut tasks = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        tasks.push(tokio::spawn(drive(shared.clone())));
    }
    let mut result = LoadResult {
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        elapsed: Duration::ZERO,
        latency: new_histogram(),
    };
    for task in tasks {
        let tally = task.await.context("load task panicked")??;
        result.ok += tally.ok;
        result.errors += tally.errors;
        result
            .latency
            .add(&tally.latency)
            .context("merging histograms")?;
        for sample in tally.samples {
            if result.error_samples.len() < SAMPLES {
                result.error_samples.push(sample);
            }
        }
    }
    result.elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok(result)
}

async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server
        // closes it; either is reported through the sender.
        let _ = connection.await;
    });
    Ok(sender)
}

/// One connection's closed loop.
async fn drive(shared: Arc<Shared>) -> Result<Tally> {
    let mut tally = Tally {
        ok: 0,
        errors: 0,
        samples: Vec::new(),
        latency: new_histogram(),
    };
    let mut sender = connect(shared.plan.addr).await?;
    loop {
        let now = Instant::now();
        if shared.done(now) {
            return Ok(tally);
        }
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let request = (shared.make)(seq);
        if sender.ready().await.is_err() {
            sender = connect(shared.plan.addr).await?;
        }
        let started = Instant::now();
        let outcome = exchange(&mut sender, request).await;
        let finished = Instant::now();
        let measured = started >= shared.measure_from;
        match outcome {
            Ok((status, _)) if status == shared.plan.expect => {
                if measured {
                    tally.ok += 1;
                    shared.recorded.fetch_add(1, Ordering::Relaxed);
                    let micros = finished.duration_since(started).as_micros();
                    tally
                        .latency
                        .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                }
            }
            Ok((status, body)) => {
                if measured {
                    tally.errors += 1;
                }
                if tally.samples.len() < SAMPLES {
                    tally.samples.push(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ));
                }
            }
            Err(error) => {
                if measured {
                    tally.errors += 1;
                }
                if tally.samples.len() < SAMPLES {
                    tally.samples.push(format!("exchange failed: {error:#}"));
                }
                sender = connect(shared.plan.addr).await?;
            }
        }
    }
}

async fn exchange(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
