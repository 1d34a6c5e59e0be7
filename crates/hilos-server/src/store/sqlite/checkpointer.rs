//! Checkpoints beside the writer, so that no batch waits for one.
//!
//! A checkpoint copies the pages of the WAL into the database file and
//! syncs both. Left to SQLite's automatic checkpoint, it runs inside the
//! commit that crosses the threshold, and every request queued behind that
//! batch waits for it: with 4000 pages, those commits took 10 to 20 ms,
//! several times a second under load, and set the p99 latency.
//!
//! Here the writer's connection has automatic checkpoints turned off. A
//! thread with its own connection runs a `PASSIVE` checkpoint after
//! commits, at most once per [`Policy::interval`], while the writer goes
//! on; each copies only what was committed since the one before, so its
//! syncs stay small.
//!
//! A passive checkpoint never blocks the writer, but under continuous
//! writes it rarely finds the WAL fully copied, and SQLite only starts the
//! WAL over from its beginning when a write transaction begins on a fully
//! copied one. So once the WAL holds more than [`Policy::restart_frames`]
//! frames (SQLite reports the count after each commit, to a WAL hook), the
//! writer itself checkpoints after the commit: only the frames since the
//! thread's last pass are left, so it is short, and the writer's next
//! transaction starts the WAL over. The WAL file stays bounded.
//!
//! Both connections checkpoint with `synchronous` at `NORMAL` or `FULL`,
//! so the WAL is synced before its pages are copied and the database file
//! after: a checkpoint never makes a committed write less durable.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use super::sync_queries as q;
use crate::domain::StoreError;

/// When checkpoints run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Policy {
    /// Shortest time between two checkpoints of the thread.
    pub interval: Duration,
    /// WAL frames above which the writer checkpoints, so that the WAL
    /// starts over.
    pub restart_frames: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(20),
            restart_frames: 4000,
        }
    }
}

/// The writer's handle on the checkpoint thread.
pub(super) struct Checkpointer {
    nudge: flume::Sender<()>,
    /// Frames in the WAL after the writer's latest commit.
    wal_frames: Arc<AtomicI64>,
    policy: Policy,
}

impl Checkpointer {
    /// Turns off automatic checkpoints on `writer`, watches its commits,
    /// and starts the thread on `other`, a connection of its own to the
    /// same database.
    pub fn attach(
        writer: &mut Connection,
        other: Connection,
        policy: Policy,
    ) -> Result<Self, StoreError> {
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(q::map_error)?;
        let wal_frames = Arc::new(AtomicI64::new(0));
        let frames = wal_frames.clone();
        // Registered after the pragma above, which replaces any WAL hook.
        writer
            .wal_hook(Some(move |_: &mut Wal, pages: c_int| {
                frames.store(i64::from(pages), Ordering::Relaxed);
                Ok(())
            }))
            .map_err(q::map_error)?;
        let (nudge, nudged) = flume::bounded(1);
        std::thread::Builder::new()
            .name("hilos-checkpoint".into())
            .spawn(move || run(&other, &nudged, policy.interval))
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self {
            nudge,
            wal_frames,
            policy,
        })
    }

    /// Called by the writer after each commit, outside any transaction:
    /// wakes the thread, and when the WAL has grown past
    /// [`Policy::restart_frames`], checkpoints on `writer` so that its next
    /// transaction starts the WAL over.
    pub fn after_commit(&self, writer: &Connection) {
        // A nudge already waiting covers this commit too.
        let _ = self.nudge.try_send(());
        if self.wal_frames.load(Ordering::Relaxed) <= self.policy.restart_frames {
            return;
        }
        match checkpoint(writer) {
            // Every frame copied: the next transaction starts the WAL over.
            Ok(Some((log, copied))) if log == copied => {
                self.wal_frames.store(0, Ordering::Relaxed);
            }
            // Readers still use some frames, or the thread is checkpointing
            // right now: try again after the next commit.
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the writer's checkpoint failed"),
        }
    }
}

/// A `PASSIVE` checkpoint: the frames in the WAL and how many of them are
/// now in the database file, or `None` when another checkpoint is running.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA main.wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((busy == 0 && log >= 0).then_some((log, copied)))
}

fn run(conn: &Connection, nudged: &flume::Receiver<()>, interval: Duration) {
    while nudged.recv().is_ok() {
        if let Err(error) = checkpoint(conn) {
            tracing::warn!(%error, "a background checkpoint failed");
        }
        // Commits meanwhile leave a nudge; they are copied by the next pass.
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// Well above what the policy of these tests lets the WAL reach, and
    /// well below what 3000 commits of 4 KiB write without checkpoints.
    const BOUND: u64 = 1500 * 4096;

    /// Commits 3000 transactions of 4 KiB each on a fresh database in
    /// `dir`, automatic checkpoints off, with a checkpointer of `policy`
    /// called after each commit as the store's writer calls it (if any);
    /// returns the largest size the WAL file reached.
    fn write_3000(dir: &std::path::Path, policy: Option<Policy>) -> u64 {
        let path = dir.join("x.db");
        let mut writer = open(&path);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
            .unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        let checkpointer =
            policy.map(|policy| Checkpointer::attach(&mut writer, open(&path), policy).unwrap());
        let wal = dir.join("x.db-wal");
        let mut largest = 0;
        for i in 0..3000 {
            let tx = writer.transaction().unwrap();
            tx.execute("INSERT INTO t (id, b) VALUES (?, zeroblob(4000))", [i])
                .unwrap();
            tx.commit().unwrap();
            if let Some(checkpointer) = &checkpointer {
                checkpointer.after_commit(&writer);
            }
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        largest
    }

    #[test]
    fn the_wal_stays_bounded_and_every_write_reaches_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            interval: Duration::from_millis(2),
            restart_frames: 200,
        };
        let largest = write_3000(dir.path(), Some(policy));
        assert!(largest < BOUND, "the WAL grew to {largest} bytes");
        let check = Connection::open(dir.path().join("x.db")).unwrap();
        let (rows, bytes): (i64, i64) = check
            .query_row("SELECT count(*), sum(length(b)) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((rows, bytes), (3000, 3000 * 4000));
    }

    #[test]
    fn without_it_the_same_writes_grow_the_wal_past_that_bound() {
        let dir = tempfile::tempdir().unwrap();
        let largest = write_3000(dir.path(), None);
        assert!(largest > BOUND, "the WAL is {largest} bytes");
    }
}
