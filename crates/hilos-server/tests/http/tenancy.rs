//! Every read and write is scoped to the caller's account.

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::{assignee_ids, tag_names, TestServer};

crate::backend_tests!(
    the_same_phone_in_two_accounts_is_two_contacts,
    another_accounts_contact_is_not_found_and_untouched,
    another_accounts_user_cannot_be_assigned,
);

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

async fn another_accounts_contact_is_not_found_and_untouched(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.caller().await;
    let bob = server.caller().await;
    let theirs = server
        .upsert(
            &alice,
            json!({
                "phone": "+525512345678", "first_name": "Alice's", "email": "a@example.com",
                "meta": {"plan": "gold"}, "tags": [{"name": "vip"}],
                "default_assignees": [alice.user_id],
            }),
        )
        .await;
    let id = theirs["id"].as_str().expect("id");
    let path = format!("/api/contact/{id}");
    let not_found = json!({"detail": "Not found."});

    // Bob has a contact of his own, so his list is not empty by accident.
    server.upsert(&bob, json!({"phone": "+14155552671"})).await;

    let read = server.get(&bob, &path).await;
    assert_eq!((read.status, &read.body), (404, &not_found));
    let patched = server
        .call(
            &bob,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"first_name": "Bob's", "meta": {"plan": "free"}, "overwrite_tags": true, "tags": []})),
        )
        .await;
    assert_eq!((patched.status, &patched.body), (404, &not_found));
    let deleted = server
        .call(&bob, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!((deleted.status, &deleted.body), (404, &not_found));

    for search in [
        "",
        "?search=5512345678",
        "?search=%2B52%2055%201234%205678",
        "?search=Alice",
        "?search=a%40example.com",
    ] {
        let list = server.get(&bob, &format!("/api/contact{search}")).await;
        assert_eq!(list.status, 200, "{search}");
        let ids: Vec<&str> = list.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|c| c["id"].as_str().expect("id"))
            .collect();
        assert!(!ids.contains(&id), "{search}: {}", list.body);
        let expected = usize::from(search.is_empty());
        assert_eq!(ids.len(), expected, "{search}: only Bob's own contact");
        assert_eq!(list.body["count"], json!(expected));
    }

    // Alice's contact is exactly as she left it.
    let after = server.get(&alice, &path).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["first_name"], "Alice's");
    assert_eq!(after.body["meta"], json!({"plan": "gold"}));
    assert_eq!(tag_names(&after.body), ["vip"]);
    assert_eq!(assignee_ids(&after.body), [alice.user_id]);
    assert_eq!(after.body["last_updated_on"], theirs["last_updated_on"]);
    assert_eq!(server.contact_count().await, 2);
}

async fn another_accounts_user_cannot_be_assigned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.caller().await;
    let bob = server.caller().await;
    let refused = json!({"default_assignees": [format!("Invalid pk \"{}\" - object does not exist.", alice.user_id)]});

    let created = server
        .post_json(
            &bob,
            json!({"phone": "+14155552671", "default_assignees": [alice.user_id]}),
        )
        .await;
    assert_eq!(created.status, 400);
    assert_eq!(created.body, refused);
    assert_eq!(server.contact_count().await, 0, "nothing was created");

    let ours = server
        .upsert(
            &bob,
            json!({"phone": "+14155552671", "default_assignees": [bob.user_id]}),
        )
        .await;
    let path = format!("/api/contact/{}", ours["id"].as_str().expect("id"));
    let patched = server
        .call(
            &bob,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"default_assignees": [alice.user_id], "first_name": "Changed"})),
        )
        .await;
    assert_eq!(patched.status, 400);
    assert_eq!(patched.body, refused);
    let upserted = server
        .post_json(
            &bob,
            json!({"phone": "+14155552671", "default_assignees": [alice.user_id], "overwrite_default_assignees": true}),
        )
        .await;
    assert_eq!(upserted.status, 400);
    assert_eq!(upserted.body, refused);

    let after = server.get(&bob, &path).await;
    assert_eq!(assignee_ids(&after.body), [bob.user_id]);
    assert_eq!(
        after.body["first_name"],
        json!(null),
        "the refused PATCH wrote nothing"
    );
}
