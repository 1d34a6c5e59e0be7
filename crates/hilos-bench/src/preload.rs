//! Filling a fresh database through the store, as the server would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hilos_server::domain::{canonical_phone, ContactChange, MetaPatch, Patch};
use hilos_server::store::{AnyStore, ContactStore, StoreOptions};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::workload::preload_contact;

/// Upserts in flight while preloading.
const IN_FLIGHT: usize = 64;

/// What the preload made.
#[derive(Debug, Clone)]
pub struct Preloaded {
    /// An API key of the account that holds the contacts.
    pub token: String,
    /// Contacts written.
    pub contacts: u64,
    /// Their ids, in no particular order.
    pub ids: Arc<Vec<Uuid>>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Creates an account, a user and a key on the (fresh) database at `url`,
/// then upserts `contacts` contacts through [`ContactStore`], `IN_FLIGHT`
/// at a time.
pub async fn preload(url: &str, contacts: u64) -> Result<Preloaded> {
    let started = Instant::now();
    let store = Arc::new(
        AnyStore::connect(url, &StoreOptions::default())
            .await
            .context("opening the database")?,
    );
    let account = store.create_account("Bench").await?;
    store
        .create_user(account, "bench@localhost", "Bench", "")
        .await?;
    let token = store.create_token("bench@localhost").await?;
    let who = store
        .principal_for_token(&token)
        .await?
        .context("the new key has no principal")?;

    let mut ids = Vec::with_capacity(usize::try_from(contacts).unwrap_or(0));
    let mut tasks = JoinSet::new();
    for k in 0..contacts {
        if tasks.len() >= IN_FLIGHT {
            ids.push(tasks.join_next().await.expect("a task is running")??);
        }
        let store = store.clone();
        tasks.spawn(async move {
            let c = preload_contact(k);
            let canonical = canonical_phone(&c.phone, None)
                .map_err(|_| anyhow::anyhow!("preload phone {:?} is not valid", c.phone))?;
            let meta: MetaPatch = c.meta.into_iter().map(|(k, v)| (k, Some(v))).collect();
            let change = ContactChange {
                phone: c.phone,
                canonical_phone: canonical,
                first_name: Patch::Value(c.first_name),
                last_name: Patch::Value(c.last_name),
                email: Patch::Value(c.email),
                meta: Some(meta),
                tags: Some(c.tags),
                ..ContactChange::default()
            };
            let outcome = store.upsert_contact(&who, change).await?;
            anyhow::Ok(outcome.contact().id)
        });
    }
    while let Some(done) = tasks.join_next().await {
        ids.push(done??);
    }
    store.close().await;
    Ok(Preloaded {
        token,
        contacts,
        ids: Arc::new(ids),
        elapsed: started.elapsed(),
    })
}
