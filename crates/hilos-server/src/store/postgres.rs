//! The PostgreSQL store, for several server processes sharing one database.
//!
//! An upsert is one READ COMMITTED transaction that serialises on the
//! contact's row, so it is atomic across processes:
//!
//! 1. the assignees are checked and the tags resolved, creating missing tags
//!    with `INSERT … ON CONFLICT DO NOTHING` in `name_key` order;
//! 2. the contact is locked with `SELECT … FOR UPDATE`, or, when there is
//!    none, inserted with `INSERT … ON CONFLICT (account_id,
//!    canonical_phone) DO NOTHING`; losing that race means waiting for the
//!    winner's commit and then locking its row;
//! 3. the pure domain merge runs on the locked row (meta, tags, assignees)
//!    and the result is written back.
//!
//! Tags are only ever waited for before a contact lock is taken, and tags
//! are taken in one global order, so the waits cannot form a cycle. Should
//! PostgreSQL still report a deadlock or a serialization failure, or a
//! connection fail before the commit, the whole transaction runs again
//! after a short jittered backoff.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::{
    apply_change, apply_update, check_update_id, new_contact, resolve_users, truncate_micros,
    Contact, ContactChange, ContactPage, ContactSearch, ContactUpdate, Principal, Resolved,
    UpdateError, UpsertOutcome, User,
};
use crate::store::{
    hash_token_key, is_unique_violation, map_migrate_error, map_sqlx_error, AdminError,
    ContactStore, Durability, StoreError, UpsertError, BOOTSTRAP_ACCOUNT, BOOTSTRAP_EMAIL,
    BOOTSTRAP_FIRST_NAME,
};

mod list;
mod queries;
mod retry;

use queries::{ContactKey, QueryError};
use retry::Stop;

/// Pool size when the caller does not choose one.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a pooled connection (including opening a
/// new one) before it fails as [`StoreError::Unavailable`]: with PostgreSQL
/// down, requests answer 503 within this time instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// `application_name` the server's sessions show in `pg_stat_activity`,
/// unless the URL sets one.
const APPLICATION_NAME: &str = "hilos-server";

