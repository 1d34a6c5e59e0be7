//! Shared set-up for the SQLite store tests: a fresh database file per test.

#![allow(dead_code)] // each test binary uses a different subset

pub mod backend;

use hilos_server::domain::{ContactChange, Principal};
use hilos_server::store::{ContactStore, SqliteStore};
use tempfile::TempDir;

/// A store on a new file, with its directory kept alive by the test.
pub struct Fixture {
    pub dir: TempDir,
    pub url: String,
    pub store: SqliteStore,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        Self { dir, url, store }
    }

    /// A new account with one user, as that user's principal.
    pub async fn principal(&self, email: &str) -> Principal {
        let account_id = self
            .store
            .create_account(&format!("acct {email}"))
            .await
            .expect("account");
        self.member(account_id, email).await
    }

    /// Another user in an existing account.
    pub async fn member(&self, account_id: i64, email: &str) -> Principal {
        let user_id = self
            .store
            .create_user(account_id, email, "First", "Last")
            .await
            .expect("user");
        Principal {
            account_id,
            user_id,
        }
    }

    /// Counts rows with a raw connection, independent of the store's code.
    pub async fn count(&self, sql: &'static str) -> i64 {
        let pool = sqlx::SqlitePool::connect(&self.url)
            .await
            .expect("raw pool");
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    }
}

/// A change for a Mexican number with nothing else set.
pub fn change(phone: &str, canonical: &str) -> ContactChange {
    ContactChange {
        phone: phone.to_owned(),
        canonical_phone: canonical.to_owned(),
        ..ContactChange::default()
    }
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub const MX: &str = "+525512345678";
