//! List, retrieve, partially update and delete.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::backend::Backend;
use crate::support::{tag_names, Caller, TestServer};

crate::backend_tests!(
    pages_are_newest_first_with_drf_links,
    page_sizes_clamp_and_invalid_pages_get_404,
    search_matches_each_field,
    ties_in_created_on_are_broken_by_id,
    retrieve_gives_the_detail_form_within_the_account,
    patch_merges_overwrites_and_refuses_a_taken_phone,
    delete_removes_the_contact_and_a_new_post_makes_a_new_one,
);

/// Creates `n` contacts whose `created_on` grows with their index.
async fn seed(server: &TestServer, caller: &Caller, n: usize) -> Vec<Value> {
    let mut created = Vec::new();
    for i in 0..n {
        let contact = server
            .upsert(
                caller,
                json!({
                    "phone": format!("+5255{:08}", 10_000_000 + i),
                    "first_name": format!("Person {i}"),
                    "created_on": format!("2024-01-01T00:{:02}:{:02}Z", i / 60, i % 60),
                }),
            )
            .await;
        created.push(contact);
    }
    created
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn pages_are_newest_first_with_drf_links(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let created = seed(&server, &caller, 25).await;
    let newest_first: Vec<String> = created
        .iter()
        .rev()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    let base = format!("{}/api/contact", server.base);

    let first = server.get(&caller, "/api/contact").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["count"], 25);
    assert_eq!(ids(&first.body), newest_first[..20]);
    assert_eq!(first.body["next"], format!("{base}?page=2"));
    assert_eq!(first.body["previous"], Value::Null);
    let item = &first.body["results"][0];
    assert_eq!(item["first_name"], "Person 24");
    assert!(
        item.get("default_assignees").is_none(),
        "items take the list form"
    );
    assert_eq!(item["tags"], json!([]));

    let last = server.get(&caller, "/api/contact?page=2").await;
    assert_eq!(ids(&last.body), newest_first[20..]);
    assert_eq!(last.body["next"], Value::Null);
    assert_eq!(
        last.body["previous"],
        base.as_str(),
        "page 1 is linked without ?page"
    );

    let middle = server
        .get(&caller, "/api/contact?page_size=5&page=3&search=person")
        .await;
    assert_eq!(ids(&middle.body), newest_first[10..15]);
    assert_eq!(
        middle.body["next"],
        format!("{base}?page=4&page_size=5&search=person")
    );
    assert_eq!(
        middle.body["previous"],
        format!("{base}?page=2&page_size=5&search=person")
    );
}

