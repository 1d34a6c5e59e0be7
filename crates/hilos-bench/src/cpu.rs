//! Where the machine's CPU went during a run: the server (by thread name),
//! the load generator (this process), and PostgreSQL (every process named
//! `postgres`), read from `/proc` before and after.
//!
//! The figures are CPU seconds divided by wall-clock seconds, so `1.00`
//! is one core kept busy. On a machine whose cores are all busy, the
//! shares tell which part bounds the throughput.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`). Linux has
/// reported 100 on every architecture for user space since 2.6.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks (`utime + stime`) by part at one moment.
#[derive(Debug, Clone, Default)]
struct Ticks {
    /// Server threads by thread id, with their names.
    server: BTreeMap<u32, (String, u64)>,
    load_generator: u64,
    /// PostgreSQL processes by pid.
    postgres: BTreeMap<u32, u64>,
}

/// The `comm` and `utime + stime` of the text of a `/proc/.../stat` file.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so it
    // ends at the last `)`.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // Counting from state (field 3 of proc(5)), utime is field 14 and
    // stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn stat_ticks(path: &str) -> Option<(String, u64)> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// Numeric entries of a `/proc` directory.
fn pids(dir: &str) -> impl Iterator<Item = u32> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

fn read_ticks(server_pid: u32, count_postgres: bool) -> Ticks {
    let mut ticks = Ticks::default();
    for tid in pids(&format!("/proc/{server_pid}/task")) {
        if let Some(named) = stat_ticks(&format!("/proc/{server_pid}/task/{tid}/stat")) {
            ticks.server.insert(tid, named);
        }
    }
    ticks.load_generator = stat_ticks("/proc/self/stat").map_or(0, |(_, t)| t);
    if count_postgres {
        for pid in pids("/proc") {
            if let Some((comm, t)) = stat_ticks(&format!("/proc/{pid}/stat")) {
                if comm == "postgres" {
                    ticks.postgres.insert(pid, t);
                }
            }
        }
    }
    ticks
}

/// Cores used by each part over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuUse {
    /// The whole server.
    pub server: f64,
    /// Server threads by name (threads of one name summed), busiest first.
    pub server_threads: Vec<(String, f64)>,
    /// This process: the load generator.
    pub load_generator: f64,
    /// PostgreSQL's processes, when the run uses PostgreSQL.
    pub postgres: Option<f64>,
}

impl CpuUse {
    /// The use between two readings `seconds` apart. A thread or process
    /// that started in between counts from zero; one that ended in between
    /// is missing from `after` and is not counted.
    fn between(before: &Ticks, after: &Ticks, seconds: f64, count_postgres: bool) -> CpuUse {
        let seconds = seconds.max(f64::EPSILON);
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / seconds;
        let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
        for (tid, (name, t)) in &after.server {
            let earlier = before.server.get(tid).map_or(0, |(_, t)| *t);
            *by_name.entry(name).or_default() += t.saturating_sub(earlier);
        }
        let server_total: u64 = by_name.values().sum();
        let mut server_threads: Vec<(String, f64)> = by_name
            .into_iter()
            .filter(|(_, t)| *t > 0)
            .map(|(name, t)| (name.to_owned(), cores(t)))
            .collect();
        server_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        let postgres: u64 = after
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        CpuUse {
            server: cores(server_total),
            server_threads,
            load_generator: cores(after.load_generator.saturating_sub(before.load_generator)),
            postgres: count_postgres.then(|| cores(postgres)),
        }
    }
}

/// A measurement in progress.
#[derive(Debug)]
pub struct CpuMeter {
    server_pid: u32,
    count_postgres: bool,
    started: Instant,
    before: Ticks,
}

impl CpuMeter {
    /// Starts measuring the server `server_pid`, and PostgreSQL if asked.
    pub fn start(server_pid: u32, count_postgres: bool) -> Self {
        Self {
            server_pid,
            count_postgres,
            started: Instant::now(),
            before: read_ticks(server_pid, count_postgres),
        }
    }

    /// The cores each part used since [`CpuMeter::start`].
    pub fn finish(self) -> CpuUse {
        let after = read_ticks(self.server_pid, self.count_postgres);
        let seconds = self.started.elapsed().as_secs_f64();
        CpuUse::between(&self.before, &after, seconds, self.count_postgres)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_past_odd_names() {
        let line = "4242 (tokio (rt) worker) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3";
        assert_eq!(
            parse_stat(line),
            Some(("tokio (rt) worker".to_owned(), 175))
        );
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_reads_as_a_server_with_named_threads() {
        let ticks = read_ticks(std::process::id(), false);
        assert!(!ticks.server.is_empty(), "own threads listed: {ticks:?}");
        assert!(ticks.postgres.is_empty());
    }

    #[test]
    fn use_is_the_difference_per_thread_and_process_over_the_seconds() {
        let named = |pairs: &[(u32, &str, u64)]| {
            pairs
                .iter()
                .map(|&(id, name, t)| (id, (name.to_owned(), t)))
                .collect()
        };
        let before = Ticks {
            server: named(&[(1, "main", 10), (2, "worker", 100), (3, "worker", 50)]),
            load_generator: 1_000,
            postgres: [(7, 500), (8, 9_000)].into(),
        };
        let after = Ticks {
            // Thread 4 started during the run; thread 3 ended.
            server: named(&[(1, "main", 10), (2, "worker", 300), (4, "writer", 150)]),
            load_generator: 1_100,
            // Backend 8 ended (its ticks must not turn the sum negative);
            // backend 9 started.
            postgres: [(7, 700), (9, 100)].into(),
        };
        let used = CpuUse::between(&before, &after, 2.0, true);
        assert_eq!(
            used,
            CpuUse {
                server: 1.75,
                server_threads: vec![("worker".into(), 1.0), ("writer".into(), 0.75)],
                load_generator: 0.5,
                postgres: Some(1.5),
            }
        );
        assert_eq!(CpuUse::between(&before, &after, 2.0, false).postgres, None);
    }
}
