//! Group commit on SQLite: writes that arrive together share one
//! transaction, and each one's outcome is its own.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{change, principal, strings};
use hilos_server::domain::{ContactUpdate, UpdateError, UpsertError};
use hilos_server::store::sqlite::GroupCommit;
use hilos_server::store::{BatchSizes, ContactStore, Durability, SqliteStore, StoreError};
use sqlx::Connection as _;
use uuid::Uuid;

/// Long enough that every job spawned at once joins the first batch.
const GATHER: Duration = Duration::from_millis(1500);

struct Db {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<SqliteStore>,
}

async fn gathering_store() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("batch.db").display());
    let store = SqliteStore::connect_with(
        &url,
        Durability::Durable,
        GroupCommit {
            max_batch: 256,
            max_wait: GATHER,
        },
    )
    .await
    .expect("store");
    Db {
        _dir: dir,
        url,
        store: Arc::new(store),
    }
}

fn batches(store: &SqliteStore) -> BatchSizes {
    store.commit_batches().expect("SQLite counts its batches")
}

/// The `i`-th of a run of valid Mexico City numbers.
fn phone(i: usize) -> String {
    format!("+52551000{i:04}")
}

#[tokio::test]
async fn refused_writes_in_a_batch_fail_alone() {
    let db = gathering_store().await;
    let store = db.store.clone();
    let who = principal(&*store, "owner@example.com").await;
    let seeded = store
        .upsert_contact(&who, change(&phone(9999), &phone(9999)))
        .await
        .expect("seed")
        .into_contact();
    let before = batches(&store);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut c = change(&phone(i), &phone(i));
            c.tags = Some(strings(&["batch", &format!("t{i}")]));
            (format!("valid {i}"), store.upsert_contact(&who, c).await)
        });
    }
    {
        let store = store.clone();
        tasks.spawn(async move {
            let mut c = change(&phone(100), &phone(100));
            c.default_assignees = Some(vec![who.user_id, 987_654]);
            (
                "unknown assignee".to_owned(),
                store.upsert_contact(&who, c).await,
            )
        });
    }
    {
        let store = store.clone();
        tasks.spawn(async move {
            let mut c = change(&phone(9999), &phone(9999));
            c.id = Some(Uuid::now_v7());
            (
                "id mismatch".to_owned(),
                store.upsert_contact(&who, c).await,
            )
        });
    }
    {
        let store = store.clone();
        let taken = seeded.id;
        tasks.spawn(async move {
            let mut c = change(&phone(101), &phone(101));
            c.id = Some(taken);
            ("id taken".to_owned(), store.upsert_contact(&who, c).await)
        });
    }
    let missing = {
        let store = store.clone();
        tokio::spawn(async move {
            let update = ContactUpdate::new(None, change("", ""));
            store.update_contact(&who, Uuid::now_v7(), update).await
        })
    };

    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        results.push(done.expect("task"));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (label, result) in &results {
        match (label.as_str(), result) {
            ("unknown assignee", Err(UpsertError::UnknownAssignees(ids))) => {
                assert_eq!(ids, &vec![987_654]);
            }
            ("id mismatch", Err(UpsertError::IdMismatch)) => {}
            ("id taken", Err(UpsertError::IdTaken)) => {}
            (label, Ok(outcome)) if label.starts_with("valid") => {
                assert!(outcome.is_created(), "{label}");
            }
            (label, other) => panic!("{label}: unexpected {other:?}"),
        }
    }
    assert!(matches!(
        missing.await.expect("task"),
        Err(UpdateError::NotFound)
    ));

    // All 24 jobs ran in one transaction.
    let after = batches(&store);
    assert_eq!(after.count - before.count, 1, "{before:?} -> {after:?}");
    assert_eq!(after.sum - before.sum, 24, "{before:?} -> {after:?}");

    // What the valid ones wrote is stored; the refused ones wrote nothing.
    for i in 0..20 {
        let stored = store
            .get_contact_by_phone(who.account_id, &phone(i))
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("contact {i} was committed"));
        let tags: Vec<&str> = stored.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tags, ["batch", format!("t{i}").as_str()]);
    }
    for refused in [100, 101] {
        assert!(store
            .get_contact_by_phone(who.account_id, &phone(refused))
            .await
            .expect("read")
            .is_none());
    }
    let seed_now = store
        .get_contact(who.account_id, seeded.id)
        .await
        .expect("read")
        .expect("seed kept");
    assert_eq!(
        seed_now, seeded,
        "the refused id-mismatch write changed nothing"
    );
}

