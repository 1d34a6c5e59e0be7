//! Group commit: the one thread that writes contacts.
//!
//! Upserts, updates and deletes are queued to a dedicated thread that owns
//! the store's write connection. It takes every job waiting (up to
//! [`GroupCommit::max_batch`], after lingering up to
//! [`GroupCommit::max_wait`] for more), runs them in one `BEGIN IMMEDIATE`
//! transaction, and commits once. That one commit needs one WAL sync for
//! the whole batch, so the fsync cost is shared by every request in it.
//!
//! Isolation: a job that is refused (an unknown assignee, a taken id or
//! phone, an id mismatch) is refused by its checks before it writes
//! anything, so it is answered alone and its batch-mates commit. A job that
//! fails after writing (a failed statement) gets the transaction rolled
//! back and the batch run again without it (see [`run_batch`]). Answers are
//! sent only after the commit returns, so a 201 always means the write is
//! durable (in the configured sense). If the commit itself fails, nobody in
//! the batch is told they succeeded: they get [`StoreError::Unavailable`].
//!
//! The search index is updated once per batch, just before the commit:
//! the triggers only queue the contacts written (migration 0003), and
//! [`q::index_pending_searches`] indexes them all in two statements.
//!
//! Statements run synchronously on the thread with rusqlite's prepared
//! statement cache, so a batch costs no thread hand-offs between its
//! statements.
//!
//! Durable answers on a file database: the writer commits without syncing
//! and [`WalSync`] syncs the WAL on its own thread before it answers, so
//! the next batch runs while the disk works (see [`super::wal_sync`]).
//!
//! Checkpoints run beside the writer too, on a connection of their own
//! (see [`super::checkpointer`]), so no batch waits for the database file
//! to be synced.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::checkpointer::{Checkpointer, Policy};
use super::sync_queries::{self as q, ContactKey};
use super::wal_sync::{self, Answer as _, Replies, WalFile, WalSync};
use crate::domain::{
    apply_change, apply_update, check_update_id, new_contact, resolve_users, Contact,
    ContactChange, ContactUpdate, Principal, Resolved, StoreError, UpdateError, UpsertError,
    UpsertOutcome,
};
use crate::store::{BatchSizes, Durability};

/// How the writer groups requests into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Most jobs in one transaction.
    pub max_batch: usize,
    /// Longest time the first job of a batch waits for more to arrive
    /// before the batch runs. Zero: a batch is whatever queued up while the
    /// previous one committed, so no job ever waits for company.
    pub max_wait: Duration,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::ZERO,
        }
    }
}

/// Jobs that may wait for the writer; beyond this, senders wait for room.
const QUEUE: usize = 4096;
/// Upsert attempts when an insert still meets a unique violation (only
/// possible if another process wrote the same phone between statements).
const UPSERT_ATTEMPTS: usize = 3;

/// The upper bounds of the batch-size histogram buckets.
pub const BATCH_BUCKETS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Counts of committed batches by size, for metrics.
#[derive(Debug, Default)]
pub struct BatchStats {
    /// Batches per bucket of [`BATCH_BUCKETS`], plus one for larger ones.
    buckets: [AtomicU64; BATCH_BUCKETS.len() + 1],
    batches: AtomicU64,
    jobs: AtomicU64,
}

