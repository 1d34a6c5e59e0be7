//! Upsert rules against a real database, checked on the stored state; every
//! test runs on each backend.

mod common;

use chrono::{TimeZone, Utc};
use common::backend::Backend;
use common::{change, strings, Fixture, MX};
use hilos_server::domain::{Contact, ContactChange, MetaPatch, Patch, UpsertError, UpsertOutcome};
use hilos_server::store::ContactStore;
use uuid::Uuid;

crate::backend_tests!(
    create_then_update_by_canonical_phone,
    meta_merges_overwrites_and_deletes,
    tags_union_case_insensitively_keeping_stored_name,
    tags_are_per_account,
    assignees_union_overwrite_and_unknown,
    unknown_assignee_on_create_makes_no_contact,
    id_must_match_on_update,
    create_with_client_chosen_id,
    source_created_by_and_created_on_kept_on_update,
    create_takes_given_source_and_created_on,
    same_phone_in_two_accounts_is_two_contacts,
);

async fn stored(fx: &Fixture, account_id: i64, phone: &str) -> Contact {
    fx.store
        .get_contact_by_phone(account_id, phone)
        .await
        .expect("read")
        .expect("contact exists")
}

fn meta(pairs: &[(&str, Option<&str>)]) -> MetaPatch {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect()
}

fn tag_names(c: &Contact) -> Vec<&str> {
    c.tags.iter().map(|t| t.name.as_str()).collect()
}

fn assignee_ids(c: &Contact) -> Vec<i64> {
    c.default_assignees.iter().map(|u| u.id).collect()
}

async fn create_then_update_by_canonical_phone(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let first = ContactChange {
        first_name: Patch::Value("Ana".into()),
        email: Patch::Value("ana@example.com".into()),
        ..change("+52 1 55 1234 5678", MX)
    };
    let created = fx.store.upsert_contact(&who, first).await.expect("create");
    assert!(created.is_created());
    assert_eq!(stored(&fx, who.account_id, MX).await, *created.contact());

    let second = ContactChange {
        last_name: Patch::Value("Ruiz".into()),
        email: Patch::Null,
        ..change("5215512345678", MX)
    };
    let updated = fx.store.upsert_contact(&who, second).await.expect("update");
    assert!(matches!(updated, UpsertOutcome::Updated(_)));
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!(c, *updated.contact(), "returned contact equals stored one");
    assert_eq!(c.id, created.contact().id);
    assert_eq!(c.phone, "5215512345678", "phone is stored as last sent");
    assert_eq!(c.first_name.as_deref(), Some("Ana"), "absent field kept");
    assert_eq!(c.last_name.as_deref(), Some("Ruiz"));
    assert_eq!(c.email, None, "null clears");
    assert!(c.last_updated_on >= created.contact().last_updated_on);
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 1);
}

async fn meta_merges_overwrites_and_deletes(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let mut ch = change(MX, MX);
    ch.meta = Some(meta(&[
        ("a", Some("1")),
        ("b", Some("2")),
        ("c", Some("3")),
    ]));
    fx.store.upsert_contact(&who, ch).await.expect("create");

    let mut ch = change(MX, MX);
    ch.meta = Some(meta(&[("b", Some("20")), ("c", None), ("d", Some("4"))]));
    fx.store.upsert_contact(&who, ch).await.expect("merge");
    let got = stored(&fx, who.account_id, MX).await.meta;
    let want: Vec<(&str, &str)> = vec![("a", "1"), ("b", "20"), ("d", "4")];
    assert_eq!(
        got.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        want
    );

    // Meta not sent: untouched.
    fx.store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("noop");
    assert_eq!(stored(&fx, who.account_id, MX).await.meta.len(), 3);

    let mut ch = change(MX, MX);
    ch.meta = Some(meta(&[("z", Some("26")), ("a", None)]));
    ch.overwrite_meta = true;
    fx.store.upsert_contact(&who, ch).await.expect("overwrite");
    let got = stored(&fx, who.account_id, MX).await.meta;
    assert_eq!(got.len(), 1);
    assert_eq!(got.get("z").map(String::as_str), Some("26"));
}