/// PostgreSQL-backed [`ContactStore`]. Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) with a pool of
    /// at most `max_connections`, and applies the embedded migrations.
    ///
    /// Migrations take an advisory lock, so processes starting together are
    /// safe. Connections are checked before each use, so the pool recovers
    /// by itself once an unreachable or restarted server is back.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, Durability::Durable).await
    }

    /// [`PostgresStore::connect`] with a choice of durability: `Relaxed`
    /// sets `synchronous_commit=off` on the store's sessions.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url).map_err(map_sqlx_error)?;
        if options.get_application_name().is_none() {
            options = options.application_name(APPLICATION_NAME);
        }
        if options.get_options().is_none() {
            // NOTICEs ("relation _sqlx_migrations already exists, skipping"
            // on every start) are noise in the server's log.
            options = options.options([("client_min_messages", "warning")]);
        }
        if durability == Durability::Relaxed {
            options = options.options([("synchronous_commit", "off")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(map_sqlx_error)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(map_migrate_error)?;
        Ok(Self { pool })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn read_contact(
        &self,
        account_id: i64,
        key: ContactKey<'_>,
    ) -> Result<Option<Contact>, StoreError> {
        queries::read_contact(&self.pool, account_id, key)
            .await
            .map_err(store_error)
    }

    /// A read-only transaction on one snapshot.
    async fn begin_read(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(map_sqlx_error)
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements
    /// [`ContactStore::list_contacts`] runs for these arguments, with the
    /// same settings: a diagnostic for operators and the list benchmark.
    pub async fn explain_list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<String, StoreError> {
        let search = ContactSearch::parse(search);
        let mut tx = self.begin_read().await?;
        let plan = list::explain_list_contacts(&mut tx, account_id, search.as_ref(), offset, limit)
            .await
            .map_err(map_sqlx_error)?;
        tx.rollback().await.map_err(map_sqlx_error)?;
        Ok(plan)
    }

    /// One partial-update transaction, from `BEGIN` to `COMMIT`.
    async fn try_update(
        &self,
        who: &Principal,
        id: Uuid,
        update: &ContactUpdate,
    ) -> Result<Contact, Stop<UpdateError>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        let contact = update_in(&mut tx, who, id, update).await?;
        tx.commit().await.map_err(Stop::at_commit)?;
        Ok(contact)
    }

    /// One delete transaction; `false` when there was nothing to delete.
    async fn try_delete(&self, account_id: i64, id: Uuid) -> Result<bool, Stop<StoreError>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM contacts WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(Stop::at_commit)?;
        Ok(done.rows_affected() > 0)
    }

    /// One upsert transaction, from `BEGIN` to `COMMIT`.
    async fn try_upsert(
        &self,
        who: &Principal,
        change: &ContactChange,
    ) -> Result<UpsertOutcome, Stop> {
        // READ COMMITTED whatever the server's default: each statement after
        // a lock wait must see what the lock holder committed.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        let outcome = upsert_in(&mut tx, who, change).await?;
        tx.commit().await.map_err(Stop::at_commit)?;
        Ok(outcome)
    }
}

fn store_error(err: QueryError) -> StoreError {
    match err {
        QueryError::Sql(e) => map_sqlx_error(e),
        QueryError::Store(e) => e,
    }
}

/// The statements of one upsert, inside the caller's transaction.
async fn upsert_in(
    tx: &mut Transaction<'static, Postgres>,
    who: &Principal,
    change: &ContactChange,
) -> Result<UpsertOutcome, Stop> {
    let assignees = match &change.default_assignees {
        Some(ids) => {
            let found = queries::users_in(tx, who.account_id, ids).await?;
            Some(resolve_users(ids, &found).map_err(UpsertError::UnknownAssignees)?)
        }
        None => None,
    };
    // Tags before the contact lock: see the module docs.
    let tags = match &change.tags {
        Some(names) => Some(queries::resolve_tags(tx, who.account_id, names).await?),
        None => None,
    };
    let resolved = Resolved { tags, assignees };
    let by_phone = ContactKey::Phone(&change.canonical_phone);
    let locked = queries::lock_contact(tx, who.account_id, by_phone).await?;
    let mut contact = match locked {
        Some(contact) => contact,
        None => {
            if let Some(id) = change.id {
                if queries::contact_id_exists(tx, id).await? {
                    return Err(UpsertError::IdTaken.into());
                }
            }
            let contact = new_contact(who, change, resolved.clone(), now());
            match queries::insert_contact(tx, &contact).await {
                Ok(true) => {
                    queries::write_links(tx, &contact, true, true).await?;
                    return Ok(UpsertOutcome::Created(contact));
                }
                // Another transaction created this phone and has committed:
                // lock its row and merge into it.
                Ok(false) => queries::lock_contact(tx, who.account_id, by_phone)
                    .await?
                    .ok_or_else(|| Stop::conflict("contact vanished after an insert conflict"))?,
                // The id was taken meanwhile (the phone was free): running
                // again answers IdTaken, or merges if the phone now exists.
                Err(e) if is_unique_violation(&e) => {
                    return Err(Stop::conflict(format!("contact insert: {e}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    apply_change(&mut contact, change, resolved, now())?;
    queries::update_contact(tx, &contact).await?;
    queries::write_links(
        tx,
        &contact,
        change.tags.is_some(),
        change.default_assignees.is_some(),
    )
    .await?;
    Ok(UpsertOutcome::Updated(contact))
}

/// The statements of one partial update, inside the caller's transaction.
async fn update_in(
    tx: &mut Transaction<'static, Postgres>,
    who: &Principal,
    id: Uuid,
    update: &ContactUpdate,
) -> Result<Contact, Stop<UpdateError>> {
    // Refuse an unknown id before creating any tag.
    if !queries::contact_exists(tx, who.account_id, id).await? {
        return Err(UpdateError::NotFound.into());
    }
    check_update_id(update, id)?;
    let assignees = match &update.default_assignees {
        Some(ids) => {
            let found = queries::users_in(tx, who.account_id, ids).await?;
            Some(resolve_users(ids, &found).map_err(UpdateError::UnknownAssignees)?)
        }
        None => None,
    };
    // Tags before the contact lock: see the module docs.
    let tags = match &update.tags {
        Some(names) => Some(queries::resolve_tags(tx, who.account_id, names).await?),
        None => None,
    };
    let mut contact = queries::lock_contact(tx, who.account_id, ContactKey::Id(id))
        .await?
        // Deleted since the check.
        .ok_or(UpdateError::NotFound)?;
    if let Some(phone) = update.new_canonical_phone(&contact) {
        if queries::phone_exists(tx, who.account_id, phone).await? {
            return Err(UpdateError::PhoneTaken.into());
        }
    }
    apply_update(&mut contact, update, Resolved { tags, assignees }, now())?;
    match queries::update_contact(tx, &contact).await {
        Ok(()) => {}
        // Another transaction took the phone since the check.
        Err(e) if is_unique_violation(&e) => return Err(UpdateError::PhoneTaken.into()),
        Err(e) => return Err(e.into()),
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

impl ContactStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(map_sqlx_error)
    }

    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats::of(&self.pool)
    }

    async fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        retry::with_retries("contact upsert", || self.try_upsert(who, &change)).await
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
        let mut tx = self.begin_read().await?;
        let page = list::list_contacts(&mut tx, account_id, search.as_ref(), offset, limit)
            .await
            .map_err(store_error)?;
        tx.rollback().await.map_err(map_sqlx_error)?;
        Ok(page)
    }

    async fn update_contact(
        &self,
        who: &Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        retry::with_retries("contact update", || self.try_update(who, id, &update)).await
    }

    async fn delete_contact(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        retry::with_retries("contact delete", || self.try_delete(account_id, id)).await
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
             WHERE t.key_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash_token_key(key))
        .fetch_optional(&self.pool)
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
        let mut conn = self.pool.acquire().await.map_err(map_sqlx_error)?;
        queries::users_in(&mut conn, account_id, ids)
            .await
            .map_err(map_sqlx_error)
    }

    async fn create_account(&self, name: &str) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx_error)?;
        queries::insert_account(&mut conn, name, now())
            .await
            .map_err(map_sqlx_error)
    }

    async fn create_user(
        &self,
        account_id: i64,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<i64, AdminError> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)")
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
        if !exists {
            return Err(AdminError::AccountNotFound(account_id));
        }
        let id =
            match queries::insert_user(&mut tx, account_id, email, first_name, last_name, now())
                .await
            {
                Ok(id) => id,
                Err(e) if is_unique_violation(&e) => {
                    return Err(AdminError::EmailTaken(email.to_owned()))
                }
                Err(e) => return Err(map_sqlx_error(e).into()),
            };
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(id)
    }

    async fn create_token(&self, user_email: &str) -> Result<String, AdminError> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE hilos_ascii_lower(email) = hilos_ascii_lower($1)",
        )
        .bind(user_email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
        let user_id = user_id.ok_or_else(|| AdminError::UserNotFound(user_email.to_owned()))?;
        let key = queries::insert_token(&mut tx, user_id, now())
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(key)
    }

    async fn revoke_token(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE key_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(hash_token_key(key))
        .execute(&self.pool)
        .await
        .map_err(map_sqlx_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn bootstrap_if_empty(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        // Blocks concurrent inserts of accounts (and other bootstraps) until
        // we commit, so two processes starting together cannot both
        // bootstrap; plain reads go on.
        sqlx::query("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts)")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        if any {
            return Ok(None);
        }
        let now = now();
        let account_id = queries::insert_account(&mut tx, BOOTSTRAP_ACCOUNT, now)
            .await
            .map_err(map_sqlx_error)?;
        let user_id = queries::insert_user(
            &mut tx,
            account_id,
            BOOTSTRAP_EMAIL,
            BOOTSTRAP_FIRST_NAME,
            "",
            now,
        )
        .await
        .map_err(map_sqlx_error)?;
        let key = queries::insert_token(&mut tx, user_id, now)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(Some(key))
    }
}
