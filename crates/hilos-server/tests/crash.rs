//! SIGKILL under load. Several clients upsert a few phones concurrently over
//! keep-alive connections, each request adding a meta key and a tag of its
//! own; the server process is killed mid-load, restarted on the same
//! database, and then every write that was answered `201` is there with
//! its meta and tag, the SQLite file passes `PRAGMA integrity_check`, and
//! the server serves again. Requests in flight at the kill may or may not
//! have been stored, but whole or not at all; only acknowledged ones must
//! be there, and nothing that was never sent appears. Three kill points run one after the other on the
//! same database, each round checking the writes of all rounds so far. On
//! PostgreSQL only the server process is killed, not the database.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backend::{Backend, TestDb};
use common::process::ServerProcess;
use hilos_server::store::ContactStore;
use serde_json::{json, Value};

/// Acknowledged writes, counted from the start of each round, after which
/// the server is killed: right after the first writes, and twice mid-load.
const KILL_POINTS: [usize; 3] = [5, 250, 600];
const CLIENTS: usize = 8;
const PHONES: usize = 12;
/// Upper bound on each client's requests in one round, so a round that
/// never reaches its kill point still ends.
const MAX_REQUESTS_PER_CLIENT: usize = 1_000;

backend_tests!(acknowledged_writes_survive_sigkill_mid_load);

async fn acknowledged_writes_survive_sigkill_mid_load(backend: Backend) {
    let started = Instant::now();
    let db = backend.fresh_db().await;
    let key = {
        let store = db.store().await;
        let account = store.create_account("crash").await.expect("account");
        store
            .create_user(account, "ops@crash.test", "Op", "")
            .await
            .expect("user");
        store.create_token("ops@crash.test").await.expect("token")
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("HILOS_DATABASE_URL", db.url.as_str())];

    let mut ledger = Ledger::default();
    let mut in_flight_stored = 0;
    let mut server = ServerProcess::start(dir.path(), &env);
    for (round, kill_after) in KILL_POINTS.into_iter().enumerate() {
        let load = Load::start(&server.base, &key, round);
        load.wait_for_acks(kill_after).await;
        server.kill();
        let outcome = load.finish().await;
        assert!(
            outcome.acked.len() >= kill_after,
            "round {round}: {} acknowledged",
            outcome.acked.len()
        );
        assert!(
            outcome.unexpected.is_empty(),
            "round {round}: every answer before the kill was 201: {:?}",
            outcome.unexpected
        );
        ledger.add(outcome);

        server = ServerProcess::start(dir.path(), &env);
        in_flight_stored = ledger.assert_stored(&server.base, &key).await;
        if backend == Backend::Sqlite {
            assert_sqlite_intact(&db).await;
        }
        assert_serves(&server.base, &key, round).await;
    }
    server.terminate();
    eprintln!(
        "{backend:?}: {} acknowledged writes over {} kills checked in {:?}; \
         {in_flight_stored} more were in flight at a kill and stored anyway",
        ledger.acked.len(),
        KILL_POINTS.len(),
        started.elapsed()
    );
}

/// A write the server answered `201`.
#[derive(Debug)]
struct Ack {
    phone: usize,
    contact_id: String,
    meta_key: String,
    meta_value: String,
    tag: String,
}

/// What one round of load did.
#[derive(Default)]
struct Outcome {
    acked: Vec<Ack>,
    /// The meta keys of every request started, answered or not.
    sent: BTreeSet<String>,
    /// Answers other than `201`, with their bodies.
    unexpected: Vec<(u16, String)>,
}

/// Concurrent clients upserting until the server goes away.
struct Load {
    acks: Arc<AtomicUsize>,
    clients: Vec<tokio::task::JoinHandle<Outcome>>,
}

