//! The upsert rules of `POST /api/contact`.

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::{assignee_ids, tag_names, TestServer};

crate::backend_tests!(
    same_phone_written_differently_updates_one_contact,
    create_sets_defaults_and_the_full_contact,
    update_keeps_source_created_by_and_created_on,
    meta_merges_overwrites_stringifies_and_null_deletes,
    tags_union_match_case_insensitively_and_overwrite,
    assignees_union_overwrite_and_stay_in_the_account,
    absent_keeps_and_null_clears,
    id_is_client_chosen_on_create_and_must_match_on_update,
);

async fn same_phone_written_differently_updates_one_contact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;

    let created = server
        .upsert(
            &caller,
            json!({"phone": "+525512345678", "first_name": "Ana"}),
        )
        .await;
    let updated = server
        .upsert(
            &caller,
            json!({"phone": "+52 1 55 1234 5678", "last_name": "Ruiz"}),
        )
        .await;

    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["canonical_phone"], "+525512345678");
    assert_eq!(
        updated["phone"], "+52 1 55 1234 5678",
        "phone is stored as last sent"
    );
    assert_eq!(updated["first_name"], "Ana");
    assert_eq!(updated["last_name"], "Ruiz");
    // WhatsApp's wa_id form of the same number.
    let wa_id = server
        .upsert(&caller, json!({"phone": "5215512345678"}))
        .await;
    assert_eq!(wa_id["id"], created["id"]);
    assert_eq!(server.contact_count().await, 1);
}

async fn create_sets_defaults_and_the_full_contact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);

    let contact = server
        .upsert(&caller, json!({"phone": "+55 11 98765 4321"}))
        .await;

    assert_eq!(contact["source"], "website");
    assert_eq!(contact["created_by"], caller.user_id);
    let created_on: chrono::DateTime<chrono::Utc> = contact["created_on"]
        .as_str()
        .expect("created_on")
        .parse()
        .expect("ISO-8601");
    assert!(created_on >= before && created_on <= chrono::Utc::now());
    assert_eq!(contact["last_updated_on"], contact["created_on"]);
    let id = contact["id"].as_str().expect("id");
    uuid::Uuid::parse_str(id).expect("the id is a UUID");
    assert_eq!(
        contact["default_conversation_url"],
        format!("{}/inbox/contact/{id}", server.base)
    );
    assert_eq!(contact["inbox_contacts"], json!([]));
    assert_eq!(contact["tags"], json!([]));
    assert_eq!(contact["default_assignees"], json!([]));
    assert_eq!(contact["meta"], json!({}));
    for nullable in ["first_name", "last_name", "email", "external_url"] {
        assert_eq!(contact[nullable], json!(null), "{nullable}");
    }
}

