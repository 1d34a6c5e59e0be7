//! SQL for the SQLite store, and the async (sqlx) reads and administrative
//! writes, one function per statement group.
//!
//! Every function takes a bare connection so the caller decides the
//! transaction. Contact writes run on the writer thread
//! ([`super::writer`]) through [`super::sync_queries`], with the SQL text
//! of [`sql`] shared by both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::domain::{Contact, StoreError, Tag, User};
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

/// One contact by canonical phone.
pub(super) const CONTACT_COLUMNS_BY_PHONE: &str = contact_select!("canonical_phone = ?");
/// One contact by id.
pub(super) const CONTACT_COLUMNS_BY_ID: &str = contact_select!("id = ?");

/// Statements used by both the readers and the writer thread.
pub(super) mod sql {
    /// `(account_id, user_id)` of a live key, by key hash.
    pub const PRINCIPAL_FOR_KEY_HASH: &str = "SELECT u.account_id, u.id FROM tokens t \
        JOIN users u ON u.id = t.user_id WHERE t.key_hash = ? AND t.revoked_at IS NULL";
    /// A contact's tags, in attach order.
    pub const CONTACT_TAGS: &str = "SELECT t.id, t.name FROM contact_tags ct \
        JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = ? ORDER BY ct.position";
    /// A contact's assignees, in attach order.
    pub const CONTACT_ASSIGNEES: &str =
        "SELECT u.id, u.account_id, u.email, u.first_name, u.last_name, u.date_joined \
        FROM contact_assignees ca JOIN users u ON u.id = ca.user_id \
        WHERE ca.contact_id = ? ORDER BY ca.position";
    /// The users of an account among a JSON array of ids. A JSON array
    /// bound once keeps the SQL static whatever the list length.
    pub const USERS_IN: &str =
        "SELECT id, account_id, email, first_name, last_name, date_joined FROM users \
        WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))";
    /// The account's tag with this name key. (One key per lookup: an
    /// `IN (SELECT … FROM json_each(?))` list builds a temporary b-tree on
    /// every run, which cost more than the lookups.)
    pub const TAG_BY_KEY: &str = "SELECT id, name FROM tags WHERE account_id = ? AND name_key = ?";
    /// A new tag.
    pub const INSERT_TAG: &str =
        "INSERT INTO tags (account_id, name, name_key) VALUES (?, ?, ?) RETURNING id";
    /// Whether the account has a contact with this canonical phone.
    pub const PHONE_EXISTS: &str =
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = ? AND canonical_phone = ?)";
    /// Whether any account has a contact with this id.
    pub const ID_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?)";
    /// Whether the account has a contact with this id.
    pub const ID_EXISTS_IN_ACCOUNT: &str =
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = ? AND id = ?)";
    /// A new contact row.
    pub const INSERT_CONTACT: &str =
        "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, last_name, \
        email, external_url, meta, source, created_by, created_on, last_updated_on) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    /// A contact's tag links.
    pub const DELETE_CONTACT_TAGS: &str = "DELETE FROM contact_tags WHERE contact_id = ?";
    /// One tag link at its position: written only if it is missing or
    /// elsewhere, so an unchanged link leaves its pages alone.
    pub const LINK_CONTACT_TAG: &str =
        "INSERT INTO contact_tags (contact_id, tag_id, position) VALUES (?, ?, ?) \
        ON CONFLICT (contact_id, tag_id) DO UPDATE SET position = excluded.position \
        WHERE position IS NOT excluded.position";
    /// One tag link removed.
    pub const UNLINK_CONTACT_TAG: &str =
        "DELETE FROM contact_tags WHERE contact_id = ? AND tag_id = ?";
    /// A contact's assignee links.
    pub const DELETE_CONTACT_ASSIGNEES: &str = "DELETE FROM contact_assignees WHERE contact_id = ?";
    /// One assignee link at its position, written as [`LINK_CONTACT_TAG`].
    pub const LINK_CONTACT_ASSIGNEE: &str =
        "INSERT INTO contact_assignees (contact_id, user_id, position) VALUES (?, ?, ?) \
        ON CONFLICT (contact_id, user_id) DO UPDATE SET position = excluded.position \
        WHERE position IS NOT excluded.position";
    /// One assignee link removed.
    pub const UNLINK_CONTACT_ASSIGNEE: &str =
        "DELETE FROM contact_assignees WHERE contact_id = ? AND user_id = ?";
    /// A contact row.
    pub const DELETE_CONTACT: &str = "DELETE FROM contacts WHERE id = ?";
    /// Whether contacts wait to be (re)indexed.
    pub const SEARCH_PENDING: &str = "SELECT EXISTS (SELECT 1 FROM contact_search_pending)";
    /// The queued contacts that have an index entry to replace.
    pub const SEARCH_STALE_KEYS: &str = "SELECT key FROM contact_search_pending WHERE fresh = 0";
    /// Drops one index entry. (By `rowid = ?` only: FTS5 answers
    /// `rowid IN (…)` by scanning the whole index.)
    pub const SEARCH_DELETE_ENTRY: &str = "DELETE FROM contacts_search WHERE rowid = ?";
    /// Indexes the queued contacts as they are now. `CROSS JOIN` fixes the
    /// join order: the queue is small, the other tables are not.
    pub const SEARCH_INDEX_PENDING: &str = "INSERT INTO contacts_search \
        (rowid, canonical_phone, first_name, last_name, email, external_url) \
        SELECT k.key, c.canonical_phone, c.first_name, c.last_name, c.email, c.external_url \
        FROM contact_search_pending p CROSS JOIN contact_search_keys k ON k.key = p.key \
        CROSS JOIN contacts c ON c.id = k.contact_id";
    /// Merges index segments until about `?` pages have been written, where
    /// some level holds enough segments to merge (migration 0004).
    pub const SEARCH_MERGE: &str =
        "INSERT INTO contacts_search (contacts_search, rank) VALUES ('merge', ?)";
    /// Empties the queue.
    pub const SEARCH_CLEAR_PENDING: &str = "DELETE FROM contact_search_pending";
}

/// Loads one contact of `account_id` with its tags and assignees.
pub(super) async fn load_contact(
    conn: &mut SqliteConnection,
    account_id: i64,
    key: ContactKey<'_>,
) -> Result<Option<Contact>, StoreError> {
    let query = match key {
        ContactKey::Phone(phone) => sqlx::query(CONTACT_COLUMNS_BY_PHONE)
            .bind(account_id)
            .bind(phone.to_owned()),
        ContactKey::Id(id) => sqlx::query(CONTACT_COLUMNS_BY_ID)
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
    let rows = sqlx::query(sql::CONTACT_TAGS)
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
    let rows = sqlx::query(sql::CONTACT_ASSIGNEES)
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
    let ids_json = serde_json::Value::from(ids.to_vec()).to_string();
    let rows = sqlx::query(sql::USERS_IN)
        .bind(account_id)
        .bind(ids_json)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    rows.iter().map(user_from_row).collect()
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