impl Load {
    fn start(base: &str, key: &str, round: usize) -> Self {
        let acks = Arc::new(AtomicUsize::new(0));
        let clients = (0..CLIENTS)
            .map(|client| {
                let url = format!("{base}/api/contact");
                let auth = format!("Token {key}");
                let acks = acks.clone();
                tokio::spawn(async move {
                    // One client per task: its own keep-alive connection.
                    let http = reqwest::Client::new();
                    let mut outcome = Outcome::default();
                    for n in 0..MAX_REQUESTS_PER_CLIENT {
                        let phone = (client + n) % PHONES;
                        let meta_key = format!("r{round}c{client}n{n}");
                        let meta_value = format!("value of {meta_key}");
                        let tag = format!("t-{meta_key}");
                        outcome.sent.insert(meta_key.clone());
                        let sent = http
                            .post(&url)
                            .header("authorization", &auth)
                            .json(&json!({
                                "phone": phone_number(phone),
                                "meta": {&meta_key: &meta_value},
                                "tags": [{"name": &tag}],
                            }))
                            .send()
                            .await;
                        let Ok(response) = sent else { break };
                        let status = response.status().as_u16();
                        let Ok(body) = response.text().await else {
                            break;
                        };
                        if status != 201 {
                            common::leaks::assert_no_leak(status, body.as_bytes());
                            outcome.unexpected.push((status, body));
                            continue;
                        }
                        let contact: Value = serde_json::from_str(&body).expect("a JSON contact");
                        assert_eq!(contact["meta"][&meta_key], json!(meta_value), "{body}");
                        outcome.acked.push(Ack {
                            phone,
                            contact_id: contact["id"].as_str().expect("an id").to_owned(),
                            meta_key,
                            meta_value,
                            tag,
                        });
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    outcome
                })
            })
            .collect();
        Self { acks, clients }
    }

    async fn wait_for_acks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acks.load(Ordering::SeqCst) < n {
            assert!(
                !self.clients.iter().all(|c| c.is_finished()),
                "every client stopped after {} of {n} writes",
                self.acks.load(Ordering::SeqCst)
            );
            assert!(
                Instant::now() < deadline,
                "only {} of {n} writes acknowledged",
                self.acks.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn finish(self) -> Outcome {
        let mut all = Outcome::default();
        for client in self.clients {
            let outcome = client.await.expect("client task");
            all.acked.extend(outcome.acked);
            all.sent.extend(outcome.sent);
            all.unexpected.extend(outcome.unexpected);
        }
        all
    }
}

/// Every round's acknowledged writes and sent keys.
#[derive(Default)]
struct Ledger {
    acked: Vec<Ack>,
    sent: BTreeSet<String>,
}

impl Ledger {
    fn add(&mut self, outcome: Outcome) {
        self.acked.extend(outcome.acked);
        self.sent.extend(outcome.sent);
    }

    /// Reads each acknowledged contact back over the API; returns how many
    /// writes are stored that were sent but never acknowledged (in flight at
    /// a kill).
    async fn assert_stored(&self, base: &str, key: &str) -> usize {
        let acknowledged: BTreeSet<&str> = self.acked.iter().map(|a| a.meta_key.as_str()).collect();
        let mut unacknowledged = 0;
        let mut by_phone: BTreeMap<usize, (&str, Vec<&Ack>)> = BTreeMap::new();
        for ack in &self.acked {
            let entry = by_phone
                .entry(ack.phone)
                .or_insert_with(|| (&ack.contact_id, Vec::new()));
            assert_eq!(
                entry.0,
                ack.contact_id.as_str(),
                "one contact per phone: {}",
                ack.meta_key
            );
            entry.1.push(ack);
        }
        let http = reqwest::Client::new();
        for (phone, (id, acks)) in by_phone {
            let response = http
                .get(format!("{base}/api/contact/{id}"))
                .header("authorization", format!("Token {key}"))
                .send()
                .await
                .expect("GET");
            assert_eq!(response.status().as_u16(), 200, "contact {id}");
            let contact: Value = response.json().await.expect("JSON");
            assert_eq!(contact["phone"], json!(phone_number(phone)));
            let meta = contact["meta"].as_object().expect("meta");
            let tags: BTreeSet<&str> = contact["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t["name"].as_str().expect("tag name"))
                .collect();
            for ack in acks {
                assert_eq!(
                    meta.get(&ack.meta_key),
                    Some(&json!(ack.meta_value)),
                    "acknowledged meta key {} of contact {id}",
                    ack.meta_key
                );
                assert!(
                    tags.contains(ack.tag.as_str()),
                    "acknowledged tag {} of contact {id}",
                    ack.tag
                );
            }
            for stored in meta.keys() {
                assert!(self.sent.contains(stored), "never sent: meta {stored}");
            }
            let tagged: BTreeSet<&str> = tags
                .iter()
                .map(|tag| tag.strip_prefix("t-").expect("a tag the test sent"))
                .collect();
            for meta_key in &tagged {
                assert!(
                    self.sent.contains(*meta_key),
                    "never sent: tag t-{meta_key}"
                );
            }
            // Each request adds a meta key and its tag in one upsert: a
            // request in flight at the kill is stored whole or not at all.
            let keyed: BTreeSet<&str> = meta.keys().map(String::as_str).collect();
            assert_eq!(keyed, tagged, "meta keys and tags of contact {id}");
            unacknowledged += keyed.difference(&acknowledged).count();
        }
        unacknowledged
    }
}

fn phone_number(n: usize) -> String {
    format!("+5255500000{n:02}")
}

async fn assert_sqlite_intact(db: &TestDb) {
    assert_eq!(db.texts("PRAGMA integrity_check").await, ["ok"]);
    assert_eq!(
        db.count("SELECT count(*) FROM pragma_foreign_key_check")
            .await,
        0
    );
}

/// A new contact is created and read back after the restart.
async fn assert_serves(base: &str, key: &str, round: usize) {
    let http = reqwest::Client::new();
    let phone = format!("+5255510000{round:02}");
    let response = http
        .post(format!("{base}/api/contact"))
        .header("authorization", format!("Token {key}"))
        .json(&json!({"phone": phone, "first_name": "After", "meta": {"round": round}}))
        .send()
        .await
        .expect("POST after restart");
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.expect("JSON");
    let id = created["id"].as_str().expect("id");
    let response = http
        .get(format!("{base}/api/contact/{id}"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .expect("GET after restart");
    assert_eq!(response.status().as_u16(), 200);
    let read: Value = response.json().await.expect("JSON");
    assert_eq!(read["phone"], json!(phone));
    assert_eq!(read["first_name"], "After");
    assert_eq!(read["meta"], json!({"round": round.to_string()}));
}
