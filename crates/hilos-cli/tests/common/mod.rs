//! A real server on `127.0.0.1:0` with a temporary SQLite database, and the
//! `hilos` binary run against it as a process.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::Path;
use std::sync::Arc;

use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AnyStore, ContactStore, StoreOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The whole application, serving on a loopback port.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's database.
    pub store: AnyStore,
    /// An API key of the account the tests use.
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Server {
    /// Starts the application as it ships.
    pub async fn start() -> Self {
        Self::start_with(|app| app).await
    }

    /// Starts the application with `wrap` applied to its router (to put a
    /// misbehaving layer in front, say).
    pub async fn start_with(wrap: impl FnOnce(axum::Router) -> axum::Router) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let store = AnyStore::connect(&url, &StoreOptions::default())
            .await
            .expect("open the database");
        let service = ContactService::new(
            store.clone(),
            ServiceConfig {
                public_base_url: base.clone(),
                ..ServiceConfig::default()
            },
        );
        let app = wrap(hilos_server::app::build(Arc::new(service)));
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
                .expect("server runs");
        });
        let account = store.create_account("cli tests").await.expect("account");
        store
            .create_user(account, "ada@cli.test", "Ada", "Lovelace")
            .await
            .expect("user");
        let token = store.create_token("ada@cli.test").await.expect("token");
        Self {
            base,
            store,
            token,
            shutdown: Some(shutdown),
            _dir: dir,
        }
    }

    /// A client of the test account, to check the server's state.
    pub fn client(&self) -> hilos_client::Client {
        hilos_client::Client::with_token(&self.base, &self.token).expect("client")
    }

    /// How many contacts the account has.
    pub async fn count(&self) -> i64 {
        self.client()
            .list_contacts(Some(1), Some(1), None)
            .await
            .expect("list")
            .into_inner()
            .count
    }

    /// Runs `hilos ARGS` against this server (URL and token from the
    /// environment, as a user would set them).
    pub async fn hilos<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        hilos(
            args,
            &[("HILOS_BASE_URL", &self.base), ("HILOS_TOKEN", &self.token)],
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// What a run of `hilos` did.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts the exit code, showing the run when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }
}

/// Runs `hilos ARGS` with exactly the `HILOS_*` variables in `env`.
pub async fn hilos<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hilos"));
    command
        .args(args)
        .env_remove("HILOS_BASE_URL")
        .env_remove("HILOS_TOKEN")
        .stdin(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.expect("run hilos");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The rows of a report CSV, as header-keyed maps.
pub fn read_report(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open report");
    let headers = reader.headers().expect("report header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("report row");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}