async fn tags_union_case_insensitively_keeping_stored_name(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let mut ch = change(MX, MX);
    ch.tags = Some(strings(&["VIP", "vip", "Lead"]));
    let created = fx.store.upsert_contact(&who, ch).await.expect("create");
    assert_eq!(tag_names(created.contact()), ["VIP", "Lead"]);
    let vip_id = created.contact().tags[0].id;

    let mut ch = change(MX, MX);
    ch.tags = Some(strings(&["vIp", "New", "NEW"]));
    fx.store.upsert_contact(&who, ch).await.expect("union");
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!(tag_names(&c), ["VIP", "Lead", "New"]);
    assert_eq!(c.tags[0].id, vip_id, "existing tag reused");
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 3);

    // Another contact reuses the account's tags with the stored spelling.
    let mut ch = change("+525587654321", "+525587654321");
    ch.tags = Some(strings(&["lead"]));
    let other = fx.store.upsert_contact(&who, ch).await.expect("other");
    assert_eq!(tag_names(other.contact()), ["Lead"]);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 3);

    let mut ch = change(MX, MX);
    ch.tags = Some(strings(&["new", "Fresh"]));
    ch.overwrite_tags = true;
    fx.store.upsert_contact(&who, ch).await.expect("overwrite");
    assert_eq!(
        tag_names(&stored(&fx, who.account_id, MX).await),
        ["New", "Fresh"]
    );
}

async fn tags_are_per_account(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let a = fx.principal("a@example.com").await;
    let b = fx.principal("b@example.com").await;
    for who in [&a, &b] {
        let mut ch = change(MX, MX);
        ch.tags = Some(strings(&["VIP"]));
        fx.store.upsert_contact(who, ch).await.expect("upsert");
    }
    let ta = stored(&fx, a.account_id, MX).await.tags;
    let tb = stored(&fx, b.account_id, MX).await.tags;
    assert_ne!(ta[0].id, tb[0].id);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 2);
}

async fn assignees_union_overwrite_and_unknown(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let u2 = fx.member(who.account_id, "b@example.com").await.user_id;
    let u3 = fx.member(who.account_id, "c@example.com").await.user_id;
    let outsider = fx.principal("x@example.com").await.user_id;

    let mut ch = change(MX, MX);
    ch.default_assignees = Some(vec![u2, who.user_id, u2]);
    fx.store.upsert_contact(&who, ch).await.expect("create");
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!(assignee_ids(&c), [u2, who.user_id]);
    assert_eq!(
        c.default_assignees[0].email, "b@example.com",
        "expanded users"
    );

    let mut ch = change(MX, MX);
    ch.default_assignees = Some(vec![u3, u2]);
    fx.store.upsert_contact(&who, ch).await.expect("union");
    assert_eq!(
        assignee_ids(&stored(&fx, who.account_id, MX).await),
        [u2, who.user_id, u3]
    );

    let mut ch = change(MX, MX);
    ch.default_assignees = Some(vec![u3]);
    ch.overwrite_default_assignees = true;
    fx.store.upsert_contact(&who, ch).await.expect("overwrite");
    assert_eq!(assignee_ids(&stored(&fx, who.account_id, MX).await), [u3]);

    // A user of another account (or no user at all) is refused, and the
    // whole request leaves no trace: no new tag, no changed field.
    let before = stored(&fx, who.account_id, MX).await;
    let mut ch = change(MX, MX);
    ch.default_assignees = Some(vec![u2, outsider, 999_999]);
    ch.tags = Some(strings(&["ShouldNotExist"]));
    ch.first_name = Patch::Value("Nope".into());
    let err = fx
        .store
        .upsert_contact(&who, ch)
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, UpsertError::UnknownAssignees(ids) if *ids == vec![outsider, 999_999]),
        "{err:?}"
    );
    assert_eq!(stored(&fx, who.account_id, MX).await, before);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 0);
}

async fn unknown_assignee_on_create_makes_no_contact(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let outsider = fx.principal("x@example.com").await.user_id;
    let mut ch = change(MX, MX);
    ch.default_assignees = Some(vec![outsider]);
    let err = fx
        .store
        .upsert_contact(&who, ch)
        .await
        .expect_err("unknown");
    assert!(matches!(err, UpsertError::UnknownAssignees(ids) if ids == vec![outsider]));
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 0);
}