impl BatchStats {
    fn record(&self, size: usize) {
        let size = size as u64;
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&bound| size <= bound)
            .unwrap_or(BATCH_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(size, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BatchSizes {
        let bounds = BATCH_BUCKETS.iter().copied().chain([u64::MAX]);
        let buckets = bounds
            .zip(&self.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        BatchSizes {
            buckets,
            count: self.batches.load(Ordering::Relaxed),
            sum: self.jobs.load(Ordering::Relaxed),
        }
    }
}

/// A write the thread runs.
enum Op {
    Upsert(Principal, ContactChange),
    Update(Principal, Uuid, ContactUpdate),
    Delete(i64, Uuid),
}

/// Its answer.
enum Answer {
    Upsert(Result<UpsertOutcome, UpsertError>),
    Update(Result<Contact, UpdateError>),
    Delete(Result<bool, StoreError>),
}

impl wal_sync::Answer for Answer {
    fn is_ok(&self) -> bool {
        match self {
            Answer::Upsert(r) => r.is_ok(),
            Answer::Update(r) => r.is_ok(),
            Answer::Delete(r) => r.is_ok(),
        }
    }

    fn failed(&self, error: StoreError) -> Answer {
        match self {
            Answer::Upsert(_) => Answer::Upsert(Err(error.into())),
            Answer::Update(_) => Answer::Update(Err(error.into())),
            Answer::Delete(_) => Answer::Delete(Err(error)),
        }
    }
}

impl Answer {
    /// The answer for a job whose effects were lost with its batch.
    fn lost(&self, why: &str) -> Answer {
        wal_sync::Answer::failed(self, StoreError::Unavailable(why.to_owned().into()))
    }
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Answer>,
}

/// Where the database file is and how to open it.
#[derive(Debug, Clone)]
pub(super) struct WriterTarget {
    /// A file path, or a `file:` URI for a shared in-memory database.
    pub path: PathBuf,
    /// Whether `path` is a URI.
    pub uri: bool,
    pub durability: Durability,
    pub busy_timeout: Duration,
}

/// The handle the store keeps; cloning shares the thread.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: flume::Sender<Job>,
    stats: Arc<BatchStats>,
}

fn closed() -> StoreError {
    StoreError::Unavailable("the contact writer has stopped".into())
}

impl Writer {
    /// Opens the write connection and starts the thread.
    pub fn start(target: &WriterTarget, config: GroupCommit) -> Result<Self, StoreError> {
        let mut conn = open(target)?;
        // Contacts another tool wrote while the server was down.
        index_pending(&mut conn)?;
        let wal_file = is_wal_file(&conn, target)?;
        let delivery = Delivery::new(
            wal_file && target.durability == Durability::Durable,
            target,
            &conn,
        )?;
        let checkpointer = if wal_file {
            Some(Checkpointer::attach(
                &mut conn,
                open(target)?,
                Policy::default(),
            )?)
        } else {
            None
        };
        let (jobs, queue) = flume::bounded(QUEUE);
        let stats = Arc::new(BatchStats::default());
        let thread_stats = stats.clone();
        let config = GroupCommit {
            max_batch: config.max_batch.max(1),
            ..config
        };
        std::thread::Builder::new()
            .name("hilos-writer".into())
            .spawn(move || {
                run(
                    conn,
                    &queue,
                    config,
                    &thread_stats,
                    &delivery,
                    checkpointer.as_ref(),
                );
            })
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self { jobs, stats })
    }

    /// Batch sizes so far.
    pub fn stats(&self) -> BatchSizes {
        self.stats.snapshot()
    }

    async fn submit(&self, op: Op) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send_async(Job { op, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())
    }

    pub async fn upsert(
        &self,
        who: Principal,
        change: ContactChange,
    ) -> Result<UpsertOutcome, UpsertError> {
        match self.submit(Op::Upsert(who, change)).await? {
            Answer::Upsert(r) => r,
            _ => Err(StoreError::internal("writer answered with another kind").into()),
        }
    }

    pub async fn update(
        &self,
        who: Principal,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<Contact, UpdateError> {
        match self.submit(Op::Update(who, id, update)).await? {
            Answer::Update(r) => r,
            _ => Err(StoreError::internal("writer answered with another kind").into()),
        }
    }

    pub async fn delete(&self, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
        match self.submit(Op::Delete(account_id, id)).await? {
            Answer::Delete(r) => r,
            _ => Err(StoreError::internal("writer answered with another kind")),
        }
    }
}

fn open(target: &WriterTarget) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if target.uri {
        flags |= OpenFlags::SQLITE_OPEN_URI;
    }
    let conn = Connection::open_with_flags(&target.path, flags).map_err(q::map_error)?;
    conn.busy_timeout(target.busy_timeout)
        .map_err(q::map_error)?;
    let synchronous = match target.durability {
        Durability::Durable => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(q::map_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(q::map_error)?;
    // Statement journals in memory. An insert fires the search triggers, so
    // SQLite keeps a statement journal of the pages it changes, to undo the
    // statement alone if it fails. With temporary files on disk, that
    // journal moves to a file once a statement has journaled 64 KiB, and
    // every later statement of the batch then writes its pages there.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(q::map_error)?;
    // The query planner stability guarantee: a cached statement keeps its
    // plan whatever values are bound, instead of being re-prepared when a
    // bound value might favour another plan.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(q::map_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// How answers leave once their batch has committed.
enum Delivery {
    /// At once: the commit synced itself, or durability is relaxed.
    Now,
    /// After a sync of the WAL file on [`WalSync`]'s thread.
    AfterSync(WalSync<Answer>),
}

/// Whether `conn`, [`open`]ed on `target`, is on a database file in WAL
/// mode (not a shared in-memory database).
fn is_wal_file(conn: &Connection, target: &WriterTarget) -> Result<bool, StoreError> {
    if target.uri {
        return Ok(false);
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(q::map_error)?;
    Ok(mode.eq_ignore_ascii_case("wal"))
}

impl Delivery {
    /// For a connection [`open`]ed on `target`: when `sync_aside` (a
    /// durable database file in WAL mode), the writer commits with
    /// `synchronous=NORMAL` and the WAL is synced on the side; otherwise
    /// the commit keeps its own sync.
    fn new(sync_aside: bool, target: &WriterTarget, conn: &Connection) -> Result<Self, StoreError> {
        if !sync_aside {
            return Ok(Delivery::Now);
        }
        let mut wal = WalFile::of(&target.path);
        let sync = WalSync::start(Box::new(move || wal.sync()))
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(q::map_error)?;
        Ok(Delivery::AfterSync(sync))
    }

    fn deliver(&self, replies: Replies<Answer>) {
        match self {
            Delivery::Now => {
                for (reply, answer) in replies {
                    // A requester that went away (a closed connection) just
                    // misses it.
                    let _ = reply.send(answer);
                }
            }
            Delivery::AfterSync(sync) => sync.answer_after_sync(replies),
        }
    }
}

/// Indexes queued contacts in a transaction of their own; dropping the
/// transaction on an error rolls it back.
fn index_pending(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(q::map_error)?;
    q::index_pending_searches(&tx)?;
    tx.commit().map_err(q::map_error)
}

/// The thread: batch, run, commit, answer, until every handle is gone.
fn run(
    mut conn: Connection,
    queue: &flume::Receiver<Job>,
    config: GroupCommit,
    stats: &BatchStats,
    delivery: &Delivery,
    checkpointer: Option<&Checkpointer>,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        let linger_until = Instant::now() + config.max_wait;
        while batch.len() < config.max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) if config.max_wait.is_zero() => break,
                Err(_) => match queue.recv_deadline(linger_until) {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                },
            }
        }
        stats.record(batch.len());
        delivery.deliver(run_batch(&mut conn, &mut batch));
        if let Some(checkpointer) = checkpointer {
            checkpointer.after_commit(&conn);
        }
    }
}

/// How one job ended inside a batch's transaction.
enum Step {
    /// Answered. A refusal is always found before the job writes anything,
    /// so whatever the job wrote belongs in the commit.
    Done(Answer),
    /// The job failed after it had written: the transaction is rolled back
    /// and the batch runs again without it, and it gets this answer.
    Poisoned(Answer),
    /// The job's insert met a unique violation (another process wrote the
    /// same row between our statements): the transaction is rolled back and
    /// the batch runs again with it.
    Retry,
}

/// Runs `batch` in one transaction and returns every job's answer; empties
/// `batch`.
///
/// Jobs run without savepoints: a job checks everything that could refuse
/// it before its first write, so in the common case a batch is one
/// transaction, whatever its refusals. A failure after a job has written
/// (a failed statement) rolls the whole transaction back, answers that job,
/// and runs the rest again, so batch-mates never share its fate.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Job>) -> Replies<Answer> {
    let mut answers: Vec<Option<Answer>> = batch.iter().map(|_| None).collect();
    let mut retries = vec![0; batch.len()];
    loop {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(error) => {
                let error = q::map_error(error);
                tracing::warn!(%error, jobs = batch.len(), "could not start a write transaction");
                for (job, answer) in batch.iter().zip(&mut answers) {
                    answer.get_or_insert_with(|| failed(&job.op, &error));
                }
                break;
            }
        };
        let mut ran = Vec::new();
        let mut rerun = false;
        for (i, job) in batch.iter().enumerate() {
            if answers[i].is_some() {
                continue;
            }
            match run_job(&tx, &job.op) {
                Step::Done(answer) => ran.push((i, answer)),
                Step::Poisoned(answer) => {
                    answers[i] = Some(answer);
                    rerun = true;
                    break;
                }
                Step::Retry => {
                    retries[i] += 1;
                    if retries[i] >= UPSERT_ATTEMPTS {
                        let error =
                            StoreError::internal("contact write kept meeting unique violations");
                        answers[i] = Some(failed(&job.op, &error));
                    }
                    tracing::warn!(
                        attempt = retries[i],
                        "contact write met a unique violation; running its batch again"
                    );
                    rerun = true;
                    break;
                }
            }
        }
        if rerun {
            // Dropping the transaction rolls it back.
            drop(tx);
            continue;
        }
        // The search index follows the batch's contacts in the same
        // transaction; if that fails, nothing of the batch is kept.
        let committed =
            q::index_pending_searches(&tx).and_then(|()| tx.commit().map_err(q::map_error));
        if let Err(error) = &committed {
            tracing::warn!(%error, jobs = batch.len(), "a write batch failed to commit");
        }
        for (i, answer) in ran {
            answers[i] = Some(match &committed {
                Ok(()) => answer,
                Err(_) if answer.is_ok() => answer.lost("the write could not be committed"),
                Err(_) => answer,
            });
        }
        break;
    }
    batch
        .drain(..)
        .zip(answers)
        .map(|(job, answer)| {
            let answer = answer.unwrap_or_else(|| {
                failed(
                    &job.op,
                    &StoreError::internal("a write was left unanswered"),
                )
            });
            (job.reply, answer)
        })
        .collect()
}

