//! A bare HTTP/1.1 client over a `TcpStream`, for tests that must know
//! exactly when a request's bytes were written and how a connection ended,
//! which a full client hides.

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;

use serde_json::Value;

/// An answer read off a connection.
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// The answer said `Connection: close`.
    pub close: bool,
}

/// A `POST /api/contact` with a JSON `body`.
pub fn post_request(addr: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /api/contact HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `GET` of `path`.
pub fn get_request(addr: &str, key: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {key}\r\n\r\n")
        .into_bytes()
}

/// Reads one HTTP/1.1 answer with a `Content-Length`; `Err` if the
/// connection ends before all of it arrived.
pub fn read_response(reader: &mut impl BufRead) -> Result<Answer, String> {
    let mut line = String::new();
    let read = reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the status line: {e}"))?;
    if read == 0 {
        return Err("closed before the status line".to_owned());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("status line {line:?}"))?;
    let mut length = None;
    let mut close = false;
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading headers: {e}"))?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or("a header")?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length.ok_or("no Content-Length")?];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    super::leaks::assert_no_leak(status, &body);
    Ok(Answer {
        status,
        body: String::from_utf8(body).map_err(|e| e.to_string())?,
        close,
    })
}

/// One GET on a new connection.
pub fn get(addr: &str, key: &str, path: &str) -> Value {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(&get_request(addr, key, path))
        .expect("send");
    let answer = read_response(&mut BufReader::new(&stream)).expect("an answer");
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    serde_json::from_str(&answer.body).expect("JSON")
}
