//! What is particular to the PostgreSQL store: outages, lost sessions and
//! deadlocks. Needs `HILOS_TEST_POSTGRES_URL`, like every PostgreSQL test.

mod common;

use std::time::{Duration, Instant};

use common::backend::Backend;
use common::relay::{postgres_addr, via, Relay};
use common::{change, strings, Fixture, MX};
use hilos_server::domain::{Patch, UpsertError};
use hilos_server::store::{ContactStore, PostgresStore};
use sqlx::{Connection as _, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_unavailable_within_seconds_and_the_pool_recovers() {
    if !Backend::Postgres.available() {
        return;
    }
    let db = Backend::Postgres.fresh_db().await;
    let Some(upstream) = postgres_addr(&db.url).await else {
        eprintln!("skipped: the PostgreSQL test server is reached over a Unix socket");
        return;
    };
    let mut relay = Relay::start(upstream).await;
    let url = via(&db.url, relay.addr);
    let store = PostgresStore::connect(&url, 4).await.expect("connect");
    let who = common::principal(&store, "a@example.com").await;
    let key = store.create_token("a@example.com").await.expect("token");
    store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("upsert while up");

    relay.cut().await;
    let started = Instant::now();
    let (upsert, lookup) = tokio::join!(
        store.upsert_contact(&who, change(MX, MX)),
        store.principal_for_token(&key)
    );
    let waited = started.elapsed();
    assert!(
        matches!(&upsert, Err(UpsertError::Store(e)) if e.is_unavailable()),
        "{upsert:?}"
    );
    assert!(
        matches!(&lookup, Err(e) if e.is_unavailable()),
        "{lookup:?}"
    );
    assert!(waited < Duration::from_secs(10), "took {waited:?}");

    let started = Instant::now();
    let err = PostgresStore::connect(&url, 1)
        .await
        .expect_err("starting while down fails");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    relay.restore().await;
    let mut ch = change(MX, MX);
    ch.first_name = Patch::Value("Back".into());
    let outcome = store
        .upsert_contact(&who, ch)
        .await
        .expect("the same store works again by itself");
    assert!(!outcome.is_created());
    assert_eq!(
        store.principal_for_token(&key).await.expect("lookup"),
        Some(who)
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_outlives_its_sessions_being_terminated() {
    if !Backend::Postgres.available() {
        return;
    }
    let fx = Fixture::new(Backend::Postgres).await;
    let who = fx.principal("a@example.com").await;
    fx.store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("upsert");
    // What a PostgreSQL restart does to the pool's idle connections.
    let killed = fx
        .db
        .count(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    assert!(killed > 0, "the store had open sessions");
    let mut ch = change(MX, MX);
    ch.tags = Some(strings(&["after"]));
    fx.store
        .upsert_contact(&who, ch)
        .await
        .expect("upsert after the sessions died");
    let c = fx
        .store
        .get_contact_by_phone(who.account_id, MX)
        .await
        .expect("read")
        .expect("contact");
    assert_eq!(c.tags.len(), 1);
}

/// Waits until one of the store's sessions is blocked on a lock.
async fn store_waits_on_a_lock(fx: &Fixture) {
    for _ in 0..200 {
        let waiting = fx
            .count(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'hilos-server' AND wait_event_type = 'Lock'",
            )
            .await;
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the store never waited on the lock");
}

/// Another client holding the contact's row lock, in an open transaction.
async fn lock_contact(fx: &Fixture) -> PgConnection {
    let mut raw = PgConnection::connect(&fx.db.url).await.expect("raw");
    sqlx::query("BEGIN").execute(&mut raw).await.expect("begin");
    sqlx::query("SELECT 1 FROM contacts WHERE canonical_phone = $1 FOR UPDATE")
        .bind(MX)
        .execute(&mut raw)
        .await
        .expect("lock the contact");
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upsert_runs_again_when_its_session_dies_mid_transaction() {
    if !Backend::Postgres.available() {
        return;
    }
    let fx = Fixture::new(Backend::Postgres).await;
    let who = fx.principal("a@example.com").await;
    fx.store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("create");
    let mut raw = lock_contact(&fx).await;
    let store = fx.store.clone();
    let upsert = tokio::spawn(async move {
        let mut ch = change(MX, MX);
        ch.tags = Some(strings(&["Late"]));
        store.upsert_contact(&who, ch).await
    });
    store_waits_on_a_lock(&fx).await;
    let killed = fx
        .count(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'hilos-server' \
             AND wait_event_type = 'Lock'",
        )
        .await;
    assert_eq!(killed, 1);
    sqlx::query("COMMIT")
        .execute(&mut raw)
        .await
        .expect("commit");
    let outcome = upsert.await.expect("task").expect("run again and succeed");
    let names: Vec<&str> = outcome
        .contact()
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["Late"]);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upsert_runs_again_after_losing_a_deadlock() {
    if !Backend::Postgres.available() {
        return;
    }
    let fx = Fixture::new(Backend::Postgres).await;
    let who = fx.principal("a@example.com").await;
    fx.store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("create");
    let mut raw = lock_contact(&fx).await;
    // Make the store's session the one PostgreSQL picks as the victim
    // (needs a superuser; otherwise either side may lose, which the
    // assertions below also accept).
    let _ = sqlx::query("SET LOCAL deadlock_timeout = '20s'")
        .execute(&mut raw)
        .await;
    let store = fx.store.clone();
    let upsert = tokio::spawn(async move {
        let mut ch = change(MX, MX);
        ch.tags = Some(strings(&["Raced"]));
        store.upsert_contact(&who, ch).await
    });
    // The store created tag "Raced" (uncommitted) and now waits for the
    // row; taking the same tag name closes the cycle.
    store_waits_on_a_lock(&fx).await;
    let raced =
        sqlx::query("INSERT INTO tags (account_id, name, name_key) VALUES ($1, 'RACED', 'raced')")
            .bind(who.account_id)
            .execute(&mut raw)
            .await;
    let raw_won = raced.is_ok();
    let end = if raw_won { "COMMIT" } else { "ROLLBACK" };
    sqlx::query(end).execute(&mut raw).await.expect("end");
    let outcome = upsert.await.expect("task").expect("run again and succeed");
    let names: Vec<&str> = outcome
        .contact()
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, [if raw_won { "RACED" } else { "Raced" }]);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 1);
}
