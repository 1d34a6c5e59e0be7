//! Error bodies say what went wrong for the caller and nothing about how
//! the server is built: the leak scan that every response of this suite
//! goes through, shown to catch leaks, and internal failures (a broken
//! database, a panic) answered with the generic DRF body.

use std::sync::Arc;

use hilos_server::domain::{
    Contact, ContactChange, ContactPage, ContactUpdate, Principal, StoreError, UpdateError,
    UpsertError, UpsertOutcome, User,
};
use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AdminError, AnyStore, ContactStore, PoolStats};
use serde_json::json;
use uuid::Uuid;

use crate::common::backend::Backend;
use crate::common::leaks::{assert_no_leak, leaks_in_body};
use crate::support::{RawReply, TestServer};

crate::backend_tests!(a_broken_database_is_a_generic_500);

const SERVER_ERROR: &str = r#"{"detail":"A server error occurred."}"#;

#[test]
fn the_scan_catches_each_kind_of_leak() {
    let leaking: [&[u8]; 12] = [
        br#"{"detail": "error returned from database: no such table: contacts"}"#,
        br#"{"detail": "duplicate key value violates unique constraint \"contacts_account_phone_key\""}"#,
        br#"{"detail": "SELECT id FROM contacts WHERE account_id = $1"}"#,
        br#"{"detail": "relation \"contacts\" does not exist"}"#,
        br#"{"detail": "sqlx: pool timed out"}"#,
        br#"{"phone": ["thread 'tokio-runtime-worker' panicked at crates/hilos-server/src/service/mod.rs:42:9"]}"#,
        b"stack backtrace:\n   0: rust_begin_unwind",
        br#"{"detail": "called `Option::unwrap()` on a `None` value"}"#,
        br#"{"detail": "unable to open database file: /var/lib/hilos/hilos.db"}"#,
        br#"{"detail": "cannot read /home/ops/hilos.toml"}"#,
        br#"{"detail": "C:\\hilos\\hilos.db is locked"}"#,
        br#"{"postgres_error": ["x"]}"#,
    ];
    for body in leaking {
        assert!(
            !leaks_in_body(body).is_empty(),
            "missed a leak in {}",
            String::from_utf8_lossy(body)
        );
    }
    let caught = std::panic::catch_unwind(|| assert_no_leak(500, leaking[0]));
    assert!(
        caught.is_err(),
        "an error response that leaks fails the test"
    );
}

#[test]
fn the_scan_passes_the_bodies_the_api_sends() {
    let clean: [&[u8]; 9] = [
        SERVER_ERROR.as_bytes(),
        br#"{"detail":"Method \"DELETE\" not allowed."}"#,
        br#"{"detail":"JSON parse error - expected value at line 1 column 1"}"#,
        br#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
        br#"{"detail":"Multipart form parse error - field \"first_name\" is not valid UTF-8."}"#,
        br#"{"tags":[{},{"name":["This field may not be blank."]}],"default_assignees":["Invalid pk \"7\" - object does not exist."]}"#,
        br#"{"created_on":["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}"#,
        br#"{"detail":"The service is temporarily unavailable. Try again shortly."}"#,
        b"",
    ];
    for body in clean {
        assert_eq!(
            leaks_in_body(body),
            Vec::<&str>::new(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Success bodies carry the caller's own data and are not scanned.
    assert_no_leak(
        201,
        br#"{"meta": {"path": "/tmp/export.csv", "q": "SELECT"}}"#,
    );
}

async fn a_broken_database_is_a_generic_500(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678"}))
        .await;
    let path = format!("/api/contact/{}", contact["id"].as_str().expect("id"));

    // Keys live in another table, so requests still authenticate, and
    // every contact query then fails inside the database.
    server
        .db
        .execute("ALTER TABLE contacts RENAME TO contacts_moved")
        .await;
    let generic: serde_json::Value = serde_json::from_str(SERVER_ERROR).expect("JSON");
    let replies = [
        server
            .post_json(&caller, json!({"phone": "+525512345678"}))
            .await,
        server.get(&caller, "/api/contact").await,
        server.get(&caller, "/api/contact?search=55").await,
        server.get(&caller, &path).await,
        server
            .call(
                &caller,
                reqwest::Method::PATCH,
                &path,
                Some(json!({"first_name": "Ana"})),
            )
            .await,
        server
            .call(&caller, reqwest::Method::DELETE, &path, None)
            .await,
    ];
    for reply in replies {
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert_eq!(reply.body, generic);
    }
}

/// A message such as a careless panic would carry.
const PANIC_MESSAGE: &str =
    "SELECT * FROM contacts failed at /home/ops/hilos/src/store/sqlite.rs:42: syntax error";

/// The real store, except that reading one contact panics.
struct PanickingStore(AnyStore);

impl ContactStore for PanickingStore {
    async fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        self.0.upsert_contact(who, change).await
    }

    async fn get_contact(
        &self,
        _account_id: i64,
        _id: Uuid,
    ) -> Result<Option<Contact>, StoreError> {
        panic!("{PANIC_MESSAGE}")
    }

    async fn list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<ContactPage, StoreError> {
        self.0
            .list_contacts(account_id, search, offset, limit)
            .await
    }

    async fn update_contact(
        &self,
        who: &Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        self.0.update_contact(who, id, update).await
    }

    async fn delete_contact(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        self.0.delete_contact(account_id, id).await
    }

    async fn get_contact_by_phone(
        &self,
        account_id: i64,
        canonical_phone: &str,
    ) -> Result<Option<Contact>, StoreError> {
        self.0
            .get_contact_by_phone(account_id, canonical_phone)
            .await
    }

    async fn principal_for_token(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        self.0.principal_for_token(key).await
    }

    async fn users_in_account(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<Vec<User>, StoreError> {
        self.0.users_in_account(account_id, ids).await
    }

    async fn create_account(&self, name: &str) -> Result<i64, StoreError> {
        self.0.create_account(name).await
    }

    async fn create_user(
        &self,
        account_id: i64,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<i64, AdminError> {
        self.0
            .create_user(account_id, email, first_name, last_name)
            .await
    }

    async fn create_token(&self, user_email: &str) -> Result<String, AdminError> {
        self.0.create_token(user_email).await
    }

    async fn revoke_token(&self, key: &str) -> Result<bool, StoreError> {
        self.0.revoke_token(key).await
    }

    async fn bootstrap_if_empty(&self) -> Result<Option<String>, StoreError> {
        self.0.bootstrap_if_empty().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }

    fn pool_stats(&self) -> PoolStats {
        self.0.pool_stats()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_a_generic_500_and_the_server_goes_on() {
    let db = Backend::Sqlite.fresh_db().await;
    let store = db.store().await;
    let account = store.create_account("panics").await.expect("account");
    store
        .create_user(account, "ops@panics.test", "Op", "")
        .await
        .expect("user");
    let key = store.create_token("ops@panics.test").await.expect("token");
    let service = ContactService::new(PanickingStore(store), ServiceConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = hilos_server::app::build(Arc::new(service));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hilos_server::serve::serve_until(
        listener,
        app,
        async move {
            let _ = stop_rx.await;
        },
        std::time::Duration::from_secs(5),
    ));
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("authorization", format!("Token {key}"))
    };

    let panicked = RawReply::read(get(format!("/api/contact/{}", Uuid::new_v4()))).await;
    assert_eq!(panicked.status, 500);
    assert_eq!(panicked.text(), SERVER_ERROR);
    let listed = RawReply::read(get("/api/contact".to_owned())).await;
    assert_eq!(listed.status, 200, "the server still serves");
    let _ = stop_tx.send(());
}