/// The error answer of `op` for a store failure.
fn failed(op: &Op, error: &StoreError) -> Answer {
    let copy = || match error {
        StoreError::Unavailable(_) => StoreError::Unavailable(error.to_string().into()),
        StoreError::Internal(_) => StoreError::internal(error.to_string()),
    };
    match op {
        Op::Upsert(..) => Answer::Upsert(Err(copy().into())),
        Op::Update(..) => Answer::Update(Err(copy().into())),
        Op::Delete(..) => Answer::Delete(Err(copy())),
    }
}

/// Runs one job: its checks (reads only), then its writes.
fn run_job(conn: &Connection, op: &Op) -> Step {
    match op {
        Op::Upsert(who, change) => match check_upsert(conn, who, change) {
            Err(error) => Step::Done(Answer::Upsert(Err(error))),
            Ok(checked) => match write_upsert(conn, who, change, checked) {
                Ok(Some(outcome)) => Step::Done(Answer::Upsert(Ok(outcome))),
                Ok(None) => Step::Retry,
                Err(error) => Step::Poisoned(Answer::Upsert(Err(error))),
            },
        },
        Op::Update(who, id, update) => match check_update(conn, who, *id, update) {
            Err(error) => Step::Done(Answer::Update(Err(error))),
            Ok(checked) => match write_update(conn, who, update, checked) {
                Ok(Some(contact)) => Step::Done(Answer::Update(Ok(contact))),
                Ok(None) => Step::Retry,
                Err(error) => Step::Poisoned(Answer::Update(Err(error))),
            },
        },
        Op::Delete(account_id, id) => match q::contact_exists_in(conn, *account_id, *id) {
            Err(error) => Step::Done(Answer::Delete(Err(error))),
            Ok(false) => Step::Done(Answer::Delete(Ok(false))),
            Ok(true) => match q::delete_contact(conn, *id) {
                Ok(()) => Step::Done(Answer::Delete(Ok(true))),
                Err(error) => Step::Poisoned(Answer::Delete(Err(error))),
            },
        },
    }
}

