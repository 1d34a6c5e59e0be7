//! The SQLite list order is served by the index `contacts_account_created`,
//! stored ascending since migration 0005 and read backwards: a page of the
//! unfiltered list, and the walk of a term too short for the trigram index,
//! come straight from it, with no sort.

mod common;

use common::principal;
use hilos_server::store::SqliteStore;
use sqlx::Connection as _;

#[tokio::test]
async fn list_pages_are_read_backwards_from_the_ascending_index_without_a_sort() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("order.db").display());
    let store = SqliteStore::connect(&url).await.expect("store");
    let who = principal(&store, "owner@example.com").await;

    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("second connection");
    let columns: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, desc FROM pragma_index_xinfo('contacts_account_created') WHERE key = 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("index columns");
    let ascending = |name: &str| (name.to_owned(), 0);
    assert_eq!(
        columns,
        [
            ascending("account_id"),
            ascending("created_on"),
            ascending("id")
        ],
        "new contacts are appended at the end of the account's range"
    );
    drop(conn);

    for search in [None, Some("ab")] {
        let plan = store
            .explain_list_contacts(who.account_id, search, 40, 20)
            .await
            .expect("explain");
        let page = plan
            .split("-- page:")
            .nth(1)
            .expect("the plan has a page query");
        assert!(
            page.contains("USING INDEX contacts_account_created"),
            "search {search:?}: the page walks the list-order index:\n{plan}"
        );
        assert!(
            !page.contains("TEMP B-TREE"),
            "search {search:?}: the page needs no sort:\n{plan}"
        );
    }
}
