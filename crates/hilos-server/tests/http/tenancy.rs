//! Every read and write is scoped to the caller's account.

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::TestServer;

crate::backend_tests!(the_same_phone_in_two_accounts_is_two_contacts);

async fn the_same_phone_in_two_accounts_is_two_contacts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.caller().await;
    let bob = server.caller().await;

    let theirs = server
        .upsert(&alice, json!({"phone": "+525512345678", "first_name": "Alice's", "meta": {"a": "1"}, "tags": [{"name": "a"}]}))
        .await;
    let ours = server
        .upsert(
            &bob,
            json!({"phone": "+52 1 55 1234 5678", "first_name": "Bob's"}),
        )
        .await;

    assert_ne!(ours["id"], theirs["id"]);
    assert_eq!(
        ours["meta"],
        json!({}),
        "nothing of the other account leaks in"
    );
    assert_eq!(ours["tags"], json!([]));
    assert_eq!(server.contact_count().await, 2);

    // Alice's contact is untouched by Bob's write.
    let again = server
        .upsert(&alice, json!({"phone": "+525512345678"}))
        .await;
    assert_eq!(again["first_name"], "Alice's");
    assert_eq!(again["id"], theirs["id"]);

    // Bob cannot take Alice's contact by naming its id.
    let stolen = server
        .post_json(&bob, json!({"phone": "+525599998888", "id": theirs["id"]}))
        .await;
    assert_eq!(stolen.status, 400);
    let after = server
        .upsert(&alice, json!({"phone": "+525512345678"}))
        .await;
    assert_eq!(after["phone"], "+525512345678");
}
