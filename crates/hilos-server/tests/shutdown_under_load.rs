//! SIGTERM while many keep-alive clients are posting.
//!
//! A request is *accepted* once the server has read it off a connection
//! that reached it before it stopped listening. On loopback a client's
//! `write` returns only once the bytes are in the server's socket buffer,
//! so every request a client finished writing before SIGTERM was sent is
//! one the server can read, and must answer: those all get `201`. That
//! includes requests just written on keep-alive connections that were idle
//! and on new connections not yet taken off the listen queue. A request
//! written after SIGTERM, on a connection the server is closing, may
//! instead see the connection close without an answer; then it must have
//! had no effect, which the test checks in the database after a restart
//! (that is what shows it was never accepted). Meanwhile new connections
//! are refused, a request still being sent when SIGTERM came is answered,
//! and the process exits 0 within the drain timeout. A request that never
//! finishes does not hold the process past that timeout.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::raw_http::{get, post_request, read_response, Answer};
use serde_json::{json, Value};

const CLIENTS: usize = 16;
/// Keep-alive connections that sit idle after one request, then get their
/// next request written right before SIGTERM.
const IDLE_CONNECTIONS: usize = 32;
/// New connections whose first request is written right before SIGTERM.
const NEW_CONNECTIONS: usize = 16;
const PHONES: usize = 12;
/// Answers to wait for before SIGTERM, so every client is mid-stream.
const ANSWERS_BEFORE_SIGTERM: usize = 300;
/// Upper bound on each client's requests.
const MAX_REQUESTS_PER_CLIENT: usize = 2_000;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn sigterm_under_load_answers_every_accepted_request_and_loses_no_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let drain = DRAIN_TIMEOUT.as_secs().to_string();
    let mut server = ServerProcess::start(dir.path(), &[("HILOS_DRAIN_TIMEOUT", &drain)]);
    let key = server.token();
    let addr = server.base.trim_start_matches("http://").to_owned();

    // A request whose body is still arriving when SIGTERM comes.
    let slow_body = json!({"phone": "+525551234567", "meta": {"slow": "yes"}}).to_string();
    let slow_request = post_request(&addr, &key, &slow_body);
    let (slow_start, slow_rest) = slow_request.split_at(slow_request.len() - slow_body.len() / 2);
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(slow_start).expect("send the first part");

    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (addr, key, answered) = (addr.clone(), key.clone(), answered.clone());
            std::thread::spawn(move || post_until_closed(&addr, &key, client, &answered))
        })
        .collect();

    let mut idle: Vec<KeepAlive> = (0..IDLE_CONNECTIONS)
        .map(|i| KeepAlive::used_once(&addr, &key, CLIENTS + i))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < ANSWERS_BEFORE_SIGTERM {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(1));
    }
    for connection in &mut idle {
        connection.write_next();
    }
    idle.extend((0..NEW_CONNECTIONS).map(|i| {
        let mut connection = KeepAlive::open(&addr, &key, CLIENTS + IDLE_CONNECTIONS + i);
        connection.write_next();
        connection
    }));
    let sigterm_at = Instant::now();
    server.signal_term();
    let mut attempts: Vec<Attempt> = idle.into_iter().flat_map(KeepAlive::finish).collect();

    let refused_after = wait_until_refused(&addr);
    assert!(
        server.child.try_wait().expect("poll").is_none(),
        "connections are refused while the server is still draining"
    );
    slow.write_all(slow_rest).expect("send the rest");
    let mut slow = BufReader::new(slow);
    let slow_answer = read_response(&mut slow).expect("an answer");
    assert_eq!(slow_answer.status, 201, "{}", slow_answer.body);
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest)
        .expect("the server closes the connection");
    assert!(rest.is_empty(), "nothing after the answer: {rest:?}");

    let exit = wait_for_exit(&mut server, sigterm_at, DRAIN_TIMEOUT);
    attempts.extend(
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread")),
    );

    let before: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.written_at < sigterm_at)
        .collect();
    for attempt in &before {
        match &attempt.outcome {
            Outcome::Answered(answer) => {
                assert_eq!(answer.status, 201, "{}: {}", attempt.meta_key, answer.body)
            }
            Outcome::Closed(why) => panic!(
                "{} was written before SIGTERM and got no answer: {why}",
                attempt.meta_key
            ),
        }
    }
    let unanswered: BTreeSet<&str> = attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Answered(answer) => {
                assert_eq!(answer.status, 201, "{}: {}", a.meta_key, answer.body);
                None
            }
            Outcome::Closed(_) => Some(a.meta_key.as_str()),
        })
        .collect();

    // Restart and compare the database with what the clients were told.
    let server = ServerProcess::start(dir.path(), &[]);
    let stored = stored_meta_keys(&server.base, &key);
    let sent: BTreeSet<&str> = attempts.iter().map(|a| a.meta_key.as_str()).collect();
    let mut acknowledged = 0;
    for attempt in &attempts {
        let Outcome::Answered(answer) = &attempt.outcome else {
            continue;
        };
        acknowledged += 1;
        let contact: Value = serde_json::from_str(&answer.body).expect("JSON");
        let stored_keys = stored
            .get(contact["id"].as_str().expect("id"))
            .expect("the acknowledged contact exists");
        assert!(
            stored_keys.contains(&attempt.meta_key),
            "acknowledged write {} was lost",
            attempt.meta_key
        );
    }
    for keys in stored.values() {
        for key in keys {
            assert!(
                key == "slow" || sent.contains(key.as_str()),
                "never sent: {key}"
            );
            assert!(
                !unanswered.contains(key.as_str()),
                "{key} took effect but its client got no answer"
            );
        }
    }
    assert!(
        stored.values().any(|keys| keys.contains("slow")),
        "the request in flight at SIGTERM was stored"
    );
    server.terminate();
    eprintln!(
        "{} requests: {} written before SIGTERM, {acknowledged} answered 201, {} closed \
         unanswered (none stored); refused {refused_after:?} and exited 0 {exit:?} after SIGTERM",
        attempts.len(),
        before.len(),
        unanswered.len(),
    );
}

