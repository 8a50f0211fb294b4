//! `hotspotd`: parse arguments, load configuration, start logging, run.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use hotspot_edge::config::{self, RawConfig};
use hotspot_edge::{firewall, store::Store, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "hotspotd",
    version,
    about = "Captive portal and access control for one site"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, env = "HOTSPOTD_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a complete, commented configuration with every default.
    Example,
    /// Check the configuration file and print any problem.
    Check,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            RawConfig::load(&cli.config)?.validate()?;
            println!("{}: ok", cli.config.display());
            Ok(())
        }
        Command::Run => {
            let config = Arc::new(RawConfig::load(&cli.config)?.validate()?);
            telemetry::init();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(run(config))
        }
    }
}

async fn run(config: Arc<config::Config>) -> anyhow::Result<()> {
    let store = Store::open(&config.store_path)?;
    let listener = tokio::net::TcpListener::bind(config.portal_listen)
        .await
        .with_context(|| format!("binding the portal to {}", config.portal_listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        store = %config.store_path.display(),
        version = env!("CARGO_PKG_VERSION"),
        "hotspotd started"
    );
    // The nftables backend replaces the recording firewall when enforcement lands.
    let firewall = Arc::new(firewall::Recording::default());
    hotspot_edge::serve(config, store, firewall, listener, shutdown_signal()).await?;
    tracing::info!("hotspotd stopped");
    Ok(())
}

/// Completes on SIGTERM (what procd and systemd send) or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
