//! Hostile input over real HTTP: each case gets a 4xx with a Django REST
//! Framework body (or, where hyper refuses a request head before the
//! application sees it, hyper's bodiless 431), the server keeps serving,
//! and nothing is stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::backend::Backend;
use crate::common::leaks;
use crate::support::{Caller, Reply, TestServer};

crate::backend_tests!(
    deeply_nested_json_is_a_400,
    a_huge_number_of_meta_keys_is_a_400_in_every_media_type,
    invalid_utf8_in_form_and_multipart_is_a_400,
    a_scalar_given_twice_is_a_400,
    nul_characters_are_refused_in_every_text_field,
    a_huge_phone_is_a_400,
    long_header_values_are_answered,
    too_many_headers_are_answered,
);

const BOUNDARY: &str = "hostileBoundary9d1c";
const PHONE: &str = "+525512345678";

fn auth(caller: &Caller) -> String {
    format!("Token {}", caller.token)
}

fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A multipart field: its name and value, as bytes.
type Part<'a> = (&'a [u8], &'a [u8]);

/// A multipart body of raw-byte parts.
fn multipart(fields: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"").as_bytes(),
        );
        out.extend_from_slice(name);
        out.extend_from_slice(b"\"\r\n\r\n");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// A 400 `{"detail": ...}` whose message starts with `prefix`.
fn assert_detail_400(reply: &Reply, prefix: &str) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap_or_else(|| {
        panic!("a detail body: {}", reply.body);
    });
    assert!(detail.starts_with(prefix), "{detail}");
    assert_eq!(reply.body.as_object().map(|o| o.len()), Some(1));
}

async fn deeply_nested_json_is_a_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let deep = "[".repeat(100_000);
    let objects = "{\"a\":".repeat(100_000);
    for body in [
        deep.clone(),
        objects.clone(),
        format!("{{\"phone\": \"{PHONE}\", \"meta\": {deep}"),
        format!("{{\"phone\": \"{PHONE}\", \"meta\": {{\"k\": {objects}"),
        format!("{{\"phone\": \"{PHONE}\", \"tags\": [{{\"name\": {deep}"),
    ] {
        let started = Instant::now();
        let reply = server
            .post(Some(&auth(&caller)), Some("application/json"), body)
            .await;
        assert_detail_400(&reply, "JSON parse error - ");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    // A nested JSON object in a form or multipart `meta` field.
    let nested_meta = format!("{{\"k\": {deep}");
    let form = format!("phone=%2B525512345678&meta={}", nested_meta);
    let reply = server
        .post(
            Some(&auth(&caller)),
            Some("application/x-www-form-urlencoded"),
            form,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, json!({"meta": ["Value must be valid JSON."]}));
    let parts = multipart(&[
        (b"phone", PHONE.as_bytes()),
        (b"meta", nested_meta.as_bytes()),
    ]);
    let reply = server
        .post(Some(&auth(&caller)), Some(&multipart_content_type()), parts)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, json!({"meta": ["Value must be valid JSON."]}));

    // Nesting within the parser's limit is an ordinary meta value.
    let modest = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let contact = server
        .upsert(
            &caller,
            json!({"phone": PHONE, "meta": {"k": serde_json::from_str::<Value>(&modest).expect("JSON")}}),
        )
        .await;
    assert_eq!(contact["meta"]["k"], json!(modest));
    assert_eq!(server.contact_count().await, 1);
}

async fn a_huge_number_of_meta_keys_is_a_400_in_every_media_type(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let too_many = json!({"meta": ["Ensure this field has no more than 1000 keys."]});

    let keys: serde_json::Map<String, Value> =
        (0..50_000).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({"phone": PHONE, "meta": keys}).to_string();
    assert!(body.len() < 1024 * 1024, "within the body limit");
    let started = Instant::now();
    let reply = server
        .post_json(&caller, serde_json::from_str(&body).expect("JSON"))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, too_many);

    let mut form = String::from("phone=%2B525512345678");
    for i in 0..50_000 {
        form.push_str(&format!("&meta%5Bk{i}%5D=v"));
    }
    assert!(form.len() < 1024 * 1024, "within the body limit");
    let reply = server
        .post(
            Some(&auth(&caller)),
            Some("application/x-www-form-urlencoded"),
            form,
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, too_many);

    let names: Vec<String> = (0..10_000).map(|i| format!("meta[k{i}]")).collect();
    let mut fields: Vec<Part> = vec![(b"phone", PHONE.as_bytes())];
    fields.extend(names.iter().map(|n| (n.as_bytes(), &b"v"[..])));
    let parts = multipart(&fields);
    assert!(parts.len() < 1024 * 1024, "within the body limit");
    let reply = server
        .post(Some(&auth(&caller)), Some(&multipart_content_type()), parts)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, too_many);

    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(server.contact_count().await, 0);
}

