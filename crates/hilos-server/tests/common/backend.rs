//! Fresh databases per test, for every backend the suite runs on.
//!
//! PostgreSQL runs when `HILOS_TEST_POSTGRES_URL` names a server where the
//! user may create databases: each test gets a new database
//! `hilos_test_<uuid>` on it, dropped when the test ends. Without the
//! variable the PostgreSQL tests say so once and pass, except under
//! `CI=true`, where they fail.

use std::io::Write as _;
use std::sync::Once;
use std::time::Duration;

use hilos_server::store::{AnyStore, StoreOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tempfile::TempDir;

/// The variable holding the PostgreSQL admin URL.
pub const POSTGRES_URL_VAR: &str = "HILOS_TEST_POSTGRES_URL";
/// What [`POSTGRES_URL_VAR`] looks like.
pub const POSTGRES_URL_EXAMPLE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A new SQLite file in a temp directory.
    Sqlite,
    /// A new database on the server named by [`POSTGRES_URL_VAR`].
    Postgres,
}

/// A new, empty database that lives as long as this value.
pub struct TestDb {
    /// The URL the server and stores connect to.
    pub url: String,
    /// The backend it is on.
    pub backend: Backend,
    _dir: Option<TempDir>,
    _pg: Option<PgDatabase>,
}

/// The PostgreSQL admin URL, if the suite should run on PostgreSQL.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

impl Backend {
    /// Whether tests on this backend run here.
    ///
    /// PostgreSQL without [`POSTGRES_URL_VAR`] panics under `CI=true` (a CI
    /// that silently skips it proves nothing) and otherwise prints once to
    /// stderr that it was skipped.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => {
                if postgres_admin_url().is_some() {
                    return true;
                }
                assert!(
                    !in_ci(),
                    "PostgreSQL tests must run in CI: set {POSTGRES_URL_VAR} \
                     (e.g. {POSTGRES_URL_EXAMPLE})"
                );
                static NOTICE: Once = Once::new();
                NOTICE.call_once(|| {
                    // Straight to the process's stderr: libtest would
                    // swallow eprintln! from a passing test.
                    let _ = writeln!(
                        std::io::stderr(),
                        "PostgreSQL tests were not run: set {POSTGRES_URL_VAR} \
                         (e.g. {POSTGRES_URL_EXAMPLE})"
                    );
                });
                false
            }
        }
    }

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
                    _pg: None,
                }
            }
            Backend::Postgres => {
                let admin_url =
                    postgres_admin_url().unwrap_or_else(|| panic!("{POSTGRES_URL_VAR} is not set"));
                let db = PgDatabase::create(admin_url).await;
                TestDb {
                    url: with_database(&db.admin_url, &db.name),
                    backend: self,
                    _dir: None,
                    _pg: Some(db),
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
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                let n: i64 = sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                let _ = conn.close().await;
                n
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                let n: i64 = sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                let _ = conn.close().await;
                n
            }
        }
    }

    /// Runs one statement with a raw connection, for breaking the database
    /// under a running server.
    pub async fn execute(&self, sql: &'static str) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                sqlx::query(sql).execute(&mut conn).await.expect("execute");
                let _ = conn.close().await;
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                sqlx::query(sql).execute(&mut conn).await.expect("execute");
                let _ = conn.close().await;
            }
        }
    }

    /// Runs a query for one text column with a raw connection.
    pub async fn texts(&self, sql: &'static str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                let v = sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("texts");
                let _ = conn.close().await;
                v
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("raw connection");
                let v = sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("texts");
                let _ = conn.close().await;
                v
            }
        }
    }
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A database made for one test on the admin server; dropped with it.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: String) -> Self {
        let name = format!("hilos_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {POSTGRES_URL_VAR}: {e}"));
        // The name is ours (hex digits), so formatting it in is safe.
        let sql = format!("CREATE DATABASE \"{name}\"");
        let mut attempt = 1;
        loop {
            match sqlx::query(AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
            {
                Ok(_) => break,
                // "source database is being accessed by other users": a
                // parallel CREATE DATABASE is copying the template.
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("55006") && attempt < 10 =>
                {
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    attempt += 1;
                }
                Err(e) => panic!("create test database {name}: {e}"),
            }
        }
        let _ = conn.close().await;
        Self { admin_url, name }
    }
}

impl Drop for PgDatabase {
    /// Drops the database even if the test panicked or its stores are still
    /// connected (`WITH (FORCE)`). Drop cannot await, and the test's runtime
    /// may be shutting down, so a thread of its own does the work; a failure
    /// is reported, never a panic (which would abort during unwinding).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let worker = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), drop_database(&admin_url, &name))
                    .await
                    .map_err(|_| "timed out".to_owned())?
                    .map_err(|e| e.to_string())
            })
        });
        let result = worker
            .join()
            .unwrap_or_else(|_| Err("the drop thread panicked".to_owned()));
        if let Err(e) = result {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test database {}: {e}",
                self.name
            );
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let mut attempt = 1;
    let result = loop {
        match sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await
        {
            Ok(_) => break Ok(()),
            Err(_) if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                attempt += 1;
            }
            Err(e) => break Err(e),
        }
    };
    let _ = conn.close().await;
    result
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
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::common::backend::Backend::Postgres;
                    if backend.available() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}
