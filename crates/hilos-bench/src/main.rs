//! `hilos-bench`: preloads a fresh database through the store, starts the
//! release server on it, drives the workloads with the load generator and
//! prints throughput, latency, errors, peak RSS and the ratios between them.
//!
//! Run it through `cargo xtask bench`, which builds both binaries in
//! release mode first.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

mod cpu;
mod database;
mod load;
mod preload;
mod report;
mod server;
mod workload;

use cpu::CpuMeter;
use database::BenchDatabase;
use load::{LoadPlan, Stop};
use preload::Preloaded;
use report::{Measured, Report};
use server::{Durability, Server};
use workload::{NewPhones, Target, Workload};

/// Load benchmark of the Hilos contact server.
#[derive(Debug, Parser)]
#[command(name = "hilos-bench", version)]
struct Args {
    /// The `hilos-server` binary to run (a release build).
    #[arg(long)]
    server_bin: PathBuf,
    /// A PostgreSQL server to run on (`postgres://USER@HOST/DB`): the bench
    /// creates a database of its own there and drops it at the end. Without
    /// it, a fresh SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Contacts to preload.
    #[arg(long, default_value_t = 100_000)]
    contacts: u64,
    /// Concurrent keep-alive connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop each run after this many requests instead of after `--duration`.
    #[arg(long)]
    requests: Option<u64>,
    /// Unmeasured seconds of the same load before each run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Runs per workload; the report gives their median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads to run, comma-separated: ceiling, read, upsert-mix, list.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,read,upsert-mix,list"
    )]
    workloads: Vec<Workload>,
    /// Also run upsert-mix on a relaxed-durability server, alternating runs
    /// with the durable one, and report durable ÷ relaxed.
    #[arg(long)]
    compare_durability: bool,
    /// Also run upsert-mix on fresh databases of each of these sizes and
    /// report largest ÷ smallest.
    #[arg(long)]
    scale: bool,
    /// Preload sizes of `--scale`.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    scale_sizes: Vec<u64>,
    /// Threads of the load generator.
    #[arg(long, default_value_t = 1)]
    load_threads: usize,
    /// Where to keep the database and server log (default: a temporary
    /// directory, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.load_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: some requests failed; see the error samples above");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything one bench run shares.
struct Bench {
    args: Args,
    work_dir: PathBuf,
    new_phones: Arc<NewPhones>,
    report: Report,
}

impl Bench {
    fn plan(&self, server: &Server, workload: Workload) -> LoadPlan {
        LoadPlan {
            addr: server.addr,
            connections: self.args.connections,
            warmup: Duration::from_secs_f64(self.args.warmup),
            stop: match self.args.requests {
                Some(n) => Stop::Requests(n),
                None => Stop::After(Duration::from_secs_f64(self.args.duration)),
            },
            expect: workload.expect(),
        }
    }

    /// One measured run of `workload` against `server`.
    async fn measure(
        &self,
        server: &Server,
        workload: Workload,
        loaded: &Preloaded,
    ) -> Result<Measured> {
        let target = Target {
            host: server.addr.to_string(),
            token: loaded.token.clone(),
            preloaded: loaded.contacts,
            ids: loaded.ids.clone(),
            new_phones: self.new_phones.clone(),
        };
        server.reset_peak_rss()?;
        let meter = CpuMeter::start(server.pid(), self.args.database_url.is_some());
        let result = load::run(
            self.plan(server, workload),
            workload::requests(workload, target),
        )
        .await?;
        let cpu = meter.finish();
        let peak_rss = server.peak_rss()?;
        Ok(Measured {
            result,
            peak_rss,
            cpu,
        })
    }

    fn start_server(&self, db: &BenchDatabase, durability: Durability) -> Result<Server> {
        Server::start(
            &self.args.server_bin,
            db.url(),
            durability,
            &self.work_dir,
            &self.work_dir.join("server.log"),
        )
    }

    /// A fresh database with `contacts` preloaded, and what the preload
    /// made.
    async fn fresh(&self, label: &str, contacts: u64) -> Result<(BenchDatabase, Preloaded)> {
        let db =
            BenchDatabase::create(self.args.database_url.as_deref(), &self.work_dir, label).await?;
        println!("preloading {contacts} contacts ({})…", db.describe());
        let loaded = preload::preload(db.url(), contacts).await?;
        println!(
            "preloaded {} contacts in {:.1} s ({:.0} contacts/s through the store)",
            loaded.contacts,
            loaded.elapsed.as_secs_f64(),
            loaded.contacts as f64 / loaded.elapsed.as_secs_f64().max(f64::EPSILON)
        );
        Ok((db, loaded))
    }
}

async fn run(args: Args) -> Result<bool> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let work_dir = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => temp.path().to_owned(),
    };
    let mut bench = Bench {
        report: Report::new(&args),
        args,
        work_dir,
        new_phones: Arc::new(NewPhones::default()),
    };
    bench.report.print_header();

    // The main workloads on one preloaded database.
    let (db, loaded) = bench.fresh("main", bench.args.contacts).await?;
    let server = bench.start_server(&db, Durability::Durable)?;
    for workload in bench.args.workloads.clone() {
        for run in 1..=bench.args.runs {
            let measured = bench.measure(&server, workload, &loaded).await?;
            bench.report.run(workload.name(), run, &measured);
            bench.report.add(workload.name(), measured);
        }
    }
    server.stop()?;

    if bench.args.compare_durability {
        for run in 1..=bench.args.runs {
            for durability in [Durability::Durable, Durability::Relaxed] {
                let server = bench.start_server(&db, durability)?;
                let measured = bench.measure(&server, Workload::UpsertMix, &loaded).await?;
                server.stop()?;
                let label = format!("upsert-mix {}", durability.name());
                bench.report.run(&label, run, &measured);
                bench.report.add(&label, measured);
            }
        }
    }
    db.drop_database().await?;

    if bench.args.scale {
        for &size in &bench.args.scale_sizes.clone() {
            let (db, loaded) = bench.fresh(&format!("scale{size}"), size).await?;
            let server = bench.start_server(&db, Durability::Durable)?;
            let label = format!("upsert-mix @{size}");
            for run in 1..=bench.args.runs {
                let measured = bench.measure(&server, Workload::UpsertMix, &loaded).await?;
                bench.report.run(&label, run, &measured);
                bench.report.add(&label, measured);
            }
            server.stop()?;
            db.drop_database().await?;
        }
    }

    bench.report.print_summary();
    Ok(bench.report.errors() == 0)
}
