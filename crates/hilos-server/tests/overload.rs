//! Overload and slow clients, against the binary as an operator runs it:
//! the request head timeout, the request timeout, the concurrency limit,
//! the optional rate limit, and memory under many silent connections.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use serde_json::{json, Value};

fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> (ServerProcess, String, String) {
    let running = ServerProcess::start(dir, env);
    let key = running.token();
    let addr = running.base.trim_start_matches("http://").to_owned();
    (running, addr, key)
}

/// A `POST /api/contact` split in two: the head and half the body, then
/// the rest.
fn split_post(addr: &str, key: &str) -> (String, String) {
    let body = json!({"phone": "+525512345678", "first_name": "Slow"}).to_string();
    let request = format!(
        "POST /api/contact HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let cut = request.len() - body.len() / 2;
    (request[..cut].to_owned(), request[cut..].to_owned())
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {:?}", self.body))
    }
}

fn read_answer(stream: &mut TcpStream) -> Answer {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    common::leaks::assert_no_leak(status, body.as_bytes());
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn send(addr: &str, raw: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(raw.as_bytes()).expect("send");
    read_answer(&mut stream)
}

fn post(addr: &str, key: &str) -> Answer {
    let (head, rest) = split_post(addr, key);
    send(addr, &(head + &rest))
}

fn get(addr: &str, path: &str) -> Answer {
    send(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// Waits for the peer to close `stream`; returns how long it took, or
/// `None` when it stays open past `limit`.
fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue, // an error answer before closing is fine
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(started.elapsed()), // reset
        }
    }
}

#[test]
fn a_client_sending_part_of_the_head_is_disconnected_after_the_head_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, _) = start(dir.path(), &[("HILOS_HEADER_READ_TIMEOUT", "1")]);
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(format!("POST /api/contact HTTP/1.1\r\nHost: {addr}\r\nContent-Ty").as_bytes())
        .expect("send part of the head");
    let closed = time_until_closed(&mut stream, Duration::from_secs(5))
        .expect("the connection is closed after the head timeout");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(3),
        "closed after {closed:?}, expected about 1 s"
    );
    assert_eq!(
        get(&addr, "/healthz").status,
        200,
        "the server still serves"
    );
    running.terminate();
}

#[test]
fn a_request_whose_body_arrives_too_slowly_gets_503_after_the_request_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, key) = start(dir.path(), &[("HILOS_REQUEST_TIMEOUT", "1")]);
    let (head_and_half, _rest) = split_post(&addr, &key);
    let started = Instant::now();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream.write_all(head_and_half.as_bytes()).expect("send");
    let answer = read_answer(&mut stream);
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.json(), json!({"detail": "Request timed out."}));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "answered after {elapsed:?}, expected about 1 s"
    );
    assert_eq!(post(&addr, &key).status, 201, "a prompt request is served");
    running.terminate();
}

#[test]
fn a_request_over_the_concurrency_limit_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, key) = start(dir.path(), &[("HILOS_MAX_CONCURRENT_REQUESTS", "1")]);
    // Hold the only slot: a request whose body is still on its way.
    let (head_and_half, rest) = split_post(&addr, &key);
    let mut held = TcpStream::connect(&addr).expect("connect");
    held.write_all(head_and_half.as_bytes()).expect("send");
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let shed = post(&addr, &key);
    assert_eq!(shed.status, 503, "{}", shed.body);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shed at once, not queued"
    );
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(
        shed.json(),
        json!({"detail": "Server overloaded, try again later."})
    );
    assert_eq!(
        get(&addr, "/healthz").status,
        200,
        "health checks are exempt"
    );

    held.write_all(rest.as_bytes()).expect("send the rest");
    assert_eq!(read_answer(&mut held).status, 201, "the held one finishes");
    assert_eq!(post(&addr, &key).status, 201, "the slot is free again");
    running.terminate();
}

#[test]
fn the_request_over_the_rate_limit_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, key) = start(dir.path(), &[("HILOS_RATE_LIMIT_PER_MINUTE", "3")]);
    for i in 0..3 {
        assert_eq!(
            post(&addr, &key).status,
            201,
            "request {i} is within the rate"
        );
    }
    let throttled = post(&addr, &key);
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    let wait: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&wait), "Retry-After: {wait}");
    assert_eq!(
        throttled.json(),
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    running.terminate();
}

#[test]
fn without_a_rate_limit_no_request_is_throttled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, key) = start(dir.path(), &[]);
    for i in 0..40 {
        let answer = post(&addr, &key);
        assert_eq!(answer.status, 201, "request {i}: {}", answer.body);
    }
    running.terminate();
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The soft limit on open files of this process, from /proc.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn silent_connections_keep_memory_bounded_and_are_closed_after_the_head_timeout() {
    const WANTED: usize = 2000;
    const BOUND_KIB: u64 = 64 * 1024;
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read memory from");
        return;
    }
    // Keep room for the test harness's own files.
    let count = match open_files_limit() {
        Some(limit) if (limit as usize) < WANTED + 200 => {
            let count = (limit as usize).saturating_sub(200);
            eprintln!("open files limited to {limit}: opening {count} connections, not {WANTED}");
            count
        }
        _ => WANTED,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, addr, _) = start(dir.path(), &[("HILOS_HEADER_READ_TIMEOUT", "10")]);
    let pid = running.child.id();
    assert_eq!(get(&addr, "/healthz").status, 200);
    let before = vm_rss_kib(pid);

    let opened_at = Instant::now();
    let mut streams: Vec<TcpStream> = (0..count)
        .map(|i| TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    let all_open = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let during = vm_rss_kib(pid);
    let growth = during.saturating_sub(before);
    eprintln!(
        "{count} silent connections: VmRSS {before} KiB before, {during} KiB with them open \
         (+{growth} KiB); opening them took {:?}",
        all_open - opened_at
    );
    assert!(
        growth < BOUND_KIB,
        "VmRSS grew by {growth} KiB with {count} silent connections (bound {BOUND_KIB} KiB)"
    );
    // They were all open while memory was measured...
    if opened_at.elapsed() < Duration::from_secs(9) {
        let first = streams.first_mut().expect("a connection");
        assert_eq!(
            time_until_closed(first, Duration::from_millis(200)),
            None,
            "the connection is open before the head timeout"
        );
    } else {
        eprintln!("opening took so long that the first ones may have timed out already");
    }
    // ...and all closed after it.
    let deadline = all_open + Duration::from_secs(10 + 5);
    let mut still_open = 0;
    for stream in &mut streams {
        let left = deadline.saturating_duration_since(Instant::now());
        if time_until_closed(stream, left.max(Duration::from_millis(1))).is_none() {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "connections still open well after the head timeout"
    );
    drop(streams);
    std::thread::sleep(Duration::from_millis(300));
    let after = vm_rss_kib(pid);
    eprintln!("after they were closed: VmRSS {after} KiB");
    assert_eq!(
        get(&addr, "/healthz").status,
        200,
        "the server still serves"
    );
    running.terminate();
}
