//! Shared set-up for the store tests: a fresh database per test, on each
//! backend.

#![allow(dead_code)] // each test binary uses a different subset

pub mod backend;
pub mod leaks;
pub mod process;
pub mod raw_http;
pub mod relay;

use backend::{Backend, TestDb};
use hilos_server::domain::{ContactChange, Principal};
use hilos_server::store::{AnyStore, ContactStore};

/// A store on a new database; the database lives as long as the fixture.
pub struct Fixture {
    pub store: AnyStore,
    pub db: TestDb,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        let db = backend.fresh_db().await;
        let store = db.store().await;
        Self { store, db }
    }

    /// A new account with one user, as that user's principal.
    pub async fn principal(&self, email: &str) -> Principal {
        principal(&self.store, email).await
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
        self.db.count(sql).await
    }
}

/// A new account with one user on `store`, as that user's principal.
pub async fn principal(store: &impl ContactStore, email: &str) -> Principal {
    let account_id = store
        .create_account(&format!("acct {email}"))
        .await
        .expect("account");
    let user_id = store
        .create_user(account_id, email, "First", "Last")
        .await
        .expect("user");
    Principal {
        account_id,
        user_id,
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
