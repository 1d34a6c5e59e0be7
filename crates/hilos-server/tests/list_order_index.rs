//! The SQLite list order is served by the index `contacts_account_created`,
//! stored ascending since migration 0005 and read backwards: a page of the
//! unfiltered list, and the walk of a term too short for the trigram index,
//! come straight from it, with no sort.

mod common;

use common::backend::Backend;
use common::principal;

#[tokio::test]
async fn list_pages_are_read_backwards_from_the_ascending_index_without_a_sort() {
    let db = Backend::Sqlite.fresh_db().await;
    let store = db.store().await;
    let who = principal(&store, "owner@example.com").await;

    // New contacts are appended at the end of the account's range.
    let ascending = db
        .texts(
            "SELECT name FROM pragma_index_xinfo('contacts_account_created') \
             WHERE key = 1 AND desc = 0 ORDER BY seqno",
        )
        .await;
    assert_eq!(ascending, ["account_id", "created_on", "id"]);

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
    store.close().await;
}