#[test]
fn a_request_that_never_finishes_does_not_hold_shutdown_past_the_drain_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(dir.path(), &[("HILOS_DRAIN_TIMEOUT", "2")]);
    let key = server.token();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"phone": "+525551234567"}).to_string();
    let request = post_request(&addr, &key, &body);
    let mut stuck = TcpStream::connect(&addr).expect("connect");
    stuck
        .write_all(&request[..request.len() - 1])
        .expect("send all but the last byte");
    std::thread::sleep(Duration::from_millis(200));

    let sigterm_at = Instant::now();
    server.signal_term();
    let exit = wait_for_exit(&mut server, sigterm_at, Duration::from_secs(4));
    assert!(
        exit >= Duration::from_secs(2),
        "exited {exit:?} after SIGTERM, before the drain timeout, with a request in flight"
    );
}

/// One request a client wrote, and what came of it.
struct Attempt {
    meta_key: String,
    written_at: Instant,
    outcome: Outcome,
}

enum Outcome {
    Answered(Answer),
    /// The connection closed or was reset with no answer (or only part of one).
    Closed(String),
}

/// A keep-alive connection the test drives request by request.
struct KeepAlive {
    addr: String,
    key: String,
    client: usize,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    attempts: Vec<Attempt>,
    pending: Option<(String, Instant)>,
}

impl KeepAlive {
    fn open(addr: &str, key: &str, client: usize) -> Self {
        let writer = TcpStream::connect(addr).expect("connect");
        let reader = BufReader::new(writer.try_clone().expect("clone the stream"));
        Self {
            addr: addr.to_owned(),
            key: key.to_owned(),
            client,
            writer,
            reader,
            attempts: Vec::new(),
            pending: None,
        }
    }

    /// A connection that was used for one request and is now idle.
    fn used_once(addr: &str, key: &str, client: usize) -> Self {
        let mut connection = Self::open(addr, key, client);
        connection.write_next();
        let attempt = connection.read_answer();
        assert!(
            matches!(&attempt.outcome, Outcome::Answered(a) if a.status == 201 && !a.close),
            "the first request on {client} was answered and kept the connection"
        );
        connection.attempts.push(attempt);
        connection
    }