async fn invalid_utf8_in_form_and_multipart_is_a_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let form_cases: [&[u8]; 4] = [
        b"phone=%2B525512345678&first_name=%FF%FE",
        b"phone=%2B525512345678&first_name=\xff\xfe",
        b"phone=%2B525512345678&meta%5B%C3%28%5D=v",
        b"phone=%2B525512345678&%80=x",
    ];
    for form in form_cases {
        let reply = server
            .post(
                Some(&auth(&caller)),
                Some("application/x-www-form-urlencoded"),
                form.to_vec(),
            )
            .await;
        assert_detail_400(&reply, "Form parse error - ");
    }

    let value = multipart(&[
        (b"phone", PHONE.as_bytes()),
        (b"first_name", b"Ana \xc3\x28"),
    ]);
    let reply = server
        .post(Some(&auth(&caller)), Some(&multipart_content_type()), value)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body,
        json!({"detail": "Multipart form parse error - field \"first_name\" is not valid UTF-8."})
    );
    for name in [&b"first_\xff"[..], &b"meta[\xc3\x28]"[..]] {
        let parts = multipart(&[(b"phone", PHONE.as_bytes()), (name, b"x")]);
        let reply = server
            .post(Some(&auth(&caller)), Some(&multipart_content_type()), parts)
            .await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("Multipart form parse error - ")),
            "{}",
            reply.body
        );
    }
    assert_eq!(server.contact_count().await, 0);
}

async fn a_scalar_given_twice_is_a_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let several = "Expected a single value, but got several.";
    let cases: [(&[Part], &str); 4] = [
        (
            &[(b"phone", b"+525512345678"), (b"phone", b"+525599998888")],
            "phone",
        ),
        (
            &[
                (b"phone", b"+525512345678"),
                (b"first_name", b"Ana"),
                (b"first_name", b"Eva"),
            ],
            "first_name",
        ),
        (
            &[
                (b"phone", b"+525512345678"),
                (b"meta", b"{}"),
                (b"meta", b"{\"a\": 1}"),
            ],
            "meta",
        ),
        (
            &[
                (b"phone", b"+525512345678"),
                (b"overwrite_tags", b"true"),
                (b"overwrite_tags", b"false"),
            ],
            "overwrite_tags",
        ),
    ];
    for (fields, field) in cases {
        let reply = server
            .post(
                Some(&auth(&caller)),
                Some(&multipart_content_type()),
                multipart(fields),
            )
            .await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.body);
        assert_eq!(reply.body, json!({ field: [several] }));
    }
    let reply = server
        .post(
            Some(&auth(&caller)),
            Some("application/x-www-form-urlencoded"),
            "phone=%2B525512345678&email=a%40example.com&email=b%40example.com",
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, json!({ "email": [several] }));
    assert_eq!(server.contact_count().await, 0);
}

async fn nul_characters_are_refused_in_every_text_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let nul = "Null characters are not allowed.";
    let cases = [
        (
            json!({"phone": "+52551234\u{0}5678"}),
            json!({"phone": [nul]}),
        ),
        (
            json!({"first_name": "A\u{0}na"}),
            json!({"first_name": [nul]}),
        ),
        (json!({"last_name": "\u{0}"}), json!({"last_name": [nul]})),
        (json!({"source": "web\u{0}"}), json!({"source": [nul]})),
        (
            json!({"external_url": "https://crm.example.com/\u{0}"}),
            json!({"external_url": [nul]}),
        ),
        (
            json!({"email": "a\u{0}@example.com"}),
            json!({"email": [nul, "Enter a valid email address."]}),
        ),
        (
            json!({"tags": [{"name": "v\u{0}ip"}]}),
            json!({"tags": [{"name": [nul]}]}),
        ),
        (
            json!({"meta": {"plan": "go\u{0}ld"}}),
            json!({"meta": [nul]}),
        ),
        (
            json!({"meta": {"pl\u{0}an": "gold"}}),
            json!({"meta": [nul]}),
        ),
    ];
    for (mut body, expected) in cases {
        if body.get("phone").is_none() {
            body["phone"] = json!(PHONE);
        }
        let reply = server.post_json(&caller, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body, expected, "{body}");
    }
    // The same through a form body.
    let reply = server
        .post(
            Some(&auth(&caller)),
            Some("application/x-www-form-urlencoded"),
            "phone=%2B525512345678&first_name=A%00na&meta%5Bk%5D=%00",
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, json!({"first_name": [nul]}));
    let reply = server
        .post(
            Some(&auth(&caller)),
            Some("application/x-www-form-urlencoded"),
            "phone=%2B525512345678&meta%5Bk%5D=%00",
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, json!({"meta": [nul]}));
    assert_eq!(server.contact_count().await, 0);

    // On update too, and in the search term of the list.
    let contact = server.upsert(&caller, json!({"phone": PHONE})).await;
    let id = contact["id"].as_str().expect("id");
    let reply = server
        .call(
            &caller,
            reqwest::Method::PATCH,
            &format!("/api/contact/{id}"),
            Some(json!({"last_name": "x\u{0}"})),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body, json!({"last_name": [nul]}));
    // The search term loses its NUL characters, as DRF's SearchFilter
    // strips them: `%00` alone is no filter, `55%0012` searches `5512`.
    let reply = server.get(&caller, "/api/contact?search=%00").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["count"], json!(1), "{}", reply.body);
    let reply = server.get(&caller, "/api/contact?search=55%0012").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["results"][0]["id"], json!(id), "{}", reply.body);
    let reply = server.get(&caller, "/api/contact?search=99%0099").await;
    assert_eq!(reply.body["count"], json!(0), "{}", reply.body);
    let stored = server.get(&caller, &format!("/api/contact/{id}")).await;
    assert_eq!(stored.body["last_name"], Value::Null);
}

