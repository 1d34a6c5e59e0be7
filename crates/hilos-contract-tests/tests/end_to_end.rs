//! Check 5: every behaviour rule, driven through the generated client
//! against a real server, with every response body validated against the spec.
//!
//! The client talks to a validating proxy in front of the server, so each
//! answer, errors included, is checked against `openapi/hilos.yaml` for its
//! operation and status. Requests the typed client cannot build (bodies over
//! a maxLength, other media types) are sent raw through the same proxy.

use hilos_client::{types, Client, Error};
use hilos_contract_tests::proxy::ValidatingProxy;
use hilos_contract_tests::server::{Caller, RunningServer};
use hilos_contract_tests::spec::contract;
use serde_json::{json, Value};

struct Harness {
    server: RunningServer,
    proxy: ValidatingProxy,
}

impl Harness {
    async fn start() -> Self {
        let server = RunningServer::start().await;
        let proxy = ValidatingProxy::start(&server.base, &contract()).await;
        Self { server, proxy }
    }

    fn client(&self, caller: &Caller) -> Client {
        Client::with_token(&self.proxy.base, &caller.token).expect("client")
    }

    /// Every answer so far matched the spec, and there were at least `n`.
    fn assert_valid(&self, n: usize) {
        self.proxy.assert_all_valid();
        assert!(
            self.proxy.checked() >= n,
            "only {} responses checked",
            self.proxy.checked()
        );
    }

    async fn raw(
        &self,
        caller: &Caller,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/contact", self.proxy.base))
            .header("authorization", format!("Token {}", caller.token))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }
}

/// A request body built from JSON through the client's own type.
fn body(value: Value) -> types::PatchedContactEditPublic {
    serde_json::from_value(value).expect("a valid client body")
}

async fn upsert(client: &Client, value: Value) -> types::ContactDetailReadPublic {
    client
        .create_or_update_contact(&body(value))
        .await
        .expect("201")
        .into_inner()
}

