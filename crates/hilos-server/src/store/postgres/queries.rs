//! SQL for the PostgreSQL store, one function per statement group.
//!
//! Every function takes a bare connection so the caller decides the
//! transaction. Functions return the raw [`sqlx::Error`]: the store decides
//! which failures retry the whole transaction and which become a
//! [`StoreError`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::{dedup_tag_names, tag_key, Contact, StoreError, Tag, User};
use crate::store::{generate_token_key, hash_token_key};

/// A failed statement, or a stored value the domain cannot take.
#[derive(Debug)]
pub(super) enum QueryError {
    /// The database refused or failed the statement.
    Sql(sqlx::Error),
    /// Stored data or the key generator failed; never worth a retry.
    Store(StoreError),
}

impl From<sqlx::Error> for QueryError {
    fn from(err: sqlx::Error) -> Self {
        QueryError::Sql(err)
    }
}

impl From<StoreError> for QueryError {
    fn from(err: StoreError) -> Self {
        QueryError::Store(err)
    }
}

/// How to find one contact.
#[derive(Debug, Clone, Copy)]
pub(super) enum ContactKey<'a> {
    Phone(&'a str),
    Id(Uuid),
}

/// The contact columns [`contact_from_row`] reads, as a macro so `concat!`
/// can build static SQL (the list queries use it too).
macro_rules! contact_columns {
    () => {
        "id, account_id, phone, canonical_phone, first_name, last_name, email, \
         external_url, meta, source, created_by, created_on, last_updated_on"
    };
}
pub(super) use contact_columns;

/// The contact row selected by `$filter`.
macro_rules! contact_select {
    ($filter:literal) => {
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND ",
            $filter
        )
    };
}

/// Loads one contact of `account_id` with its tags and assignees, locking
/// its row first (`FOR UPDATE`: later writers of the row wait for this
/// transaction).
///
/// Under READ COMMITTED, the link queries that follow the lock see
/// everything the previous holder of the lock committed.
pub(super) async fn lock_contact(
    conn: &mut PgConnection,
    account_id: i64,
    key: ContactKey<'_>,
) -> Result<Option<Contact>, QueryError> {
    let sql = match key {
        ContactKey::Phone(_) => contact_select!("canonical_phone = $2 FOR UPDATE"),
        ContactKey::Id(_) => contact_select!("id = $2 FOR UPDATE"),
    };
    let query = sqlx::query(sql).bind(account_id);
    let query = match key {
        ContactKey::Phone(phone) => query.bind(phone),
        ContactKey::Id(id) => query.bind(id),
    };
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut contact = contact_from_row(&row)?;
    contact.tags = contact_tags(conn, contact.id).await?;
    contact.default_assignees = contact_assignees(conn, contact.id).await?;
    Ok(Some(contact))
}

/// The contact columns with the contact's tags and assignees as JSON
/// arrays, so that one statement (one snapshot, one round trip) reads a
/// whole contact.
macro_rules! contact_with_links_select {
    ($filter:literal) => {
        concat!(
            "SELECT ",
            contact_columns!(),
            ", ",
            "COALESCE((SELECT json_agg(json_build_object('id', t.id, 'name', t.name) ",
            "ORDER BY ct.position) ",
            "FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id ",
            "WHERE ct.contact_id = c.id), '[]') AS tags, ",
            "COALESCE((SELECT json_agg(json_build_object('id', u.id, 'account_id', u.account_id, ",
            "'email', u.email, 'first_name', u.first_name, 'last_name', u.last_name, ",
            "'date_joined', u.date_joined) ORDER BY ca.position) ",
            "FROM contact_assignees ca JOIN users u ON u.id = ca.user_id ",
            "WHERE ca.contact_id = c.id), '[]') AS assignees ",
            "FROM contacts c WHERE c.account_id = $1 AND ",
            $filter
        )
    };
}

/// A tag as [`contact_with_links_select!`] writes it.
#[derive(serde::Deserialize)]
struct TagJson {
    id: i64,
    name: String,
}

/// An assignee as [`contact_with_links_select!`] writes it.
#[derive(serde::Deserialize)]
struct UserJson {
    id: i64,
    account_id: i64,
    email: String,
    first_name: String,
    last_name: String,
    date_joined: DateTime<Utc>,
}

