//! The command line. Every flag has an environment variable twin.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Self-hostable server for the Hilos contact API.
#[derive(Debug, Parser)]
#[command(name = "hilos-server", version, about)]
pub struct Cli {
    /// Database to use: `sqlite://PATH` (created if missing) or
    /// `postgres://USER@HOST/DB` (must exist). Migrations run on start.
    #[arg(
        long,
        env = "HILOS_DATABASE_URL",
        default_value = "sqlite://hilos.db",
        global = true
    )]
    pub database_url: String,

    /// Most connections to a PostgreSQL database this process opens.
    #[arg(
        long,
        env = "HILOS_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// Log format on standard error.
    #[arg(long, env = "HILOS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HILOS_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Absolute URL clients reach this server at, used for links in
    /// responses. Defaults to `http://` and the bound address.
    #[arg(long, env = "HILOS_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "HILOS_MAX_BODY_BYTES", default_value_t = hilos_api::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most keys a contact's `meta` may hold.
    #[arg(long, env = "HILOS_META_MAX_KEYS", default_value_t = 1000)]
    pub meta_max_keys: usize,

    /// Region (ISO 3166 code such as `MX`) for phone numbers written
    /// without a country code. Without it, such numbers are refused.
    #[arg(long, env = "HILOS_DEFAULT_REGION")]
    pub default_region: Option<String>,

    /// Seconds to let requests in flight finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "HILOS_DRAIN_TIMEOUT", default_value_t = 30)]
    pub drain_timeout: u64,

    /// Write the bound address to this file once listening (for scripts
    /// that bind port 0).
    #[arg(long, env = "HILOS_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
}

impl ServeArgs {
    /// The options of a bare `hilos-server`: defaults and environment
    /// variables, as `serve` with no flags would take.
    pub fn from_env() -> Result<Self, clap::Error> {
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let matches = command.try_get_matches_from(["serve"])?;
        ServeArgs::from_arg_matches(&matches)
    }
}

/// `accounts ...`
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account and print its id.
    Create {
        /// The account's name.
        name: String,
    },
}

/// `users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user in an account and print its id.
    Create {
        /// The account id.
        #[arg(long)]
        account: i64,
        /// The user's email address (unique).
        #[arg(long)]
        email: String,
        /// First name.
        #[arg(long, default_value = "")]
        first_name: String,
        /// Last name.
        #[arg(long, default_value = "")]
        last_name: String,
    },
}

/// `tokens ...`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token for a user and print only the key.
    Create {
        /// The user's email address.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token; its next request gets 401.
    Revoke {
        /// The key to revoke.
        key: String,
    },
}