async fn page_sizes_clamp_and_invalid_pages_get_404(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let caller = server.caller().await;
    let mut tasks = Vec::new();
    for i in 0..105 {
        let (server, caller) = (server.clone(), caller.clone());
        tasks.push(tokio::spawn(async move {
            server
                .upsert(
                    &caller,
                    json!({"phone": format!("+5255{:08}", 20_000_000 + i)}),
                )
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }

    let clamped = server.get(&caller, "/api/contact?page_size=1000").await;
    assert_eq!(clamped.body["count"], 105);
    assert_eq!(ids(&clamped.body).len(), 100, "page_size is clamped to 100");
    let rest = server
        .get(&caller, "/api/contact?page_size=1000&page=2")
        .await;
    assert_eq!(ids(&rest.body).len(), 5);

    let empty = server
        .get(&caller, "/api/contact?search=nobody-has-this")
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.body,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );

    for invalid in [
        "/api/contact?page=7",
        "/api/contact?page=0",
        "/api/contact?search=nobody&page=2",
    ] {
        let reply = server.get(&caller, invalid).await;
        assert_eq!(reply.status, 404, "{invalid}");
        assert_eq!(reply.body, json!({"detail": "Invalid page."}), "{invalid}");
    }
    let not_a_number = server.get(&caller, "/api/contact?page=last").await;
    assert_eq!(not_a_number.status, 400);
    assert_eq!(
        not_a_number.body,
        json!({"page": ["A valid integer is required."]})
    );

    // Another account sees none of them.
    let stranger = server.caller().await;
    let theirs = server.get(&stranger, "/api/contact").await;
    assert_eq!(theirs.body["count"], 0);
}

async fn search_matches_each_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let ana = server
        .upsert(
            &caller,
            json!({"phone": "+52 55 1234 5678", "first_name": "Ana María", "last_name": "Ruiz",
                   "email": "ana@example.com", "external_url": "https://crm.example.com/deal/77"}),
        )
        .await;
    let bob = server
        .upsert(
            &caller,
            json!({"phone": "+14155550100", "first_name": "Bob", "last_name": "Stone",
                   "email": "bob@corp.test", "external_url": "https://erp.test/item/99"}),
        )
        .await;
    let found = |page: &Value| ids(page);
    let one = |contact: &Value| vec![contact["id"].as_str().expect("id").to_owned()];
    for (term, expected) in [
        ("ana", one(&ana)),
        ("ANA MAR", one(&ana)),
        ("ruiz", one(&ana)),
        ("corp.test", one(&bob)),
        ("deal/77", one(&ana)),
        ("5512345", one(&ana)),
        ("+1 415 555", one(&bob)),
        ("stone", one(&bob)),
    ] {
        let path = format!("/api/contact?search={}", url_encode(term));
        let page = server.get(&caller, &path).await;
        assert_eq!(page.status, 200);
        assert_eq!(found(&page.body), expected, "search {term:?}");
        assert_eq!(page.body["count"], 1, "search {term:?}");
    }
    let literal = server.get(&caller, "/api/contact?search=%25").await;
    assert_eq!(literal.body["count"], 0, "% is matched literally");
    let both = server.get(&caller, "/api/contact?search=example").await;
    assert_eq!(both.body["count"], 1);
    let all = server.get(&caller, "/api/contact?search=t").await;
    assert_eq!(all.body["count"], 2, "'t' is in both (https)");
}

fn url_encode(term: &str) -> String {
    url::form_urlencoded::byte_serialize(term.as_bytes()).collect()
}

async fn ties_in_created_on_are_broken_by_id(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let mut created = Vec::new();
    for i in 0..6 {
        let contact = server
            .upsert(&caller, json!({"phone": format!("+5255{:08}", 30_000_000 + i), "created_on": "2024-02-02T02:02:02Z"}))
            .await;
        created.push(contact["id"].as_str().expect("id").to_owned());
    }
    created.sort_unstable_by(|a, b| b.cmp(a));
    let page = server.get(&caller, "/api/contact?page_size=4").await;
    let next = server.get(&caller, "/api/contact?page_size=4&page=2").await;
    let listed: Vec<String> = ids(&page.body).into_iter().chain(ids(&next.body)).collect();
    assert_eq!(
        listed, created,
        "same created_on: by id, descending, across pages"
    );
}

async fn retrieve_gives_the_detail_form_within_the_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let colleague = server.member(caller.account_id).await;
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678", "tags": [{"name": "vip"}], "default_assignees": [colleague.user_id], "meta": {"a": 1}}))
        .await;
    let id = contact["id"].as_str().expect("id");

    let detail = server.get(&colleague, &format!("/api/contact/{id}")).await;
    assert_eq!(detail.status, 200);
    for (key, value) in contact.as_object().expect("object") {
        assert_eq!(&detail.body[key], value, "{key}");
    }
    assert_eq!(detail.body["is_deleted"], false);
    assert_eq!(detail.body["notes"], json!([]));
    assert_eq!(detail.body["contact_import"], Value::Null);
    assert_eq!(detail.body["default_channel"], Value::Null);

    let stranger = server.caller().await;
    for (who, path) in [
        (&stranger, format!("/api/contact/{id}")),
        (
            &caller,
            "/api/contact/00000000-0000-4000-8000-000000000000".to_owned(),
        ),
        (&caller, "/api/contact/not-a-uuid".to_owned()),
    ] {
        let reply = server.get(who, &path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.body, json!({"detail": "Not found."}));
    }
}

