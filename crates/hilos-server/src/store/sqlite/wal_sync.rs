//! Durable answers without holding up the next batch: the WAL is synced on
//! a thread of its own.
//!
//! With `synchronous=FULL`, SQLite syncs the WAL inside every commit, and
//! the writer thread can start nothing else until the disk answers. Instead,
//! the writer commits with `synchronous=NORMAL` (in WAL mode: no sync on
//! commit, but the WAL is synced before every checkpoint and the database
//! file after it, so the file is never corrupted) and hands the batch's
//! answers here. This thread syncs the WAL file, which makes durable every
//! commit written to it before the sync began, and only then sends the
//! answers. While it waits for the disk, the writer runs the next batch;
//! batches that commit meanwhile share the following sync.
//!
//! A 201 therefore still means the write is on disk, as with
//! `synchronous=FULL`. What differs: another reader can see a committed
//! write up to one sync before its writer is answered.
//!
//! If a sync fails, the writes it covered are committed but not known to be
//! durable, so their requests get [`StoreError::Unavailable`] instead of a
//! success, and the next sync tries again.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;

use crate::domain::StoreError;

/// Makes every commit written so far durable.
pub(super) type SyncFn = Box<dyn FnMut() -> io::Result<()> + Send>;

/// What the writer hands over after a commit: each job's reply channel and
/// answer.
pub(super) type Replies<A> = Vec<(oneshot::Sender<A>, A)>;

/// An answer that can be turned into an error when its write could not be
/// made durable.
pub(super) trait Answer: Send + 'static {
    /// Whether the answer reports a success.
    fn is_ok(&self) -> bool;
    /// The same kind of answer, failed with `error`.
    fn failed(&self, error: StoreError) -> Self;
}

/// The handle the writer sends committed batches to.
pub(super) struct WalSync<A> {
    batches: flume::Sender<Replies<A>>,
}

impl<A: Answer> WalSync<A> {
    /// Starts the thread that runs `sync` before answering.
    pub fn start(sync: SyncFn) -> io::Result<Self> {
        let (batches, queue) = flume::unbounded();
        std::thread::Builder::new()
            .name("hilos-wal-sync".into())
            .spawn(move || run(sync, &queue))?;
        Ok(Self { batches })
    }

    /// Answers `replies` once a sync that began after this call succeeds.
    pub fn answer_after_sync(&self, replies: Replies<A>) {
        if let Err(flume::SendError(replies)) = self.batches.send(replies) {
            // The thread is gone (it never exits while this handle lives,
            // unless it panicked): nobody can vouch for these writes.
            for (reply, answer) in replies {
                let error = StoreError::Unavailable("the WAL sync thread has stopped".into());
                let _ = reply.send(answer.failed(error));
            }
        }
    }
}

fn run<A: Answer>(mut sync: SyncFn, queue: &flume::Receiver<Replies<A>>) {
    while let Ok(first) = queue.recv() {
        // Every batch committed while the previous sync ran shares this one.
        let mut replies = first;
        for more in queue.try_iter() {
            replies.extend(more);
        }
        let synced = sync();
        if let Err(error) = &synced {
            tracing::error!(%error, writes = replies.len(), "syncing the WAL failed");
        }
        for (reply, answer) in replies {
            let answer = match &synced {
                Err(error) if answer.is_ok() => answer.failed(StoreError::Unavailable(
                    format!("the write could not be synced to disk: {error}").into(),
                )),
                _ => answer,
            };
            // A requester that went away (a closed connection) just misses it.
            let _ = reply.send(answer);
        }
    }
}

/// The WAL file of a database, opened for syncing.
///
/// The file is reopened whenever the path names another file than the one
/// open, so a WAL that was deleted and created again is the one synced; the
/// directory is synced too, so a new WAL's entry survives a power loss.
pub(super) struct WalFile {
    path: PathBuf,
    open: Option<(File, (u64, u64))>,
}

