//! `hilos contacts import` against a real server.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::{read_report, Server};

const ROWS: usize = 10_000;

/// What a generated row is meant to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A new contact.
    New,
    /// The phone of row `i - 13`, written another way.
    Duplicate,
    /// Refused by the server: phone `not-a-phone`.
    BadPhone,
    /// Refused by the server: email `x`.
    BadEmail,
    /// Refused by the server: too short to be a number.
    ShortPhone,
    /// Refused before sending: a first name over its maxLength.
    LongName,
}

fn kind(i: usize) -> Kind {
    if i % 50 == 7 {
        // 2% of the rows; none is ever the original of a duplicate, whose
        // index ends in 0.
        match (i / 50) % 4 {
            0 => Kind::BadPhone,
            1 => Kind::BadEmail,
            2 => Kind::ShortPhone,
            _ => Kind::LongName,
        }
    } else if i % 20 == 13 {
        // 5% of the rows.
        Kind::Duplicate
    } else {
        Kind::New
    }
}

/// Row `i`'s Mexico City number written in format `format`: with the old
/// mobile `1`, as WhatsApp digits, or as E.164.
fn phone(i: usize, format: usize) -> String {
    let subscriber = 10_000_000 + i;
    let (a, b) = (subscriber / 10_000, subscriber % 10_000);
    match format % 3 {
        0 => format!("+52 1 55 {a:04} {b:04}"),
        1 => format!("52155{subscriber:08}"),
        _ => format!("+5255{subscriber:08}"),
    }
}

/// The acceptance CSV: 10 000 rows, 2% invalid, 5% duplicates in another
/// format, an unknown `Loyalty Tier` column that becomes meta. The header
/// names use other cases than the fields, on purpose.
fn write_csv(path: &Path) {
    let mut text = String::from("Phone,First_Name,LAST_NAME,email,tags,Loyalty Tier\n");
    for i in 0..ROWS {
        let kind = kind(i);
        let phone = match kind {
            Kind::Duplicate => phone(i - 13, i - 13 + 1),
            Kind::BadPhone => "not-a-phone".to_owned(),
            Kind::ShortPhone => "+52 55 12".to_owned(),
            _ => phone(i, i),
        };
        let first = if kind == Kind::LongName {
            "a".repeat(101)
        } else {
            format!("Name {i}")
        };
        let email = if kind == Kind::BadEmail {
            "x".to_owned()
        } else {
            format!("row{i}@example.com")
        };
        let tags = if i % 2 == 0 {
            format!("csv;batch-{}", i % 5)
        } else {
            format!("csv|batch-{}", i % 5)
        };
        let tier = if i % 7 == 0 {
            String::new()
        } else {
            ["gold", "silver", "bronze"][i % 3].to_owned()
        };
        writeln!(text, "{phone},\"{first}\",Last {i},{email},{tags},{tier}").expect("write");
    }
    std::fs::write(path, text).expect("write the CSV");
}

