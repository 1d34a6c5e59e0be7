//! The writer thread's SQL: synchronous rusqlite calls on cached prepared
//! statements. The SQL text is shared with the async readers
//! ([`super::queries`]), so both read and write the same columns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, ToSql};
use uuid::Uuid;

use super::queries::{micros, sql, CONTACT_COLUMNS_BY_ID, CONTACT_COLUMNS_BY_PHONE};
use crate::domain::{
    dedup_tag_names, resolve_tag_names, tag_key, Contact, StoreError, Tag, TagRef, User,
};

pub(super) use super::queries::ContactKey;

/// Maps a rusqlite error: a busy or locked database, I/O trouble and a full
/// disk are [`StoreError::Unavailable`], anything else is internal.
pub(super) fn map_error(err: rusqlite::Error) -> StoreError {
    let transient = matches!(
        err.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::CannotOpen
        )
    );
    if transient {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Internal(Box::new(err))
    }
}

/// Whether `err` is a unique or primary-key violation.
pub(super) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::internal(format!("stored timestamp {v} out of range")))
}

fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, column: &str) -> Result<T, StoreError> {
    row.get(column).map_err(map_error)
}

/// A contact row's stored id text and the contact, without tags or
/// assignees.
fn contact_from_row(row: &Row<'_>) -> Result<(String, Contact), StoreError> {
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

fn user_from_row(row: &Row<'_>) -> Result<User, StoreError> {
    Ok(User {
        id: get(row, "id")?,
        account_id: get(row, "account_id")?,
        email: get(row, "email")?,
        first_name: get(row, "first_name")?,
        last_name: get(row, "last_name")?,
        date_joined: from_micros(get(row, "date_joined")?)?,
    })
}

/// Collects the rows of a cached statement through `map`.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    let mut rows = stmt.query(params).map_err(map_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Loads one contact of `account_id` with its tags and assignees.
pub(super) fn load_contact(
    conn: &Connection,
    account_id: i64,
    key: ContactKey<'_>,
) -> Result<Option<Contact>, StoreError> {
    let found = match key {
        ContactKey::Phone(phone) => {
            let mut stmt = conn
                .prepare_cached(CONTACT_COLUMNS_BY_PHONE)
                .map_err(map_error)?;
            stmt.query_row(params![account_id, phone], |row| Ok(contact_from_row(row)))
                .optional()
        }
        ContactKey::Id(id) => {
            let mut stmt = conn
                .prepare_cached(CONTACT_COLUMNS_BY_ID)
                .map_err(map_error)?;
            stmt.query_row(params![account_id, id.hyphenated().to_string()], |row| {
                Ok(contact_from_row(row))
            })
            .optional()
        }
    }
    .map_err(map_error)?;
    let Some(found) = found else {
        return Ok(None);
    };
    let (id_text, mut contact) = found?;
    contact.tags = collect(conn, sql::CONTACT_TAGS, params![id_text], |r| {
        Ok(Tag {
            id: get(r, "id")?,
            name: get(r, "name")?,
        })
    })?;
    contact.default_assignees = collect(
        conn,
        sql::CONTACT_ASSIGNEES,
        params![id_text],
        user_from_row,
    )?;
    Ok(Some(contact))
}

/// Those of `ids` that are users of `account_id`.
pub(super) fn users_in(
    conn: &Connection,
    account_id: i64,
    ids: &[i64],
) -> Result<Vec<User>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids_json = serde_json::Value::from(ids.to_vec()).to_string();
    collect(
        conn,
        sql::USERS_IN,
        params![account_id, ids_json],
        user_from_row,
    )
}

/// The account's tags for `names`, creating the missing ones, in request
/// order without case-insensitive repeats.
pub(super) fn resolve_tags(
    conn: &Connection,
    account_id: i64,
    names: &[String],
) -> Result<Vec<Tag>, StoreError> {
    let keys: Vec<String> = dedup_tag_names(names).iter().map(|n| tag_key(n)).collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut known = Vec::with_capacity(keys.len());
    let mut stmt = conn.prepare_cached(sql::TAG_BY_KEY).map_err(map_error)?;
    for key in &keys {
        let tag = stmt
            .query_row(params![account_id, key], |r| {
                Ok(Tag {
                    id: r.get("id")?,
                    name: r.get("name")?,
                })
            })
            .optional()
            .map_err(map_error)?;
        known.extend(tag);
    }
    drop(stmt);
    let mut tags = Vec::new();
    for wanted in resolve_tag_names(names, &known) {
        match wanted {
            TagRef::Existing(tag) => tags.push(tag),
            TagRef::New(name) => {
                let mut stmt = conn.prepare_cached(sql::INSERT_TAG).map_err(map_error)?;
                let id: i64 = stmt
                    .query_row(params![account_id, name, tag_key(&name)], |r| r.get(0))
                    .map_err(map_error)?;
                tags.push(Tag { id, name });
            }
        }
    }
    Ok(tags)
}

