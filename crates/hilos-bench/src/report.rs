//! What the bench prints: one line per run, then medians and ratios.

use std::collections::BTreeMap;

use crate::cpu::CpuUse;
use crate::load::LoadResult;
use crate::Args;

/// One run's load figures and the server's peak RSS during it.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The load generator's figures.
    pub result: LoadResult,
    /// Peak resident memory of the server during the run, bytes.
    pub peak_rss: u64,
    /// Cores used by the server, the load generator and PostgreSQL.
    pub cpu: CpuUse,
}

/// The medians of a labelled series of runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median requests per second.
    pub throughput: f64,
    /// Median p50, ms.
    pub p50: f64,
    /// Median p99, ms.
    pub p99: f64,
    /// Highest latency of all runs, ms.
    pub max: f64,
    /// Errors of all runs.
    pub errors: u64,
    /// Highest peak RSS of all runs, MiB.
    pub rss_mib: f64,
    /// Median cores used by the server.
    pub server_cores: f64,
    /// Median cores used by the load generator.
    pub load_cores: f64,
    /// Median cores used by PostgreSQL, when it was measured.
    pub postgres_cores: Option<f64>,
}

/// Collects runs by label, in the order labels first appear.
#[derive(Debug)]
pub struct Report {
    header: Vec<String>,
    order: Vec<String>,
    runs: BTreeMap<String, Vec<Measured>>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `server 1.31 (hilos-writer 0.66, tokio-rt-worker 0.60, …)  load generator 0.58`.
fn cpu_line(cpu: &CpuUse) -> String {
    let threads: Vec<String> = cpu
        .server_threads
        .iter()
        .take(4)
        .map(|(name, cores)| format!("{name} {cores:.2}"))
        .collect();
    let mut line = format!(
        "server {:.2} cores ({})  load generator {:.2}",
        cpu.server,
        threads.join(", "),
        cpu.load_generator
    );
    if let Some(postgres) = cpu.postgres {
        line.push_str(&format!("  PostgreSQL {postgres:.2}"));
    }
    line
}

fn memory_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Report {
    /// A report for a bench run with these arguments.
    pub fn new(args: &Args) -> Self {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let stop = match args.requests {
            Some(n) => format!("{n} requests"),
            None => format!("{} s", args.duration),
        };
        Self {
            header: vec![
                format!("machine: {cores} cores, {} memory", memory_total()),
                format!(
                    "database: {}; {} contacts preloaded",
                    if args.database_url.is_some() {
                        "PostgreSQL"
                    } else {
                        "SQLite"
                    },
                    args.contacts
                ),
                format!(
                    "load: -c {} keep-alive connections, {} load-generator thread(s), \
                     {} s warm-up, {stop} per run, {} run(s) per workload",
                    args.connections, args.load_threads, args.warmup, args.runs
                ),
            ],
            order: Vec::new(),
            runs: BTreeMap::new(),
        }
    }

    /// Prints what the run is.
    pub fn print_header(&self) {
        for line in &self.header {
            println!("{line}");
        }
        println!();
    }

    /// Prints one run as it finishes.
    pub fn run(&self, label: &str, run: usize, m: &Measured) {
        let r = &m.result;
        println!(
            "{label:<22} run {run}: {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  \
             max {:>8.2} ms  errors {}  peak RSS {:.1} MiB",
            r.throughput(),
            r.latency_ms(0.50),
            r.latency_ms(0.99),
            r.max_ms(),
            r.errors,
            m.peak_rss as f64 / 1_048_576.0
        );
        println!(
            "{:<29}cpu: {}  server {:.0} µs/req",
            "",
            cpu_line(&m.cpu),
            m.cpu.server * 1e6 / r.throughput().max(f64::EPSILON)
        );
        for sample in &r.error_samples {
            println!("    unexpected answer: {sample}");
        }
    }

    /// Records a run under `label`.
    pub fn add(&mut self, label: &str, m: Measured) {
        if !self.runs.contains_key(label) {
            self.order.push(label.to_owned());
        }
        self.runs.entry(label.to_owned()).or_default().push(m);
    }

    /// The medians of the runs under `label`.
    pub fn summary(&self, label: &str) -> Option<Summary> {
        let runs = self.runs.get(label)?;
        Some(Summary {
            throughput: median(runs.iter().map(|m| m.result.throughput()).collect()),
            p50: median(runs.iter().map(|m| m.result.latency_ms(0.50)).collect()),
            p99: median(runs.iter().map(|m| m.result.latency_ms(0.99)).collect()),
            max: runs.iter().map(|m| m.result.max_ms()).fold(0.0, f64::max),
            errors: runs.iter().map(|m| m.result.errors).sum(),
            rss_mib: runs.iter().map(|m| m.peak_rss).max().unwrap_or(0) as f64 / 1_048_576.0,
            server_cores: median(runs.iter().map(|m| m.cpu.server).collect()),
            load_cores: median(runs.iter().map(|m| m.cpu.load_generator).collect()),
            postgres_cores: runs
                .iter()
                .map(|m| m.cpu.postgres)
                .collect::<Option<Vec<f64>>>()
                .map(median),
        })
    }

    /// Errors over every run.
    pub fn errors(&self) -> u64 {
        self.runs.values().flatten().map(|m| m.result.errors).sum()
    }

    fn ratio(&self, label: &str, numerator: &str, denominator: &str) {
        if let (Some(n), Some(d)) = (self.summary(numerator), self.summary(denominator)) {
            println!(
                "{label:<30} {:.2}  ({:.0} / {:.0} req/s)",
                n.throughput / d.throughput,
                n.throughput,
                d.throughput
            );
        }
    }

    /// Prints the medians table and the ratios.
    pub fn print_summary(&self) {
        println!();
        println!("medians of the runs:");
        println!(
            "| workload | req/s | p50 ms | p99 ms | max ms | errors | peak RSS MiB \
             | server cores | load-generator cores | PostgreSQL cores | server CPU µs/req |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for label in &self.order {
            let Some(s) = self.summary(label) else {
                continue;
            };
            let postgres = s
                .postgres_cores
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
            println!(
                "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.2} | {:.2} | {postgres} | {:.0} |",
                s.throughput,
                s.p50,
                s.p99,
                s.max,
                s.errors,
                s.rss_mib,
                s.server_cores,
                s.load_cores,
                s.server_cores * 1e6 / s.throughput.max(f64::EPSILON),
            );
        }
        println!();
        self.ratio("upsert-mix ÷ ceiling", "upsert-mix", "ceiling");
        self.ratio("upsert-mix ÷ read", "upsert-mix", "read");
        self.ratio(
            "durable ÷ relaxed",
            "upsert-mix durable",
            "upsert-mix relaxed",
        );
        let scale: Vec<&String> = self
            .order
            .iter()
            .filter(|l| l.starts_with("upsert-mix @"))
            .collect();
        if let (Some(first), Some(last)) = (scale.first(), scale.last()) {
            if first != last {
                self.ratio(&format!("{last} ÷ {first}"), last, first);
            }
        }
    }
}
