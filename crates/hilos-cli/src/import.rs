//! `contacts import`: upserts every row of a CSV file, `N` requests at a
//! time, with a progress bar, a summary and a report of the failed rows.
//!
//! The file is read as a stream (one pass to count rows for the progress
//! bar, one to import), so its size is bounded by the disk, not memory;
//! only failed rows are kept, to write the report sorted by line.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt as _};
use hilos_client::Client;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::api::{ApiError, Retrier};
use crate::cli::ImportArgs;
use crate::columns::Columns;
use crate::contact::NOT_SENT;
use crate::report::{self, FailedRow};

/// What to import, and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The CSV file.
    pub file: PathBuf,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Where to write failed rows; `None` for `FILE.failed.csv`.
    pub report: Option<PathBuf>,
    /// Headers of columns to ignore.
    pub skip_columns: Vec<String>,
}

impl From<ImportArgs> for ImportOptions {
    fn from(args: ImportArgs) -> Self {
        Self {
            file: args.file,
            concurrency: usize::from(args.concurrency.max(1)),
            report: args.report,
            skip_columns: args.skip_columns,
        }
    }
}

/// How an import went.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// Rows upserted.
    pub imported: u64,
    /// Rows that failed.
    pub failed: u64,
    /// Requests repeated after a busy answer or a refused connection.
    pub retried: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// The report of failed rows, when one was written.
    pub report: Option<PathBuf>,
}

impl ImportSummary {
    /// Rows handled per second.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            (self.imported + self.failed) as f64 / seconds
        } else {
            0.0
        }
    }

    /// `imported 9800 rows, 200 failed, 12.0 s, 816 rows/s`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "imported {} rows, {} failed, {:.1} s, {:.0} rows/s",
            self.imported,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        if self.retried > 0 {
            line.push_str(&format!(", {} retried", self.retried));
        }
        line
    }
}

/// One CSV record.
struct Row {
    line: u64,
    cells: Vec<String>,
    /// Set when the record is not valid UTF-8 (its cells are then decoded
    /// lossily, for the report).
    problem: Option<String>,
}

impl Row {
    fn from_record(record: csv::ByteRecord) -> Self {
        let line = record.position().map_or(0, csv::Position::line);
        let mut problem = None;
        let cells = record
            .iter()
            .map(|cell| match std::str::from_utf8(cell) {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    problem = Some(format!("the row is not valid UTF-8 {NOT_SENT}"));
                    String::from_utf8_lossy(cell).into_owned()
                }
            })
            .collect();
        Self {
            line,
            cells,
            problem,
        }
    }

    fn failed(self, error: String) -> FailedRow {
        FailedRow {
            line: self.line,
            cells: self.cells,
            error,
        }
    }
}

/// Imports `options.file` through `client` (whose API lives at `base_url`),
/// prints the summary on standard error and writes the report.
///
/// `Err` when the import cannot run (unreadable file, no `phone` column,
/// API unreachable or token refused); rows that fail are counted in the
/// summary instead.
pub async fn import(
    client: &Client,
    base_url: &str,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let file = &options.file;
    let report_path = options
        .report
        .clone()
        .unwrap_or_else(|| report::default_path(file));
    if same_file(file, &report_path) {
        anyhow::bail!(
            "the report {} would overwrite the input; choose another --report",
            report_path.display()
        );
    }

    let total = count_rows(file)?;
    let mut reader = open(file)?;
    let headers = reader
        .headers()
        .with_context(|| format!("cannot read the header of {}", file.display()))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let columns = Columns::from_headers(&headers, &options.skip_columns)
        .with_context(|| format!("cannot import {}", file.display()))?;

    let retrier = Retrier::default();
    // One cheap request first: a wrong URL or token fails here, once,
    // rather than once per row.
    if let Err(error) = retrier
        .run(|| client.list_contacts(Some(1), Some(1), None))
        .await
    {
        let error = ApiError::from_client(error).await;
        anyhow::bail!("cannot use the API at {base_url}: {error}");
    }

    let progress = progress_bar(total);
    let started = Instant::now();
    let mut imported = 0u64;
    let mut failures = Vec::new();
    {
        let (retrier, columns) = (&retrier, &columns);
        let rows = reader.into_byte_records().map(|r| r.map(Row::from_record));
        let mut outcomes = stream::iter(rows)
            .map(|row| async move {
                match row {
                    Ok(row) => Ok(upsert_row(client, retrier, columns, row).await),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(options.concurrency.max(1));
        while let Some(outcome) = outcomes.next().await {
            let outcome = outcome.with_context(|| format!("cannot read {}", file.display()));
            match outcome {
                Ok(None) => imported += 1,
                Ok(Some(failed)) => {
                    failures.push(failed);
                    progress.set_message(format!("{} failed", failures.len()));
                }
                Err(e) => {
                    progress.abandon();
                    return Err(e);
                }
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();

    failures.sort_by_key(|row| row.line);
    let mut summary = ImportSummary {
        imported,
        failed: failures.len() as u64,
        retried: retrier.retried(),
        elapsed: started.elapsed(),
        report: None,
    };
    eprintln!("{}", summary.line());
    if failures.is_empty() {
        remove_stale_report(&report_path);
    } else {
        report::write(&report_path, &headers, &failures)?;
        eprintln!("failed rows written to {}", report_path.display());
        summary.report = Some(report_path);
    }
    Ok(summary)
}

/// Upserts one row; `Some` with the reason when it failed.
async fn upsert_row(
    client: &Client,
    retrier: &Retrier,
    columns: &Columns,
    row: Row,
) -> Option<FailedRow> {
    if let Some(problem) = row.problem.clone() {
        return Some(row.failed(problem));
    }
    let body = match columns
        .contact(&row.cells)
        .and_then(|input| input.to_body())
    {
        Ok(body) => body,
        Err(problems) => return Some(row.failed(problems.join("; "))),
    };
    match retrier.run(|| client.create_or_update_contact(&body)).await {
        Ok(_) => None,
        Err(error) => Some(row.failed(ApiError::from_client(error).await.to_string())),
    }
}

fn open(file: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("cannot open {}", file.display()))
}

/// The number of records after the header, for the progress bar.
fn count_rows(file: &Path) -> anyhow::Result<u64> {
    let mut reader = open(file)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader
        .read_byte_record(&mut record)
        .with_context(|| format!("cannot read {}", file.display()))?
    {
        rows += 1;
    }
    Ok(rows)
}

/// A bar with rate and ETA on a terminal; nothing otherwise (the summary
/// line is printed either way).
fn progress_bar(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows, {rate}, ETA {eta} {msg}",
    ) {
        let style = style
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// After a clean run, a report left by an earlier run would suggest rows
/// failed; it goes.
fn remove_stale_report(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => eprintln!("removed the old report {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!(
            "warning: could not remove the old report {}: {e}",
            path.display()
        ),
    }
}
