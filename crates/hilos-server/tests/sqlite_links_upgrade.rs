//! A SQLite database written before migration 0006 keeps every tag and
//! assignee link, in its order, when a store opens it and moves the links
//! to `WITHOUT ROWID` tables; the links then take writes and cascades as
//! before.

mod common;

use std::str::FromStr;

use common::backend::Backend;
use common::change;
use hilos_server::domain::Principal;
use hilos_server::store::ContactStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection as _;

const CONTACT: &str = "0190a000-0000-7000-8000-000000000001";

#[tokio::test]
async fn links_written_before_0006_keep_their_order_and_take_new_writes() {
    let db = Backend::Sqlite.fresh_db().await;

    // The schema as it was before 0006: migrations 0001 to 0005 only.
    let before = tempfile::tempdir().expect("migrations dir");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < "0006" {
            std::fs::copy(&path, before.path().join(&name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(before.path())
        .await
        .expect("migrator");
    let options = SqliteConnectOptions::from_str(&db.url)
        .expect("url")
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("connect");
    migrator.run(&mut conn).await.expect("0001 to 0005");
    // Links whose positions do not follow their keys, so that an order
    // lost to the primary key would show.
    for sql in [
        "INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0)".to_owned(),
        "INSERT INTO users (id, account_id, email, date_joined) VALUES \
         (1, 1, 'one@example.com', 0), (2, 1, 'two@example.com', 0), \
         (3, 1, 'three@example.com', 0)"
            .to_owned(),
        format!(
            "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, meta, \
             source, created_by, created_on, last_updated_on) \
             VALUES ('{CONTACT}', 1, '+52 55 1234 5678', '+525512345678', 'Ana', '{{}}', \
             'website', 1, 0, 0)"
        ),
        "INSERT INTO tags (id, account_id, name, name_key) VALUES \
         (1, 1, 'Alpha', 'alpha'), (2, 1, 'Beta', 'beta'), (3, 1, 'Gamma', 'gamma')"
            .to_owned(),
        format!(
            "INSERT INTO contact_tags (contact_id, tag_id, position) VALUES \
             ('{CONTACT}', 3, 0), ('{CONTACT}', 1, 1), ('{CONTACT}', 2, 2)"
        ),
        format!(
            "INSERT INTO contact_assignees (contact_id, user_id, position) VALUES \
             ('{CONTACT}', 3, 0), ('{CONTACT}', 1, 1)"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("old rows");
    }
    conn.close().await.expect("close");

    let store = db.store().await;
    let id = uuid::Uuid::parse_str(CONTACT).expect("uuid");
    let contact = store
        .get_contact(1, id)
        .await
        .expect("get")
        .expect("the contact is still there");
    let tags: Vec<&str> = contact.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, ["Gamma", "Alpha", "Beta"]);
    let assignees: Vec<i64> = contact.default_assignees.iter().map(|u| u.id).collect();
    assert_eq!(assignees, [3, 1]);

    let without_rowid = db
        .texts(
            "SELECT name FROM pragma_table_list \
             WHERE name IN ('contact_tags', 'contact_assignees') AND wr = 1 ORDER BY name",
        )
        .await;
    assert_eq!(without_rowid, ["contact_assignees", "contact_tags"]);

    // A merge adds after the old links; a delete takes every link along.
    let who = Principal {
        account_id: 1,
        user_id: 1,
    };
    let mut add = change("+52 55 1234 5678", "+525512345678");
    add.tags = Some(vec!["delta".into(), "alpha".into()]);
    add.default_assignees = Some(vec![2]);
    store.upsert_contact(&who, add).await.expect("upsert");
    let contact = store.get_contact(1, id).await.expect("get").expect("found");
    let tags: Vec<&str> = contact.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, ["Gamma", "Alpha", "Beta", "delta"]);
    let assignees: Vec<i64> = contact.default_assignees.iter().map(|u| u.id).collect();
    assert_eq!(assignees, [3, 1, 2]);

    assert!(store.delete_contact(1, id).await.expect("delete"));
    assert_eq!(db.count("SELECT COUNT(*) FROM contact_tags").await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM contact_assignees").await, 0);
    store.close().await;
}
