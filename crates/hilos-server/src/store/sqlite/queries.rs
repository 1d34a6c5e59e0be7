//! SQL for the SQLite store, one function per statement group.
//!
//! Every function takes a bare connection so the caller decides the
//! transaction: the writer's `BEGIN IMMEDIATE` or a reader snapshot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::domain::{
    dedup_tag_names, resolve_tag_names, tag_key, Contact, StoreError, Tag, TagRef, User,
};
use crate::store::{hash_token_key, map_sqlx_error};

/// Stored form of a timestamp: microseconds since the epoch.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::internal(format!("stored timestamp {v} out of range")))
}

pub(super) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(map_sqlx_error)
}

fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: get(row, "id")?,
        account_id: get(row, "account_id")?,
        email: get(row, "email")?,
        first_name: get(row, "first_name")?,
        last_name: get(row, "last_name")?,
        date_joined: from_micros(get(row, "date_joined")?)?,
    })
}

/// How to find one contact.
#[derive(Debug, Clone, Copy)]
pub(super) enum ContactKey<'a> {
    Phone(&'a str),
    Id(Uuid),
}

/// The contact columns, as a macro so `concat!` can build static SQL.
macro_rules! contact_select {
    ($filter:literal) => {
        concat!(
            "SELECT id, account_id, phone, canonical_phone, first_name, last_name, email, ",
            "external_url, meta, source, created_by, created_on, last_updated_on ",
            "FROM contacts WHERE account_id = ? AND ",
            $filter
        )
    };
}

/// Loads one contact of `account_id` with its tags and assignees.
pub(super) async fn load_contact(
    conn: &mut SqliteConnection,
    account_id: i64,
    key: ContactKey<'_>,
) -> Result<Option<Contact>, StoreError> {
    let query = match key {
        ContactKey::Phone(phone) => sqlx::query(contact_select!("canonical_phone = ?"))
            .bind(account_id)
            .bind(phone.to_owned()),
        ContactKey::Id(id) => sqlx::query(contact_select!("id = ?"))
            .bind(account_id)
            .bind(id.hyphenated().to_string()),
    };
    let row = query
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (id_text, mut contact) = contact_from_row(&row)?;
    contact.tags = contact_tags(conn, &id_text).await?;
    contact.default_assignees = contact_assignees(conn, &id_text).await?;
    Ok(Some(contact))
}

/// A contact row's stored id text and the contact, without tags or
/// assignees.
pub(super) fn contact_from_row(row: &SqliteRow) -> Result<(String, Contact), StoreError> {
    let id_text: String = get(row, "id")?;
    let id = Uuid::parse_str(&id_text)
        .map_err(|e| StoreError::internal(format!("stored contact id {id_text:?}: {e}")))?;
    let meta_text: String = get(row, "meta")?;
    let meta: BTreeMap<String, String> = serde_json::from_str(&meta_text)
        .map_err(|e| StoreError::internal(format!("stored meta of contact {id}: {e}")))?;
    let contact = Contact {
        id,
        account_id: get(row, "account_id")?,
        phone: get(row, "phone")?,
        canonical_phone: get(row, "canonical_phone")?,
        first_name: get(row, "first_name")?,
        last_name: get(row, "last_name")?,
        email: get(row, "email")?,
        external_url: get(row, "external_url")?,
        meta,
        source: get(row, "source")?,
        created_by: get(row, "created_by")?,
        created_on: from_micros(get(row, "created_on")?)?,
        last_updated_on: from_micros(get(row, "last_updated_on")?)?,
        tags: Vec::new(),
        default_assignees: Vec::new(),
    };
    Ok((id_text, contact))
}

async fn contact_tags(conn: &mut SqliteConnection, id: &str) -> Result<Vec<Tag>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id \
         WHERE ct.contact_id = ? ORDER BY ct.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx_error)?;
    rows.iter()
        .map(|r| {
            Ok(Tag {
                id: get(r, "id")?,
                name: get(r, "name")?,
            })
        })
        .collect()
}

async fn contact_assignees(conn: &mut SqliteConnection, id: &str) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.id, u.account_id, u.email, u.first_name, u.last_name, u.date_joined \
         FROM contact_assignees ca JOIN users u ON u.id = ca.user_id \
         WHERE ca.contact_id = ? ORDER BY ca.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx_error)?;
    rows.iter().map(user_from_row).collect()
}

/// Those of `ids` that are users of `account_id`.
pub(super) async fn users_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    ids: &[i64],
) -> Result<Vec<User>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // A JSON array bound once keeps the SQL static whatever the list length.
    let ids_json = serde_json::Value::from(ids.to_vec()).to_string();
    let rows = sqlx::query(
        "SELECT id, account_id, email, first_name, last_name, date_joined FROM users \
         WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
    )
    .bind(account_id)
    .bind(ids_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx_error)?;
    rows.iter().map(user_from_row).collect()
}

