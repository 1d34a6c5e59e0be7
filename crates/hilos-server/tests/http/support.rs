//! A running server and a raw HTTP caller for the end-to-end tests.

use std::sync::Arc;

use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AnyStore, ContactStore};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::common::backend::{Backend, TestDb};
use crate::common::leaks;

/// The application serving on a loopback port, on its own database.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The database behind it.
    pub db: TestDb,
    /// A second handle on the same database, for set-up and checks.
    pub store: AnyStore,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A user of a fresh account, with an API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: i64,
    pub user_id: i64,
    pub token: String,
}

/// A response, with its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A response whose body is kept as bytes.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl RawReply {
    /// Sends `request` and reads the whole response. Every response of the
    /// suite comes through here, and an error response that leaks
    /// internals (see [`leaks`]) fails the test.
    pub async fn read(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read").to_vec();
        leaks::assert_no_leak(status, &bytes);
        Self {
            status,
            headers,
            bytes,
        }
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("a UTF-8 body")
    }
}

impl Reply {
    /// Sends `request`; the body must be empty or JSON.
    pub async fn read(request: reqwest::RequestBuilder) -> Self {
        let raw = RawReply::read(request).await;
        let body = if raw.bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw.bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON {} body: {}",
                    raw.status,
                    String::from_utf8_lossy(&raw.bytes)
                )
            })
        };
        Self {
            status: raw.status,
            headers: raw.headers,
            body,
        }
    }
}

impl TestServer {
    /// Starts the application on `backend` with the default configuration.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, ServiceConfig::default()).await
    }

    /// Starts the application on `backend` with `config`; its public base URL
    /// is set to the bound address.
    pub async fn start_with(backend: Backend, mut config: ServiceConfig) -> Self {
        let db = backend.fresh_db().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        config.public_base_url = base.clone();
        let service = ContactService::new(db.store().await, config);
        let app = hilos_server::app::build(Arc::new(service));
        let (shutdown, stop) = oneshot::channel::<()>();
        // The binary's own connection handling, so limits of the HTTP layer
        // (head size, head timeout) are the ones under test.
        tokio::spawn(async move {
            hilos_server::serve::serve_until(
                listener,
                app,
                async move {
                    let _ = stop.await;
                },
                std::time::Duration::from_secs(5),
            )
            .await
            .expect("server runs");
        });
        let store = db.store().await;
        Self {
            base,
            db,
            store,
            http: reqwest::Client::new(),
            shutdown: Some(shutdown),
        }
    }

    /// A new account with one user and a key for that user.
    pub async fn caller(&self) -> Caller {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let account_id = self
            .store
            .create_account(&format!("account {suffix}"))
            .await
            .expect("account");
        let email = format!("{suffix}@example.com");
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

    /// Another user in `account_id`, with a key of its own.
    pub async fn member(&self, account_id: i64) -> Caller {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let user_id = self
            .store
            .create_user(account_id, &email, "Grace", "Hopper")
            .await
            .expect("member");
        let token = self.store.create_token(&email).await.expect("token");
        Caller {
            account_id,
            user_id,
            token,
        }
    }

    /// `POST /api/contact` with any headers and body.
    pub async fn post(
        &self,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.http.post(format!("{}/api/contact", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        Reply::read(request.body(body)).await
    }

    /// `POST /api/contact` with a JSON body, as `caller`.
    pub async fn post_json(&self, caller: &Caller, body: Value) -> Reply {
        self.post(
            Some(&format!("Token {}", caller.token)),
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// Any request as `caller`, with an optional JSON body.
    pub async fn call(
        &self,
        caller: &Caller,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Token {}", caller.token));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        Reply::read(request).await
    }

    /// `GET path` with no token, for bodies that need not be JSON.
    pub async fn fetch(&self, path: &str) -> RawReply {
        RawReply::read(self.http.get(format!("{}{path}", self.base))).await
    }

    /// `GET path` as `caller`.
    pub async fn get(&self, caller: &Caller, path: &str) -> Reply {
        self.call(caller, reqwest::Method::GET, path, None).await
    }

    /// Posts and insists on a 201; returns the contact.
    pub async fn upsert(&self, caller: &Caller, body: Value) -> Value {
        let reply = self.post_json(caller, body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    /// How many contacts are stored, across all accounts.
    pub async fn contact_count(&self) -> i64 {
        self.db.count("SELECT count(*) FROM contacts").await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The names of a contact's tags, in order.
pub fn tag_names(contact: &Value) -> Vec<String> {
    contact["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The ids of a contact's default assignees, in order.
pub fn assignee_ids(contact: &Value) -> Vec<i64> {
    contact["default_assignees"]
        .as_array()
        .expect("default_assignees")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect()
}
