//! Accounts, tokens, bootstrap, durability and concurrency of the stores,
//! on each backend; then what is particular to SQLite.

mod common;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use common::backend::Backend;
use common::{change, strings, Fixture, MX};
use hilos_server::domain::{ContactUpdate, MetaPatch, Patch, Principal};
use hilos_server::store::{hash_token_key, AdminError, ContactStore, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection as _;

crate::backend_tests!(
    token_create_lookup_revoke,
    admin_errors_are_clear,
    bootstrap_only_once_even_across_restarts,
    bootstrap_skipped_when_accounts_exist,
    concurrent_bootstraps_make_one_account,
    data_survives_reopening,
    concurrent_upserts_of_one_new_phone_make_one_contact_and_lose_nothing,
    two_stores_upserting_the_same_phones_lose_no_merge,
    principal_is_scoped_to_its_account,
    contacts_from_before_the_search_index_are_found_after_upgrade,
);

async fn token_create_lookup_revoke(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let key = fx.store.create_token("a@example.com").await.expect("token");
    assert_eq!(key.len(), 40);
    assert!(key
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(
        fx.store.principal_for_token(&key).await.expect("lookup"),
        Some(who)
    );

    // Only the hash is stored.
    let stored = fx.db.texts("SELECT key_hash FROM tokens").await;
    assert_eq!(stored, vec![hash_token_key(&key)]);

    let second = fx
        .store
        .create_token("A@Example.com")
        .await
        .expect("any case");
    assert_ne!(second, key);

    assert!(fx.store.revoke_token(&key).await.expect("revoke"));
    assert_eq!(
        fx.store.principal_for_token(&key).await.expect("lookup"),
        None
    );
    assert!(!fx.store.revoke_token(&key).await.expect("revoke again"));
    // Revoking one key leaves the user's other keys working.
    assert_eq!(
        fx.store.principal_for_token(&second).await.expect("lookup"),
        Some(who)
    );
    assert_eq!(
        fx.store.principal_for_token("nope").await.expect("lookup"),
        None
    );
    assert_eq!(
        fx.store.principal_for_token("").await.expect("lookup"),
        None
    );
}

async fn admin_errors_are_clear(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let err = fx.store.create_user(9_999, "n@example.com", "N", "").await;
    assert!(
        matches!(err, Err(AdminError::AccountNotFound(9_999))),
        "{err:?}"
    );
    let err = fx
        .store
        .create_user(who.account_id, "a@example.com", "A", "")
        .await;
    assert!(matches!(err, Err(AdminError::EmailTaken(_))), "{err:?}");
    let other = fx.store.create_account("other").await.expect("account");
    let err = fx.store.create_user(other, "A@EXAMPLE.COM", "A", "").await;
    assert!(
        matches!(err, Err(AdminError::EmailTaken(_))),
        "emails unique across accounts"
    );
    let err = fx.store.create_token("ghost@example.com").await;
    assert!(matches!(err, Err(AdminError::UserNotFound(_))), "{err:?}");
    assert_eq!(fx.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tokens").await, 0);
}

async fn bootstrap_only_once_even_across_restarts(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let key = fx
        .store
        .bootstrap_if_empty()
        .await
        .expect("bootstrap")
        .expect("key");
    let who = fx
        .store
        .principal_for_token(&key)
        .await
        .expect("lookup")
        .expect("valid");
    let admin = fx
        .store
        .users_in_account(who.account_id, &[who.user_id])
        .await
        .expect("users");
    assert_eq!(admin.len(), 1);
    assert_eq!(
        (admin[0].email.as_str(), admin[0].first_name.as_str()),
        ("admin@localhost", "Admin")
    );
    assert_eq!(fx.store.bootstrap_if_empty().await.expect("again"), None);

    fx.store.close().await;
    let reopened = fx.db.store().await;
    assert_eq!(
        reopened.bootstrap_if_empty().await.expect("after restart"),
        None
    );
    assert_eq!(
        reopened.principal_for_token(&key).await.expect("lookup"),
        Some(who)
    );
    assert_eq!(fx.count("SELECT COUNT(*) FROM accounts").await, 1);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tokens").await, 1);
}

async fn bootstrap_skipped_when_accounts_exist(backend: Backend) {
    let fx = Fixture::new(backend).await;
    fx.principal("a@example.com").await;
    assert_eq!(
        fx.store.bootstrap_if_empty().await.expect("bootstrap"),
        None
    );
    assert_eq!(fx.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn data_survives_reopening(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let mut ch = change("+52 55 1234 5678", MX);
    ch.tags = Some(strings(&["VIP"]));
    ch.default_assignees = Some(vec![who.user_id]);
    ch.meta = Some(MetaPatch::from([("k".to_owned(), Some("v".to_owned()))]));
    let written = fx
        .store
        .upsert_contact(&who, ch)
        .await
        .expect("upsert")
        .into_contact();
    fx.store.close().await;

    let reopened = fx.db.store().await;
    let read = reopened
        .get_contact_by_phone(who.account_id, MX)
        .await
        .expect("read");
    assert_eq!(read, Some(written));
}

async fn concurrent_upserts_of_one_new_phone_make_one_contact_and_lose_nothing(backend: Backend) {
    const N: usize = 64;
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let store = Arc::new(fx.store.clone());
    let mut tasks = Vec::with_capacity(N);
    for i in 0..N {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ch = change(MX, MX);
            ch.meta = Some(MetaPatch::from([(format!("k{i}"), Some(format!("v{i}")))]));
            ch.tags = Some(vec![format!("tag{i}")]);
            store.upsert_contact(&who, ch).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let outcome = task.await.expect("task").expect("upsert");
        created += usize::from(outcome.is_created());
    }
    assert_eq!(created, 1, "exactly one request creates");
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 1);
    let c = fx
        .store
        .get_contact_by_phone(who.account_id, MX)
        .await
        .expect("read")
        .expect("contact");
    assert_eq!(c.meta.len(), N);
    for i in 0..N {
        assert_eq!(c.meta.get(&format!("k{i}")), Some(&format!("v{i}")));
    }
    let mut names: Vec<String> = c.tags.iter().map(|t| t.name.clone()).collect();
    names.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("tag{i}")).collect();
    want.sort();
    assert_eq!(names, want);
}

async fn concurrent_bootstraps_make_one_account(backend: Backend) {
    // Two stores are two processes starting together on one database.
    let db = backend.fresh_db().await;
    let stores = [db.store().await, db.store().await];
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(
            async move { store.bootstrap_if_empty().await },
        ));
    }
    let mut keys = Vec::new();
    for task in tasks {
        keys.extend(task.await.expect("task").expect("bootstrap"));
    }
    assert_eq!(keys.len(), 1, "exactly one start prints a key");
    assert_eq!(db.count("SELECT COUNT(*) FROM accounts").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM tokens").await, 1);
}

/// Two stores (two pools, as two server processes would have) upsert the
/// same few new phones concurrently; every request adds its own meta key
/// and tag, and all of them share one tag spelt in different cases.
async fn two_stores_upserting_the_same_phones_lose_no_merge(backend: Backend) {
    const PHONES: usize = 10;
    const REQUESTS: usize = 200;
    let db = backend.fresh_db().await;
    let stores = [db.store().await, db.store().await];
    let who = common::principal(&stores[0], "a@example.com").await;
    let phone = |i: usize| format!("+5255100000{:02}", i % PHONES);
    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let store = stores[i % 2].clone();
        let ch = hilos_server::domain::ContactChange {
            meta: Some(MetaPatch::from([(format!("k{i}"), Some(format!("v{i}")))])),
            tags: Some(vec![
                format!("tag{i}"),
                if i % 3 == 0 { "Shared" } else { "SHARED" }.to_owned(),
            ]),
            ..change(&phone(i), &phone(i))
        };
        tasks.push(tokio::spawn(
            async move { store.upsert_contact(&who, ch).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let outcome = task.await.expect("task").expect("upsert never fails");
        created += usize::from(outcome.is_created());
    }
    assert_eq!(created, PHONES, "one create per phone");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM contacts").await,
        PHONES as i64
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM tags").await,
        REQUESTS as i64 + 1,
        "one tag per name, however spelt"
    );
    for p in 0..PHONES {
        let c = stores[1]
            .get_contact_by_phone(who.account_id, &phone(p))
            .await
            .expect("read")
            .expect("contact");
        let mine: Vec<usize> = (p..REQUESTS).step_by(PHONES).collect();
        let mut keys: Vec<&String> = c.meta.keys().collect();
        keys.sort();
        let mut want_keys: Vec<String> = mine.iter().map(|i| format!("k{i}")).collect();
        want_keys.sort();
        assert_eq!(
            keys,
            want_keys.iter().collect::<Vec<_>>(),
            "meta of {}",
            phone(p)
        );
        for i in &mine {
            assert_eq!(c.meta.get(&format!("k{i}")), Some(&format!("v{i}")));
        }
        let mut tags: Vec<String> = c.tags.iter().map(|t| t.name.to_lowercase()).collect();
        tags.sort();
        let mut want_tags: Vec<String> = mine.iter().map(|i| format!("tag{i}")).collect();
        want_tags.push("shared".to_owned());
        want_tags.sort();
        assert_eq!(tags, want_tags, "tags of {}", phone(p));
    }
}

async fn principal_is_scoped_to_its_account(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let a = fx.principal("a@example.com").await;
    let b: Principal = fx.principal("b@example.com").await;
    fx.store
        .upsert_contact(&a, change(MX, MX))
        .await
        .expect("a");
    assert!(fx
        .store
        .get_contact_by_phone(b.account_id, MX)
        .await
        .expect("read")
        .is_none());
    let users = fx
        .store
        .users_in_account(b.account_id, &[a.user_id, b.user_id])
        .await;
    assert_eq!(
        users
            .expect("users")
            .iter()
            .map(|u| u.id)
            .collect::<Vec<_>>(),
        [b.user_id]
    );
}

/// A database made before migration 0002 (contacts, no list or search
/// indexes) is upgraded when a store opens it, and its contacts are listed
/// and found.
async fn contacts_from_before_the_search_index_are_found_after_upgrade(backend: Backend) {
    let db = backend.fresh_db().await;
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let only_first = tempfile::tempdir().expect("dir");
    let first =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("migrations/{kind}/0001_init.sql"));
    std::fs::copy(first, only_first.path().join("0001_init.sql")).expect("copy 0001");
    let migrator = sqlx::migrate::Migrator::new(only_first.path())
        .await
        .expect("migrator");
    let old_rows = |now: &'static str| {
        [
            format!("INSERT INTO accounts (name, created_at) VALUES ('old', {now})"),
            format!(
                "INSERT INTO users (account_id, email, date_joined) \
                 SELECT id, 'old@example.com', {now} FROM accounts"
            ),
            format!(
                "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, \
                 last_name, meta, source, created_by, created_on, last_updated_on) \
                 SELECT '0190a000-0000-7000-8000-000000000001', a.id, '+52 55 1234 5678', \
                 '+525512345678', 'Ana', 'Ruiz', '{{}}', 'website', u.id, {now}, {now} \
                 FROM accounts a, users u"
            ),
        ]
    };
    match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&db.url)
                .expect("url")
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("connect");
            migrator.run(&mut conn).await.expect("0001 only");
            for sql in old_rows("1700000000000000") {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("old rows");
            }
            conn.close().await.expect("close");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            migrator.run(&mut conn).await.expect("0001 only");
            for sql in old_rows("now()") {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("old rows");
            }
            conn.close().await.expect("close");
        }
    }

    let store = db.store().await;
    let account_id = db.count("SELECT MAX(id) FROM accounts").await;
    let user_id = db.count("SELECT MAX(id) FROM users").await;
    for search in [None, Some("ruiz"), Some("+52 55 1234"), Some("an")] {
        let page = store
            .list_contacts(account_id, search, 0, 10)
            .await
            .expect("list");
        assert_eq!(page.count, 1, "{search:?}");
        assert_eq!(page.contacts[0].first_name.as_deref(), Some("Ana"));
    }
    // The upgraded index follows writes like a new one.
    let id = uuid::Uuid::parse_str("0190a000-0000-7000-8000-000000000001").expect("uuid");
    let who = Principal {
        account_id,
        user_id,
    };
    let rename = ContactUpdate {
        last_name: Patch::Value("Soto".into()),
        ..ContactUpdate::default()
    };
    store
        .update_contact(&who, id, rename)
        .await
        .expect("update");
    for (term, want) in [("ruiz", 0), ("soto", 1)] {
        let page = store
            .list_contacts(account_id, Some(term), 0, 10)
            .await
            .expect("search");
        assert_eq!(page.count, want, "{term}");
    }
}

// SQLite only.

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let fx = Fixture::new(Backend::Sqlite).await;
    let path = fx.db.url.strip_prefix("sqlite://").expect("a file URL");
    assert!(std::path::Path::new(path).exists());
    let pool = sqlx::SqlitePool::connect(&fx.db.url).await.expect("raw");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("mode");
    pool.close().await;
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_in_memory_database_works() {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("memory");
    let key = store
        .bootstrap_if_empty()
        .await
        .expect("bootstrap")
        .expect("key");
    let who = store
        .principal_for_token(&key)
        .await
        .expect("lookup")
        .expect("valid");
    store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("upsert");
    assert!(store
        .get_contact_by_phone(who.account_id, MX)
        .await
        .expect("read")
        .is_some());
}