async fn a_huge_phone_is_a_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    for phone in ["5".repeat(500_000), "+52 ".repeat(100_000)] {
        let reply = server.post_json(&caller, json!({ "phone": phone })).await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.body,
            json!({"phone": ["Ensure this field has no more than 30 characters."]})
        );
    }
    assert_eq!(server.contact_count().await, 0);
}

/// Sends one raw request head on a fresh connection (writing from another
/// thread, so a server that answers early is not blocked on) and returns
/// the status and body of the answer.
fn raw_exchange(base: &str, head: Vec<u8>) -> (u16, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        // The server may close once it has refused the head; the rest of
        // the write failing then is expected.
        let _ = writer.write_all(&head);
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if complete(&answer) {
                    break;
                }
            }
            Err(e) => panic!("the connection was not answered: {e} after {answer:?}"),
        }
    }
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    leaks::assert_no_leak(status, body.as_bytes());
    (status, body.as_bytes().to_vec())
}

/// Whether `answer` holds a whole response with a `content-length` body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|len| body.len() >= len)
}

fn get_head(base: &str, extra: &str) -> Vec<u8> {
    let host = base.trim_start_matches("http://");
    format!("GET /api/contact HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n")
        .into_bytes()
}

async fn long_header_values_are_answered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let base = server.base.clone();
    let token = caller.token.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let kib64 = "a".repeat(64 * 1024);
        let mib = "a".repeat(1024 * 1024);
        [
            raw_exchange(
                &base,
                get_head(&base, &format!("Authorization: Token {kib64}\r\n")),
            ),
            raw_exchange(
                &base,
                get_head(
                    &base,
                    &format!("Authorization: Token {token}\r\nX-Padding: {kib64}\r\n"),
                ),
            ),
            raw_exchange(
                &base,
                get_head(&base, &format!("Authorization: Token {mib}\r\n")),
            ),
            raw_exchange(
                &base,
                get_head(
                    &base,
                    &format!("Authorization: Token {token}\r\nX-Padding: {mib}\r\n"),
                ),
            ),
        ]
    })
    .await
    .expect("the exchanges ran");

    // 64 KiB reaches the application: an unknown key, and a header it ignores.
    let (status, body) = &answers[0];
    assert_eq!(*status, 401);
    assert_eq!(
        serde_json::from_slice::<Value>(body).expect("JSON"),
        json!({"detail": "Invalid token."})
    );
    let (status, body) = &answers[1];
    assert_eq!(*status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(body).expect("JSON")["count"],
        json!(0)
    );
    // 1 MiB is over hyper's buffer for a request head: it answers 431
    // itself, with no body, before the application runs.
    for (status, body) in &answers[2..] {
        assert_eq!(*status, 431);
        assert!(body.is_empty());
    }
    // And the server still serves.
    assert_eq!(server.get(&caller, "/api/contact").await.status, 200);
}

async fn too_many_headers_are_answered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let base = server.base.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let many: String = (0..500).map(|i| format!("X-H{i}: {i}\r\n")).collect();
        raw_exchange(&base, get_head(&base, &many))
    })
    .await
    .expect("the exchange ran");
    assert_eq!(status, 431);
    assert!(body.is_empty());
    assert_eq!(server.get(&caller, "/api/contact").await.status, 200);
}