    fn write_next(&mut self) {
        let n = self.attempts.len();
        let (meta_key, request) = upsert(&self.addr, &self.key, self.client, n);
        self.writer.write_all(&request).expect("send");
        self.pending = Some((meta_key, Instant::now()));
    }

    fn read_answer(&mut self) -> Attempt {
        let (meta_key, written_at) = self.pending.take().expect("a request was written");
        let outcome = match read_response(&mut self.reader) {
            Ok(answer) => Outcome::Answered(answer),
            Err(why) => Outcome::Closed(why),
        };
        Attempt {
            meta_key,
            written_at,
            outcome,
        }
    }

    fn finish(mut self) -> Vec<Attempt> {
        let attempt = self.read_answer();
        self.attempts.push(attempt);
        self.attempts
    }
}

/// The `n`th request of `client`: an upsert of one of [`PHONES`] phones with
/// a meta key and a tag of its own; and that key.
fn upsert(addr: &str, key: &str, client: usize, n: usize) -> (String, Vec<u8>) {
    let meta_key = format!("c{client}n{n}");
    let phone = format!("+5255500000{:02}", (client + n) % PHONES);
    let body = json!({"phone": phone, "meta": {&meta_key: n}, "tags": [{"name": format!("t-{meta_key}")}]});
    let request = post_request(addr, key, &body.to_string());
    (meta_key, request)
}

/// Posts on one keep-alive connection, each request with a meta key and tag
/// of its own, until the server closes the connection.
fn post_until_closed(addr: &str, key: &str, client: usize, answered: &AtomicUsize) -> Vec<Attempt> {
    let stream = TcpStream::connect(addr).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    let mut attempts = Vec::new();
    for n in 0..MAX_REQUESTS_PER_CLIENT {
        let (meta_key, request) = upsert(addr, key, client, n);
        if let Err(error) = writer.write_all(&request) {
            // Refused before any byte could be written: nothing was sent.
            assert!(n > 0, "first write failed: {error}");
            break;
        }
        let written_at = Instant::now();
        let outcome = match read_response(&mut reader) {
            Ok(answer) => {
                answered.fetch_add(1, Ordering::SeqCst);
                Outcome::Answered(answer)
            }
            Err(why) => Outcome::Closed(why),
        };
        let last = match &outcome {
            Outcome::Answered(answer) => answer.close,
            Outcome::Closed(_) => true,
        };
        attempts.push(Attempt {
            meta_key,
            written_at,
            outcome,
        });
        if last {
            break;
        }
    }
    attempts
}

/// Every contact's meta keys, by contact id, read over the API.
fn stored_meta_keys(base: &str, key: &str) -> BTreeMap<String, BTreeSet<String>> {
    let addr = base.trim_start_matches("http://");
    let list = get(addr, key, "/api/contact?page_size=100");
    let results = list["results"].as_array().expect("results");
    assert_eq!(list["count"], json!(results.len()), "one page holds all");
    results
        .iter()
        .map(|listed| {
            let id = listed["id"].as_str().expect("id").to_owned();
            let contact = get(addr, key, &format!("/api/contact/{id}"));
            let meta = contact["meta"].as_object().expect("meta");
            let tags: BTreeSet<String> = contact["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t["name"].as_str().expect("name").to_owned())
                .collect();
            for key in meta.keys().filter(|k| *k != "slow") {
                assert!(tags.contains(&format!("t-{key}")), "tag of {key}");
            }
            (id, meta.keys().cloned().collect())
        })
        .collect()
}

/// How long after SIGTERM connecting starts to fail with "refused".
fn wait_until_refused(addr: &str) -> Duration {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                return start.elapsed()
            }
            Err(error) => panic!("connect: {error}"),
            Ok(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "still accepting connections after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Waits for the process to exit 0 within `limit` of `since`; how long it took.
fn wait_for_exit(server: &mut ServerProcess, since: Instant, limit: Duration) -> Duration {
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "still running {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