async fn update_keeps_source_created_by_and_created_on(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.caller().await;
    let created = server
        .upsert(
            &owner,
            json!({"phone": "+14155550100", "source": "crm", "created_on": "2020-01-02T03:04:05Z"}),
        )
        .await;
    assert_eq!(created["created_on"], "2020-01-02T03:04:05Z");

    // Another user of the same account updates it without sending source.
    let colleague = server.member(owner.account_id).await;
    let updated = server
        .upsert(
            &colleague,
            json!({"phone": "+1 415 555 0100", "first_name": "Lee"}),
        )
        .await;

    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["source"], "crm");
    assert_eq!(updated["created_by"], owner.user_id);
    assert_eq!(updated["created_on"], "2020-01-02T03:04:05Z");
    let last: chrono::DateTime<chrono::Utc> = updated["last_updated_on"]
        .as_str()
        .expect("time")
        .parse()
        .expect("ISO-8601");
    let first: chrono::DateTime<chrono::Utc> = created["last_updated_on"]
        .as_str()
        .expect("time")
        .parse()
        .expect("ISO-8601");
    assert!(last > first, "last_updated_on moves on each write");

    // Sent explicitly, they change.
    let changed = server
        .upsert(
            &colleague,
            json!({"phone": "+14155550100", "source": "import", "created_on": "2019-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(changed["source"], "import");
    assert_eq!(changed["created_on"], "2019-06-01T00:00:00Z");
}

async fn meta_merges_overwrites_stringifies_and_null_deletes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let phone = "+525511112222";

    let first = server
        .upsert(
            &caller,
            json!({"phone": phone, "meta": {
                "plan": "gold", "seats": 3, "ratio": 1.5, "active": true,
                "address": {"city": "CDMX", "zip": "01000"}, "codes": [1, "a"],
            }}),
        )
        .await;
    assert_eq!(
        first["meta"],
        json!({
            "plan": "gold", "seats": "3", "ratio": "1.5", "active": "true",
            "address": "{\"city\":\"CDMX\",\"zip\":\"01000\"}", "codes": "[1,\"a\"]",
        })
    );

    let merged = server
        .upsert(
            &caller,
            json!({"phone": phone, "meta": {"plan": "platinum", "seats": null, "new": "x"}}),
        )
        .await;
    assert_eq!(merged["meta"]["plan"], "platinum");
    assert_eq!(merged["meta"]["new"], "x");
    assert_eq!(merged["meta"]["active"], "true", "other keys are kept");
    assert!(
        merged["meta"].get("seats").is_none(),
        "null deletes the key"
    );

    let replaced = server
        .upsert(
            &caller,
            json!({"phone": phone, "meta": {"only": "this"}, "overwrite_meta": true}),
        )
        .await;
    assert_eq!(replaced["meta"], json!({"only": "this"}));

    let untouched = server
        .upsert(&caller, json!({"phone": phone, "first_name": "Z"}))
        .await;
    assert_eq!(
        untouched["meta"],
        json!({"only": "this"}),
        "absent meta keeps meta"
    );
}

async fn tags_union_match_case_insensitively_and_overwrite(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;

    let first = server
        .upsert(
            &caller,
            json!({"phone": "+525500000001", "tags": [{"name": "VIP"}, {"name": "lead"}]}),
        )
        .await;
    assert_eq!(tag_names(&first), ["VIP", "lead"]);
    let vip_id = first["tags"][0]["id"].as_i64().expect("tag id");

    let union = server
        .upsert(
            &caller,
            json!({"phone": "+525500000001", "tags": [{"name": "vip"}, {"name": "new"}]}),
        )
        .await;
    assert_eq!(tag_names(&union), ["VIP", "lead", "new"], "vip reuses VIP");
    assert_eq!(union["tags"][0]["id"], vip_id);

    // A second contact of the account reuses the account-level tag too.
    let other = server
        .upsert(
            &caller,
            json!({"phone": "+525500000002", "tags": [{"name": "Vip"}]}),
        )
        .await;
    assert_eq!(other["tags"], json!([{"id": vip_id, "name": "VIP"}]));

    let replaced = server
        .upsert(
            &caller,
            json!({"phone": "+525500000001", "tags": [{"name": "NEW"}], "overwrite_tags": true}),
        )
        .await;
    assert_eq!(tag_names(&replaced), ["new"]);

    let cleared = server
        .upsert(
            &caller,
            json!({"phone": "+525500000001", "tags": [], "overwrite_tags": true}),
        )
        .await;
    assert_eq!(cleared["tags"], json!([]));
}

async fn assignees_union_overwrite_and_stay_in_the_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let a = server.member(caller.account_id).await.user_id;
    let b = server.member(caller.account_id).await.user_id;
    let stranger = server.caller().await;
    let phone = "+525533334444";

    let first = server
        .upsert(&caller, json!({"phone": phone, "default_assignees": [a]}))
        .await;
    assert_eq!(assignee_ids(&first), [a]);
    let user = &first["default_assignees"][0];
    assert_eq!(user["account"], caller.account_id);
    assert_eq!(user["first_name"], "Grace");
    assert!(user["email"]
        .as_str()
        .expect("email")
        .ends_with("@example.com"));
    assert!(user["profile_image"]
        .as_str()
        .expect("image")
        .starts_with(&server.base));
    assert!(user["date_joined"].is_string());

    let union = server
        .upsert(
            &caller,
            json!({"phone": phone, "default_assignees": [b, a]}),
        )
        .await;
    assert_eq!(assignee_ids(&union), [a, b]);

    let replaced = server
        .upsert(
            &caller,
            json!({"phone": phone, "default_assignees": [b], "overwrite_default_assignees": true}),
        )
        .await;
    assert_eq!(assignee_ids(&replaced), [b]);

    let foreign = server
        .post_json(
            &caller,
            json!({"phone": phone, "default_assignees": [stranger.user_id]}),
        )
        .await;
    assert_eq!(foreign.status, 400);
    assert_eq!(
        foreign.body,
        json!({"default_assignees": [format!("Invalid pk \"{}\" - object does not exist.", stranger.user_id)]})
    );
    let after = server.upsert(&caller, json!({"phone": phone})).await;
    assert_eq!(
        assignee_ids(&after),
        [b],
        "a refused request changes nothing"
    );
}

async fn absent_keeps_and_null_clears(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let phone = "+525555556666";
    server
        .upsert(
            &caller,
            json!({
                "phone": phone, "first_name": "Ana", "last_name": "Ruiz",
                "email": "ana@example.com", "external_url": "https://crm.example.com/c/1",
            }),
        )
        .await;

    let kept = server.upsert(&caller, json!({"phone": phone})).await;
    assert_eq!(kept["first_name"], "Ana");
    assert_eq!(kept["email"], "ana@example.com");
    assert_eq!(kept["external_url"], "https://crm.example.com/c/1");

    let cleared = server
        .upsert(
            &caller,
            json!({"phone": phone, "first_name": null, "email": null, "external_url": null}),
        )
        .await;
    assert_eq!(cleared["first_name"], json!(null));
    assert_eq!(cleared["email"], json!(null));
    assert_eq!(cleared["external_url"], json!(null));
    assert_eq!(
        cleared["last_name"], "Ruiz",
        "absent fields keep their value"
    );
}

async fn id_is_client_chosen_on_create_and_must_match_on_update(backend: Backend) {
    let server = TestServer::start(backend).await;
    let caller = server.caller().await;
    let id = "5b0f0c7e-8d1a-4c8e-9b9e-0c1f2a3b4c5d";

    let created = server
        .upsert(&caller, json!({"phone": "+525577778888", "id": id}))
        .await;
    assert_eq!(created["id"], id);

    let same = server
        .upsert(
            &caller,
            json!({"phone": "+525577778888", "id": id, "first_name": "Ok"}),
        )
        .await;
    assert_eq!(same["first_name"], "Ok");

    let mismatch = server
        .post_json(
            &caller,
            json!({"phone": "+525577778888", "id": "00000000-0000-4000-8000-000000000000", "first_name": "No"}),
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body["id"][0].is_string(), "{}", mismatch.body);
    let unchanged = server
        .upsert(&caller, json!({"phone": "+525577778888"}))
        .await;
    assert_eq!(unchanged["first_name"], "Ok");

    let taken = server
        .post_json(&caller, json!({"phone": "+525599990000", "id": id}))
        .await;
    assert_eq!(taken.status, 400);
    assert!(taken.body["id"][0].is_string(), "{}", taken.body);
    assert_eq!(server.contact_count().await, 1);
}
