//! The workloads and the contacts they work on.
//!
//! Preloaded contact `k` has the Mexico City number `+52 55 DDDD DDDD`,
//! where `DDDDDDDD` is [`subscriber`]`(k)`; upsert-mix updates write it as a
//! WhatsApp id (`52155DDDDDDDD`, the `+52 1` form that folds to the same
//! contact) and creates Monterrey numbers (`+52 81 …`) nobody has used.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use uuid::Uuid;

use crate::load::MakeRequest;

/// What a load run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /healthz`: the HTTP ceiling of the machine and stack.
    Ceiling,
    /// `GET /api/contact/{id}` of a preloaded contact: the cheapest
    /// authenticated route, the ceiling of a call that checks its token.
    Read,
    /// `POST /api/contact`: half new phones, half updates of preloaded ones.
    UpsertMix,
    /// `GET /api/contact?search=…`: page 1 of a search.
    List,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 4] = [
        Workload::Ceiling,
        Workload::Read,
        Workload::UpsertMix,
        Workload::List,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Ceiling => "ceiling",
            Workload::Read => "read",
            Workload::UpsertMix => "upsert-mix",
            Workload::List => "list",
        }
    }

    /// The status every answer must have.
    pub fn expect(self) -> StatusCode {
        match self {
            Workload::UpsertMix => StatusCode::CREATED,
            Workload::Ceiling | Workload::Read | Workload::List => StatusCode::OK,
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!("unknown workload {s:?}: expected ceiling, read, upsert-mix or list")
            })
    }
}

/// The search term of the list workload: a substring of three of the
/// preload's last names (Hernández, Fernández, Méndez), so it matches about
/// 3 contacts in 20.
pub const LIST_SEARCH: &str = "ndez";

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
];
const LAST_NAMES: &[&str] = &[
    "García",
    "Hernández",
    "López",
    "Martínez",
    "González",
    "Pérez",
    "Fernández",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Cruz",
    "Morales",
    "Ortiz",
    "Castillo",
    "Méndez",
    "Vargas",
    "Rojas",
];
/// Tags of the preload; an upsert adds `vip` and one of ten `lead-N`.
pub const PRELOAD_TAGS: &[&str] = &["customer", "newsletter", "lead-0"];

/// The 8 subscriber digits for number `n`: distinct for every `n` below
/// 10^8 (7919 is prime to 10^8), and scattered so that neighbours in the
/// sequence are far apart in the index.
pub fn subscriber(n: u64) -> String {
    format!("{:08}", (n % 100_000_000) * 7919 % 100_000_000)
}

/// Preloaded contact `k`, as the preload writes it.
#[derive(Debug, Clone)]
pub struct PreloadContact {
    /// The phone as sent.
    pub phone: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email address.
    pub email: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Two meta keys.
    pub meta: Vec<(String, String)>,
}

/// Preloaded contact `k`.
pub fn preload_contact(k: u64) -> PreloadContact {
    let first = FIRST_NAMES[(k % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[(k / 7 % LAST_NAMES.len() as u64) as usize];
    let digits = subscriber(k);
    PreloadContact {
        phone: format!("+52 55 {} {}", &digits[..4], &digits[4..]),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: format!("contact{k}@example.com"),
        tags: PRELOAD_TAGS[..(k % 3) as usize + 1]
            .iter()
            .map(|t| (*t).to_owned())
            .collect(),
        meta: vec![
            ("crm_id".to_owned(), format!("C{k}")),
            (
                "plan".to_owned(),
                ["basic", "pro"][(k % 2) as usize].to_owned(),
            ),
        ],
    }
}

/// Where new phones of upsert-mix come from: numbers never handed out
/// before in this process, so repeated runs on one database keep creating.
#[derive(Debug, Default)]
pub struct NewPhones {
    next: AtomicU64,
}

impl NewPhones {
    /// A Monterrey number nobody has used yet.
    pub fn take(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let digits = subscriber(n);
        format!("+52 81 {} {}", &digits[..4], &digits[4..])
    }
}

/// What a workload's requests need to know.
#[derive(Debug, Clone)]
pub struct Target {
    /// `Host` header value.
    pub host: String,
    /// The API token.
    pub token: String,
    /// Preloaded contacts (updates pick among `0..preloaded`).
    pub preloaded: u64,
    /// The ids of the preloaded contacts, which `read` picks among.
    pub ids: Arc<Vec<Uuid>>,
    /// Source of new phones, shared by all runs of the process.
    pub new_phones: Arc<NewPhones>,
}

/// The request builder of `workload` against `target`.
pub fn requests(workload: Workload, target: Target) -> Arc<MakeRequest> {
    let authorization = format!("Token {}", target.token);
    match workload {
        Workload::Ceiling => Arc::new(move |_| {
            Request::get("/healthz")
                .header(header::HOST, &target.host)
                .body(Full::new(Bytes::new()))
                .expect("valid request")
        }),
        Workload::Read => Arc::new(move |seq| {
            let path = match target.ids.len() as u64 {
                0 => "/api/contact/00000000-0000-0000-0000-000000000000".to_owned(),
                n => format!("/api/contact/{}", target.ids[scatter(seq, n) as usize]),
            };
            Request::get(path)
                .header(header::HOST, &target.host)
                .header(header::AUTHORIZATION, &authorization)
                .body(Full::new(Bytes::new()))
                .expect("valid request")
        }),
        Workload::List => {
            let path = format!("/api/contact?search={LIST_SEARCH}");
            Arc::new(move |_| {
                Request::get(path.as_str())
                    .header(header::HOST, &target.host)
                    .header(header::AUTHORIZATION, &authorization)
                    .body(Full::new(Bytes::new()))
                    .expect("valid request")
            })
        }
        Workload::UpsertMix => Arc::new(move |seq| {
            let body = upsert_body(seq, &target);
            Request::builder()
                .method(Method::POST)
                .uri("/api/contact")
                .header(header::HOST, &target.host)
                .header(header::AUTHORIZATION, &authorization)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("valid request")
        }),
    }
}

/// Request `seq` of upsert-mix: even numbers create, odd numbers update a
/// preloaded contact, written in WhatsApp-id form. Three meta keys, two
/// tags.
pub fn upsert_body(seq: u64, target: &Target) -> String {
    let phone = if seq.is_multiple_of(2) || target.preloaded == 0 {
        target.new_phones.take()
    } else {
        let k = scatter(seq, target.preloaded);
        format!("521 55 {}", subscriber(k))
    };
    let stage = ["lead", "trial", "customer"][(seq % 3) as usize];
    serde_json::json!({
        "phone": phone,
        "first_name": FIRST_NAMES[(seq % FIRST_NAMES.len() as u64) as usize],
        "meta": {
            "crm_id": format!("R{seq}"),
            "stage": stage,
            "last_touch": "2026-12-03",
        },
        "tags": [{"name": "vip"}, {"name": format!("lead-{}", seq % 10)}],
    })
    .to_string()
}

/// Request `seq`'s pick among `n` preloaded contacts: a multiplicative
/// scatter, so that neighbouring requests touch distant contacts.
fn scatter(seq: u64, n: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n
}
