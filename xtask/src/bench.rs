//! `cargo xtask bench`: builds `hilos-server` and `hilos-bench` in release
//! mode, then runs the bench with the server binary it just built. Every
//! argument after `bench` goes to `hilos-bench`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// Builds both binaries and runs the bench; its exit status is ours.
pub fn run(root: &Path, args: &[&str]) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--package",
            "hilos-server",
            "--package",
            "hilos-bench",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the release binaries failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), Into::into)
        .join("release");
    let status = Command::new(target.join("hilos-bench"))
        .current_dir(root)
        .arg("--server-bin")
        .arg(target.join("hilos-server"))
        .args(args)
        .status()
        .context("running hilos-bench")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
