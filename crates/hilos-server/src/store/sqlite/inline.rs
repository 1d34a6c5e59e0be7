//! Point reads run in place on the calling thread.
//!
//! The token lookup every request makes is one probe of a unique index.
//! Through the async pool it would cost two thread hand-offs, more than the
//! lookup itself, so it runs synchronously on a read-only connection of a
//! small set guarded by mutexes. A lookup that would have to wait (a busy
//! database, every connection taken) reports `None`, and the caller uses
//! the async pool instead, so the calling thread never blocks on a lock.

use std::sync::{Mutex, TryLockError};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::queries::sql::PRINCIPAL_FOR_KEY_HASH;
use super::sync_queries::map_error;
use super::writer::WriterTarget;
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
        for slot in &self.connections {
            let conn = match slot.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::WouldBlock) => continue,
                // A panic mid-lookup leaves nothing half-written: reads only.
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            let found = conn
                .prepare_cached(PRINCIPAL_FOR_KEY_HASH)
                .and_then(|mut stmt| {
                    stmt.query_row([key_hash], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                });
            return match found {
                Ok(found) => Some(found),
                Err(error) => {
                    tracing::debug!(%error, "in-place token lookup fell back to the pool");
                    None
                }
            };
        }
        None
    }
}