/// Reads one contact of `account_id` with its tags and assignees in one
/// statement, outside any transaction: the statement's snapshot covers the
/// row and its links.
pub(super) async fn read_contact<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    account_id: i64,
    key: ContactKey<'_>,
) -> Result<Option<Contact>, QueryError> {
    let query = match key {
        ContactKey::Phone(phone) => {
            sqlx::query(contact_with_links_select!("c.canonical_phone = $2"))
                .bind(account_id)
                .bind(phone)
        }
        ContactKey::Id(id) => sqlx::query(contact_with_links_select!("c.id = $2"))
            .bind(account_id)
            .bind(id),
    };
    let Some(row) = query.fetch_optional(executor).await? else {
        return Ok(None);
    };
    let mut contact = contact_from_row(&row)?;
    let links =
        |e: sqlx::Error| StoreError::internal(format!("links of contact {}: {e}", contact.id));
    let Json(tags): Json<Vec<TagJson>> = row.try_get("tags").map_err(links)?;
    let Json(users): Json<Vec<UserJson>> = row.try_get("assignees").map_err(links)?;
    contact.tags = tags
        .into_iter()
        .map(|t| Tag {
            id: t.id,
            name: t.name,
        })
        .collect();
    contact.default_assignees = users
        .into_iter()
        .map(|u| User {
            id: u.id,
            account_id: u.account_id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            date_joined: u.date_joined,
        })
        .collect();
    Ok(Some(contact))
}

/// A contact row as a contact without tags or assignees.
pub(super) fn contact_from_row(row: &PgRow) -> Result<Contact, QueryError> {
    let id: Uuid = row.try_get("id")?;
    let Json(meta): Json<BTreeMap<String, String>> = row
        .try_get("meta")
        .map_err(|e| StoreError::internal(format!("stored meta of contact {id}: {e}")))?;
    Ok(Contact {
        id,
        account_id: row.try_get("account_id")?,
        phone: row.try_get("phone")?,
        canonical_phone: row.try_get("canonical_phone")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        external_url: row.try_get("external_url")?,
        meta,
        source: row.try_get("source")?,
        created_by: row.try_get("created_by")?,
        created_on: row.try_get("created_on")?,
        last_updated_on: row.try_get("last_updated_on")?,
        tags: Vec::new(),
        default_assignees: Vec::new(),
    })
}

pub(super) fn tag_from_row(row: &PgRow) -> Result<Tag, sqlx::Error> {
    Ok(Tag {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        date_joined: row.try_get("date_joined")?,
    })
}

async fn contact_tags(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Tag>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id \
         WHERE ct.contact_id = $1 ORDER BY ct.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(tag_from_row).collect()
}

async fn contact_assignees(conn: &mut PgConnection, id: Uuid) -> Result<Vec<User>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, u.account_id, u.email, u.first_name, u.last_name, u.date_joined \
         FROM contact_assignees ca JOIN users u ON u.id = ca.user_id \
         WHERE ca.contact_id = $1 ORDER BY ca.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// Those of `ids` that are users of `account_id`.
pub(super) async fn users_in(
    conn: &mut PgConnection,
    account_id: i64,
    ids: &[i64],
) -> Result<Vec<User>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT id, account_id, email, first_name, last_name, date_joined FROM users \
         WHERE account_id = $1 AND id = ANY($2)",
    )
    .bind(account_id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

async fn tags_with_keys(
    conn: &mut PgConnection,
    account_id: i64,
    keys: &[String],
) -> Result<Vec<Tag>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT id, name FROM tags WHERE account_id = $1 AND name_key = ANY($2)")
            .bind(account_id)
            .bind(keys)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(tag_from_row).collect()
}

/// The account's tags matching `names`, creating the missing ones, in the
/// order of `names` without case-insensitive repeats (as
/// [`crate::domain::resolve_tag_names`] orders them).
///
/// Race-free across processes: a missing tag is inserted with
/// `ON CONFLICT DO NOTHING`, which waits for a concurrent inserter of the
/// same name and then yields to it, and the tags are read back afterwards.
/// Inserts go in `name_key` order, so two transactions that both create
/// tags wait on each other in one direction only and cannot deadlock.
pub(super) async fn resolve_tags(
    conn: &mut PgConnection,
    account_id: i64,
    names: &[String],
) -> Result<Vec<Tag>, QueryError> {
    let wanted: Vec<(String, String)> = dedup_tag_names(names)
        .into_iter()
        .map(|name| (tag_key(&name), name))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = wanted.iter().map(|(key, _)| key.clone()).collect();
    let mut known = tags_with_keys(conn, account_id, &keys).await?;
    let mut missing: Vec<&(String, String)> = wanted
        .iter()
        .filter(|(key, _)| !known.iter().any(|t| tag_key(&t.name) == *key))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        for (key, name) in missing {
            sqlx::query(
                "INSERT INTO tags (account_id, name, name_key) VALUES ($1, $2, $3) \
                 ON CONFLICT ON CONSTRAINT tags_account_name_key DO NOTHING",
            )
            .bind(account_id)
            .bind(name)
            .bind(key)
            .execute(&mut *conn)
            .await?;
        }
        // A new statement sees tags that concurrent transactions committed
        // while our inserts waited for them.
        known = tags_with_keys(conn, account_id, &keys).await?;
    }
    wanted
        .iter()
        .map(|(key, name)| {
            known
                .iter()
                .find(|t| tag_key(&t.name) == *key)
                .cloned()
                .ok_or_else(|| {
                    QueryError::Store(StoreError::internal(format!(
                        "tag {name:?} missing right after it was created"
                    )))
                })
        })
        .collect()
}

