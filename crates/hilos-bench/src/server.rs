//! The server under test: the release binary in a child process, and what
//! the kernel says about its memory.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long the server may take to migrate and bind.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How the server commits writes (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write is on disk (the default).
    Durable,
    /// `synchronous=NORMAL`: the last moments may be lost on power loss.
    Relaxed,
}

impl Durability {
    /// The value of `--durability`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Durable => "durable",
            Durability::Relaxed => "relaxed",
        }
    }
}

/// A running `hilos-server serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `bin` on `database_url`, bound to a free loopback port, its
    /// output appended to `log`.
    pub fn start(
        bin: &Path,
        database_url: &str,
        durability: Durability,
        work_dir: &Path,
        log: &Path,
    ) -> Result<Self> {
        let addr_file: PathBuf = work_dir.join("server.addr");
        let _ = std::fs::remove_file(&addr_file);
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = Command::new(bin)
            .arg("--database-url")
            .arg(database_url)
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--durability")
            .arg(durability.name())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if let Ok(addr) = text.trim().parse() {
                    server.addr = addr;
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited with {status} before listening; see {}",
                    log.display()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the server did not listen within {START_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resets the kernel's peak-RSS mark of the process (`VmHWM`).
    pub fn reset_peak_rss(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("resetting the peak RSS mark")
    }

    /// Peak resident memory since start or the last reset, bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status")?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .context("no VmHWM line in /proc status")?;
        Ok(kib * 1024)
    }

    /// Stops the server with SIGTERM and waits for it to exit cleanly.
    pub fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the server exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
