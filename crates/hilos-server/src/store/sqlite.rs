//! The embedded SQLite store.
//!
//! Contact writes (upsert, update, delete) go to the writer thread, which
//! group-commits them ([`writer`]). Administrative writes (accounts, users,
//! tokens) and migrations use a one-connection sqlx pool. Every write
//! transaction starts with `BEGIN IMMEDIATE`, so another writer (in this
//! process or another on the same file) waits on the lock (busy timeout)
//! instead of deadlocking on a read-to-write upgrade. Reads use a separate
//! read-only pool, which WAL lets run beside the writers.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::domain::{
    Contact, ContactChange, ContactPage, ContactSearch, ContactUpdate, Principal, UpdateError,
    UpsertOutcome, User,
};
use crate::store::{
    hash_token_key, map_migrate_error, map_sqlx_error, unique_violation_as_none, AdminError,
    ContactStore, Durability, StoreError, UpsertError, BOOTSTRAP_ACCOUNT, BOOTSTRAP_EMAIL,
    BOOTSTRAP_FIRST_NAME,
};

mod checkpointer;
mod inline;
mod list;
mod queries;
mod sync_queries;
mod wal_sync;
mod writer;

use inline::InlineReaders;
use queries::{micros, ContactKey};
pub use writer::{GroupCommit, BATCH_BUCKETS};
use writer::{Writer, WriterTarget};

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a pooled connection before it is a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read connections; reads are short, so a few cover a small machine.
const READERS: u32 = 4;

/// SQLite-backed [`ContactStore`]. Cheap to clone: the pools are shared.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Migrations and administrative writes.
    writer: SqlitePool,
    reader: SqlitePool,
    /// Contact writes, group-committed.
    writer_thread: Writer,
    /// Token lookups in place.
    inline: Arc<InlineReaders>,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database at `url`,
    /// e.g. `sqlite://hilos.db` or `sqlite::memory:`.
    ///
    /// Sets WAL, durable writes (see [`Durability::Durable`]), foreign keys
    /// and a busy timeout.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Durability::Durable, GroupCommit::default()).await
    }

    /// [`SqliteStore::connect`] with a choice of durability (`Relaxed` is
    /// `synchronous=NORMAL`, which in WAL mode syncs only at checkpoints)
    /// and of group-commit bounds.
    pub async fn connect_with(
        url: &str,
        durability: Durability,
        group_commit: GroupCommit,
    ) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut base = SqliteConnectOptions::from_str(url)
            .map_err(map_sqlx_error)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // An in-memory database lives in its connections; the writer
        // thread's connection must reach the same one, so it becomes a
        // named shared-cache database that every connection opens.
        let memory_uri = in_memory.then(|| {
            let uri = format!(
                "file:hilos-memory-{}?mode=memory&cache=shared",
                Uuid::new_v4()
            );
            base = base.clone().filename(&uri).shared_cache(true);
            uri
        });
        let mut write_options =
            base.clone()
                .create_if_missing(true)
                .synchronous(match durability {
                    Durability::Durable => SqliteSynchronous::Full,
                    Durability::Relaxed => SqliteSynchronous::Normal,
                });
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
        let target = match &memory_uri {
            Some(uri) => WriterTarget {
                path: uri.into(),
                uri: true,
                durability,
                busy_timeout: BUSY_TIMEOUT,
            },
            None => WriterTarget {
                path: base.get_filename().to_owned(),
                uri: false,
                durability,
                busy_timeout: BUSY_TIMEOUT,
            },
        };
        let writer_thread = Writer::start(&target, group_commit)?;
        let inline = Arc::new(InlineReaders::open(&target)?);
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
        Ok(Self {
            writer,
            reader,
            writer_thread,
            inline,
        })
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
        if let Some(found) = self.inline.contact(account_id, key) {
            return Ok(found);
        }
        // A read transaction gives one snapshot across the three queries.
        let mut tx = self.reader.begin().await.map_err(map_sqlx_error)?;
        let found = queries::load_contact(&mut tx, account_id, key).await?;
        tx.rollback().await.map_err(map_sqlx_error)?;
        Ok(found)
    }

    /// [`ContactStore::principal_for_token`] through the async pool.
    async fn principal_for_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        sqlx::query_as(queries::sql::PRINCIPAL_FOR_KEY_HASH)
            .bind(key_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_sqlx_error)
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
}

impl ContactStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(drop)
            .map_err(map_sqlx_error)
    }

    fn commit_batches(&self) -> Option<super::BatchSizes> {
        Some(self.writer_thread.stats())
    }

    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats::of(&self.writer).plus(super::PoolStats::of(&self.reader))
    }

    async fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        self.writer_thread.upsert(*who, change).await
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
        self.writer_thread.update(*who, id, update).await
    }

    async fn delete_contact(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        self.writer_thread.delete(account_id, id).await
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
        let key_hash = hash_token_key(key);
        let row = match self.inline.principal_for_key_hash(&key_hash) {
            Some(row) => row,
            None => self.principal_for_key_hash(&key_hash).await?,
        };
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
