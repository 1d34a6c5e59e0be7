//! A real server on a loopback port and a temporary SQLite database.

use std::sync::Arc;

use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AnyStore, ContactStore, StoreOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The application serving on `127.0.0.1:0`.
pub struct RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A handle on the server's database, for set-up.
    pub store: AnyStore,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

/// An account's user and its key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub account_id: i64,
    /// The user.
    pub user_id: i64,
    /// The API key.
    pub token: String,
}

impl RunningServer {
    /// Starts the whole application on a new SQLite file.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("contract.db").display());
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
        let app = hilos_server::app::build(Arc::new(service));
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            base,
            store,
            shutdown: Some(shutdown),
            _dir: dir,
        }
    }

    /// A new account with one user and a key.
    pub async fn caller(&self) -> Caller {
        let suffix = format!("{:x}", rand_suffix());
        let account_id = self
            .store
            .create_account(&format!("contract {suffix}"))
            .await
            .expect("account");
        self.member(account_id).await
    }

    /// Another user of `account_id`, with a key.
    pub async fn member(&self, account_id: i64) -> Caller {
        let email = format!("{:x}@contract.test", rand_suffix());
        let user_id = self
            .store
            .create_user(account_id, &email, "Ada", "Lovelace")
            .await
            .expect("user");
        let token = self.store.create_token(&email).await.expect("token");
        Caller {
            account_id,
            user_id,
            token,
        }
    }
}

fn rand_suffix() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    nanos ^ u128::from(COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