/// The account's tags for `names`, creating the missing ones, in request
/// order without case-insensitive repeats.
pub(super) async fn resolve_tags(
    conn: &mut SqliteConnection,
    account_id: i64,
    names: &[String],
) -> Result<Vec<Tag>, StoreError> {
    let keys: Vec<String> = dedup_tag_names(names).iter().map(|n| tag_key(n)).collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys_json = serde_json::Value::from(keys).to_string();
    let rows = sqlx::query(
        "SELECT id, name FROM tags \
         WHERE account_id = ? AND name_key IN (SELECT value FROM json_each(?))",
    )
    .bind(account_id)
    .bind(keys_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx_error)?;
    let known = rows
        .iter()
        .map(|r| {
            Ok(Tag {
                id: get(r, "id")?,
                name: get(r, "name")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut tags = Vec::new();
    for wanted in resolve_tag_names(names, &known) {
        match wanted {
            TagRef::Existing(tag) => tags.push(tag),
            TagRef::New(name) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO tags (account_id, name, name_key) VALUES (?, ?, ?) RETURNING id",
                )
                .bind(account_id)
                .bind(&name)
                .bind(tag_key(&name))
                .fetch_one(&mut *conn)
                .await
                .map_err(map_sqlx_error)?;
                tags.push(Tag { id, name });
            }
        }
    }
    Ok(tags)
}

/// Whether a contact of `account_id` has this canonical phone.
pub(super) async fn phone_exists(
    conn: &mut SqliteConnection,
    account_id: i64,
    canonical_phone: &str,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = ? AND canonical_phone = ?)",
    )
    .bind(account_id)
    .bind(canonical_phone.to_owned())
    .fetch_one(&mut *conn)
    .await
    .map_err(map_sqlx_error)
}

/// Whether any contact (in any account) has this id.
pub(super) async fn contact_id_exists(
    conn: &mut SqliteConnection,
    id: Uuid,
) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?)")
        .bind(id.hyphenated().to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(map_sqlx_error)
}

fn meta_json(contact: &Contact) -> Result<String, StoreError> {
    serde_json::to_string(&contact.meta).map_err(|e| StoreError::Internal(Box::new(e)))
}

/// Inserts a new contact row (not its tags or assignees).
///
/// Returns the raw sqlx error so the caller can spot a unique violation.
pub(super) async fn insert_contact(
    conn: &mut SqliteConnection,
    c: &Contact,
) -> Result<Result<(), sqlx::Error>, StoreError> {
    let meta = meta_json(c)?;
    Ok(sqlx::query(
        "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, last_name, \
         email, external_url, meta, source, created_by, created_on, last_updated_on) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.id.hyphenated().to_string())
    .bind(c.account_id)
    .bind(&c.phone)
    .bind(&c.canonical_phone)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.external_url)
    .bind(meta)
    .bind(&c.source)
    .bind(c.created_by)
    .bind(micros(c.created_on))
    .bind(micros(c.last_updated_on))
    .execute(&mut *conn)
    .await
    .map(|_| ()))
}

/// Writes every column of an existing contact row.
pub(super) async fn update_contact(
    conn: &mut SqliteConnection,
    c: &Contact,
) -> Result<(), StoreError> {
    update_contact_row(conn, c).await?.map_err(map_sqlx_error)
}

/// [`update_contact`], returning the raw sqlx error so the caller can spot
/// a unique violation (a phone another contact has).
pub(super) async fn update_contact_row(
    conn: &mut SqliteConnection,
    c: &Contact,
) -> Result<Result<(), sqlx::Error>, StoreError> {
    let meta = meta_json(c)?;
    Ok(sqlx::query(
        "UPDATE contacts SET phone = ?, canonical_phone = ?, first_name = ?, last_name = ?, \
         email = ?, external_url = ?, meta = ?, source = ?, created_on = ?, \
         last_updated_on = ? WHERE id = ?",
    )
    .bind(&c.phone)
    .bind(&c.canonical_phone)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.external_url)
    .bind(meta)
    .bind(&c.source)
    .bind(micros(c.created_on))
    .bind(micros(c.last_updated_on))
    .bind(c.id.hyphenated().to_string())
    .execute(&mut *conn)
    .await
    .map(|_| ()))
}

/// Replaces the contact's tag and assignee links with its current lists,
/// recording their order.
pub(super) async fn write_links(
    conn: &mut SqliteConnection,
    c: &Contact,
    tags: bool,
    assignees: bool,
) -> Result<(), StoreError> {
    let id = c.id.hyphenated().to_string();
    if tags {
        sqlx::query("DELETE FROM contact_tags WHERE contact_id = ?")
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        for (position, tag) in c.tags.iter().enumerate() {
            sqlx::query("INSERT INTO contact_tags (contact_id, tag_id, position) VALUES (?, ?, ?)")
                .bind(&id)
                .bind(tag.id)
                .bind(position as i64)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx_error)?;
        }
    }
    if assignees {
        sqlx::query("DELETE FROM contact_assignees WHERE contact_id = ?")
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        for (position, user) in c.default_assignees.iter().enumerate() {
            sqlx::query(
                "INSERT INTO contact_assignees (contact_id, user_id, position) VALUES (?, ?, ?)",
            )
            .bind(&id)
            .bind(user.id)
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        }
    }
    Ok(())
}

/// Stores a new API key for `user_id` and returns the key.
pub(super) async fn insert_token(
    conn: &mut SqliteConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let key = crate::store::generate_token_key()?;
    sqlx::query("INSERT INTO tokens (key_hash, user_id, created_at) VALUES (?, ?, ?)")
        .bind(hash_token_key(&key))
        .bind(user_id)
        .bind(micros(now))
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    Ok(key)
}

/// Inserts an account and returns its id.
pub(super) async fn insert_account(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<i64, StoreError> {
    sqlx::query_scalar("INSERT INTO accounts (name, created_at) VALUES (?, ?) RETURNING id")
        .bind(name)
        .bind(micros(Utc::now()))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_sqlx_error)
}

/// Inserts a user; the raw error lets callers spot a taken email.
pub(super) async fn insert_user(
    conn: &mut SqliteConnection,
    account_id: i64,
    email: &str,
    first_name: &str,
    last_name: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (account_id, email, first_name, last_name, date_joined) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(account_id)
    .bind(email)
    .bind(first_name)
    .bind(last_name)
    .bind(micros(Utc::now()))
    .fetch_one(&mut *conn)
    .await
}
