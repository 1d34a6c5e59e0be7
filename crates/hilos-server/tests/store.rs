//! Upsert, list, search, update-by-id and delete rules against a real
//! database, checked on the stored state; every test runs on each backend.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::backend::Backend;
use common::{change, strings, Fixture, MX};
use hilos_server::domain::{
    Contact, ContactChange, ContactUpdate, MetaPatch, Patch, Principal, UpdateError, UpsertError,
    UpsertOutcome,
};
use hilos_server::store::ContactStore;
use uuid::Uuid;

crate::backend_tests!(
    create_then_update_by_canonical_phone,
    meta_merges_overwrites_and_deletes,
    tags_union_case_insensitively_keeping_stored_name,
    tags_are_per_account,
    assignees_union_overwrite_and_unknown,
    reads_return_the_contact_the_upsert_answered,
    unknown_assignee_on_create_makes_no_contact,
    id_must_match_on_update,
    create_with_client_chosen_id,
    source_created_by_and_created_on_kept_on_update,
    create_takes_given_source_and_created_on,
    same_phone_in_two_accounts_is_two_contacts,
    list_pages_newest_first_with_stable_ties,
    list_of_an_empty_account,
    search_matches_each_field_case_insensitively,
    search_treats_wildcards_literally,
    search_pages_and_follows_writes,
    list_get_update_delete_are_scoped_to_the_account,
    update_merges_like_an_upsert,
    update_overwrites_with_flags,
    update_moves_the_phone,
    update_refuses_a_phone_another_contact_has,
    update_refuses_another_id,
    update_refuses_unknown_assignees,
    concurrent_updates_lose_no_merge,
    delete_then_upsert_makes_a_new_contact,
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

/// What a read returns, by id or by phone, is the contact the upsert
/// answered with: every field, the tags in order and the assignees
/// expanded (names, join date), after a create and after a merge.
async fn reads_return_the_contact_the_upsert_answered(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let u2 = fx.member(who.account_id, "b@example.com").await.user_id;

    let mut ch = change(MX, MX);
    ch.first_name = Patch::Value("Ana".into());
    ch.meta = Some(meta(&[("crm_id", Some("C1")), ("plan", Some("pro"))]));
    ch.tags = Some(strings(&["vip", "Lead"]));
    ch.default_assignees = Some(vec![u2, who.user_id]);
    let created = fx.store.upsert_contact(&who, ch).await.expect("create");
    let created = created.into_contact();
    assert_eq!(created.default_assignees[0].email, "b@example.com");
    let read = fx.store.get_contact(who.account_id, created.id).await;
    assert_eq!(read.expect("read"), Some(created.clone()));

    let mut ch = change(MX, MX);
    ch.tags = Some(strings(&["newsletter"]));
    ch.meta = Some(meta(&[("stage", Some("trial"))]));
    let merged = fx.store.upsert_contact(&who, ch).await.expect("merge");
    let merged = merged.into_contact();
    assert_eq!(tag_names(&merged), ["vip", "Lead", "newsletter"]);
    assert_eq!(merged.meta.len(), 3);
    let read = fx.store.get_contact(who.account_id, created.id).await;
    assert_eq!(read.expect("read"), Some(merged.clone()));
    assert_eq!(stored(&fx, who.account_id, MX).await, merged);
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

// Listing, search, update by id and delete.

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("time")
}

/// Upserts a new contact with `phone` as sent and canonical, edited by `edit`.
async fn add(
    fx: &Fixture,
    who: &Principal,
    phone: &str,
    edit: impl FnOnce(&mut ContactChange),
) -> Contact {
    let mut ch = change(phone, phone);
    edit(&mut ch);
    let outcome = fx.store.upsert_contact(who, ch).await.expect("upsert");
    assert!(outcome.is_created(), "{phone} is new");
    outcome.into_contact()
}

async fn by_id(fx: &Fixture, account_id: i64, id: Uuid) -> Contact {
    fx.store
        .get_contact(account_id, id)
        .await
        .expect("read")
        .expect("contact exists")
}

/// The count and the canonical phones of one page, in list order.
async fn page(
    fx: &Fixture,
    account_id: i64,
    search: Option<&str>,
    offset: u64,
    limit: u64,
) -> (u64, Vec<String>) {
    let page = fx
        .store
        .list_contacts(account_id, search, offset, limit)
        .await
        .expect("list");
    assert!(page.contacts.len() as u64 <= limit);
    let phones = page
        .contacts
        .into_iter()
        .map(|c| {
            assert_eq!(c.account_id, account_id);
            c.canonical_phone
        })
        .collect();
    (page.count, phones)
}

/// The phones of every contact a search finds, in list order.
async fn found(fx: &Fixture, account_id: i64, term: &str) -> Vec<String> {
    let (count, phones) = page(fx, account_id, Some(term), 0, 1000).await;
    assert_eq!(count, phones.len() as u64, "count of {term:?}");
    phones
}

fn update() -> ContactUpdate {
    ContactUpdate::default()
}

async fn list_pages_newest_first_with_stable_ties(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let low = |n: u8| Uuid::from_bytes([0, 0, 0, n, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    let high = |n: u8| Uuid::from_bytes([0xff, 0, 0, n, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    // (phone, created_on, id): two pairs share a created_on.
    let rows = [
        ("+525500000001", 10, low(1)),
        ("+525500000002", 30, low(2)),
        ("+525500000003", 20, high(3)),
        ("+525500000004", 30, high(4)),
        ("+525500000005", 20, low(5)),
    ];
    for (phone, secs, id) in rows {
        add(&fx, &who, phone, |c| {
            c.created_on = Some(at(secs));
            c.id = Some(id);
            if phone.ends_with('2') {
                c.tags = Some(strings(&["B", "a"]));
                c.default_assignees = Some(vec![who.user_id]);
            }
        })
        .await;
    }
    let want = [
        "+525500000004",
        "+525500000002",
        "+525500000003",
        "+525500000005",
        "+525500000001",
    ];
    let acct = who.account_id;
    assert_eq!(page(&fx, acct, None, 0, 2).await, (5, strings(&want[0..2])));
    assert_eq!(page(&fx, acct, None, 2, 2).await, (5, strings(&want[2..4])));
    assert_eq!(
        page(&fx, acct, None, 4, 2).await,
        (5, strings(&want[4..])),
        "last page"
    );
    assert_eq!(
        page(&fx, acct, None, 5, 2).await,
        (5, vec![]),
        "past the end"
    );
    assert_eq!(page(&fx, acct, None, 0, 0).await, (5, vec![]), "limit 0");
    assert_eq!(
        page(&fx, acct, None, 1, u64::MAX).await,
        (5, strings(&want[1..]))
    );
    assert_eq!(page(&fx, acct, None, u64::MAX, 1).await, (5, vec![]));

    // A listed contact is the stored one without its assignees.
    let listed = fx
        .store
        .list_contacts(acct, None, 1, 1)
        .await
        .expect("list")
        .contacts;
    let mut stored = by_id(&fx, acct, low(2)).await;
    assert_eq!(stored.default_assignees.len(), 1);
    stored.default_assignees.clear();
    assert_eq!(listed, vec![stored]);
    assert_eq!(tag_names(&listed[0]), ["B", "a"], "attach order");
}

async fn list_of_an_empty_account(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let other = fx.principal("b@example.com").await;
    add(&fx, &other, MX, |c| {
        c.first_name = Patch::Value("Ana".into())
    })
    .await;
    assert_eq!(page(&fx, who.account_id, None, 0, 20).await, (0, vec![]));
    assert_eq!(
        page(&fx, who.account_id, Some("ana"), 0, 20).await,
        (0, vec![])
    );
    assert_eq!(
        page(&fx, who.account_id, Some("a"), 0, 20).await,
        (0, vec![])
    );
}

const A: &str = MX;
const B: &str = "+525587654321";
const C: &str = "+14155550100";

/// Three contacts, listed C, B, A.
async fn three_contacts(fx: &Fixture, who: &Principal) {
    add(fx, who, A, |c| {
        c.first_name = Patch::Value("Ana".into());
        c.last_name = Patch::Value("Ruiz".into());
        c.email = Patch::Value("ana.ruiz@example.com".into());
        c.external_url = Patch::Value("https://crm.example.com/c/1".into());
        c.created_on = Some(at(1));
    })
    .await;
    add(fx, who, B, |c| {
        c.first_name = Patch::Value("Bob".into());
        c.last_name = Patch::Value("Smith".into());
        c.email = Patch::Value("bob@mail.test".into());
        c.external_url = Patch::Value("https://people.test/p/42".into());
        c.created_on = Some(at(2));
    })
    .await;
    add(fx, who, C, |c| {
        c.first_name = Patch::Value("Carla".into());
        c.last_name = Patch::Value("O'Neil".into());
        c.created_on = Some(at(3));
    })
    .await;
}

async fn search_matches_each_field_case_insensitively(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    three_contacts(&fx, &who).await;
    let acct = who.account_id;
    let cases: &[(&str, &[&str])] = &[
        // The canonical phone's digits, however the term is written.
        ("5512", &[A]),
        ("+52 55 1234", &[A]),
        ("(415) 555-01", &[C]),
        ("+52 55", &[B, A]),
        ("87654", &[B]),
        ("41", &[C]),
        ("+", &[]),
        // First name, last name, email, external URL; any case.
        ("ana", &[A]),
        ("ANA", &[A]),
        ("bob", &[B]),
        ("sMiTh", &[B]),
        ("o'neil", &[C]),
        ("RUIZ", &[A]),
        ("mail.test", &[B]),
        ("people.test/p", &[B]),
        ("CRM.EXAMPLE", &[A]),
        ("42", &[B]),
        ("AN", &[A]),
        ("c", &[C, A]),
        ("zzz", &[]),
        // Blank: no filter.
        ("", &[C, B, A]),
        ("   ", &[C, B, A]),
    ];
    for (term, want) in cases {
        assert_eq!(
            found(&fx, acct, term).await,
            strings(want),
            "search {term:?}"
        );
    }
}

async fn search_treats_wildcards_literally(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let names = [
        ("+525500000001", "50% off", "under_score"),
        ("+525500000002", "5000 off", "underXscore"),
        ("+525500000003", "Back", "back\\slash"),
        ("+525500000004", "Zed", "Banks"),
    ];
    for (i, (phone, first, last)) in names.into_iter().enumerate() {
        add(&fx, &who, phone, |c| {
            c.first_name = Patch::Value(first.into());
            c.last_name = Patch::Value(last.into());
            c.created_on = Some(at(i as i64));
        })
        .await;
    }
    let acct = who.account_id;
    let cases: &[(&str, &[&str])] = &[
        ("50%", &["+525500000001"]),
        ("%", &["+525500000001"]),
        ("_", &["+525500000001"]),
        ("r_s", &["+525500000001"]),
        ("k\\s", &["+525500000003"]),
        ("\\", &["+525500000003"]),
        ("%%", &[]),
    ];
    for (term, want) in cases {
        assert_eq!(
            found(&fx, acct, term).await,
            strings(want),
            "search {term:?}"
        );
    }
}

async fn search_pages_and_follows_writes(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let phone = |n: i64| format!("+52551000{n:04}");
    let mut ids = Vec::new();
    for n in 0..25 {
        let c = add(&fx, &who, &phone(n), |c| {
            c.first_name = Patch::Value(format!("Lead {n}"));
            c.created_on = Some(at(n));
        })
        .await;
        ids.push(c.id);
        add(&fx, &who, &phone(100 + n), |c| {
            c.first_name = Patch::Value("Other".into());
            c.created_on = Some(at(n));
        })
        .await;
    }
    let acct = who.account_id;
    let phones = |ns: &[i64]| ns.iter().map(|n| phone(*n)).collect::<Vec<_>>();
    assert_eq!(
        page(&fx, acct, Some("lead"), 0, 10).await,
        (25, phones(&[24, 23, 22, 21, 20, 19, 18, 17, 16, 15]))
    );
    assert_eq!(
        page(&fx, acct, Some("lead"), 20, 10).await,
        (25, phones(&[4, 3, 2, 1, 0]))
    );
    assert_eq!(page(&fx, acct, Some("lead"), 25, 10).await, (25, vec![]));
    assert_eq!(page(&fx, acct, None, 0, 1).await.0, 50);

    // Writes show in the search at once.
    let renamed = ContactUpdate {
        first_name: Patch::Value("Renamed".into()),
        ..update()
    };
    fx.store
        .update_contact(&who, ids[3], renamed)
        .await
        .expect("rename");
    assert_eq!(found(&fx, acct, "renamed").await, phones(&[3]));
    assert_eq!(page(&fx, acct, Some("lead"), 0, 1).await.0, 24);

    let moved = ContactUpdate {
        phone: Some(("+52 55 9998 8877".into(), "+525599988877".into())),
        ..update()
    };
    fx.store
        .update_contact(&who, ids[4], moved)
        .await
        .expect("move");
    assert_eq!(found(&fx, acct, "99988").await, strings(&["+525599988877"]));
    assert_eq!(found(&fx, acct, &phone(4)).await, Vec::<String>::new());

    assert!(fx.store.delete_contact(acct, ids[5]).await.expect("delete"));
    assert_eq!(page(&fx, acct, Some("lead"), 0, 1).await.0, 23);
    assert_eq!(found(&fx, acct, &phone(5)).await, Vec::<String>::new());

    // A new created_on moves the contact in the list order, searched or not.
    let mut ch = change(&phone(0), &phone(0));
    ch.created_on = Some(at(1000));
    fx.store.upsert_contact(&who, ch).await.expect("upsert");
    assert_eq!(
        page(&fx, acct, Some("lead"), 0, 1).await,
        (23, phones(&[0]))
    );
    assert_eq!(page(&fx, acct, Some("le"), 0, 1).await, (23, phones(&[0])));
    assert_eq!(page(&fx, acct, None, 0, 1).await, (49, phones(&[0])));
}

async fn list_get_update_delete_are_scoped_to_the_account(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let a = fx.principal("a@example.com").await;
    let b = fx.principal("b@example.com").await;
    let x = add(&fx, &a, MX, |c| c.first_name = Patch::Value("Ana".into())).await;
    let y = add(&fx, &b, MX, |c| c.first_name = Patch::Value("Ana".into())).await;

    let listed = fx
        .store
        .list_contacts(a.account_id, None, 0, 10)
        .await
        .expect("list");
    assert_eq!(listed.count, 1);
    assert_eq!(listed.contacts[0].id, x.id);
    for term in ["ana", "5512", "an"] {
        let listed = fx
            .store
            .list_contacts(b.account_id, Some(term), 0, 10)
            .await
            .expect("search");
        assert_eq!(listed.count, 1, "{term}");
        assert_eq!(listed.contacts[0].id, y.id, "{term}");
    }

    assert!(fx
        .store
        .get_contact(b.account_id, x.id)
        .await
        .expect("get")
        .is_none());
    let change_x = ContactUpdate {
        first_name: Patch::Value("Stolen".into()),
        ..update()
    };
    let err = fx
        .store
        .update_contact(&b, x.id, change_x.clone())
        .await
        .expect_err("other account");
    assert!(matches!(err, UpdateError::NotFound), "{err:?}");
    let err = fx
        .store
        .update_contact(&a, Uuid::new_v4(), change_x)
        .await
        .expect_err("unknown id");
    assert!(matches!(err, UpdateError::NotFound), "{err:?}");
    // An unknown id is not found even if the body names another id.
    let err = fx
        .store
        .update_contact(
            &a,
            Uuid::new_v4(),
            ContactUpdate {
                id: Some(x.id),
                ..update()
            },
        )
        .await
        .expect_err("unknown id");
    assert!(matches!(err, UpdateError::NotFound), "{err:?}");
    assert!(!fx
        .store
        .delete_contact(b.account_id, x.id)
        .await
        .expect("delete"));
    assert!(!fx
        .store
        .delete_contact(a.account_id, Uuid::new_v4())
        .await
        .expect("delete"));
    assert_eq!(by_id(&fx, a.account_id, x.id).await, x, "untouched");
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 2);
}

async fn update_merges_like_an_upsert(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let colleague = fx.member(who.account_id, "b@example.com").await;
    let x = add(&fx, &who, MX, |c| {
        c.first_name = Patch::Value("Ana".into());
        c.email = Patch::Value("ana@example.com".into());
        c.meta = Some(meta(&[("a", Some("1")), ("b", Some("2"))]));
        c.tags = Some(strings(&["VIP"]));
        c.default_assignees = Some(vec![who.user_id]);
        c.source = Some("import".into());
        c.created_on = Some(at(5));
    })
    .await;

    let patch = ContactUpdate {
        last_name: Patch::Value("Ruiz".into()),
        email: Patch::Null,
        meta: Some(meta(&[("b", None), ("c", Some("3"))])),
        tags: Some(strings(&["vip", "Lead"])),
        default_assignees: Some(vec![colleague.user_id]),
        ..update()
    };
    let updated = fx
        .store
        .update_contact(&colleague, x.id, patch)
        .await
        .expect("update");
    let stored = by_id(&fx, who.account_id, x.id).await;
    assert_eq!(updated, stored, "returned contact equals stored one");
    assert_eq!(stored.id, x.id);
    assert_eq!(
        (stored.phone.as_str(), stored.canonical_phone.as_str()),
        (MX, MX)
    );
    assert_eq!(
        stored.first_name.as_deref(),
        Some("Ana"),
        "absent field kept"
    );
    assert_eq!(stored.last_name.as_deref(), Some("Ruiz"));
    assert_eq!(stored.email, None, "null clears");
    assert_eq!(
        stored
            .meta
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("a", "1"), ("c", "3")]
    );
    assert_eq!(tag_names(&stored), ["VIP", "Lead"]);
    assert_eq!(assignee_ids(&stored), [who.user_id, colleague.user_id]);
    assert_eq!(stored.source, "import");
    assert_eq!(stored.created_by, who.user_id);
    assert_eq!(stored.created_on, at(5));
    assert!(stored.last_updated_on >= x.last_updated_on);

    let patch = ContactUpdate {
        source: Some("crm".into()),
        created_on: Some(at(7)),
        ..update()
    };
    let c = fx
        .store
        .update_contact(&who, x.id, patch)
        .await
        .expect("update sent");
    assert_eq!((c.source.as_str(), c.created_on), ("crm", at(7)));
    assert_eq!(c.meta.len(), 2, "meta not sent: untouched");
    assert_eq!(tag_names(&c), ["VIP", "Lead"], "tags not sent: untouched");
    assert_eq!(c, by_id(&fx, who.account_id, x.id).await);
}

async fn update_overwrites_with_flags(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let colleague = fx.member(who.account_id, "b@example.com").await;
    let x = add(&fx, &who, MX, |c| {
        c.meta = Some(meta(&[("a", Some("1")), ("b", Some("2"))]));
        c.tags = Some(strings(&["VIP", "Lead"]));
        c.default_assignees = Some(vec![who.user_id, colleague.user_id]);
    })
    .await;
    let patch = ContactUpdate {
        meta: Some(meta(&[("z", Some("26"))])),
        overwrite_meta: true,
        tags: Some(strings(&["lead", "Fresh"])),
        overwrite_tags: true,
        default_assignees: Some(vec![colleague.user_id]),
        overwrite_default_assignees: true,
        ..update()
    };
    fx.store
        .update_contact(&who, x.id, patch)
        .await
        .expect("overwrite");
    let c = by_id(&fx, who.account_id, x.id).await;
    assert_eq!(c.meta.keys().collect::<Vec<_>>(), ["z"]);
    assert_eq!(tag_names(&c), ["Lead", "Fresh"]);
    assert_eq!(assignee_ids(&c), [colleague.user_id]);

    let clear = ContactUpdate {
        tags: Some(vec![]),
        overwrite_tags: true,
        default_assignees: Some(vec![]),
        overwrite_default_assignees: true,
        ..update()
    };
    fx.store
        .update_contact(&who, x.id, clear)
        .await
        .expect("clear");
    let c = by_id(&fx, who.account_id, x.id).await;
    assert!(c.tags.is_empty() && c.default_assignees.is_empty());
    assert_eq!(fx.count("SELECT COUNT(*) FROM contact_tags").await, 0);
}

async fn update_moves_the_phone(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let x = add(&fx, &who, MX, |_| {}).await;
    let moved = ContactUpdate {
        phone: Some(("5215587654321".into(), B.into())),
        ..update()
    };
    let c = fx
        .store
        .update_contact(&who, x.id, moved)
        .await
        .expect("move");
    assert_eq!(
        (c.id, c.phone.as_str(), c.canonical_phone.as_str()),
        (x.id, "5215587654321", B)
    );
    assert!(fx
        .store
        .get_contact_by_phone(who.account_id, MX)
        .await
        .expect("read")
        .is_none());
    assert_eq!(stored(&fx, who.account_id, B).await.id, x.id);

    // Its own phone, written another way: allowed, stored as sent.
    let same = ContactUpdate {
        phone: Some(("+52 55 8765 4321".into(), B.into())),
        ..update()
    };
    let c = fx
        .store
        .update_contact(&who, x.id, same)
        .await
        .expect("same phone");
    assert_eq!(c.phone, "+52 55 8765 4321");

    // The old phone is free again.
    let y = add(&fx, &who, MX, |_| {}).await;
    assert_ne!(y.id, x.id);
}

async fn update_refuses_a_phone_another_contact_has(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let other = fx.principal("b@example.com").await;
    let x = add(&fx, &who, MX, |c| c.first_name = Patch::Value("Ana".into())).await;
    add(&fx, &who, B, |_| {}).await;
    // The same phone in another account is no obstacle.
    add(&fx, &other, C, |_| {}).await;

    let taken = ContactUpdate {
        phone: Some((B.into(), B.into())),
        first_name: Patch::Value("Changed".into()),
        tags: Some(strings(&["ShouldNotExist"])),
        ..update()
    };
    let err = fx
        .store
        .update_contact(&who, x.id, taken)
        .await
        .expect_err("taken");
    assert!(matches!(err, UpdateError::PhoneTaken), "{err:?}");
    assert_eq!(by_id(&fx, who.account_id, x.id).await, x, "nothing written");
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 0);

    // Both refusals apply: unknown assignees come first on every backend.
    let both = ContactUpdate {
        phone: Some((B.into(), B.into())),
        default_assignees: Some(vec![999_999]),
        ..update()
    };
    let err = fx
        .store
        .update_contact(&who, x.id, both)
        .await
        .expect_err("refused");
    assert!(matches!(err, UpdateError::UnknownAssignees(_)), "{err:?}");

    let free = ContactUpdate {
        phone: Some((C.into(), C.into())),
        ..update()
    };
    let c = fx
        .store
        .update_contact(&who, x.id, free)
        .await
        .expect("phone of another account");
    assert_eq!(c.canonical_phone, C);
}

async fn update_refuses_another_id(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let x = add(&fx, &who, MX, |_| {}).await;
    let y = add(&fx, &who, B, |_| {}).await;
    for wrong in [Uuid::new_v4(), y.id] {
        let patch = ContactUpdate {
            id: Some(wrong),
            first_name: Patch::Value("Changed".into()),
            ..update()
        };
        let err = fx
            .store
            .update_contact(&who, x.id, patch)
            .await
            .expect_err("mismatch");
        assert!(matches!(err, UpdateError::IdMismatch), "{err:?}");
    }
    assert_eq!(by_id(&fx, who.account_id, x.id).await, x);
    let patch = ContactUpdate {
        id: Some(x.id),
        first_name: Patch::Value("Same".into()),
        ..update()
    };
    let c = fx
        .store
        .update_contact(&who, x.id, patch)
        .await
        .expect("matching id");
    assert_eq!(c.first_name.as_deref(), Some("Same"));
}

async fn update_refuses_unknown_assignees(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let outsider = fx.principal("x@example.com").await.user_id;
    let x = add(&fx, &who, MX, |_| {}).await;
    let patch = ContactUpdate {
        default_assignees: Some(vec![who.user_id, outsider, 999_999]),
        tags: Some(strings(&["ShouldNotExist"])),
        first_name: Patch::Value("Nope".into()),
        ..update()
    };
    let err = fx
        .store
        .update_contact(&who, x.id, patch)
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, UpdateError::UnknownAssignees(ids) if *ids == vec![outsider, 999_999]),
        "{err:?}"
    );
    assert_eq!(by_id(&fx, who.account_id, x.id).await, x);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, 0);
}

