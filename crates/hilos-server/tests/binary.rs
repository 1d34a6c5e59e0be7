//! The `hilos-server` binary as an operator runs it: first start, the printed
//! curl example, the admin subcommands, restarts and shutdown.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{ServerProcess, BIN};
use serde_json::{json, Value};

fn start(dir: &Path) -> ServerProcess {
    ServerProcess::start(dir, &[])
}

fn admin(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .current_dir(dir)
        .env_remove("HILOS_DATABASE_URL")
        .args(args)
        .output()
        .expect("run hilos-server");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn post(base: &str, key: &str, body: Value) -> (u16, Value) {
    let output = Command::new("curl")
        .args(["-sS", "-X", "POST", &format!("{base}/api/contact")])
        .args(["-H", &format!("Authorization: Token {key}")])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ])
        .args(["-w", "\n%{http_code}"])
        .output()
        .expect("curl");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let status = status.parse().expect("status");
    common::leaks::assert_no_leak(status, body.as_bytes());
    (status, serde_json::from_str(body).expect("JSON body"))
}

#[test]
fn first_start_prints_a_working_token_and_curl_example_and_data_survives_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(dir.path());

    let token_lines: Vec<&String> = first
        .stdout
        .iter()
        .filter(|l| l.starts_with("API token: "))
        .collect();
    assert_eq!(token_lines.len(), 1, "{:?}", first.stdout);
    let key = token_lines[0].trim_start_matches("API token: ").to_owned();
    assert_eq!(key.len(), 40);
    assert!(
        dir.path().join("hilos.db").exists(),
        "the default database is sqlite://hilos.db"
    );

    let example = first
        .stdout
        .iter()
        .find(|l| l.trim_start().starts_with("curl "))
        .expect("a curl example");
    let output = Command::new("sh")
        .args(["-c", example])
        .output()
        .expect("run the curl example");
    let response = String::from_utf8_lossy(&output.stdout);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let created: Value =
        serde_json::from_str(response.rsplit("\r\n\r\n").next().expect("body")).expect("JSON");

    first.terminate();

    let second = start(dir.path());
    assert!(
        !second.stdout.iter().any(|l| l.contains("API token")),
        "later starts print no token: {:?}",
        second.stdout
    );
    let (status, again) = post(&second.base, &key, json!({"phone": created["phone"]}));
    assert_eq!(status, 201);
    assert_eq!(
        again["id"], created["id"],
        "the contact survived the restart"
    );
    assert_eq!(again["first_name"], created["first_name"]);
    assert_eq!(again["tags"], created["tags"]);
    second.terminate();
}

#[test]
fn admin_commands_manage_accounts_users_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let account: i64 = admin(dir.path(), &["accounts", "create", "Acme"])
        .parse()
        .expect("an account id");
    let user: i64 = admin(
        dir.path(),
        &[
            "users",
            "create",
            "--account",
            &account.to_string(),
            "--email",
            "ops@acme.test",
            "--first-name",
            "Op",
        ],
    )
    .parse()
    .expect("a user id");
    let key = admin(dir.path(), &["tokens", "create", "--user", "ops@acme.test"]);
    assert_eq!(key.len(), 40, "only the key is printed: {key:?}");

    let running = start(dir.path());
    assert!(
        !running.stdout.iter().any(|l| l.contains("API token")),
        "a database with accounts is not bootstrapped"
    );
    let (status, contact) = post(&running.base, &key, json!({"phone": "+525512345678"}));
    assert_eq!(status, 201);
    assert_eq!(contact["created_by"], user);

    admin(dir.path(), &["tokens", "revoke", &key]);
    let (status, body) = post(&running.base, &key, json!({"phone": "+525512345678"}));
    assert_eq!(status, 401);
    assert_eq!(body, json!({"detail": "Invalid token."}));
    running.terminate();
}

#[test]
fn a_log_that_is_not_a_terminal_gets_plain_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let running =
        ServerProcess::start_with_stderr(dir.path(), &[("HILOS_LOG", "info")], log.into());
    let key = running.token();
    let (status, _) = post(&running.base, &key, json!({"phone": "+52 55 1234 5678"}));
    assert_eq!(status, 201);
    running.terminate();

    let log = std::fs::read_to_string(&log_path).expect("read the log");
    let request_line = log
        .lines()
        .find(|l| l.contains("/api/contact"))
        .unwrap_or_else(|| panic!("the request is logged: {log}"));
    assert!(request_line.contains(" INFO "), "{request_line:?}");
    assert!(
        !log.contains('\u{1b}'),
        "no terminal escape codes in a log file: {log:?}"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path());
    let key = running.token();
    let addr = running.base.trim_start_matches("http://").to_owned();
    let body = json!({"phone": "+525512345678", "first_name": "Slow"}).to_string();
    let (head_and_half, rest) = {
        let request = format!(
            "POST /api/contact HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let cut = request.len() - body.len() / 2;
        (request[..cut].to_owned(), request[cut..].to_owned())
    };
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(head_and_half.as_bytes())
        .expect("send first half");
    std::thread::sleep(Duration::from_millis(300));

    let pid = running.child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "new connections are refused while draining"
    );

    stream.write_all(rest.as_bytes()).expect("send the rest");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    running.wait_for_clean_exit();
}
