//! `cargo xtask`: development tasks for the workspace.

use std::process::ExitCode;

use xtask::codegen::{self, Mode};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  codegen            regenerate the client and server-trait crates from openapi/hilos.yaml
  codegen --check    write nothing; fail with a diff if a generated file is stale
  bench [ARGS…]      build the server and the load generator in release mode and run
                     the load benchmark (`cargo xtask bench --help` for its options)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let ["bench", rest @ ..] = args.as_slice() {
        return match xtask::bench::run(&xtask::project_root(), rest) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(&xtask::project_root(), Mode::Write),
        ["codegen", "--check"] => codegen::run(&xtask::project_root(), Mode::Check),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(report) => {
            print!("{report}");
            if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
