use super::*;
use chrono::TimeZone;

fn who() -> Principal {
    Principal {
        account_id: 7,
        user_id: 70,
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    match Utc.timestamp_opt(secs, 0) {
        chrono::LocalResult::Single(t) => t,
        _ => panic!("bad test timestamp"),
    }
}

fn tag(id: i64, name: &str) -> Tag {
    Tag {
        id,
        name: name.to_owned(),
    }
}

fn user(id: i64) -> User {
    User {
        id,
        account_id: 7,
        email: format!("u{id}@example.com"),
        first_name: "U".into(),
        last_name: format!("{id}"),
        date_joined: at(0),
    }
}

fn change() -> ContactChange {
    ContactChange {
        phone: "+52 55 1234 5678".into(),
        canonical_phone: "+525512345678".into(),
        ..ContactChange::default()
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn ids<T>(v: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    v.iter().map(id).collect()
}

#[test]
fn create_defaults() {
    let c = new_contact(&who(), &change(), Resolved::default(), at(100));
    assert_eq!(c.account_id, 7);
    assert_eq!(c.created_by, 70);
    assert_eq!(c.source, "website");
    assert_eq!(c.created_on, at(100));
    assert_eq!(c.last_updated_on, at(100));
    assert_eq!(c.first_name, None);
    assert!(c.meta.is_empty() && c.tags.is_empty() && c.default_assignees.is_empty());
    assert_eq!(c.id.get_version_num(), 7);
}

#[test]
fn create_uses_given_values() {
    let id = Uuid::new_v4();
    let mut meta = MetaPatch::new();
    meta.insert("a".into(), Some("1".into()));
    meta.insert("b".into(), None);
    let ch = ContactChange {
        id: Some(id),
        first_name: Patch::Value("Ana".into()),
        last_name: Patch::Null,
        source: Some("import".into()),
        created_on: Some(at(5)),
        meta: Some(meta),
        ..change()
    };
    let resolved = Resolved {
        tags: Some(vec![tag(1, "VIP"), tag(1, "VIP"), tag(2, "lead")]),
        assignees: Some(vec![user(3), user(3)]),
    };
    let c = new_contact(&who(), &ch, resolved, at(100));
    assert_eq!(c.id, id);
    assert_eq!(c.first_name.as_deref(), Some("Ana"));
    assert_eq!(c.last_name, None);
    assert_eq!(c.source, "import");
    assert_eq!(c.created_on, at(5));
    assert_eq!(c.meta.len(), 1);
    assert_eq!(ids(&c.tags, |t| t.id), vec![1, 2]);
    assert_eq!(ids(&c.default_assignees, |u| u.id), vec![3]);
}

#[test]
fn update_is_partial() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    c.first_name = Some("Ana".into());
    c.last_name = Some("Ruiz".into());
    c.email = Some("a@example.com".into());
    c.source = "import".into();
    c.meta.insert("keep".into(), "1".into());
    let ch = ContactChange {
        phone: "5215512345678".into(),
        last_name: Patch::Null,
        email: Patch::Value("b@example.com".into()),
        ..change()
    };
    apply_change(&mut c, &ch, Resolved::default(), at(200)).expect("no id given");
    assert_eq!(c.phone, "5215512345678");
    assert_eq!(c.first_name.as_deref(), Some("Ana"));
    assert_eq!(c.last_name, None);
    assert_eq!(c.email.as_deref(), Some("b@example.com"));
    assert_eq!(c.source, "import");
    assert_eq!(c.created_by, 70);
    assert_eq!(c.created_on, at(100));
    assert_eq!(c.last_updated_on, at(200));
    assert_eq!(c.meta.get("keep").map(String::as_str), Some("1"));
}

#[test]
fn update_changes_source_and_created_on_when_sent() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    let ch = ContactChange {
        source: Some("api".into()),
        created_on: Some(at(50)),
        ..change()
    };
    apply_change(&mut c, &ch, Resolved::default(), at(200)).expect("ok");
    assert_eq!(c.source, "api");
    assert_eq!(c.created_on, at(50));
}

#[test]
fn update_id_must_match() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    let before = c.clone();
    let wrong = ContactChange {
        id: Some(Uuid::new_v4()),
        first_name: Patch::Value("X".into()),
        ..change()
    };
    let err = apply_change(&mut c, &wrong, Resolved::default(), at(200));
    assert!(matches!(err, Err(UpsertError::IdMismatch)));
    assert_eq!(c, before, "a refused change leaves the contact alone");
    let right = ContactChange {
        id: Some(c.id),
        ..change()
    };
    apply_change(&mut c, &right, Resolved::default(), at(200)).expect("same id");
}