/// What an upsert's checks found.
struct CheckedUpsert {
    existing: Option<Contact>,
    assignees: Option<Vec<crate::domain::User>>,
}

/// Everything that can refuse an upsert, before it writes.
fn check_upsert(
    conn: &Connection,
    who: &Principal,
    change: &ContactChange,
) -> Result<CheckedUpsert, UpsertError> {
    let existing = q::load_contact(
        conn,
        who.account_id,
        ContactKey::Phone(&change.canonical_phone),
    )?;
    match (&existing, change.id) {
        (Some(contact), Some(id)) if contact.id != id => return Err(UpsertError::IdMismatch),
        (None, Some(id)) if q::contact_id_exists(conn, id)? => return Err(UpsertError::IdTaken),
        _ => {}
    }
    let assignees = match &change.default_assignees {
        Some(ids) => {
            let found = q::users_in(conn, who.account_id, ids)?;
            Some(resolve_users(ids, &found).map_err(UpsertError::UnknownAssignees)?)
        }
        None => None,
    };
    Ok(CheckedUpsert {
        existing,
        assignees,
    })
}

/// An upsert's writes; `Ok(None)` means the insert met a unique violation.
fn write_upsert(
    conn: &Connection,
    who: &Principal,
    change: &ContactChange,
    checked: CheckedUpsert,
) -> Result<Option<UpsertOutcome>, UpsertError> {
    let tags = match &change.tags {
        Some(names) => Some(q::resolve_tags(conn, who.account_id, names)?),
        None => None,
    };
    let resolved = Resolved {
        tags,
        assignees: checked.assignees,
    };
    let now = Utc::now();
    match checked.existing {
        Some(before) => {
            let mut contact = before.clone();
            apply_change(&mut contact, change, resolved, now)?;
            match q::update_contact_row(conn, &before, &contact)? {
                Ok(()) => {}
                Err(e) if q::is_unique_violation(&e) => return Ok(None),
                Err(e) => return Err(q::map_error(e).into()),
            }
            q::write_links(
                conn,
                Some(&before),
                &contact,
                change.tags.is_some(),
                change.default_assignees.is_some(),
            )?;
            Ok(Some(UpsertOutcome::Updated(contact)))
        }
        None => {
            let contact = new_contact(who, change, resolved, now);
            match q::insert_contact(conn, &contact)? {
                Ok(()) => {}
                Err(e) if q::is_unique_violation(&e) => return Ok(None),
                Err(e) => return Err(q::map_error(e).into()),
            }
            q::write_links(conn, None, &contact, true, true)?;
            Ok(Some(UpsertOutcome::Created(contact)))
        }
    }
}

