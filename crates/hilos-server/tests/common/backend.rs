//! Fresh databases per test, for every backend the suite runs on.

use hilos_server::store::{AnyStore, StoreOptions};
use tempfile::TempDir;

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A new SQLite file in a temp directory.
    Sqlite,
}

/// A new, empty database that lives as long as this value.
pub struct TestDb {
    /// The URL the server and stores connect to.
    pub url: String,
    /// The backend it is on.
    pub backend: Backend,
    _dir: Option<TempDir>,
}

impl Backend {
    /// A new, empty database on this backend.
    pub async fn fresh_db(self) -> TestDb {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    backend: self,
                    _dir: Some(dir),
                }
            }
        }
    }
}

impl TestDb {
    /// A store on this database, migrated.
    pub async fn store(&self) -> AnyStore {
        AnyStore::connect(&self.url, &StoreOptions::default())
            .await
            .expect("connect to the test database")
    }

    /// Runs a `SELECT count(*) ...` with a raw connection, independent of
    /// the store's code.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
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
    }
}

/// Declares each listed `async fn name(backend: Backend)` as one test per
/// backend, in modules named after the backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::backend::Backend::Sqlite).await
                }
            )*
        }
    };
}