async fn patch_merges_overwrites_and_refuses_a_taken_phone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678", "first_name": "Ana", "meta": {"a": "1"}, "tags": [{"name": "VIP"}]}))
        .await;
    let other = server
        .upsert(&caller, json!({"phone": "+14155550100"}))
        .await;
    let path = format!("/api/contact/{}", contact["id"].as_str().expect("id"));

    let merged = server
        .call(&caller, Method::PATCH, &path, Some(json!({"meta": {"b": 2}, "tags": [{"name": "vip"}, {"name": "new"}], "last_name": "Ruiz"})))
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["meta"], json!({"a": "1", "b": "2"}));
    assert_eq!(tag_names(&merged.body), ["VIP", "new"]);
    assert_eq!(merged.body["first_name"], "Ana");
    assert_eq!(merged.body["last_name"], "Ruiz");
    assert_eq!(merged.body["phone"], "+525512345678");

    let replaced = server
        .call(&caller, Method::PATCH, &path, Some(json!({"meta": {"c": "3"}, "overwrite_meta": true, "tags": [], "overwrite_tags": true, "first_name": null, "phone": "+52 1 55 9999 0000"})))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["meta"], json!({"c": "3"}));
    assert_eq!(replaced.body["tags"], json!([]));
    assert_eq!(replaced.body["first_name"], Value::Null);
    assert_eq!(replaced.body["canonical_phone"], "+525599990000");

    let taken = server
        .call(
            &caller,
            Method::PATCH,
            &path,
            Some(json!({"phone": other["phone"]})),
        )
        .await;
    assert_eq!(taken.status, 400);
    assert!(taken.body["phone"][0].is_string(), "{}", taken.body);
    let invalid = server
        .call(
            &caller,
            Method::PATCH,
            &path,
            Some(json!({"phone": "nope", "email": "x"})),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(
        invalid.body,
        json!({"email": ["Enter a valid email address."]})
    );

    let stranger = server.caller().await;
    let foreign = server
        .call(
            &stranger,
            Method::PATCH,
            &path,
            Some(json!({"first_name": "Mallory"})),
        )
        .await;
    assert_eq!(foreign.status, 404);
    let after = server.get(&caller, &path).await;
    assert_eq!(
        after.body["first_name"],
        Value::Null,
        "the other account changed nothing"
    );
    assert_eq!(server.contact_count().await, 2);
}

async fn delete_removes_the_contact_and_a_new_post_makes_a_new_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let stranger = server.caller().await;
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678", "first_name": "Ana", "tags": [{"name": "vip"}], "meta": {"secret": "x"}}))
        .await;
    let path = format!("/api/contact/{}", contact["id"].as_str().expect("id"));

    let foreign = server.call(&stranger, Method::DELETE, &path, None).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(server.contact_count().await, 1);

    let deleted = server.call(&caller, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    assert_eq!(server.get(&caller, &path).await.status, 404);
    assert_eq!(
        server
            .call(&caller, Method::DELETE, &path, None)
            .await
            .status,
        404
    );
    assert_eq!(server.contact_count().await, 0);
    assert_eq!(
        server.db.count("SELECT count(*) FROM contact_tags").await,
        0
    );

    let again = server
        .upsert(&caller, json!({"phone": "+52 1 55 1234 5678"}))
        .await;
    assert_ne!(again["id"], contact["id"]);
    assert_eq!(
        again["first_name"],
        Value::Null,
        "nothing of the deleted contact comes back"
    );
    assert_eq!(again["meta"], json!({}));
    assert_eq!(again["tags"], json!([]));
}
