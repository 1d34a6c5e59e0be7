//! [`AnyStore`]: the backend chosen by the database URL at start-up.

use uuid::Uuid;

use super::postgres::DEFAULT_MAX_CONNECTIONS;
use super::sqlite::GroupCommit;
use super::{
    AdminError, ContactStore, Durability, PoolStats, PostgresStore, SqliteStore, StoreError,
    UpdateError, UpsertError,
};
use crate::domain::{
    Contact, ContactChange, ContactPage, ContactUpdate, Principal, UpsertOutcome, User,
};

/// Options that apply to whichever backend the URL selects.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Most connections a pooled backend opens; `None` for its default
    /// (PostgreSQL: 10; SQLite keeps one writer and a few readers).
    pub max_connections: Option<u32>,
    /// Whether an acknowledged write must already be on disk.
    pub durability: Durability,
    /// How the SQLite writer batches contact writes into transactions.
    pub group_commit: GroupCommit,
}

/// One of the supported backends, picked by URL scheme.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// `sqlite://PATH`.
    Sqlite(SqliteStore),
    /// `postgres://…` or `postgresql://…`.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Opens (and migrates) the database named by `url`.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(AnyStore::Sqlite(
                SqliteStore::connect_with(url, options.durability, options.group_commit).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let max_connections = options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
            Ok(AnyStore::Postgres(
                PostgresStore::connect_with(url, max_connections, options.durability).await?,
            ))
        } else {
            // Only the scheme: the rest may hold a password.
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            Err(StoreError::internal(format!(
                "unsupported database URL scheme {scheme:?}: expected sqlite://PATH \
                 or postgres://USER@HOST/DATABASE"
            )))
        }
    }

    /// The plan of the queries [`ContactStore::list_contacts`] runs for
    /// these arguments: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN ANALYZE`
    /// on PostgreSQL. A diagnostic for operators and the list benchmark.
    pub async fn explain_list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<String, StoreError> {
        match self {
            AnyStore::Sqlite(store) => {
                store
                    .explain_list_contacts(account_id, search, offset, limit)
                    .await
            }
            AnyStore::Postgres(store) => {
                store
                    .explain_list_contacts(account_id, search, offset, limit)
                    .await
            }
        }
    }

    /// Closes the backend's connections.
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(store) => store.close().await,
            AnyStore::Postgres(store) => store.close().await,
        }
    }
}

/// Forwards a call to whichever backend is inside.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call.await,
            AnyStore::Postgres($store) => $call.await,
        }
    };
}

impl ContactStore for AnyStore {
    async fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        delegate!(self, s => s.upsert_contact(who, change))
    }

    async fn get_contact(&self, account_id: i64, id: Uuid) -> Result<Option<Contact>, StoreError> {
        delegate!(self, s => s.get_contact(account_id, id))
    }

    async fn list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<ContactPage, StoreError> {
        delegate!(self, s => s.list_contacts(account_id, search, offset, limit))
    }

    async fn update_contact(
        &self,
        who: &Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        delegate!(self, s => s.update_contact(who, id, update))
    }

    async fn delete_contact(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete_contact(account_id, id))
    }

    async fn get_contact_by_phone(
        &self,
        account_id: i64,
        canonical_phone: &str,
    ) -> Result<Option<Contact>, StoreError> {
        delegate!(self, s => s.get_contact_by_phone(account_id, canonical_phone))
    }

    async fn principal_for_token(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        delegate!(self, s => s.principal_for_token(key))
    }

    async fn users_in_account(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<Vec<User>, StoreError> {
        delegate!(self, s => s.users_in_account(account_id, ids))
    }

    async fn create_account(&self, name: &str) -> Result<i64, StoreError> {
        delegate!(self, s => s.create_account(name))
    }

    async fn create_user(
        &self,
        account_id: i64,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<i64, AdminError> {
        delegate!(self, s => s.create_user(account_id, email, first_name, last_name))
    }

    async fn create_token(&self, user_email: &str) -> Result<String, AdminError> {
        delegate!(self, s => s.create_token(user_email))
    }

    async fn revoke_token(&self, key: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.revoke_token(key))
    }

    async fn bootstrap_if_empty(&self) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.bootstrap_if_empty())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.ping())
    }

    fn commit_batches(&self) -> Option<super::BatchSizes> {
        match self {
            AnyStore::Sqlite(s) => s.commit_batches(),
            AnyStore::Postgres(s) => s.commit_batches(),
        }
    }

    fn pool_stats(&self) -> PoolStats {
        match self {
            AnyStore::Sqlite(s) => s.pool_stats(),
            AnyStore::Postgres(s) => s.pool_stats(),
        }
    }
}
