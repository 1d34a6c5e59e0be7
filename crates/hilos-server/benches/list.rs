//! Listing and searching a large account, on each backend.
//!
//! ```text
//! cargo bench -p hilos-server --bench list
//! HILOS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p hilos-server --bench list
//! ```
//!
//! Preloads 100 000 contacts into one account with bulk SQL (rows as the
//! store writes them, with tags; the search index is kept by the schema's
//! own triggers and indexes), then times [`ContactStore::list_contacts`]
//! page 1 (20 contacts, with the count and the tags) 50 times per case and
//! prints the median and p90, and the query plans of the searches. The
//! PostgreSQL half runs when `HILOS_TEST_POSTGRES_URL` is set, on a
//! database of its own that is dropped at the end.

#[allow(dead_code, unused_imports)]
#[path = "../tests/common/backend.rs"]
mod backend;

use std::time::{Duration, Instant};

use backend::{Backend, TestDb};
use chrono::{DateTime, TimeZone, Utc};
use hilos_server::domain::{ContactChange, Patch, Principal};
use hilos_server::store::{AnyStore, ContactStore};
use sqlx::{Connection as _, PgConnection, SqliteConnection};
use uuid::Uuid;

/// Contacts in the account.
const CONTACTS: usize = 100_000;
/// Timed runs per case.
const RUNS: usize = 50;
/// Rows per bulk statement.
const BATCH: usize = 5_000;
/// Page size.
const PAGE: u64 = 20;

const FIRST_NAMES: &[&str] = &[
    "Ana",
    "Luis",
    "María",
    "José",
    "Sofía",
    "Carlos",
    "Lucía",
    "Miguel",
    "Valentina",
    "Jorge",
    "Camila",
    "Diego",
    "Isabella",
    "Andrés",
    "Daniela",
    "Fernando",
    "Gabriela",
    "Ricardo",
    "Mariana",
    "Javier",
    "Paula",
    "Alejandro",
    "Renata",
    "Eduardo",
    "Ximena",
    "Roberto",
    "Elena",
    "Sergio",
    "Regina",
    "Pablo",
    "John",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Ethan",
    "Mia",
    "Lucas",
    "Chloe",
];
const LAST_NAMES: &[&str] = &[
    "García",
    "Martínez",
    "López",
    "González",
    "Rodríguez",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Cruz",
    "Morales",
    "Reyes",
    "Gutiérrez",
    "Ortiz",
    "Ramos",
    "Castillo",
    "Jiménez",
    "Vargas",
    "Romero",
    "Herrera",
    "Medina",
    "Aguilar",
    "Castro",
    "Ruiz",
    "Álvarez",
    "Mendoza",
    "Hernández",
    "Fernández",
    "Méndez",
    "Menéndez",
    "Smith",
    "Johnson",
    "Brown",
    "Miller",
    "Wilson",
    "Taylor",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "empresa.mx",
    "yahoo.com",
];
const SOURCES: &[&str] = &["website", "import", "whatsapp"];
const TAGS: &[&str] = &[
    "VIP",
    "Lead",
    "Customer",
    "Newsletter",
    "Churned",
    "Partner",
];

/// A contact row as the store writes it.
struct Row {
    id: Uuid,
    phone: String,
    canonical_phone: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    external_url: Option<String>,
    meta: String,
    source: &'static str,
    created_on: DateTime<Utc>,
    /// Indexes into [`TAGS`], in attach order.
    tags: Vec<usize>,
}