impl WalFile {
    /// The WAL of the database file at `database`.
    pub fn of(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: path.into(),
            open: None,
        }
    }

    /// Syncs the WAL's data to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        let current = std::fs::metadata(&self.path)?;
        let current = (current.dev(), current.ino());
        let file = match &self.open {
            Some((file, id)) if *id == current => file,
            _ => {
                let file = File::open(&self.path)?;
                let meta = file.metadata()?;
                if let Some(dir) = self.path.parent() {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    File::open(dir)?.sync_all()?;
                }
                &self.open.insert((file, (meta.dev(), meta.ino()))).0
            }
        };
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[derive(Debug, PartialEq)]
    enum TestAnswer {
        Ok(u32),
        Err(String),
    }

    impl Answer for TestAnswer {
        fn is_ok(&self) -> bool {
            matches!(self, TestAnswer::Ok(_))
        }
        fn failed(&self, error: StoreError) -> Self {
            TestAnswer::Err(error.to_string())
        }
    }

    fn reply(answer: TestAnswer) -> (oneshot::Receiver<TestAnswer>, Replies<TestAnswer>) {
        let (tx, rx) = oneshot::channel();
        (rx, vec![(tx, answer)])
    }

    /// A sync that reports when it starts and returns when told to.
    fn gated() -> (SyncFn, mpsc::Receiver<()>, mpsc::Sender<io::Result<()>>) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<io::Result<()>>();
        let sync: SyncFn = Box::new(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap()
        });
        (sync, started, release)
    }

    #[test]
    fn answers_wait_for_the_sync() {
        let (sync, started, release) = gated();
        let wal = WalSync::start(sync).unwrap();
        let (mut first, replies) = reply(TestAnswer::Ok(1));
        wal.answer_after_sync(replies);
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        // Committed while the first sync runs: waits for the next one.
        let (mut second, replies) = reply(TestAnswer::Ok(2));
        wal.answer_after_sync(replies);
        std::thread::sleep(Duration::from_millis(100));
        assert!(first.try_recv().is_err(), "answered before its sync");

        release.send(Ok(())).unwrap();
        assert_eq!(first.blocking_recv().unwrap(), TestAnswer::Ok(1));
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(second.try_recv().is_err(), "answered by an earlier sync");
        release.send(Ok(())).unwrap();
        assert_eq!(second.blocking_recv().unwrap(), TestAnswer::Ok(2));
    }

    #[test]
    fn a_failed_sync_fails_its_successes_and_the_next_one_recovers() {
        let (sync, started, release) = gated();
        let wal = WalSync::start(sync).unwrap();
        let (tx_ok, ok) = oneshot::channel();
        let (tx_refused, refused) = oneshot::channel();
        wal.answer_after_sync(vec![
            (tx_ok, TestAnswer::Ok(1)),
            (tx_refused, TestAnswer::Err("not found".into())),
        ]);
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        release.send(Err(io::Error::other("disk gone"))).unwrap();
        let TestAnswer::Err(error) = ok.blocking_recv().unwrap() else {
            panic!("a write that was not synced was answered as a success");
        };
        assert!(error.contains("could not be synced") && error.contains("disk gone"));
        assert_eq!(
            refused.blocking_recv().unwrap(),
            TestAnswer::Err("not found".into())
        );

        let (next, replies) = reply(TestAnswer::Ok(3));
        wal.answer_after_sync(replies);
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        release.send(Ok(())).unwrap();
        assert_eq!(next.blocking_recv().unwrap(), TestAnswer::Ok(3));
    }

    #[test]
    fn the_wal_file_is_synced_and_reopened_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let mut wal = WalFile::of(&db);
        assert_eq!(
            wal.sync().unwrap_err().kind(),
            io::ErrorKind::NotFound,
            "a missing WAL is an error, not a silent success"
        );
        let path = dir.path().join("x.db-wal");
        std::fs::write(&path, b"one").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().unwrap().1;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"two").unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().unwrap().1;
        assert_ne!(first, second, "the new WAL file is the one synced");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(second, (meta.dev(), meta.ino()));
    }
}
