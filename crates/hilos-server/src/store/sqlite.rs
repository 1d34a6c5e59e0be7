//! The embedded SQLite store.
//!
//! All writes go through one pooled connection and start with
//! `BEGIN IMMEDIATE`: writes are serialised in this process, and another
//! process on the same file waits on the lock (busy timeout) instead of
//! deadlocking on a read-to-write upgrade. Reads use a separate read-only
//! pool, which WAL lets run beside the writer.

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::domain::{
    apply_change, apply_update, check_update_id, new_contact, resolve_users, Contact,
    ContactChange, ContactPage, ContactSearch, ContactUpdate, Principal, Resolved, UpdateError,
    UpsertOutcome, User,
};
use crate::store::{
    hash_token_key, is_unique_violation, map_migrate_error, map_sqlx_error,
    unique_violation_as_none, AdminError, ContactStore, StoreError, UpsertError, BOOTSTRAP_ACCOUNT,
    BOOTSTRAP_EMAIL, BOOTSTRAP_FIRST_NAME,
};

mod list;
mod queries;

use queries::{micros, ContactKey};

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a pooled connection before it is a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read connections; reads are short, so a few cover a small machine.
const READERS: u32 = 4;
/// Upsert attempts when an insert still meets a unique violation (only
/// possible if something outside this store wrote between our statements).
const UPSERT_ATTEMPTS: usize = 3;

/// SQLite-backed [`ContactStore`]. Cheap to clone: the pools are shared.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database at `url`,
    /// e.g. `sqlite://hilos.db` or `sqlite::memory:`.
    ///
    /// Sets WAL, `synchronous=FULL`, foreign keys and a busy timeout.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // An in-memory database lives in its connections, so reads must
        // share the writer's one connection to see the same data.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(url)
            .map_err(map_sqlx_error)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut write_options = base
            .clone()
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Full);
        if !in_memory {
            write_options = write_options.journal_mode(SqliteJournalMode::Wal);
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(write_options)
            .await
            .map_err(map_sqlx_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(map_migrate_error)?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(base.read_only(true))
                .await
                .map_err(map_sqlx_error)?
        };
        Ok(Self { writer, reader })
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_sqlx_error)
    }

    async fn read_contact(
        &self,
        account_id: i64,
        key: ContactKey<'_>,
    ) -> Result<Option<Contact>, StoreError> {
        // A read transaction gives one snapshot across the three queries.
        let mut tx = self.reader.begin().await.map_err(map_sqlx_error)?;
        let found = queries::load_contact(&mut tx, account_id, key).await?;
        tx.rollback().await.map_err(map_sqlx_error)?;
        Ok(found)
    }

    /// `EXPLAIN QUERY PLAN` of the queries [`ContactStore::list_contacts`]
    /// runs for these arguments, one line per plan step: a diagnostic for
    /// operators and the list benchmark.
    pub async fn explain_list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<String, StoreError> {
        let search = ContactSearch::parse(search);
        let mut conn = self.reader.acquire().await.map_err(map_sqlx_error)?;
        list::explain_list_contacts(&mut conn, account_id, search.as_ref(), offset, limit).await
    }

    /// A partial update inside the caller's write transaction.
    async fn update_in(
        tx: &mut Transaction<'static, Sqlite>,
        who: &Principal,
        id: Uuid,
        update: &ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        let mut contact = queries::load_contact(tx, who.account_id, ContactKey::Id(id))
            .await?
            .ok_or(UpdateError::NotFound)?;
        // Refusals in the order PostgreSQL meets them: unknown id, other id,
        // unknown assignees, taken phone.
        check_update_id(update, id)?;
        let assignees = match &update.default_assignees {
            Some(ids) => {
                let found = queries::users_in(tx, who.account_id, ids).await?;
                Some(resolve_users(ids, &found).map_err(UpdateError::UnknownAssignees)?)
            }
            None => None,
        };
        if let Some(phone) = update.new_canonical_phone(&contact) {
            if queries::phone_exists(tx, who.account_id, phone).await? {
                return Err(UpdateError::PhoneTaken);
            }
        }
        let tags = match &update.tags {
            Some(names) => Some(queries::resolve_tags(tx, who.account_id, names).await?),
            None => None,
        };
        let resolved = Resolved { tags, assignees };
        apply_update(&mut contact, update, resolved, Utc::now())?;
        match queries::update_contact_row(tx, &contact).await? {
            Ok(()) => {}
            // Only another writer of the file could have taken the phone
            // since the check; the answer is the same.
            Err(e) if is_unique_violation(&e) => return Err(UpdateError::PhoneTaken),
            Err(e) => return Err(map_sqlx_error(e).into()),
        }
        queries::write_links(
            tx,
            &contact,
            update.tags.is_some(),
            update.default_assignees.is_some(),
        )
        .await?;
        Ok(contact)
    }

    /// One upsert attempt; `Ok(None)` means the insert met a unique
    /// violation and the whole read-modify-write should run again.
    async fn try_upsert(
        &self,
        who: &Principal,
        change: &ContactChange,
    ) -> Result<Option<UpsertOutcome>, UpsertError> {
        let mut tx = self.begin_write().await?;
        let existing = queries::load_contact(
            &mut tx,
            who.account_id,
            ContactKey::Phone(&change.canonical_phone),
        )
        .await?;
        let assignees = match &change.default_assignees {
            Some(ids) => {
                let found = queries::users_in(&mut tx, who.account_id, ids).await?;
                Some(resolve_users(ids, &found).map_err(UpsertError::UnknownAssignees)?)
            }
            None => None,
        };
        let tags = match &change.tags {
            Some(names) => Some(queries::resolve_tags(&mut tx, who.account_id, names).await?),
            None => None,
        };
        let resolved = Resolved { tags, assignees };
        let now = Utc::now();
        let outcome = match existing {
            Some(mut contact) => {
                apply_change(&mut contact, change, resolved, now)?;
                queries::update_contact(&mut tx, &contact).await?;
                queries::write_links(
                    &mut tx,
                    &contact,
                    change.tags.is_some(),
                    change.default_assignees.is_some(),
                )
                .await?;
                UpsertOutcome::Updated(contact)
            }
            None => {
                if let Some(id) = change.id {
                    if queries::contact_id_exists(&mut tx, id).await? {
                        return Err(UpsertError::IdTaken);
                    }
                }
                let contact = new_contact(who, change, resolved, now);
                let inserted = queries::insert_contact(&mut tx, &contact).await?;
                if unique_violation_as_none(inserted)
                    .map_err(map_sqlx_error)?
                    .is_none()
                {
                    return Ok(None);
                }
                queries::write_links(&mut tx, &contact, true, true).await?;
                UpsertOutcome::Created(contact)
            }
        };
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(Some(outcome))
    }
}