/// ASCII lowercase of a name for an email address.
fn mailbox(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' => 'u',
            'ñ' => 'n',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The 8 subscriber digits of contact `i`: distinct for every `i` below
/// 10^8 (7919 is prime to 10^8), and scattered.
fn digits(i: usize) -> String {
    format!("{:08}", (i as u64 * 7919 + 12_345) % 100_000_000)
}

/// Contact `i` of the preload, deterministic.
fn row(i: usize, base: DateTime<Utc>) -> Row {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = |n: usize| {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        (x % n as u64) as usize
    };
    let first = FIRST_NAMES[next(FIRST_NAMES.len())];
    let last = LAST_NAMES[next(LAST_NAMES.len())];
    let d = digits(i);
    let email = (next(10) < 7).then(|| {
        format!(
            "{}.{}{}@{}",
            mailbox(first),
            mailbox(last),
            next(1000),
            DOMAINS[next(DOMAINS.len())]
        )
    });
    let external_url =
        (next(2) == 0).then(|| format!("https://crm.example.com/contacts/{}", 10_000 + i));
    let meta = if next(4) == 0 {
        format!(r#"{{"plan":"basic","visits":"{}"}}"#, next(50))
    } else {
        "{}".to_owned()
    };
    let mut tags = Vec::new();
    if !i.is_multiple_of(3) {
        tags.push(i % TAGS.len());
    }
    if i.is_multiple_of(5) {
        tags.push((i + 1) % TAGS.len());
    }
    Row {
        id: Uuid::now_v7(),
        phone: format!("+52 55 {} {}", &d[..4], &d[4..]),
        canonical_phone: format!("+5255{d}"),
        first_name: (next(20) != 0).then(|| first.to_owned()),
        last_name: (next(10) != 0).then(|| last.to_owned()),
        email,
        external_url,
        meta,
        source: SOURCES[next(SOURCES.len())],
        // Two contacts per second: ties on created_on, broken by id.
        created_on: base + chrono::Duration::seconds((i / 2) as i64),
        tags,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        run(Backend::Sqlite).await;
        if Backend::Postgres.available() {
            run(Backend::Postgres).await;
        } else {
            println!(
                "\n== PostgreSQL: skipped; set {} (e.g. {})",
                backend::POSTGRES_URL_VAR,
                backend::POSTGRES_URL_EXAMPLE
            );
        }
    });
}

async fn run(backend: Backend) {
    println!("\n== {backend:?}: {CONTACTS} contacts in one account");
    let db = backend.fresh_db().await;
    let store = db.store().await;
    let who = setup_account(&store).await;
    let started = Instant::now();
    let base = Utc
        .with_ymd_and_hms(2022, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    // The first contact through the store (it creates the account's tags),
    // the rest in bulk, exactly as the store would have written them.
    let first = row(0, base);
    let mut change = ContactChange {
        phone: first.phone.clone(),
        canonical_phone: first.canonical_phone.clone(),
        id: Some(first.id),
        first_name: Patch::Value("Store".into()),
        source: Some(first.source.to_owned()),
        created_on: Some(first.created_on),
        ..ContactChange::default()
    };
    change.tags = Some(TAGS.iter().map(|t| (*t).to_owned()).collect());
    store
        .upsert_contact(&who, change)
        .await
        .expect("first contact");
    let rows: Vec<Row> = (1..CONTACTS).map(|i| row(i, base)).collect();
    match backend {
        Backend::Sqlite => preload_sqlite(&db, who, &rows).await,
        Backend::Postgres => preload_postgres(&db, who, &rows).await,
    }
    // SQLite indexes rows written behind the store's back when the store
    // starts (or at its next write): reopen it, as a server restart would.
    let store = match backend {
        Backend::Sqlite => db.store().await,
        Backend::Postgres => store,
    };
    println!("preloaded in {:.1} s", started.elapsed().as_secs_f64());

    // The bulk rows read back through the store like any other.
    let sample = &rows[CONTACTS / 2];
    let read = store
        .get_contact(who.account_id, sample.id)
        .await
        .expect("read")
        .expect("sample contact");
    assert_eq!(read.canonical_phone, sample.canonical_phone);
    assert_eq!(read.tags.len(), sample.tags.len());
    let all = store
        .list_contacts(who.account_id, None, 0, PAGE)
        .await
        .expect("list");
    assert_eq!(all.count, CONTACTS as u64);

    // A phone search: 6 digits from the middle of one contact's number.
    let phone_term = format!("55 {}", &digits(CONTACTS / 3)[..4]);
    let cases: [(&str, Option<&str>); 5] = [
        ("page 1, no search", None),
        ("page 1, name substring \"ndez\"", Some("ndez")),
        ("page 1, phone digits", Some(phone_term.as_str())),
        (
            "page 1, rare name \"sofia.menendez1\"",
            Some("sofia.menendez1"),
        ),
        ("page 1, 2-char term \"zo\" (scan)", Some("zo")),
    ];
    println!(
        "{:<40} {:>8} {:>10} {:>10}",
        "case (limit 20)", "matches", "median ms", "p90 ms"
    );
    for (label, search) in cases {
        let label = match search {
            Some(term) if label.contains("phone") => format!("page 1, phone digits {term:?}"),
            _ => label.to_owned(),
        };
        let (count, times) = measure(&store, who.account_id, search).await;
        println!(
            "{label:<40} {count:>8} {:>10.2} {:>10.2}",
            ms(percentile(&times, 50)),
            ms(percentile(&times, 90))
        );
    }
    for term in ["ndez", phone_term.as_str()] {
        println!("\nplan of the search {term:?}:");
        let plan = store
            .explain_list_contacts(who.account_id, Some(term), 0, PAGE)
            .await
            .expect("explain");
        print!("{plan}");
    }
    store.close().await;
}

async fn setup_account(store: &AnyStore) -> Principal {
    let account_id = store.create_account("Bench").await.expect("account");
    let user_id = store
        .create_user(account_id, "bench@example.com", "Bench", "")
        .await
        .expect("user");
    Principal {
        account_id,
        user_id,
    }
}

/// Runs the listing a few times to warm up, then [`RUNS`] timed times.
async fn measure(store: &AnyStore, account_id: i64, search: Option<&str>) -> (u64, Vec<Duration>) {
    let mut count = 0;
    for _ in 0..3 {
        count = store
            .list_contacts(account_id, search, 0, PAGE)
            .await
            .expect("list")
            .count;
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let page = store
            .list_contacts(account_id, search, 0, PAGE)
            .await
            .expect("list");
        times.push(started.elapsed());
        assert_eq!(page.count, count);
        assert_eq!(page.contacts.len() as u64, count.min(PAGE));
    }
    times.sort();
    (count, times)
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The account's tag ids by name.
async fn tag_ids_sqlite(conn: &mut SqliteConnection, account_id: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for name in TAGS {
        let id: i64 = sqlx::query_scalar("SELECT id FROM tags WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .fetch_one(&mut *conn)
            .await
            .expect("tag");
        ids.push(id);
    }
    ids
}

async fn preload_sqlite(db: &TestDb, who: Principal, rows: &[Row]) {
    let mut conn = SqliteConnection::connect(&db.url).await.expect("connect");
    let tag_ids = tag_ids_sqlite(&mut conn, who.account_id).await;
    let mut tx = conn.begin().await.expect("begin");
    for batch in rows.chunks(BATCH) {
        let contacts: Vec<serde_json::Value> = batch
            .iter()
            .map(|r| {
                let on = r.created_on.timestamp_micros();
                serde_json::json!([
                    r.id.hyphenated().to_string(),
                    r.phone,
                    r.canonical_phone,
                    r.first_name,
                    r.last_name,
                    r.email,
                    r.external_url,
                    r.meta,
                    r.source,
                    on,
                    on
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, last_name, \
             email, external_url, meta, source, created_by, created_on, last_updated_on) \
             SELECT value ->> 0, ?1, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
             value ->> 5, value ->> 6, value ->> 7, value ->> 8, ?2, value ->> 9, value ->> 10 \
             FROM json_each(?3)",
        )
        .bind(who.account_id)
        .bind(who.user_id)
        .bind(serde_json::Value::from(contacts).to_string())
        .execute(&mut *tx)
        .await
        .expect("insert contacts");
        let links: Vec<serde_json::Value> = batch
            .iter()
            .flat_map(|r| {
                r.tags.iter().enumerate().map(|(position, tag)| {
                    serde_json::json!([r.id.hyphenated().to_string(), tag_ids[*tag], position])
                })
            })
            .collect();
        sqlx::query(
            "INSERT INTO contact_tags (contact_id, tag_id, position) \
             SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)",
        )
        .bind(serde_json::Value::from(links).to_string())
        .execute(&mut *tx)
        .await
        .expect("insert links");
    }
    tx.commit().await.expect("commit");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    conn.close().await.expect("close");
}

async fn preload_postgres(db: &TestDb, who: Principal, rows: &[Row]) {
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    let tag_ids: Vec<i64> = {
        let mut ids = Vec::new();
        for name in TAGS {
            let id: i64 =
                sqlx::query_scalar("SELECT id FROM tags WHERE account_id = $1 AND name = $2")
                    .bind(who.account_id)
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await
                    .expect("tag");
            ids.push(id);
        }
        ids
    };
    let mut tx = conn.begin().await.expect("begin");
    for batch in rows.chunks(BATCH) {
        let col = |f: fn(&Row) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<Uuid> = batch.iter().map(|r| r.id).collect();
        let created: Vec<DateTime<Utc>> = batch.iter().map(|r| r.created_on).collect();
        sqlx::query(
            "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, last_name, \
             email, external_url, meta, source, created_by, created_on, last_updated_on) \
             SELECT id, $1, phone, canonical_phone, first_name, last_name, email, external_url, \
             meta::jsonb, source, $2, created_on, created_on \
             FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::text[], $10::text[], $11::text[], $12::timestamptz[]) \
             AS u (id, phone, canonical_phone, first_name, last_name, email, external_url, meta, \
             source, created_on)",
        )
        .bind(who.account_id)
        .bind(who.user_id)
        .bind(&ids)
        .bind(col(|r| Some(r.phone.clone())))
        .bind(col(|r| Some(r.canonical_phone.clone())))
        .bind(col(|r| r.first_name.clone()))
        .bind(col(|r| r.last_name.clone()))
        .bind(col(|r| r.email.clone()))
        .bind(col(|r| r.external_url.clone()))
        .bind(col(|r| Some(r.meta.clone())))
        .bind(col(|r| Some(r.source.to_owned())))
        .bind(&created)
        .execute(&mut *tx)
        .await
        .expect("insert contacts");
        let mut link_contacts = Vec::new();
        let mut link_tags = Vec::new();
        let mut link_positions = Vec::new();
        for r in batch {
            for (position, tag) in r.tags.iter().enumerate() {
                link_contacts.push(r.id);
                link_tags.push(tag_ids[*tag]);
                link_positions.push(position as i64);
            }
        }
        sqlx::query(
            "INSERT INTO contact_tags (contact_id, tag_id, position) \
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[])",
        )
        .bind(&link_contacts)
        .bind(&link_tags)
        .bind(&link_positions)
        .execute(&mut *tx)
        .await
        .expect("insert links");
    }
    tx.commit().await.expect("commit");
    // What autovacuum does soon after a bulk load: statistics for the
    // planner, and the GIN indexes' pending lists merged.
    sqlx::query("VACUUM ANALYZE contacts, contact_tags, tags")
        .execute(&mut conn)
        .await
        .expect("vacuum");
    conn.close().await.expect("close");
}