#[test]
fn update_meta_merge_and_overwrite() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    c.meta.insert("a".into(), "1".into());
    c.meta.insert("b".into(), "2".into());
    let mut patch = MetaPatch::new();
    patch.insert("b".into(), None);
    patch.insert("c".into(), Some("3".into()));
    let merge = ContactChange {
        meta: Some(patch.clone()),
        ..change()
    };
    apply_change(&mut c, &merge, Resolved::default(), at(200)).expect("ok");
    assert_eq!(c.meta.keys().collect::<Vec<_>>(), vec!["a", "c"]);
    let overwrite = ContactChange {
        meta: Some(patch),
        overwrite_meta: true,
        ..change()
    };
    apply_change(&mut c, &overwrite, Resolved::default(), at(300)).expect("ok");
    assert_eq!(c.meta.keys().collect::<Vec<_>>(), vec!["c"]);
}

#[test]
fn update_tags_union_and_overwrite() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    c.tags = vec![tag(1, "VIP"), tag(2, "lead")];
    let union = Resolved {
        tags: Some(vec![tag(3, "new"), tag(1, "VIP")]),
        ..Resolved::default()
    };
    apply_change(&mut c, &change(), union, at(200)).expect("ok");
    assert_eq!(ids(&c.tags, |t| t.id), vec![1, 2, 3]);
    let overwrite = ContactChange {
        overwrite_tags: true,
        ..change()
    };
    let replace = Resolved {
        tags: Some(vec![tag(3, "new")]),
        ..Resolved::default()
    };
    apply_change(&mut c, &overwrite, replace, at(300)).expect("ok");
    assert_eq!(ids(&c.tags, |t| t.id), vec![3]);
    // Tags not sent at all: kept even with the overwrite flag.
    apply_change(&mut c, &overwrite, Resolved::default(), at(400)).expect("ok");
    assert_eq!(ids(&c.tags, |t| t.id), vec![3]);
}

#[test]
fn update_assignees_union_and_overwrite() {
    let mut c = new_contact(&who(), &change(), Resolved::default(), at(100));
    c.default_assignees = vec![user(1), user(2)];
    let union = Resolved {
        assignees: Some(vec![user(2), user(3)]),
        ..Resolved::default()
    };
    apply_change(&mut c, &change(), union, at(200)).expect("ok");
    assert_eq!(ids(&c.default_assignees, |u| u.id), vec![1, 2, 3]);
    let overwrite = ContactChange {
        overwrite_default_assignees: true,
        ..change()
    };
    let empty = Resolved {
        assignees: Some(vec![]),
        ..Resolved::default()
    };
    apply_change(&mut c, &overwrite, empty, at(300)).expect("ok");
    assert!(c.default_assignees.is_empty());
}

#[test]
fn tag_names_dedup_case_insensitively() {
    assert_eq!(
        dedup_tag_names(&names(&["VIP", "vip", "Lead", "ÉTÉ", "été", "lead"])),
        names(&["VIP", "Lead", "ÉTÉ"])
    );
}

#[test]
fn tag_resolution_keeps_stored_name() {
    let known = vec![tag(1, "VIP"), tag(2, "Lead")];
    let got = resolve_tag_names(&names(&["vip", "new", "NEW", "LEAD"]), &known);
    assert_eq!(
        got,
        vec![
            TagRef::Existing(tag(1, "VIP")),
            TagRef::New("new".into()),
            TagRef::Existing(tag(2, "Lead")),
        ]
    );
}

#[test]
fn users_resolve_in_request_order() {
    let found = vec![user(1), user(2)];
    let got = resolve_users(&[2, 1, 2], &found).expect("all known");
    assert_eq!(ids(&got, |u| u.id), vec![2, 1]);
    assert_eq!(resolve_users(&[1, 9, 8, 9], &found), Err(vec![9, 8]));
    assert_eq!(unknown_ids(&[], &found), Vec::<i64>::new());
}

#[test]
fn merge_by_id_union_preserves_order() {
    let a = [1, 2, 3];
    assert_eq!(
        merge_by_id(&a, &[4, 2, 5, 4], false, |x| *x),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(merge_by_id(&a, &[4, 2, 4], true, |x| *x), vec![4, 2]);
    assert_eq!(merge_by_id(&a, &[], false, |x| *x), vec![1, 2, 3]);
}

#[test]
fn timestamps_are_truncated_to_micros() {
    let t = at(10) + chrono::Duration::nanoseconds(123_456_789);
    let c = new_contact(&who(), &change(), Resolved::default(), t);
    assert_eq!(c.created_on.timestamp_subsec_nanos(), 123_456_000);
    assert_eq!(c.last_updated_on, c.created_on);
}