/// What an update's checks found.
struct CheckedUpdate {
    contact: Contact,
    assignees: Option<Vec<crate::domain::User>>,
}

/// Everything that can refuse an update, before it writes, in the order
/// PostgreSQL meets them: unknown id, other id, unknown assignees, taken
/// phone.
fn check_update(
    conn: &Connection,
    who: &Principal,
    id: Uuid,
    update: &ContactUpdate,
) -> Result<CheckedUpdate, UpdateError> {
    let contact =
        q::load_contact(conn, who.account_id, ContactKey::Id(id))?.ok_or(UpdateError::NotFound)?;
    check_update_id(update, id)?;
    let assignees = match &update.default_assignees {
        Some(ids) => {
            let found = q::users_in(conn, who.account_id, ids)?;
            Some(resolve_users(ids, &found).map_err(UpdateError::UnknownAssignees)?)
        }
        None => None,
    };
    if let Some(phone) = update.new_canonical_phone(&contact) {
        if q::phone_exists(conn, who.account_id, phone)? {
            return Err(UpdateError::PhoneTaken);
        }
    }
    Ok(CheckedUpdate { contact, assignees })
}

/// An update's writes; `Ok(None)` means the row met a unique violation
/// (another process took the phone since the check).
fn write_update(
    conn: &Connection,
    who: &Principal,
    update: &ContactUpdate,
    checked: CheckedUpdate,
) -> Result<Option<Contact>, UpdateError> {
    let before = checked.contact;
    let mut contact = before.clone();
    let tags = match &update.tags {
        Some(names) => Some(q::resolve_tags(conn, who.account_id, names)?),
        None => None,
    };
    let resolved = Resolved {
        tags,
        assignees: checked.assignees,
    };
    apply_update(&mut contact, update, resolved, Utc::now())?;
    match q::update_contact_row(conn, &before, &contact)? {
        Ok(()) => {}
        Err(e) if q::is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(q::map_error(e).into()),
    }
    q::write_links(
        conn,
        Some(&before),
        &contact,
        update.tags.is_some(),
        update.default_assignees.is_some(),
    )?;
    Ok(Some(contact))
}
