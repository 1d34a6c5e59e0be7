//! The SQLite search index under many small batches: every batch adds a
//! segment to it, FTS5's automatic merging is off (migration 0004), and the
//! writer merges a little after each batch. Searches still find exactly
//! the contacts that match.

mod common;

use common::{change, principal};
use hilos_server::domain::Patch;
use hilos_server::store::{ContactStore, SqliteStore};
use sqlx::Connection as _;

#[tokio::test]
async fn searches_find_every_match_after_many_small_batches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("search.db").display());
    let store = SqliteStore::connect(&url).await.expect("store");
    let who = principal(&store, "owner@example.com").await;

    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("second connection");
    let automerge: i64 =
        sqlx::query_scalar("SELECT v FROM contacts_search_config WHERE k = 'automerge'")
            .fetch_one(&mut conn)
            .await
            .expect("automerge set by migration 0004");
    assert_eq!(automerge, 0, "FTS5 does not merge on its own");
    drop(conn);

    // One upsert at a time: each is a batch of its own, and a segment.
    // Then every third contact is renamed, which replaces its index entry.
    let phone = |i: usize| format!("+52551200{i:04}");
    let mut names: Vec<String> = (0..400).map(|i| format!("Searchable{i:04}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut c = change(&phone(i), &phone(i));
        c.first_name = Patch::Value(name.clone());
        store.upsert_contact(&who, c).await.expect("upsert");
    }
    for i in (0..400).step_by(3) {
        names[i] = format!("Renamed{i:04}");
        let mut c = change(&phone(i), &phone(i));
        c.first_name = Patch::Value(names[i].clone());
        store.upsert_contact(&who, c).await.expect("rename");
    }

    let named = |term: &str| {
        names
            .iter()
            .filter(|n| n.to_lowercase().contains(term))
            .count()
    };
    for (term, matching) in [
        ("archable01", named("archable01")),
        ("renamed01", named("renamed01")),
        (
            "55120003",
            (0..400).filter(|&i| phone(i).contains("55120003")).count(),
        ),
    ] {
        assert!(matching > 0);
        let page = store
            .list_contacts(who.account_id, Some(term), 0, 500)
            .await
            .expect("search");
        assert_eq!(page.count, matching as u64, "search {term:?}");
        assert_eq!(page.contacts.len(), matching, "search {term:?}");
    }
}
