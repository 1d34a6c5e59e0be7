//! The command line. Every flag has an environment variable twin.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::store::sqlite::GroupCommit;
use crate::store::Durability;

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

    /// `durable`: a write is on disk before its answer (the default).
    /// `relaxed`: answers may come before the disk has the write, so a power
    /// loss or OS crash can lose the last moments of acknowledged writes.
    #[arg(
        long,
        env = "HILOS_DURABILITY",
        value_enum,
        default_value_t = Durability::Durable,
        global = true
    )]
    pub durability: Durability,

    /// SQLite: most contact writes committed together in one transaction
    /// (one disk sync).
    #[arg(
        long,
        env = "HILOS_GROUP_COMMIT_MAX_BATCH",
        default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=100_000),
        global = true
    )]
    pub group_commit_max_batch: u64,

    /// SQLite: microseconds the first write of a batch may wait for others
    /// to join it. 0 (the default): a batch is whatever arrived while the
    /// previous one was committing, so no write waits for company.
    #[arg(
        long,
        env = "HILOS_GROUP_COMMIT_MAX_WAIT_US",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(0..=1_000_000),
        global = true
    )]
    pub group_commit_max_wait_us: u64,

    /// Log format on standard error.
    #[arg(long, env = "HILOS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The SQLite writer's batching bounds.
    pub fn group_commit(&self) -> GroupCommit {
        GroupCommit {
            max_batch: usize::try_from(self.group_commit_max_batch).unwrap_or(usize::MAX),
            max_wait: std::time::Duration::from_micros(self.group_commit_max_wait_us),
        }
    }
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

    /// Seconds a connection gets to send a complete request head (and
    /// an idle keep-alive connection to start the next one) before it is
    /// closed.
    #[arg(long, env = "HILOS_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,

    /// Seconds a request gets to be answered, reading its body included;
    /// later, the answer is 503 with `Retry-After`.
    #[arg(long, env = "HILOS_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,

    /// Most requests handled at once; more get 503 with `Retry-After: 1`
    /// at once instead of queueing. Health, readiness and metrics are
    /// exempt.
    #[arg(long, env = "HILOS_MAX_CONCURRENT_REQUESTS", default_value_t = default_max_concurrent_requests(), value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrent_requests: u64,

    /// Requests a minute allowed per `Authorization` value; more get 429
    /// with `Retry-After`. Off when omitted. Counted in this process's
    /// memory: each replica counts on its own.
    #[arg(long, env = "HILOS_RATE_LIMIT_PER_MINUTE", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: Option<u32>,

    /// Write the bound address to this file once listening (for scripts
    /// that bind port 0).
    #[arg(long, env = "HILOS_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
}

const fn default_max_concurrent_requests() -> u64 {
    crate::limits::DEFAULT_MAX_CONCURRENT_REQUESTS as u64
}

impl ServeArgs {
    /// The limits these options ask for.
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout),
            request_timeout: std::time::Duration::from_secs(self.request_timeout),
            max_concurrent_requests: usize::try_from(self.max_concurrent_requests)
                .unwrap_or(usize::MAX),
            rate_limit_per_minute: self.rate_limit_per_minute,
        }
    }

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
