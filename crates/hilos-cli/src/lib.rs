//! `hilos`, a command-line tool for the Hilos contact API, built on the
//! generated [`hilos_client`].
//!
//! - [`cli`]: the command line (clap derive).
//! - [`commands`]: the one-request commands (`upsert`, `update`, `get`,
//!   `list`, `delete`).
//! - [`import`]: `contacts import`, the concurrent CSV import, with
//!   [`columns`] mapping CSV columns to contact fields and [`report`]
//!   writing the failed rows.
//! - [`contact`]: a contact's fields as text, turned into a request body with
//!   the client-side length checks.
//! - [`api`]: API errors as readable messages, and bounded retries.
//!
//! Exit codes: `0` success; `1` an error, or (for `import`) at least one row
//! failed; `2` a usage error.

#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod columns;
pub mod commands;
pub mod contact;
pub mod import;
pub mod report;

use std::process::ExitCode;

use anyhow::Context as _;
use hilos_client::Client;

use crate::cli::{Cli, Command, ContactsCommand};

/// Runs the parsed command line with `token`, and tells the exit code.
///
/// Errors that stop the command come back as `Err`; `main` prints them and
/// exits with `1`.
pub async fn run(cli: Cli, token: String) -> anyhow::Result<ExitCode> {
    let client = connect(&cli.base_url, &token)?;
    let Command::Contacts(command) = cli.command;
    match command {
        ContactsCommand::Upsert(args) => commands::upsert(&client, args).await?,
        ContactsCommand::Update(args) => commands::update(&client, args).await?,
        ContactsCommand::Get { id } => commands::get(&client, id).await?,
        ContactsCommand::List(args) => commands::list(&client, args).await?,
        ContactsCommand::Delete { id } => commands::delete(&client, id).await?,
        ContactsCommand::Import(args) => {
            let summary = import::import(&client, &cli.base_url, &args.into()).await?;
            if summary.failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A client for the API at `base_url`, checking the URL first so that a typo
/// gives a clear message rather than a failed request per row.
pub fn connect(base_url: &str, token: &str) -> anyhow::Result<Client> {
    let url = reqwest::Url::parse(base_url)
        .with_context(|| format!("--base-url {base_url:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("--base-url {base_url:?} must start with http:// or https://");
    }
    Client::with_token(base_url, token).map_err(|e| anyhow::anyhow!(e))
}
