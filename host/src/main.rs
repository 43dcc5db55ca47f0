//! The `duckstore` binary.

mod api;
mod audit;
mod auth;
mod config;
mod idempotency;
mod imports;
mod jobs;
mod keboola;
mod metrics;
mod native_engine;
mod pg;
mod plugins;
mod server;
mod service;
mod storage;
mod sweeper;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigArgs, LogFormat};

/// duckstore: an on-premise Keboola Storage on DuckDB and a local disk.
#[derive(Parser)]
#[command(name = "duckstore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: REST API (and PostgreSQL wire protocol for workspaces).
    ///
    /// On first start without DUCKSTORE_ADMIN_KEY an admin key is generated and printed once.
    Serve(ConfigArgs),
    /// Print the effective configuration (secrets omitted) as TOML and exit.
    Config(ConfigArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            init_logging(config.log_format);
            tokio::runtime::Runtime::new()?.block_on(server::serve(config))
        }
        Command::Config(args) => {
            print!("{}", toml::to_string(&Config::load(&args)?)?);
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
