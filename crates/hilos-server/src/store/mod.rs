//! Storage: the [`ContactStore`] boundary and what every backend shares.
//!
//! A backend applies the pure rules of [`crate::domain`] inside one
//! transaction per upsert; this module holds the trait, API-key handling and
//! the mapping of database errors to [`StoreError`].

use std::future::Future;

use rand::TryRng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use crate::domain::{AdminError, StoreError, UpdateError, UpsertError};
use crate::domain::{
    Contact, ContactChange, ContactPage, ContactUpdate, Principal, UpsertOutcome, User,
};

pub mod any;
pub mod postgres;
pub mod sqlite;

pub use any::{AnyStore, StoreOptions};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Name of the account [`ContactStore::bootstrap_if_empty`] creates.
pub const BOOTSTRAP_ACCOUNT: &str = "Default";
/// Email of the user [`ContactStore::bootstrap_if_empty`] creates.
pub const BOOTSTRAP_EMAIL: &str = "admin@localhost";
/// First name of the bootstrap user.
pub const BOOTSTRAP_FIRST_NAME: &str = "Admin";

/// Everything the server needs from a database.
///
/// Methods return `Send` futures so handlers can run on a multi-threaded
/// runtime; the trait is meant for static dispatch (generics or an enum over
/// backends), not `dyn`.
pub trait ContactStore: Send + Sync + 'static {
    /// Creates or updates the contact with `change.canonical_phone` in the
    /// caller's account, as one atomic read-modify-write.
    ///
    /// Concurrent upserts of one phone make one contact and lose no merge.
    fn upsert_contact(
        &self,
        who: &Principal,
        change: ContactChange,
    ) -> impl Future<Output = Result<UpsertOutcome, UpsertError>> + Send;

    /// The contact with this id in this account.
    fn get_contact(
        &self,
        account_id: i64,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Contact>, StoreError>> + Send;

    /// One page of the account's contacts, newest first (`created_on`
    /// descending, ties by `id` descending), and how many match in all.
    ///
    /// `search` keeps the contacts where the term, trimmed, is a
    /// case-insensitive substring of the first name, last name, email or
    /// external URL, or, when the term is written only with phone
    /// characters, where its digits are a substring of the canonical
    /// phone's digits (`"+52 55"` looks for `5255`). Every character is
    /// literal (`%`, `_` and `\` too); an empty or blank term filters
    /// nothing. See [`crate::domain::ContactSearch`].
    ///
    /// Listed contacts carry their tags in attach order but **no
    /// `default_assignees`** (always empty here): the list form does not
    /// show them. [`ContactStore::get_contact`] has them.
    ///
    /// Terms of 3 or more characters are served by a trigram index, so a
    /// page costs in proportion to the number of matches, not to the size
    /// of the account; shorter terms walk the account in list order. The
    /// count reads every match, so it is proportional to their number.
    fn list_contacts(
        &self,
        account_id: i64,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<ContactPage, StoreError>> + Send;

    /// Partially updates the contact with this id in the caller's account
    /// (`PATCH`), with the merge rules of an upsert, as one atomic
    /// read-modify-write.
    ///
    /// Fails, writing nothing, with the first that applies of
    /// [`UpdateError::NotFound`] (the account has no such contact),
    /// [`UpdateError::IdMismatch`] (`update.id` names another id),
    /// [`UpdateError::UnknownAssignees`], and [`UpdateError::PhoneTaken`]
    /// (another contact of the account has the new canonical phone).
    fn update_contact(
        &self,
        who: &Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> impl Future<Output = Result<Contact, UpdateError>> + Send;

    /// Deletes the contact with this id in this account, with its tag and
    /// assignee links (the account's tags themselves stay); `false` when
    /// the account has no such contact. A later upsert of its phone creates
    /// a new contact with a new id.
    fn delete_contact(
        &self,
        account_id: i64,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The contact with this canonical phone in this account.
    fn get_contact_by_phone(
        &self,
        account_id: i64,
        canonical_phone: &str,
    ) -> impl Future<Output = Result<Option<Contact>, StoreError>> + Send;

    /// The caller a key belongs to; `None` for unknown or revoked keys.
    fn principal_for_token(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Principal>, StoreError>> + Send;

    /// Those of `ids` that are users of `account_id`, in no set order.
    fn users_in_account(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Creates an account and returns its id.
    fn create_account(&self, name: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Creates a user in an existing account and returns its id.
    ///
    /// Fails with [`AdminError::AccountNotFound`] or
    /// [`AdminError::EmailTaken`] (emails are unique across accounts).
    fn create_user(
        &self,
        account_id: i64,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> impl Future<Output = Result<i64, AdminError>> + Send;

    /// Creates an API key for the user with this email and returns it.
    ///
    /// Only its hash is stored: the key cannot be shown again.
    fn create_token(
        &self,
        user_email: &str,
    ) -> impl Future<Output = Result<String, AdminError>> + Send;

    /// Revokes a key at once; `false` if it was unknown or already revoked.
    fn revoke_token(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// On a database without accounts, creates account [`BOOTSTRAP_ACCOUNT`],
    /// user [`BOOTSTRAP_EMAIL`] and a key, and returns the key; otherwise
    /// `None`, so only the very first start prints a key.
    fn bootstrap_if_empty(&self)
        -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Checks that the database answers, for readiness probes.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The connections of the store's pools, for metrics.
    fn pool_stats(&self) -> PoolStats;

    /// How many writes each group commit carried so far, for stores that
    /// group writes into shared transactions (SQLite); `None` otherwise.
    fn commit_batches(&self) -> Option<BatchSizes> {
        None
    }
}

/// Sizes of the transactions a group-committing store ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchSizes {
    /// `(upper bound, transactions of more writes than the previous bound
    /// and at most this many)`, by increasing bound; the last bound is
    /// `u64::MAX` (no bound).
    pub buckets: Vec<(u64, u64)>,
    /// Transactions run.
    pub count: u64,
    /// Writes in all of them.
    pub sum: u64,
}

/// Whether a write is on disk before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// Every acknowledged write is on disk: SQLite syncs the WAL after each
    /// commit and before answering (on a thread of its own, so the next
    /// batch runs meanwhile; `synchronous=FULL` where there is no WAL
    /// file), PostgreSQL waits for its WAL flush (`synchronous_commit` as
    /// the server sets it, `on` by default).
    #[default]
    Durable,
    /// Commits return before the disk has them: SQLite
    /// `synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`. The
    /// database stays consistent, but a power loss or an operating-system
    /// crash can lose the writes of the last moments, though they were
    /// acknowledged. A crash of the server process alone loses nothing.
    Relaxed,
}

/// Connections of a store's pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections handed out.
    pub in_use: u32,
    /// Connections open and waiting.
    pub idle: u32,
}

impl PoolStats {
    /// The counts of one sqlx pool.
    pub fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        Self {
            in_use: pool.size().saturating_sub(idle),
            idle,
        }
    }

    /// Both counts added up, for a store with several pools.
    pub fn plus(self, other: Self) -> Self {
        Self {
            in_use: self.in_use + other.in_use,
            idle: self.idle + other.idle,
        }
    }
}

/// Bytes of randomness in an API key (160 bits, as Django REST Framework).
const TOKEN_BYTES: usize = 20;

/// A new API key: 20 bytes from the OS RNG as 40 lowercase hex characters.
pub fn generate_token_key() -> Result<String, StoreError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Internal(Box::new(e)))?;
    Ok(hex::encode(bytes))
}

/// The stored form of a key: SHA-256, lowercase hex.
///
/// Keys are long random strings, so a fast unsalted hash is enough: a leaked
/// table cannot be turned back into keys, and lookup stays an index probe.
pub fn hash_token_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Maps a sqlx error to [`StoreError`]: connection, pool and I/O trouble,
/// and a busy or locked database, are [`StoreError::Unavailable`].
pub fn map_sqlx_error(err: sqlx::Error) -> StoreError {
    if is_transient(&err) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Internal(Box::new(err))
    }
}

/// Maps a migration failure; a transient database error stays retryable.
pub fn map_migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(inner) => map_sqlx_error(inner),
        other => StoreError::Internal(Box::new(other)),
    }
}

fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            // The code's meaning depends on the driver: SQLite gives numeric
            // result codes, PostgreSQL SQLSTATEs, which can be all digits too.
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                is_transient_sqlite_code(&code)
            } else if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                is_transient_sqlstate(&code)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Whether an SQLite (extended) result code means "try again later".
fn is_transient_sqlite_code(code: &str) -> bool {
    // The primary code is the low byte: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
    code.parse::<i32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Whether a PostgreSQL SQLSTATE means "try again later".
fn is_transient_sqlstate(code: &str) -> bool {
    // Connection exceptions, insufficient resources, shutdown in progress,
    // and serialization failure / deadlock (safe to retry as a whole).
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "40001"
        || code == "40P01"
}

/// Whether `err` is a unique or primary-key violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Turns a unique violation into `Ok(None)`, so the caller can answer with
/// a domain outcome (email taken, id taken, retry) instead of an error.
pub fn unique_violation_as_none<T>(
    result: Result<T, sqlx::Error>,
) -> Result<Option<T>, sqlx::Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_keys_are_40_hex_and_distinct() {
        let a = generate_token_key().expect("os rng");
        let b = generate_token_key().expect("os rng");
        assert_eq!(a.len(), 40);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn transient_codes() {
        for code in ["5", "261", "517", "773", "6", "10", "13", "14"] {
            assert!(is_transient_sqlite_code(code), "{code}");
        }
        for code in ["19", "2067", "1555", "1", "11", "x"] {
            assert!(!is_transient_sqlite_code(code), "{code}");
        }
        for code in ["08006", "08001", "53300", "57P01", "40001", "40P01"] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22001"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn pool_errors_are_unavailable() {
        assert!(map_sqlx_error(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!map_sqlx_error(sqlx::Error::RowNotFound).is_unavailable());
    }
}