/// The field errors of a 400.
async fn field_errors(client: &Client, value: Value) -> Value {
    match client.create_or_update_contact(&body(value)).await {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status(), 400);
            serde_json::to_value(response.into_inner()).expect("serialise")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn tag_names(contact: &types::ContactDetailReadPublic) -> Vec<String> {
    contact.tags.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn upsert_by_phone_defaults_and_kept_fields() {
    let h = Harness::start().await;
    let caller = h.server.caller().await;
    let client = h.client(&caller);

    let created = upsert(&client, json!({"phone": "+525512345678", "first_name": "Ana", "source": "crm", "created_on": "2021-01-01T00:00:00Z"})).await;
    assert_eq!(created.created_by, caller.user_id);
    assert_eq!(created.source.as_str(), "crm");
    let updated = upsert(
        &client,
        json!({"phone": "+52 1 55 1234 5678", "last_name": "Ruiz"}),
    )
    .await;
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.canonical_phone.as_str(), "+525512345678");
    assert_eq!(updated.phone, "+52 1 55 1234 5678");
    assert_eq!(
        updated.first_name.as_deref().map(|s| s.as_str()),
        Some("Ana"),
        "absent keeps"
    );
    assert_eq!(updated.source.as_str(), "crm", "source kept on update");
    assert_eq!(updated.created_on, created.created_on);
    assert!(updated.last_updated_on > created.last_updated_on);

    let other = upsert(&client, json!({"phone": "+14155550100"})).await;
    assert_eq!(
        other.source.as_str(),
        "website",
        "the default applies on create"
    );
    assert_eq!(
        other.default_conversation_url,
        format!("{}/inbox/contact/{}", h.server.base, other.id)
    );
    h.assert_valid(3);
}

#[tokio::test]
async fn meta_tags_and_assignees_merge_or_overwrite() {
    let h = Harness::start().await;
    let caller = h.server.caller().await;
    let colleague = h.server.member(caller.account_id).await;
    let client = h.client(&caller);
    let phone = "+525511112222";

    let first = upsert(&client, json!({"phone": phone, "meta": {"n": 3, "b": true, "o": {"k": 1}}, "tags": [{"name": "VIP"}], "default_assignees": [caller.user_id]})).await;
    assert_eq!(
        serde_json::to_value(&first.meta).expect("meta"),
        json!({"n": "3", "b": "true", "o": "{\"k\":1}"})
    );
    let merged = upsert(&client, json!({"phone": phone, "meta": {"n": null, "x": "y"}, "tags": [{"name": "vip"}, {"name": "new"}], "default_assignees": [colleague.user_id]})).await;
    assert_eq!(
        serde_json::to_value(&merged.meta).expect("meta"),
        json!({"b": "true", "o": "{\"k\":1}", "x": "y"})
    );
    assert_eq!(tag_names(&merged), ["VIP", "new"]);
    let ids: Vec<i64> = merged.default_assignees.iter().map(|u| u.id).collect();
    assert_eq!(ids, [caller.user_id, colleague.user_id]);

    let replaced = upsert(
        &client,
        json!({
            "phone": phone, "meta": {"only": "1"}, "overwrite_meta": true,
            "tags": [{"name": "solo"}], "overwrite_tags": true,
            "default_assignees": [colleague.user_id], "overwrite_default_assignees": true,
        }),
    )
    .await;
    assert_eq!(
        serde_json::to_value(&replaced.meta).expect("meta"),
        json!({"only": "1"})
    );
    assert_eq!(tag_names(&replaced), ["solo"]);
    assert_eq!(replaced.default_assignees.len(), 1);
    h.assert_valid(3);
}

#[tokio::test]
async fn errors_come_back_typed_and_in_the_spec_shape() {
    let h = Harness::start().await;
    let caller = h.server.caller().await;
    let stranger = h.server.caller().await;
    let client = h.client(&caller);
    upsert(
        &client,
        json!({"phone": "+525577778888", "id": "5b0f0c7e-8d1a-4c8e-9b9e-0c1f2a3b4c5d"}),
    )
    .await;

    let cases = [
        (
            json!({"first_name": "no phone"}),
            json!({"phone": ["This field is required."]}),
        ),
        (
            json!({"phone": "call me"}),
            json!({"phone": ["Enter a valid phone number."]}),
        ),
        (
            json!({"phone": "+525512345678", "email": "nope"}),
            json!({"email": ["Enter a valid email address."]}),
        ),
        (
            json!({"phone": "+525512345678", "external_url": "nope"}),
            json!({"external_url": ["Enter a valid URL."]}),
        ),
        (
            json!({"phone": "+525512345678", "default_assignees": [stranger.user_id]}),
            json!({"default_assignees": [format!("Invalid pk \"{}\" - object does not exist.", stranger.user_id)]}),
        ),
        (
            json!({"phone": "+525577778888", "id": "00000000-0000-4000-8000-000000000000"}),
            json!({"id": ["Does not match the id of the contact with this phone."]}),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(
            field_errors(&client, request.clone()).await,
            expected,
            "{request}"
        );
    }

    let wrong = Client::with_token(&h.proxy.base, "0000000000000000000000000000000000000000")
        .expect("client");
    match wrong
        .create_or_update_contact(&body(json!({"phone": "+525512345678"})))
        .await
    {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status(), 401);
            assert_eq!(
                response.into_inner(),
                types::ErrorDetailOrValidationError::ErrorDetail(types::ErrorDetail {
                    detail: "Invalid token.".into()
                })
            );
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    h.assert_valid(8);
}

#[tokio::test]
async fn accounts_never_see_each_others_contacts() {
    let h = Harness::start().await;
    let (alice, bob) = (h.server.caller().await, h.server.caller().await);
    let a = upsert(
        &h.client(&alice),
        json!({"phone": "+525512345678", "first_name": "A", "tags": [{"name": "a"}]}),
    )
    .await;
    let b = upsert(&h.client(&bob), json!({"phone": "+525512345678"})).await;
    assert_ne!(a.id, b.id);
    assert!(b.first_name.is_none());
    assert!(b.tags.is_empty());
    h.assert_valid(2);
}

#[tokio::test]
async fn raw_requests_the_client_cannot_build_also_match_the_spec() {
    let h = Harness::start().await;
    let caller = h.server.caller().await;
    let too_long =
        json!({"phone": "+525512345678", "first_name": "x".repeat(101), "tags": [{"name": ""}]})
            .to_string();
    let (status, errors) = h.raw(&caller, "application/json", too_long).await;
    assert_eq!(status, 400);
    assert_eq!(
        errors,
        json!({
            "first_name": ["Ensure this field has no more than 100 characters."],
            "tags": [{"name": ["This field may not be blank."]}],
        })
    );
    assert_eq!(h.raw(&caller, "application/json", "{nope").await.0, 400);
    assert_eq!(h.raw(&caller, "text/plain", "phone=1").await.0, 415);
    let huge = json!({"phone": "+525512345678", "meta": {"x": "y".repeat(2 << 20)}}).to_string();
    assert_eq!(h.raw(&caller, "application/json", huge).await.0, 413);
    let (status, contact) = h
        .raw(
            &caller,
            "application/x-www-form-urlencoded",
            "phone=%2B525512345678&tags=a&meta%5Bk%5D=v",
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(contact["meta"], json!({"k": "v"}));
    let multipart =
        "--b\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n5215512345678\r\n--b--\r\n";
    let (status, same) = h
        .raw(&caller, "multipart/form-data; boundary=b", multipart)
        .await;
    assert_eq!(status, 201);
    assert_eq!(same["id"], contact["id"]);
    h.assert_valid(6);
}

#[tokio::test]
async fn list_retrieve_patch_and_delete_through_the_client() {
    let h = Harness::start().await;
    let caller = h.server.caller().await;
    let client = h.client(&caller);
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(
            upsert(
                &client,
                json!({"phone": format!("+52551000000{i}"), "first_name": format!("N{i}")}),
            )
            .await,
        );
    }

    let page = client
        .list_contacts(None, Some(2), None)
        .await
        .expect("200")
        .into_inner();
    assert_eq!(page.count, 3);
    assert_eq!(page.results.len(), 2);
    assert!(page.next.is_some() && page.previous.is_none());
    let searched = client
        .list_contacts(None, None, Some("n1"))
        .await
        .expect("200")
        .into_inner();
    assert_eq!(searched.count, 1);
    assert_eq!(searched.results[0].id, created[1].id);
    match client.list_contacts(Some(9), None, None).await {
        Err(Error::ErrorResponse(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected 404, got {other:?}"),
    }

    let id: uuid::Uuid = created[0].id.parse().expect("uuid");
    let detail = client.get_contact(&id).await.expect("200").into_inner();
    assert!(!detail.is_deleted);
    assert!(detail.notes.is_empty());
    let patched = client
        .partially_update_contact(
            &id,
            &body(json!({"last_name": "Ruiz", "tags": [{"name": "vip"}]})),
        )
        .await
        .expect("200")
        .into_inner();
    assert_eq!(
        patched.last_name.as_deref().map(|s| s.as_str()),
        Some("Ruiz")
    );
    assert_eq!(tag_names(&patched), ["vip"]);
    match client
        .partially_update_contact(&id, &body(json!({"phone": created[1].phone})))
        .await
    {
        Err(Error::ErrorResponse(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }

    assert_eq!(client.delete_contact(&id).await.expect("204").status(), 204);
    match client.get_contact(&id).await {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status(), 404);
            assert_eq!(response.into_inner().detail, "Not found.");
        }
        other => panic!("expected 404, got {other:?}"),
    }
    let stranger = h.client(&h.server.caller().await);
    let other_id: uuid::Uuid = created[1].id.parse().expect("uuid");
    match stranger.delete_contact(&other_id).await {
        Err(Error::ErrorResponse(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected 404, got {other:?}"),
    }
    h.assert_valid(12);
}