fn exists(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    stmt.query_row(params, |r| r.get(0)).map_err(map_error)
}

/// Whether a contact of `account_id` has this canonical phone.
pub(super) fn phone_exists(
    conn: &Connection,
    account_id: i64,
    canonical_phone: &str,
) -> Result<bool, StoreError> {
    exists(
        conn,
        sql::PHONE_EXISTS,
        params![account_id, canonical_phone],
    )
}

/// Whether any contact (in any account) has this id.
pub(super) fn contact_id_exists(conn: &Connection, id: Uuid) -> Result<bool, StoreError> {
    exists(conn, sql::ID_EXISTS, params![id.hyphenated().to_string()])
}

fn meta_json(contact: &Contact) -> Result<String, StoreError> {
    serde_json::to_string(&contact.meta).map_err(|e| StoreError::Internal(Box::new(e)))
}

/// Inserts a new contact row (not its tags or assignees).
///
/// Returns the raw error so the caller can spot a unique violation.
pub(super) fn insert_contact(
    conn: &Connection,
    c: &Contact,
) -> Result<Result<(), rusqlite::Error>, StoreError> {
    let meta = meta_json(c)?;
    let mut stmt = conn
        .prepare_cached(sql::INSERT_CONTACT)
        .map_err(map_error)?;
    Ok(stmt
        .execute(params![
            c.id.hyphenated().to_string(),
            c.account_id,
            c.phone,
            c.canonical_phone,
            c.first_name,
            c.last_name,
            c.email,
            c.external_url,
            meta,
            c.source,
            c.created_by,
            micros(c.created_on),
            micros(c.last_updated_on),
        ])
        .map(drop))
}

/// Writes the columns of `after` that differ from `before` (the same
/// contact as loaded in this transaction), and its update time; the raw
/// error lets the caller spot a unique violation (a phone another contact
/// has).
///
/// An index is rewritten whenever one of its columns is set, even to the
/// value it had, so setting only what changed keeps an update of meta or
/// tags to the row's own page.
pub(super) fn update_contact_row(
    conn: &Connection,
    before: &Contact,
    after: &Contact,
) -> Result<Result<(), rusqlite::Error>, StoreError> {
    let meta = if before.meta == after.meta {
        None
    } else {
        Some(meta_json(after)?)
    };
    let created_on = micros(after.created_on);
    let last_updated_on = micros(after.last_updated_on);
    let id = after.id.hyphenated().to_string();
    let columns: [(&str, &dyn ToSql, bool); 10] = [
        ("phone", &after.phone, before.phone != after.phone),
        (
            "canonical_phone",
            &after.canonical_phone,
            before.canonical_phone != after.canonical_phone,
        ),
        (
            "first_name",
            &after.first_name,
            before.first_name != after.first_name,
        ),
        (
            "last_name",
            &after.last_name,
            before.last_name != after.last_name,
        ),
        ("email", &after.email, before.email != after.email),
        (
            "external_url",
            &after.external_url,
            before.external_url != after.external_url,
        ),
        ("meta", &meta, meta.is_some()),
        ("source", &after.source, before.source != after.source),
        (
            "created_on",
            &created_on,
            before.created_on != after.created_on,
        ),
        ("last_updated_on", &last_updated_on, true),
    ];
    let set: Vec<(&str, &dyn ToSql)> = columns
        .into_iter()
        .filter(|(_, _, differs)| *differs)
        .map(|(column, value, _)| (column, value))
        .collect();
    let assignments: Vec<String> = set
        .iter()
        .map(|(column, _)| format!("{column} = ?"))
        .collect();
    let statement = format!(
        "UPDATE contacts SET {} WHERE id = ?",
        assignments.join(", ")
    );
    let mut stmt = conn.prepare_cached(&statement).map_err(map_error)?;
    let values = set
        .iter()
        .map(|(_, value)| *value)
        .chain([&id as &dyn ToSql]);
    Ok(stmt.execute(params_from_iter(values)).map(drop))
}

fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
    execute_counting(conn, sql, params).map(drop)
}

/// [`execute`], returning the number of rows changed.
fn execute_counting(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    stmt.execute(params).map_err(map_error)
}