async fn concurrent_updates_lose_no_merge(backend: Backend) {
    const N: usize = 32;
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let x = add(&fx, &who, MX, |_| {}).await;
    let store = Arc::new(fx.store.clone());
    let mut tasks = Vec::with_capacity(N);
    for i in 0..N {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            let patch = ContactUpdate {
                meta: Some(meta(&[(key.as_str(), Some("v"))])),
                tags: Some(vec![format!("tag{i}"), "Shared".to_owned()]),
                ..update()
            };
            store.update_contact(&who, x.id, patch).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("update");
    }
    let c = by_id(&fx, who.account_id, x.id).await;
    assert_eq!(c.meta.len(), N);
    assert_eq!(c.tags.len(), N + 1);
    assert_eq!(fx.count("SELECT COUNT(*) FROM tags").await, N as i64 + 1);
}

async fn delete_then_upsert_makes_a_new_contact(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let who = fx.principal("a@example.com").await;
    let colleague = fx.member(who.account_id, "b@example.com").await;
    let keep = add(&fx, &who, B, |c| c.tags = Some(strings(&["VIP"]))).await;
    let x = add(&fx, &who, MX, |c| {
        c.first_name = Patch::Value("Ana".into());
        c.tags = Some(strings(&["VIP", "Lead"]));
        c.default_assignees = Some(vec![who.user_id, colleague.user_id]);
    })
    .await;
    assert!(fx
        .store
        .delete_contact(who.account_id, x.id)
        .await
        .expect("delete"));
    assert!(fx
        .store
        .get_contact(who.account_id, x.id)
        .await
        .expect("get")
        .is_none());
    assert!(!fx
        .store
        .delete_contact(who.account_id, x.id)
        .await
        .expect("delete again"));
    assert_eq!(fx.count("SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM contact_tags").await,
        1,
        "only the other contact's link"
    );
    assert_eq!(fx.count("SELECT COUNT(*) FROM contact_assignees").await, 0);
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM tags").await,
        2,
        "account tags stay"
    );
    if backend == Backend::Sqlite {
        assert_eq!(
            fx.count("SELECT COUNT(*) FROM contact_search_keys").await,
            1
        );
        assert_eq!(fx.count("SELECT COUNT(*) FROM contacts_search").await, 1);
    }
    assert_eq!(
        found(&fx, who.account_id, "ana").await,
        Vec::<String>::new()
    );
    assert_eq!(
        page(&fx, who.account_id, None, 0, 10).await,
        (1, strings(&[B]))
    );
    assert_eq!(by_id(&fx, who.account_id, keep.id).await, keep);

    let again = fx
        .store
        .upsert_contact(&who, change(MX, MX))
        .await
        .expect("upsert");
    assert!(again.is_created());
    let again = again.into_contact();
    assert_ne!(again.id, x.id);
    assert!(again.tags.is_empty() && again.default_assignees.is_empty());
    assert_eq!(again.first_name, None, "nothing of the old contact");
}