/// The `rows/s` figure of the summary line.
fn rate(stderr: &str) -> f64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no summary line in {stderr:?}"));
    line.split(", ")
        .find_map(|part| part.strip_suffix(" rows/s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_ten_thousand_rows_and_reports_the_invalid_ones() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("contacts.csv");
    let report_path = dir.path().join("failed.csv");
    write_csv(&csv_path);

    let invalid: Vec<usize> = (0..ROWS)
        .filter(|&i| !matches!(kind(i), Kind::New | Kind::Duplicate))
        .collect();
    let duplicates = (0..ROWS).filter(|&i| kind(i) == Kind::Duplicate).count();
    assert_eq!(invalid.len(), ROWS / 50);
    assert_eq!(duplicates, ROWS / 20);
    let expected_contacts = (ROWS - invalid.len() - duplicates) as i64;
    // The header is line 1, so row i is on line i + 2.
    let expected_lines: BTreeSet<u64> = invalid.iter().map(|&i| i as u64 + 2).collect();

    let args = [
        "contacts",
        "import",
        csv_path.to_str().expect("path"),
        "--concurrency",
        "16",
        "--report",
        report_path.to_str().expect("path"),
    ];
    let started = Instant::now();
    let first = server.hilos(args).await;
    let wall = started.elapsed();
    first.expect_code(1);
    eprintln!(
        "first import: {} ({:.1} s wall, {:.0} rows/s by the tool)",
        first.stderr.trim(),
        wall.as_secs_f64(),
        rate(&first.stderr)
    );
    assert!(
        first.stderr.contains(&format!(
            "imported {} rows, {} failed",
            ROWS - invalid.len(),
            invalid.len()
        )),
        "{}",
        first.stderr
    );
    assert_eq!(server.count().await, expected_contacts);

    // The report holds exactly the invalid rows, in line order, each with
    // its own columns and a reason.
    let report = read_report(&report_path);
    let lines: Vec<u64> = report
        .iter()
        .map(|row| row["line"].parse().expect("line number"))
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted by line");
    assert_eq!(
        lines.iter().copied().collect::<BTreeSet<_>>(),
        expected_lines
    );
    for row in &report {
        let line: usize = row["line"].parse().expect("line");
        let i = line - 2;
        assert_eq!(
            row["LAST_NAME"],
            format!("Last {i}"),
            "original columns kept"
        );
        let error = &row["error"];
        let expected = match kind(i) {
            Kind::BadPhone | Kind::ShortPhone => "phone: Enter a valid phone number.",
            Kind::BadEmail => "email: Enter a valid email address.",
            Kind::LongName => {
                "first_name: longer than 100 characters (checked by hilos before sending; not sent)"
            }
            other => panic!("row {i} ({other:?}) should not have failed: {error}"),
        };
        assert_eq!(error, expected, "line {line}");
    }

    // The unknown column became meta (empty cells skipped), and a duplicate
    // merged into its original: one contact, tags of both rows.
    let client = server.client();
    let page = client
        .list_contacts(Some(1), Some(5), Some("5510000000"))
        .await
        .expect("search")
        .into_inner();
    assert_eq!(
        page.count, 1,
        "row 0 and its duplicate, row 13, are one contact"
    );
    let id: uuid::Uuid = page.results[0].id.parse().expect("uuid");
    let contact = client.get_contact(&id).await.expect("get").into_inner();
    assert_eq!(contact.canonical_phone.as_str(), "+525510000000");
    // Row 0's cell is empty, so the value comes from its duplicate, row 13.
    assert_eq!(
        contact.meta.get("Loyalty Tier"),
        Some(&serde_json::json!("silver"))
    );
    let mut tags: Vec<String> = contact.tags.iter().map(|t| t.name.to_string()).collect();
    tags.sort();
    assert_eq!(tags, ["batch-0", "batch-3", "csv"]);
    let page = client
        .list_contacts(Some(1), Some(5), Some("5510000001"))
        .await
        .expect("search")
        .into_inner();
    let id: uuid::Uuid = page.results[0].id.parse().expect("uuid");
    let contact = client.get_contact(&id).await.expect("get").into_inner();
    assert_eq!(
        contact.meta.get("Loyalty Tier"),
        Some(&serde_json::json!("silver"))
    );

    // A rerun adds nothing and reports the same rows the same way.
    let first_report = std::fs::read_to_string(&report_path).expect("report");
    let second = server.hilos(args).await;
    second.expect_code(1);
    eprintln!("rerun: {}", second.stderr.trim());
    assert_eq!(server.count().await, expected_contacts);
    let second_report = std::fs::read_to_string(&report_path).expect("report");
    assert_eq!(second_report, first_report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_report_sits_beside_the_file_and_can_be_reimported() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("people.csv");
    std::fs::write(
        &csv_path,
        "phone,first_name,city\n\
         +52 55 1234 5678,Ana,CDMX\n\
         not-a-phone,Bea,\n\
         \"+1 415 555 2671\",\"Multi\nline\",SF\n\
         12,Cid,Quito\n",
    )
    .expect("write");
    let run = server
        .hilos(["contacts", "import", csv_path.to_str().expect("path")])
        .await;
    run.expect_code(1);
    assert_eq!(server.count().await, 2);
    let report_path = dir.path().join("people.failed.csv");
    let report = read_report(&report_path);
    let lines: Vec<&str> = report.iter().map(|r| r["line"].as_str()).collect();
    // The quoted name spans lines 4 and 5, so the last row starts on line 6.
    assert_eq!(lines, ["3", "6"]);
    assert_eq!(report[0]["first_name"], "Bea");
    assert_eq!(report[0]["error"], "phone: Enter a valid phone number.");

    // Fix the report and import it again, ignoring its own columns.
    let fixed = std::fs::read_to_string(&report_path)
        .expect("report")
        .replace("not-a-phone", "+44 20 7946 0018")
        .replace("\n12,", "\n+55 11 98765 4321,");
    let fixed_path = dir.path().join("fixed.csv");
    std::fs::write(&fixed_path, fixed).expect("write");
    let again = server
        .hilos([
            "contacts",
            "import",
            fixed_path.to_str().expect("path"),
            "--skip-column",
            "line",
            "--skip-column",
            "error",
        ])
        .await;
    again.expect_code(0);
    assert!(
        again.stderr.contains("imported 2 rows, 0 failed"),
        "{}",
        again.stderr
    );
    assert!(!dir.path().join("fixed.failed.csv").exists());
    assert_eq!(server.count().await, 4);
    let client = server.client();
    let page = client
        .list_contacts(Some(1), Some(5), Some("442079460018"))
        .await
        .expect("search")
        .into_inner();
    assert!(page.results[0].meta.get("line").is_none());
    assert!(page.results[0].meta.get("error").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_cannot_run_says_why_and_sends_nothing() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("no_phone.csv");
    std::fs::write(&csv_path, "name,email\nAna,a@example.com\n").expect("write");
    let run = server
        .hilos(["contacts", "import", csv_path.to_str().expect("path")])
        .await;
    run.expect_code(1);
    assert!(run.stderr.contains("no `phone` column"), "{}", run.stderr);

    let good = dir.path().join("good.csv");
    std::fs::write(&good, "phone\n5215512345678\n").expect("write");
    let refused = common::hilos(
        ["contacts", "import", good.to_str().expect("path")],
        &[("HILOS_BASE_URL", &server.base), ("HILOS_TOKEN", "wrong")],
    )
    .await;
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("cannot use the API"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);
    assert!(!dir.path().join("good.failed.csv").exists());

    let missing = server
        .hilos(["contacts", "import", "/nonexistent/file.csv"])
        .await;
    missing.expect_code(1);
    assert!(missing.stderr.contains("cannot open"), "{}", missing.stderr);

    let clash = server
        .hilos([
            "contacts",
            "import",
            good.to_str().expect("path"),
            "--report",
            good.to_str().expect("path"),
        ])
        .await;
    clash.expect_code(1);
    assert!(
        clash.stderr.contains("would overwrite the input"),
        "{}",
        clash.stderr
    );
    assert_eq!(server.count().await, 0);
}

/// Bodies already answered once with a busy status.
#[derive(Clone, Default)]
struct Busy {
    seen: Arc<Mutex<HashSet<Vec<u8>>>>,
}

/// In front of the real app: the first time each upsert body arrives it is
/// turned away (alternately `503` with `Retry-After: 0` and `429` without
/// the header); a phone containing `0000` is always turned away.
async fn busy_first(State(busy): State<Busy>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let always = String::from_utf8_lossy(&bytes).contains("0000");
    let first = {
        let mut seen = busy.seen.lock().expect("lock");
        let first = seen.insert(bytes.to_vec());
        if first && seen.len() % 2 == 0 {
            Some(axum::http::StatusCode::TOO_MANY_REQUESTS)
        } else if first {
            Some(axum::http::StatusCode::SERVICE_UNAVAILABLE)
        } else {
            None
        }
    };
    match (always, first) {
        (true, _) | (false, Some(axum::http::StatusCode::SERVICE_UNAVAILABLE)) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0"), ("content-type", "application/json")],
            r#"{"detail":"Busy, try again."}"#,
        )
            .into_response(),
        (false, Some(status)) => (status, "slow down").into_response(),
        (false, None) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_answers_are_retried_a_bounded_number_of_times() {
    let server = Server::start_with(|app| {
        app.layer(axum::middleware::from_fn_with_state(
            Busy::default(),
            busy_first,
        ))
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("busy.csv");
    let mut text = String::from("phone\n");
    for i in 0..40 {
        writeln!(text, "+52 55 {:04} {:04}", 2000 + i, 1234 + i).expect("write");
    }
    std::fs::write(&csv_path, &text).expect("write");
    // A stale report from an earlier run goes once every row succeeds.
    let report_path = dir.path().join("busy.failed.csv");
    std::fs::write(&report_path, "phone,line,error\n").expect("write");

    let run = server
        .hilos([
            "contacts",
            "import",
            csv_path.to_str().expect("path"),
            "--concurrency",
            "4",
        ])
        .await;
    run.expect_code(0);
    assert!(
        run.stderr.contains("imported 40 rows, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("40 retried"), "{}", run.stderr);
    assert!(!report_path.exists(), "stale report removed");
    assert_eq!(server.count().await, 40);

    // A row that is always turned away fails after the bounded retries.
    std::fs::write(&csv_path, "phone\n+52 55 1000 0000\n").expect("write");
    let run = server
        .hilos(["contacts", "import", csv_path.to_str().expect("path")])
        .await;
    run.expect_code(1);
    assert!(run.stderr.contains("3 retried"), "{}", run.stderr);
    let report = read_report(&report_path);
    assert_eq!(report.len(), 1);
    assert_eq!(
        report[0]["error"],
        "HTTP 503 Service Unavailable: Busy, try again."
    );
}