/// The SQL that keeps one kind of link.
struct LinkSql {
    link: &'static str,
    unlink: &'static str,
}

const TAG_LINKS: LinkSql = LinkSql {
    link: sql::LINK_CONTACT_TAG,
    unlink: sql::UNLINK_CONTACT_TAG,
};
const ASSIGNEE_LINKS: LinkSql = LinkSql {
    link: sql::LINK_CONTACT_ASSIGNEE,
    unlink: sql::UNLINK_CONTACT_ASSIGNEE,
};

/// Brings a contact's links from the ids `before` (as stored) to `after`,
/// in order: links that went are deleted, and the others are written only
/// where missing or out of place, so unchanged links cost no page writes.
fn relink(
    conn: &Connection,
    links: &LinkSql,
    contact_id: &str,
    before: &[i64],
    after: &[i64],
) -> Result<(), StoreError> {
    for gone in before.iter().filter(|id| !after.contains(id)) {
        execute(conn, links.unlink, params![contact_id, gone])?;
    }
    for (position, id) in after.iter().enumerate() {
        execute(conn, links.link, params![contact_id, id, position as i64])?;
    }
    Ok(())
}

/// Writes the contact's tag and assignee links as its current lists say,
/// recording their order. `before` is the contact as loaded in this
/// transaction, or `None` for a new contact.
pub(super) fn write_links(
    conn: &Connection,
    before: Option<&Contact>,
    after: &Contact,
    tags: bool,
    assignees: bool,
) -> Result<(), StoreError> {
    let id = after.id.hyphenated().to_string();
    if tags {
        let before: Vec<i64> =
            before.map_or_else(Vec::new, |c| c.tags.iter().map(|t| t.id).collect());
        let after: Vec<i64> = after.tags.iter().map(|t| t.id).collect();
        relink(conn, &TAG_LINKS, &id, &before, &after)?;
    }
    if assignees {
        let before: Vec<i64> = before.map_or_else(Vec::new, |c| {
            c.default_assignees.iter().map(|u| u.id).collect()
        });
        let after: Vec<i64> = after.default_assignees.iter().map(|u| u.id).collect();
        relink(conn, &ASSIGNEE_LINKS, &id, &before, &after)?;
    }
    Ok(())
}

/// Whether the account has a contact with this id.
pub(super) fn contact_exists_in(
    conn: &Connection,
    account_id: i64,
    id: Uuid,
) -> Result<bool, StoreError> {
    exists(
        conn,
        sql::ID_EXISTS_IN_ACCOUNT,
        params![account_id, id.hyphenated().to_string()],
    )
}

/// Deletes the contact with this id and its links.
pub(super) fn delete_contact(conn: &Connection, id: Uuid) -> Result<(), StoreError> {
    let id = id.hyphenated().to_string();
    // The links go explicitly, not only by ON DELETE CASCADE, so a
    // connection opened without foreign keys cannot leave them behind. The
    // search index follows by trigger.
    execute(conn, sql::DELETE_CONTACT_TAGS, params![id])?;
    execute(conn, sql::DELETE_CONTACT_ASSIGNEES, params![id])?;
    execute(conn, sql::DELETE_CONTACT, params![id])
}

/// The least merging after a batch is indexed, in pages.
const SEARCH_MERGE_MIN_PAGES: i64 = 16;

/// Brings the search index up to date with the contacts queued by the
/// triggers (migration 0003): the stale entries go one by one, then one
/// statement indexes every queued contact, so the index gains one segment
/// per transaction, and segments are merged a little (migration 0004).
pub(super) fn index_pending_searches(conn: &Connection) -> Result<(), StoreError> {
    if !exists(conn, sql::SEARCH_PENDING, [])? {
        return Ok(());
    }
    let stale = collect(conn, sql::SEARCH_STALE_KEYS, [], |r| get::<i64>(r, "key"))?;
    for key in stale {
        execute(conn, sql::SEARCH_DELETE_ENTRY, params![key])?;
    }
    let indexed = execute_counting(conn, sql::SEARCH_INDEX_PENDING, [])?;
    // The merging FTS5 would do in bursts (migration 0004), a little each
    // time: a contact adds well under one leaf page, and merging it through
    // the index's levels writes a few pages more, so a page per contact
    // (at least 16) keeps up with the batch and stays short.
    let pages = i64::try_from(indexed)
        .unwrap_or(i64::MAX)
        .max(SEARCH_MERGE_MIN_PAGES);
    execute(conn, sql::SEARCH_MERGE, params![pages])?;
    execute(conn, sql::SEARCH_CLEAR_PENDING, [])
}