impl ContactStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(drop)
            .map_err(map_sqlx_error)
    }

    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats::of(&self.writer).plus(super::PoolStats::of(&self.reader))
    }

    async fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        for attempt in 1..=UPSERT_ATTEMPTS {
            if let Some(outcome) = self.try_upsert(who, &change).await? {
                return Ok(outcome);
            }
            tracing::warn!(
                attempt,
                "contact insert met a unique violation; retrying upsert"
            );
        }
        Err(StoreError::internal("contact upsert kept meeting unique violations").into())
    }

    async fn get_contact(&self, account_id: i64, id: Uuid) -> Result<Option<Contact>, StoreError> {
        self.read_contact(account_id, ContactKey::Id(id)).await
    }

    async fn list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<ContactPage, StoreError> {
        let search = ContactSearch::parse(search);
        // One snapshot for the count and the page.
        let mut tx = self.reader.begin().await.map_err(map_sqlx_error)?;
        let page = list::list_contacts(&mut tx, account_id, search.as_ref(), offset, limit).await?;
        tx.rollback().await.map_err(map_sqlx_error)?;
        Ok(page)
    }

    async fn update_contact(
        &self,
        who: &Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        let mut tx = self.begin_write().await?;
        let contact = Self::update_in(&mut tx, who, id, &update).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(contact)
    }

    async fn delete_contact(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        let id = id.hyphenated().to_string();
        let mut tx = self.begin_write().await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = ? AND id = ?)",
        )
        .bind(account_id)
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
        if !exists {
            return Ok(false);
        }
        // The links go explicitly, not only by ON DELETE CASCADE, so a
        // connection opened without foreign keys cannot leave them behind.
        // The search index follows by trigger.
        for sql in [
            "DELETE FROM contact_tags WHERE contact_id = ?",
            "DELETE FROM contact_assignees WHERE contact_id = ?",
            "DELETE FROM contacts WHERE id = ?",
        ] {
            sqlx::query(sql)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
        }
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(true)
    }

    async fn get_contact_by_phone(
        &self,
        account_id: i64,
        canonical_phone: &str,
    ) -> Result<Option<Contact>, StoreError> {
        self.read_contact(account_id, ContactKey::Phone(canonical_phone))
            .await
    }

    async fn principal_for_token(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT u.account_id, u.id FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.key_hash = ? AND t.revoked_at IS NULL",
        )
        .bind(hash_token_key(key))
        .fetch_optional(&self.reader)
        .await
        .map_err(map_sqlx_error)?;
        Ok(row.map(|(account_id, user_id)| Principal {
            account_id,
            user_id,
        }))
    }

    async fn users_in_account(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<Vec<User>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(map_sqlx_error)?;
        queries::users_in(&mut conn, account_id, ids).await
    }

    async fn create_account(&self, name: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = queries::insert_account(&mut tx, name).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(id)
    }

    async fn create_user(
        &self,
        account_id: i64,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<i64, AdminError> {
        let mut tx = self.begin_write().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?)")
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
        if !exists {
            return Err(AdminError::AccountNotFound(account_id));
        }
        let inserted =
            queries::insert_user(&mut tx, account_id, email, first_name, last_name).await;
        let id = unique_violation_as_none(inserted)
            .map_err(map_sqlx_error)?
            .ok_or_else(|| AdminError::EmailTaken(email.to_owned()))?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(id)
    }

    async fn create_token(&self, user_email: &str) -> Result<String, AdminError> {
        let mut tx = self.begin_write().await?;
        let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
            .bind(user_email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        let user_id = user_id.ok_or_else(|| AdminError::UserNotFound(user_email.to_owned()))?;
        let key = queries::insert_token(&mut tx, user_id, Utc::now()).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(key)
    }

    async fn revoke_token(&self, key: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
        )
        .bind(micros(Utc::now()))
        .bind(hash_token_key(key))
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn bootstrap_if_empty(&self) -> Result<Option<String>, StoreError> {
        // One IMMEDIATE transaction, so two processes starting together on
        // one file cannot both bootstrap.
        let mut tx = self.begin_write().await?;
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts)")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        if any {
            return Ok(None);
        }
        let account_id = queries::insert_account(&mut tx, BOOTSTRAP_ACCOUNT).await?;
        let user_id = queries::insert_user(
            &mut tx,
            account_id,
            BOOTSTRAP_EMAIL,
            BOOTSTRAP_FIRST_NAME,
            "",
        )
        .await
        .map_err(map_sqlx_error)?;
        let key = queries::insert_token(&mut tx, user_id, Utc::now()).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(Some(key))
    }
}
