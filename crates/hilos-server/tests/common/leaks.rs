//! Error bodies must not show how the server is built: no SQL or database
//! names, no panic messages or stack traces, no file paths. Every test
//! helper that reads a response passes it through [`assert_no_leak`].

use serde_json::Value;

/// Words that only a database error would bring into a body; matched as
/// whole words, ignoring case. (`DELETE` and `UPDATE` are not here: a 405
/// names the method it refuses.)
const SQL_WORDS: &[&str] = &[
    "select",
    "insert",
    "sqlite",
    "sqlx",
    "postgres",
    "postgresql",
    "constraint",
    "sqlstate",
];

/// Fragments of SQL errors, panics, stack traces and paths; matched
/// anywhere, ignoring case.
const FRAGMENTS: &[&str] = &[
    "delete from",
    "update contacts",
    "relation \"",
    "no such table",
    "no such column",
    "syntax error",
    "duplicate key",
    "violates",
    "database error",
    "database unavailable",
    "panicked at",
    "backtrace",
    "unwrap()",
    ".rs:",
    "/home",
    "/root",
    "/tmp",
    "/usr/",
    "/var/",
    "src/",
    "target/",
    ".cargo",
    "\\",
];

/// The leak patterns found in one piece of text.
pub fn leaks_in_text(text: &str) -> Vec<&'static str> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
    let mut found: Vec<&'static str> = SQL_WORDS
        .iter()
        .filter(|word| words.contains(word))
        .copied()
        .collect();
    found.extend(FRAGMENTS.iter().filter(|f| lower.contains(*f)).copied());
    found
}

/// The leak patterns in a response body: in every key and string of a
/// JSON body (so JSON's own escapes are not mistaken for backslashes), or
/// in the text of any other body.
pub fn leaks_in_body(body: &[u8]) -> Vec<&'static str> {
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let mut texts = Vec::new();
            collect_texts(&json, &mut texts);
            let mut found: Vec<&'static str> =
                texts.iter().flat_map(|t| leaks_in_text(t)).collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        Err(_) => leaks_in_text(&String::from_utf8_lossy(body)),
    }
}

fn collect_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out)),
        Value::Object(fields) => {
            for (key, v) in fields {
                out.push(key);
                collect_texts(v, out);
            }
        }
        _ => {}
    }
}

/// Panics when an error response (status 400 and up) leaks internals.
pub fn assert_no_leak(status: u16, body: &[u8]) {
    if status < 400 {
        return;
    }
    let found = leaks_in_body(body);
    assert!(
        found.is_empty(),
        "the {status} body leaks {found:?}: {}",
        String::from_utf8_lossy(body)
    );
}