async fn id_must_match_on_update(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let created = fx
        .store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("create");
    let id = created.contact().id;

    let mut ch = change(MX, MX);
    ch.id = Some(Uuid::new_v4());
    ch.first_name = Patch::Value("Changed".into());
    let err = fx
        .store
        .upsert_contact(&who, ch)
        .await
        .expect_err("mismatch");
    assert!(matches!(err, UpsertError::IdMismatch), "{err:?}");
    assert_eq!(stored(&fx, who.account_id, MX).await.first_name, None);

    let mut ch = change(MX, MX);
    ch.id = Some(id);
    ch.first_name = Patch::Value("Same".into());
    fx.store
        .upsert_contact(&who, ch)
        .await
        .expect("matching id");
    assert_eq!(
        stored(&fx, who.account_id, MX).await.first_name.as_deref(),
        Some("Same")
    );
}

async fn create_with_client_chosen_id(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let other = fx.principal("b@example.com").await;
    let id = Uuid::new_v4();
    let mut ch = change(MX, MX);
    ch.id = Some(id);
    fx.store.upsert_contact(&who, ch).await.expect("create");
    let c = fx
        .store
        .get_contact(who.account_id, id)
        .await
        .expect("read");
    assert_eq!(c.map(|c| c.canonical_phone).as_deref(), Some(MX));
    assert!(fx
        .store
        .get_contact(other.account_id, id)
        .await
        .expect("read")
        .is_none());

    // The same id for another phone, in this or another account, is taken.
    for who in [&who, &other] {
        let mut ch = change("+525587654321", "+525587654321");
        ch.id = Some(id);
        let err = fx.store.upsert_contact(who, ch).await.expect_err("taken");
        assert!(matches!(err, UpsertError::IdTaken), "{err:?}");
    }
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 1);
}

async fn source_created_by_and_created_on_kept_on_update(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let colleague = fx.member(who.account_id, "b@example.com").await;
    let created_on = Utc
        .with_ymd_and_hms(2020, 1, 2, 3, 4, 5)
        .single()
        .expect("date")
        + chrono::Duration::microseconds(123_456);

    let created = fx
        .store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("create");
    assert_eq!(created.contact().source, "website");

    let mut ch = change(MX, MX);
    ch.first_name = Patch::Value("X".into());
    fx.store
        .upsert_contact(&colleague, ch)
        .await
        .expect("update");
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!(c.source, "website");
    assert_eq!(c.created_by, who.user_id);
    assert_eq!(c.created_on, created.contact().created_on);

    let mut ch = change(MX, MX);
    ch.source = Some("import".into());
    ch.created_on = Some(created_on);
    fx.store
        .upsert_contact(&colleague, ch)
        .await
        .expect("update sent");
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!(c.source, "import");
    assert_eq!(c.created_on, created_on, "microseconds round-trip");
    assert_eq!(c.created_by, who.user_id);
}

async fn create_takes_given_source_and_created_on(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let created_on = Utc
        .with_ymd_and_hms(2019, 5, 6, 7, 8, 9)
        .single()
        .expect("date");
    let mut ch = change(MX, MX);
    ch.source = Some("whatsapp".into());
    ch.created_on = Some(created_on);
    fx.store.upsert_contact(&who, ch).await.expect("create");
    let c = stored(&fx, who.account_id, MX).await;
    assert_eq!((c.source.as_str(), c.created_on), ("whatsapp", created_on));
    assert!(c.last_updated_on > created_on);
}

async fn same_phone_in_two_accounts_is_two_contacts(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let a = fx.principal("a@example.com").await;
    let b = fx.principal("b@example.com").await;
    let ca = fx
        .store
        .upsert_contact(&a, change(MX, MX))
        .await
        .expect("a");
    let cb = fx
        .store
        .upsert_contact(&b, change(MX, MX))
        .await
        .expect("b");
    assert!(ca.is_created() && cb.is_created());
    assert_ne!(ca.contact().id, cb.contact().id);
    assert_eq!(stored(&fx, b.account_id, MX).await.account_id, b.account_id);
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 2);
}
