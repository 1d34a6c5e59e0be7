use super::*;
use crate::domain::{new_contact, Principal, Tag};
use chrono::TimeZone;

fn at(secs: i64) -> DateTime<Utc> {
    match Utc.timestamp_opt(secs, 0) {
        chrono::LocalResult::Single(t) => t,
        _ => panic!("bad test timestamp"),
    }
}

fn stored() -> Contact {
    let who = Principal {
        account_id: 7,
        user_id: 70,
    };
    let change = ContactChange {
        phone: "+52 55 1234 5678".into(),
        canonical_phone: "+525512345678".into(),
        first_name: Patch::Value("Ana".into()),
        source: Some("import".into()),
        ..ContactChange::default()
    };
    let resolved = Resolved {
        tags: Some(vec![Tag {
            id: 1,
            name: "VIP".into(),
        }]),
        assignees: None,
    };
    new_contact(&who, &change, resolved, at(100))
}

#[test]
fn update_without_phone_keeps_the_phone_and_merges() {
    let mut c = stored();
    let update = ContactUpdate {
        last_name: Patch::Value("Ruiz".into()),
        tags: Some(vec!["New".into()]),
        ..ContactUpdate::default()
    };
    let resolved = Resolved {
        tags: Some(vec![Tag {
            id: 2,
            name: "New".into(),
        }]),
        assignees: None,
    };
    apply_update(&mut c, &update, resolved, at(200)).expect("update");
    assert_eq!(c.phone, "+52 55 1234 5678");
    assert_eq!(c.canonical_phone, "+525512345678");
    assert_eq!(c.first_name.as_deref(), Some("Ana"));
    assert_eq!(c.last_name.as_deref(), Some("Ruiz"));
    assert_eq!(c.source, "import");
    assert_eq!(c.created_on, at(100));
    assert_eq!(c.last_updated_on, at(200));
    assert_eq!(
        c.tags.iter().map(|t| t.id).collect::<Vec<_>>(),
        [1, 2],
        "tags union"
    );
}

#[test]
fn update_with_phone_stores_it() {
    let mut c = stored();
    let update = ContactUpdate {
        phone: Some(("5215587654321".into(), "+525587654321".into())),
        ..ContactUpdate::default()
    };
    assert_eq!(update.new_canonical_phone(&c), Some("+525587654321"));
    apply_update(&mut c, &update, Resolved::default(), at(200)).expect("update");
    assert_eq!(c.phone, "5215587654321");
    assert_eq!(c.canonical_phone, "+525587654321");

    let same = ContactUpdate {
        phone: Some(("+525587654321".into(), "+525587654321".into())),
        ..ContactUpdate::default()
    };
    assert_eq!(same.new_canonical_phone(&c), None);
}

#[test]
fn update_refuses_another_id() {
    let mut c = stored();
    let before = c.clone();
    let update = ContactUpdate {
        id: Some(Uuid::new_v4()),
        first_name: Patch::Null,
        ..ContactUpdate::default()
    };
    let err = apply_update(&mut c, &update, Resolved::default(), at(200)).expect_err("id");
    assert!(matches!(err, UpdateError::IdMismatch), "{err:?}");
    assert_eq!(c, before);
    let ok = ContactUpdate {
        id: Some(c.id),
        ..ContactUpdate::default()
    };
    assert!(check_update_id(&ok, c.id).is_ok());
}

#[test]
fn change_round_trips_through_update() {
    let change = ContactChange {
        phone: "p".into(),
        canonical_phone: "+1".into(),
        email: Patch::Null,
        overwrite_tags: true,
        tags: Some(vec!["a".into()]),
        ..ContactChange::default()
    };
    let update = ContactUpdate::from(change.clone());
    assert_eq!(update.to_change(&stored()), change);
}

#[test]
fn search_parse() {
    assert_eq!(ContactSearch::parse(None), None);
    assert_eq!(ContactSearch::parse(Some("")), None);
    assert_eq!(ContactSearch::parse(Some(" \t ")), None);
    let s = ContactSearch::parse(Some(" +52 (55) 12-34 ")).expect("term");
    assert_eq!(s.text, "+52 (55) 12-34");
    assert_eq!(s.phone_digits.as_deref(), Some("52551234"));
    let s = ContactSearch::parse(Some("Ana 5")).expect("term");
    assert_eq!(s.phone_digits, None);
    let s = ContactSearch::parse(Some("+ -")).expect("term");
    assert_eq!(s.phone_digits, None, "no digits: no phone match");
}

#[test]
fn search_indexable() {
    let indexable = |t: &str| ContactSearch::parse(Some(t)).expect("term").is_indexable();
    assert!(indexable("ana"));
    assert!(indexable("555"));
    assert!(!indexable("an"));
    assert!(!indexable("+5 5"), "only two digits");
    assert!(!indexable("ñá"));
    assert!(indexable("ñáé"));
}

#[test]
fn like_patterns_escape_wildcards() {
    assert_eq!(like_substring_pattern("ana"), "%ana%");
    assert_eq!(like_substring_pattern("5%_\\x"), "%5\\%\\_\\\\x%");
}

#[test]
fn new_takes_the_phone_apart_from_the_fields() {
    let fields = ContactChange {
        phone: "ignored".into(),
        canonical_phone: "ignored".into(),
        first_name: Patch::Value("Ana".into()),
        ..ContactChange::default()
    };
    let update = ContactUpdate::new(None, fields.clone());
    assert_eq!(update.phone, None);
    assert_eq!(update.first_name, Patch::Value("Ana".into()));
    let update = ContactUpdate::new(Some(("p".into(), "+1".into())), fields);
    assert_eq!(update.phone, Some(("p".into(), "+1".into())));
}