#[tokio::test]
async fn a_write_that_fails_after_writing_is_rolled_back_alone() {
    let db = gathering_store().await;
    let store = db.store.clone();
    let who = principal(&*store, "owner@example.com").await;
    // A trigger makes linking the tag `boom` fail: that job has already
    // inserted its contact and its tags when it fails.
    let mut raw = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("raw connection");
    sqlx::raw_sql(
        "CREATE TRIGGER boom BEFORE INSERT ON contact_tags \
         WHEN (SELECT name FROM tags WHERE id = new.tag_id) = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    .execute(&mut raw)
    .await
    .expect("trigger");
    raw.close().await.expect("close");
    let before = batches(&store);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut c = change(&phone(i), &phone(i));
            c.tags = Some(strings(&["fine"]));
            (i, store.upsert_contact(&who, c).await)
        });
    }
    {
        let store = store.clone();
        tasks.spawn(async move {
            let mut c = change(&phone(50), &phone(50));
            c.tags = Some(strings(&["fine", "boom"]));
            (50, store.upsert_contact(&who, c).await)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, result) = done.expect("task");
        if i == 50 {
            assert!(
                matches!(result, Err(UpsertError::Store(StoreError::Internal(_)))),
                "{result:?}"
            );
        } else {
            assert!(result.expect("valid write").is_created());
        }
    }
    let after = batches(&store);
    assert_eq!(after.count - before.count, 1, "{before:?} -> {after:?}");

    // The failed job left nothing: no contact, no `boom` tag.
    assert!(store
        .get_contact_by_phone(who.account_id, &phone(50))
        .await
        .expect("read")
        .is_none());
    let mut raw = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("raw connection");
    let boom_tags: i64 = sqlx::query_scalar("SELECT count(*) FROM tags WHERE name = 'boom'")
        .fetch_one(&mut raw)
        .await
        .expect("count");
    assert_eq!(boom_tags, 0);
    // Its batch-mates were run again after the rollback: each exactly once.
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE account_id = ?")
        .bind(who.account_id)
        .fetch_one(&mut raw)
        .await
        .expect("count");
    assert_eq!(contacts, 10);
    for i in 0..10 {
        let stored = store
            .get_contact_by_phone(who.account_id, &phone(i))
            .await
            .expect("read")
            .expect("committed");
        assert_eq!(stored.tags.len(), 1);
    }
}

#[tokio::test]
async fn contacts_written_behind_the_store_are_indexed_when_it_starts() {
    let db = gathering_store().await;
    let who = principal(&*db.store, "owner@example.com").await;
    db.store
        .upsert_contact(&who, change(&phone(1), &phone(1)))
        .await
        .expect("upsert");
    // Another tool renames the contact: the trigger only queues it.
    let mut raw = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("raw connection");
    sqlx::query("UPDATE contacts SET first_name = 'Zebulon' WHERE canonical_phone = ?")
        .bind(phone(1))
        .execute(&mut raw)
        .await
        .expect("rename");
    raw.close().await.expect("close");
    let found = |store: Arc<SqliteStore>| async move {
        store
            .list_contacts(who.account_id, Some("zebulon"), 0, 20)
            .await
            .expect("list")
            .count
    };
    assert_eq!(found(db.store.clone()).await, 0, "not indexed yet");

    // A store opening the file indexes what was queued.
    let reopened = SqliteStore::connect(&db.url).await.expect("reopen");
    assert_eq!(found(Arc::new(reopened)).await, 1);
}

/// The writer writes only the links that change; links another tool wrote
/// with other positions still come out in their stored order, followed by
/// the new ones, and an overwrite leaves exactly the links it names.
#[tokio::test]
async fn links_keep_their_order_when_only_changes_are_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("links.db").display());
    let store = SqliteStore::connect(&url).await.expect("store");
    let who = principal(&store, "owner@example.com").await;
    let tag_names = |c: &hilos_server::domain::Contact| -> Vec<String> {
        c.tags.iter().map(|t| t.name.clone()).collect()
    };
    let mut c = change(&phone(1), &phone(1));
    c.tags = Some(strings(&["a", "b", "c"]));
    let id = store
        .upsert_contact(&who, c)
        .await
        .expect("create")
        .into_contact()
        .id;

    // Positions as another tool might leave them: gaps, and b before a.
    let mut raw = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("raw connection");
    sqlx::raw_sql(
        "UPDATE contact_tags SET position = 30 WHERE tag_id = (SELECT id FROM tags WHERE name = 'a');
         UPDATE contact_tags SET position = 10 WHERE tag_id = (SELECT id FROM tags WHERE name = 'b');
         UPDATE contact_tags SET position = 50 WHERE tag_id = (SELECT id FROM tags WHERE name = 'c');",
    )
    .execute(&mut raw)
    .await
    .expect("reorder");

    let mut c = change(&phone(1), &phone(1));
    c.tags = Some(strings(&["d", "A"]));
    let merged = store
        .upsert_contact(&who, c)
        .await
        .expect("merge")
        .into_contact();
    assert_eq!(tag_names(&merged), ["b", "a", "c", "d"]);
    let stored = store
        .get_contact(who.account_id, id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(tag_names(&stored), ["b", "a", "c", "d"]);

    let mut c = change(&phone(1), &phone(1));
    c.tags = Some(strings(&["c", "b"]));
    c.overwrite_tags = true;
    store.upsert_contact(&who, c).await.expect("overwrite");
    let stored = store
        .get_contact(who.account_id, id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(tag_names(&stored), ["c", "b"]);
    let links: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.name, ct.position FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id \
         ORDER BY ct.position",
    )
    .fetch_all(&mut raw)
    .await
    .expect("links");
    assert_eq!(links, [("c".to_owned(), 0), ("b".to_owned(), 1)]);
}
