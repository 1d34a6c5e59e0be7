//! `hilos-server`: run the API, or manage accounts, users and tokens.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hilos_server::config::{
    AccountsCommand, Cli, Command, LogFormat, ServeArgs, TokensCommand, UsersCommand,
};
use hilos_server::domain::MetaLimits;
use hilos_server::serve::{serve_with, shutdown_signal};
use hilos_server::service::{ContactService, ServiceConfig};
use hilos_server::store::{AnyStore, ContactStore, StoreOptions};

/// mimalloc instead of the system allocator: requests allocate and free
/// many small buffers on several threads. In the load benchmark it cut the
/// server's CPU per upsert by about 15%, for about 45 MiB more peak RSS
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HILOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain lines,
    // and the server does not spend time on escape codes nobody sees.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open_store(cli: &Cli) -> Result<AnyStore> {
    let options = StoreOptions {
        max_connections: Some(cli.db_max_connections),
        durability: cli.durability,
        group_commit: cli.group_commit(),
    };
    AnyStore::connect(&cli.database_url, &options)
        .await
        .context("opening the database")
}

async fn run(cli: Cli) -> Result<()> {
    let store = open_store(&cli).await?;
    match cli.command {
        None => serve(store, ServeArgs::from_env()?).await,
        Some(Command::Serve(args)) => serve(store, args).await,
        Some(Command::Accounts(AccountsCommand::Create { name })) => {
            println!("{}", store.create_account(&name).await?);
            Ok(())
        }
        Some(Command::Users(UsersCommand::Create {
            account,
            email,
            first_name,
            last_name,
        })) => {
            let id = store
                .create_user(account, &email, &first_name, &last_name)
                .await?;
            println!("{id}");
            Ok(())
        }
        Some(Command::Tokens(TokensCommand::Create { user })) => {
            println!("{}", store.create_token(&user).await?);
            Ok(())
        }
        Some(Command::Tokens(TokensCommand::Revoke { key })) => {
            if store.revoke_token(&key).await? {
                eprintln!("revoked");
                Ok(())
            } else {
                bail!("no active token with that key")
            }
        }
    }
}

async fn serve(store: AnyStore, args: ServeArgs) -> Result<()> {
    let default_region = match &args.default_region {
        Some(code) => Some(
            code.to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| anyhow::anyhow!("unknown region {code:?}"))?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    let public_base_url = args
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    if let Some(key) = store.bootstrap_if_empty().await? {
        println!("API token: {key}");
        println!("Try it:");
        println!(
            "  curl -i -X POST {public_base_url}/api/contact -H 'Authorization: Token {key}' \
             -H 'Content-Type: application/json' \
             -d '{{\"phone\": \"+52 55 1234 5678\", \"first_name\": \"Ana\", \"tags\": [{{\"name\": \"vip\"}}]}}'"
        );
    }
    if let Some(path) = &args.addr_file {
        std::fs::write(path, addr.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    tracing::info!(%addr, "listening");

    let service = ContactService::new(
        store,
        ServiceConfig {
            public_base_url,
            max_body_bytes: args.max_body_bytes,
            meta_limits: MetaLimits {
                max_keys: args.meta_max_keys,
                ..MetaLimits::default()
            },
            default_region,
        },
    );
    let limits = args.limits();
    let app = hilos_server::app::build_with(Arc::new(service), &limits);
    serve_with(
        listener,
        app,
        shutdown_signal(),
        Duration::from_secs(args.drain_timeout),
        limits.header_read_timeout,
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}
