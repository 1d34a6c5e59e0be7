//! Point reads run in place on the calling thread.
//!
//! The token lookup every request makes is one probe of a unique index, and
//! reading one contact is three (the row, its tags, its assignees). Through
//! the async pool each statement would cost thread hand-offs, more than the
//! probes themselves, so these run synchronously on a read-only connection
//! of a small set guarded by mutexes. A read that would have to wait (a busy
//! database, every connection taken) reports `None`, and the caller uses
//! the async pool instead, so the calling thread never blocks on a lock.

use std::sync::{Mutex, TryLockError};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::queries::sql::PRINCIPAL_FOR_KEY_HASH;
use super::queries::ContactKey;
use super::sync_queries::{load_contact, map_error};
use super::writer::WriterTarget;
use crate::domain::Contact;
use crate::store::StoreError;

/// Connections; a caller that finds all of them taken falls back.
const CONNECTIONS: usize = 4;

/// Read-only connections for in-place point reads.
#[derive(Debug)]
pub(super) struct InlineReaders {
    connections: Vec<Mutex<Connection>>,
}

impl InlineReaders {
    /// Opens the connections on the database the writer uses.
    pub fn open(target: &WriterTarget) -> Result<Self, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if target.uri {
            flags |= OpenFlags::SQLITE_OPEN_URI;
        }
        let connections = (0..CONNECTIONS)
            .map(|_| {
                let conn = Connection::open_with_flags(&target.path, flags).map_err(map_error)?;
                // Never sleep on a lock here: a busy answer means "use the
                // async pool".
                conn.busy_timeout(std::time::Duration::ZERO)
                    .map_err(map_error)?;
                conn.set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                    true,
                )
                .map_err(map_error)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self { connections })
    }

    /// `(account_id, user_id)` of the live key with this hash; `None` when
    /// the lookup could not run without waiting.
    pub fn principal_for_key_hash(&self, key_hash: &str) -> Option<Option<(i64, i64)>> {
        self.run(|conn| {
            conn.prepare_cached(PRINCIPAL_FOR_KEY_HASH)
                .and_then(|mut stmt| {
                    stmt.query_row([key_hash], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(map_error)
        })
    }

    /// The contact with this key, with its tags and assignees, read in one
    /// transaction so the three queries see one snapshot; `None` when the
    /// read could not run without waiting.
    pub fn contact(&self, account_id: i64, key: ContactKey<'_>) -> Option<Option<Contact>> {
        self.run(|conn| {
            // Dropping the transaction ends it (a rollback: nothing was
            // written).
            let tx = conn.unchecked_transaction().map_err(map_error)?;
            load_contact(&tx, account_id, key)
        })
    }

    /// Runs `read` on the first free connection; `None` when every
    /// connection is taken or the read failed (it is logged, and the
    /// caller goes to the async pool).
    fn run<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Option<T> {
        for slot in &self.connections {
            let conn = match slot.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::WouldBlock) => continue,
                // A panic mid-read leaves nothing half-written: reads only.
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            // A transaction whose rollback failed is still open; its
            // snapshot would be stale for every later read here.
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
                continue;
            }
            return match read(&conn) {
                Ok(found) => Some(found),
                Err(error) => {
                    tracing::debug!(%error, "in-place read fell back to the pool");
                    None
                }
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{ContactChange, Patch, Principal};
    use crate::store::sqlite::{ContactKey, SqliteStore};
    use crate::store::{hash_token_key, ContactStore};

    /// A store in `dir` with one contact (two tags) in a new account.
    async fn one_contact(dir: &std::path::Path) -> (SqliteStore, Principal, uuid::Uuid) {
        let url = format!("sqlite://{}", dir.join("inline.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let account = store.create_account("Inline").await.unwrap();
        store
            .create_user(account, "inline@example.com", "In", "Line")
            .await
            .unwrap();
        let token = store.create_token("inline@example.com").await.unwrap();
        let who = store.principal_for_token(&token).await.unwrap().unwrap();
        let change = ContactChange {
            phone: "+52 55 1234 5678".to_owned(),
            canonical_phone: "+525512345678".to_owned(),
            first_name: Patch::Value("Ana".to_owned()),
            tags: Some(vec!["vip".to_owned(), "lead".to_owned()]),
            ..ContactChange::default()
        };
        let id = store
            .upsert_contact(&who, change)
            .await
            .unwrap()
            .contact()
            .id;
        (store, who, id)
    }

    #[tokio::test]
    async fn a_contact_read_in_place_is_the_one_the_pool_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (store, who, id) = one_contact(dir.path()).await;

        // Every in-place connection taken: the read cannot run in place,
        // and the store answers through the pool.
        let held: Vec<_> = store
            .inline
            .connections
            .iter()
            .map(|slot| slot.lock().unwrap())
            .collect();
        assert_eq!(
            store.inline.contact(who.account_id, ContactKey::Id(id)),
            None
        );
        let pooled = store
            .get_contact(who.account_id, id)
            .await
            .unwrap()
            .unwrap();
        drop(held);
        assert_eq!(pooled.first_name.as_deref(), Some("Ana"));
        let tags: Vec<&str> = pooled.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tags, ["vip", "lead"]);

        let in_place = store.inline.contact(who.account_id, ContactKey::Id(id));
        assert_eq!(in_place, Some(Some(pooled.clone())));
        let by_phone = store
            .inline
            .contact(who.account_id, ContactKey::Phone("+525512345678"));
        assert_eq!(by_phone, Some(Some(pooled.clone())));
        // Through the store, which now reads in place.
        assert_eq!(
            store.get_contact(who.account_id, id).await.unwrap(),
            Some(pooled)
        );
        // Another account's key finds nothing, in place.
        assert_eq!(
            store.inline.contact(who.account_id + 1, ContactKey::Id(id)),
            Some(None)
        );
        // The connection is left outside any transaction.
        for slot in &store.inline.connections {
            assert!(slot.lock().unwrap().is_autocommit());
        }
        store.close().await;
    }

    #[tokio::test]
    async fn a_transaction_left_open_does_not_serve_stale_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = one_contact(dir.path()).await;
        // Each connection holds a snapshot, as a read whose rollback failed
        // would leave it.
        for slot in &store.inline.connections {
            let conn = slot.lock().unwrap();
            conn.execute_batch("BEGIN").unwrap();
            let _: i64 = conn
                .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
                .unwrap();
            assert!(!conn.is_autocommit());
        }
        // A key made after those snapshots.
        let token = store.create_token("inline@example.com").await.unwrap();
        let found = store.inline.principal_for_key_hash(&hash_token_key(&token));
        assert!(matches!(found, Some(Some(_))), "{found:?}");
        store.close().await;
    }
}
