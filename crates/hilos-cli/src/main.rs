//! `hilos`: the command-line tool for the Hilos contact API.
//!
//! Everything lives in the `hilos_cli` library; this file parses the command
//! line, runs it and turns the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use hilos_cli::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = match cli.token() {
        Ok(token) => token,
        Err(usage) => usage.exit(),
    };
    match hilos_cli::run(cli, token).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