/// Whether a contact of `account_id` has this canonical phone.
pub(super) async fn phone_exists(
    conn: &mut PgConnection,
    account_id: i64,
    canonical_phone: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = $1 AND canonical_phone = $2)",
    )
    .bind(account_id)
    .bind(canonical_phone)
    .fetch_one(&mut *conn)
    .await
}

/// Whether a contact of `account_id` has this id (a plain read, no lock).
pub(super) async fn contact_exists(
    conn: &mut PgConnection,
    account_id: i64,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = $1 AND id = $2)")
        .bind(account_id)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
}

/// Whether any contact (in any account) has this id.
pub(super) async fn contact_id_exists(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1)")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
}

/// Inserts a new contact row (not its tags or assignees) unless the account
/// already has one with this phone; `false` when it did.
///
/// A concurrent insert of the same phone makes this wait for that
/// transaction and then report `false`. Another unique violation (the id)
/// is returned as an error.
pub(super) async fn insert_contact(
    conn: &mut PgConnection,
    c: &Contact,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO contacts (id, account_id, phone, canonical_phone, first_name, last_name, \
         email, external_url, meta, source, created_by, created_on, last_updated_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT ON CONSTRAINT contacts_account_phone_key DO NOTHING",
    )
    .bind(c.id)
    .bind(c.account_id)
    .bind(&c.phone)
    .bind(&c.canonical_phone)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.external_url)
    .bind(Json(&c.meta))
    .bind(&c.source)
    .bind(c.created_by)
    .bind(c.created_on)
    .bind(c.last_updated_on)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes every column of an existing contact row (locked by the caller).
pub(super) async fn update_contact(
    conn: &mut PgConnection,
    c: &Contact,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE contacts SET phone = $1, canonical_phone = $2, first_name = $3, last_name = $4, \
         email = $5, external_url = $6, meta = $7, source = $8, created_on = $9, \
         last_updated_on = $10 WHERE id = $11",
    )
    .bind(&c.phone)
    .bind(&c.canonical_phone)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.external_url)
    .bind(Json(&c.meta))
    .bind(&c.source)
    .bind(c.created_on)
    .bind(c.last_updated_on)
    .bind(c.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces the contact's tag and assignee links with its current lists,
/// recording their order (0-based, as on SQLite).
pub(super) async fn write_links(
    conn: &mut PgConnection,
    c: &Contact,
    tags: bool,
    assignees: bool,
) -> Result<(), sqlx::Error> {
    if tags {
        let ids: Vec<i64> = c.tags.iter().map(|t| t.id).collect();
        replace_links(
            conn,
            "DELETE FROM contact_tags WHERE contact_id = $1",
            "INSERT INTO contact_tags (contact_id, tag_id, position) \
             SELECT $1, link.id, link.ord - 1 FROM UNNEST($2::BIGINT[]) WITH ORDINALITY AS link (id, ord)",
            c.id,
            &ids,
        )
        .await?;
    }
    if assignees {
        let ids: Vec<i64> = c.default_assignees.iter().map(|u| u.id).collect();
        replace_links(
            conn,
            "DELETE FROM contact_assignees WHERE contact_id = $1",
            "INSERT INTO contact_assignees (contact_id, user_id, position) \
             SELECT $1, link.id, link.ord - 1 FROM UNNEST($2::BIGINT[]) WITH ORDINALITY AS link (id, ord)",
            c.id,
            &ids,
        )
        .await?;
    }
    Ok(())
}

/// Runs `delete` for the contact, then `insert` with `ids` in their order.
async fn replace_links(
    conn: &mut PgConnection,
    delete: &'static str,
    insert: &'static str,
    contact_id: Uuid,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(delete)
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(insert)
        .bind(contact_id)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores a new API key for `user_id` and returns the key.
pub(super) async fn insert_token(
    conn: &mut PgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<String, QueryError> {
    let key = generate_token_key()?;
    sqlx::query("INSERT INTO tokens (key_hash, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(hash_token_key(&key))
        .bind(user_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(key)
}

/// Inserts an account and returns its id.
pub(super) async fn insert_account(
    conn: &mut PgConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
}

/// Inserts a user; the raw error lets callers spot a taken email.
pub(super) async fn insert_user(
    conn: &mut PgConnection,
    account_id: i64,
    email: &str,
    first_name: &str,
    last_name: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (account_id, email, first_name, last_name, date_joined) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(account_id)
    .bind(email)
    .bind(first_name)
    .bind(last_name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}
