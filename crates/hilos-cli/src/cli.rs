//! The command line: `hilos [--base-url URL] [--token TOKEN] contacts ...`.

use std::path::PathBuf;

use clap::{error::ErrorKind, Args, CommandFactory, Parser, Subcommand};
use uuid::Uuid;

use crate::contact::ContactInput;

/// The base URL used when neither `--base-url` nor `HILOS_BASE_URL` is given.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000";

/// How many upserts `contacts import` keeps in flight by default.
pub const DEFAULT_CONCURRENCY: u16 = 8;

/// Command-line client for the Hilos contact API.
#[derive(Debug, Parser)]
#[command(name = "hilos", version, propagate_version = true)]
pub struct Cli {
    /// Base URL of the API: scheme, host and port, and a path prefix if any
    #[arg(
        long,
        global = true,
        env = "HILOS_BASE_URL",
        default_value = DEFAULT_BASE_URL,
        display_order = 900,
        value_name = "URL"
    )]
    pub base_url: String,

    /// API token, sent as `Authorization: Token <TOKEN>` (required)
    #[arg(
        long,
        global = true,
        env = "HILOS_TOKEN",
        hide_env_values = true,
        display_order = 901,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The token, or the usage error to exit with when there is none.
    ///
    /// clap cannot make a global flag required, so the check is made here,
    /// with clap's wording and exit code (2).
    pub fn token(&self) -> Result<String, clap::Error> {
        match self.token.as_deref().map(str::trim) {
            Some(token) if !token.is_empty() => Ok(token.to_owned()),
            _ => Err(Cli::command().error(
                ErrorKind::MissingRequiredArgument,
                "an API token is required: pass --token TOKEN or set HILOS_TOKEN",
            )),
        }
    }
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, read, update, delete and import contacts
    #[command(subcommand)]
    Contacts(ContactsCommand),
}

/// `hilos contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Create a contact, or update the one with the same phone; prints it as JSON
    Upsert(UpsertArgs),
    /// Update the contact with this id (PATCH); prints it as JSON
    Update(UpdateArgs),
    /// Print one contact as JSON
    Get {
        /// The contact's id (a UUID)
        id: Uuid,
    },
    /// Print one page of contacts as JSON (newest first)
    List(ListArgs),
    /// Delete a contact
    Delete {
        /// The contact's id (a UUID)
        id: Uuid,
    },
    /// Upsert every row of a CSV file, several requests at a time
    #[command(long_about = IMPORT_ABOUT)]
    Import(ImportArgs),
}

const IMPORT_ABOUT: &str = "\
Upsert every row of a CSV file, several requests at a time.

Columns are matched to fields by header name, ignoring case: phone (required),
first_name, last_name, email, external_url, source, and tags (several tags
separated by `;` or `|`). Every other column becomes a `meta` key named after
its header. Cells are trimmed; empty cells are not sent, so they never clear
a value the contact already has.

Rows are upserted by phone, so running the same file again adds no contacts.

Rows that fail are written to a report CSV: the row's own columns, then `line`
(the CSV line the row starts on, the header being line 1) and `error`. When
every row succeeds no report is written, and a report left at that path by an
earlier run is removed. A report can be fixed and imported again with
`--skip-column line --skip-column error`.

A final summary goes to standard error. Exit code 0: every row imported;
1: some rows failed (see the report) or the import could not run.";

/// The fields of a contact that the upsert and update commands take.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// First name
    #[arg(long, value_name = "NAME")]
    pub first_name: Option<String>,
    /// Last name
    #[arg(long, value_name = "NAME")]
    pub last_name: Option<String>,
    /// Email address
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// A URL of the contact in another system
    #[arg(long, value_name = "URL")]
    pub external_url: Option<String>,
    /// Where the contact came from
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// A meta attribute as KEY=VALUE (repeatable); merged into the existing meta
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,
    /// A tag (repeatable); added to the existing tags
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Replace the contact's tags with the given ones instead of adding to them
    #[arg(long)]
    pub overwrite_tags: bool,
    /// Replace the contact's meta with the given one instead of merging into it
    #[arg(long)]
    pub overwrite_meta: bool,
}

/// `hilos contacts upsert`.
#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// Phone number, the upsert key; any common format (+52 1 55 1234 5678, 5215512345678, ...)
    #[arg(long, value_name = "PHONE")]
    pub phone: String,
    /// The other fields.
    #[command(flatten)]
    pub fields: FieldArgs,
}

/// `hilos contacts update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The contact's id (a UUID)
    pub id: Uuid,
    /// A new phone number
    #[arg(long, value_name = "PHONE")]
    pub phone: Option<String>,
    /// The other fields.
    #[command(flatten)]
    pub fields: FieldArgs,
}

impl FieldArgs {
    /// The contact input these flags and `phone` describe.
    pub fn into_input(self, phone: Option<String>) -> ContactInput {
        ContactInput {
            phone,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            external_url: self.external_url,
            source: self.source,
            tags: self.tags,
            meta: self.meta,
            overwrite_tags: self.overwrite_tags,
            overwrite_meta: self.overwrite_meta,
        }
    }
}

/// `hilos contacts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Page number, from 1
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub page: Option<i64>,
    /// Contacts per page
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub page_size: Option<i64>,
    /// Only contacts whose phone, name, email or external URL contains this text
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

/// `hilos contacts import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file to import; its first line is the header
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// How many requests to keep in flight at once
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_CONCURRENCY,
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub concurrency: u16,
    /// Where to write the failed rows [default: FILE.failed.csv beside FILE.csv]
    #[arg(long, value_name = "FAILED.csv")]
    pub report: Option<PathBuf>,
    /// Ignore the column with this header (repeatable, any case)
    #[arg(long = "skip-column", value_name = "HEADER")]
    pub skip_columns: Vec<String>,
}

/// Parses `KEY=VALUE`; the value may itself contain `=`.
fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err("the key before `=` is empty".to_owned()),
        None => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_has_help() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help line");
            }
            for sub in command.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no about",
                    sub.get_name()
                );
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "hilos");
    }

    #[test]
    fn meta_pairs() {
        assert_eq!(
            parse_meta("plan=gold=plus"),
            Ok(("plan".to_owned(), "gold=plus".to_owned()))
        );
        assert_eq!(parse_meta("k="), Ok(("k".to_owned(), String::new())));
        assert!(parse_meta("novalue").is_err());
        assert!(parse_meta("=v").is_err());
    }

    #[test]
    fn global_flags_go_after_the_subcommand_too() {
        let cli = Cli::try_parse_from([
            "hilos",
            "contacts",
            "list",
            "--token",
            "abc",
            "--base-url",
            "http://h:1",
        ])
        .expect("parses");
        assert_eq!(cli.base_url, "http://h:1");
        assert_eq!(cli.token().expect("token"), "abc");
    }

    #[test]
    fn missing_token_is_a_usage_error() {
        let cli = Cli::try_parse_from(["hilos", "contacts", "list"]).expect("parses");
        if std::env::var_os("HILOS_TOKEN").is_none() {
            let error = cli.token().expect_err("no token");
            assert_eq!(error.exit_code(), 2);
        }
    }
}
