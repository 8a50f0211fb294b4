//! `hotspotd`: parse arguments, load configuration, start logging, run.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use hotspot_edge::clock::{Clock, SystemClock};
use hotspot_edge::config::{self, NeighbourSource, RawConfig};
use hotspot_edge::firewall::nft::{Nft, NftSettings};
use hotspot_edge::firewall::settings::Backend;
use hotspot_edge::firewall::{self, Firewall};
use hotspot_edge::net::{KernelNeighbours, LeaseFile, LeaseNeighbours, Neighbours};
use hotspot_edge::sessions::Sessions;
use hotspot_edge::sync::client::{ClaimRequest, SyncError};
use hotspot_edge::sync::credential::Credential;
use hotspot_edge::{admin, portal, store::Store, sync, telemetry};

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
    /// What the site holds: live sessions, vouchers, devices, unsent events.
    Status,
    /// The live sessions.
    Clients,
    /// End a device's session now.
    Kick {
        /// The device's MAC address.
        mac: String,
    },
    /// Block a device: it never passes and sees the reason on the portal.
    Block {
        mac: String,
        /// Shown to the guest.
        #[arg(long, default_value = "Blocked by the site operator.")]
        reason: String,
    },
    /// Register a device to connect automatically (and unblock it).
    Allow {
        mac: String,
        /// Its rate each way, Mbit/s (0: no limit).
        #[arg(long, default_value_t = 5)]
        mbps: i64,
    },
    /// Work with vouchers.
    #[command(subcommand)]
    Vouchers(VoucherCommand),
    /// Claim this router's hotspot with the one-time code from the cloud and store the device
    /// credential (mode 0600) where `[cloud] credential` says.
    Claim {
        /// The cloud's URL (default: `[cloud] url`).
        #[arg(long)]
        cloud: Option<String>,
        /// The claim code, as shown to the operator (XXXX-XXXX-XXXX).
        code: String,
    },
}

#[derive(Debug, Subcommand)]
enum VoucherCommand {
    /// Import vouchers from a CSV file whose header names its columns: code and type, and
    /// optionally duration_minutes, data_limit_mb, max_devices, expires, price, plan.
    /// All lines or none.
    Import { file: PathBuf },
    /// Show a voucher and whether a new device could use it now.
    Check { code: String },
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
        Command::Status => admin_cmd(&cli.config, admin::status),
        Command::Clients => admin_cmd(&cli.config, |s, _, now| admin::clients(s, now)),
        Command::Kick { mac } => admin_cmd(&cli.config, |s, _, now| admin::kick(s, &mac, now)),
        Command::Block { mac, reason } => {
            admin_cmd(&cli.config, |s, _, now| admin::block(s, &mac, &reason, now))
        }
        Command::Allow { mac, mbps } => {
            admin_cmd(&cli.config, |s, _, now| admin::allow(s, &mac, mbps, now))
        }
        Command::Vouchers(VoucherCommand::Import { file }) => {
            let csv = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            admin_cmd(&cli.config, |s, c, now| admin::import(s, c, &csv, now))
        }
        Command::Vouchers(VoucherCommand::Check { code }) => {
            admin_cmd(&cli.config, |s, c, now| admin::check(s, c, &code, now))
        }
        Command::Claim { cloud, code } => claim(&cli.config, cloud, &code),
        Command::Run => {
            let config = Arc::new(RawConfig::load(&cli.config)?.validate()?);
            telemetry::init();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                // SQLite work is serialised on one connection: more threads only add memory.
                .max_blocking_threads(8)
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(run(config))
        }
    }
}

/// `hotspotd claim`: exchanges the code for a device credential and stores it.
fn claim(path: &std::path::Path, cloud: Option<String>, code: &str) -> anyhow::Result<()> {
    let config = RawConfig::load(path)?.validate()?;
    let url = cloud
        .or(config.cloud.url.clone())
        .context("no cloud URL: pass --cloud URL or set [cloud] url")?;
    let client = sync::client_for(&config.cloud, &url)?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let request = ClaimRequest {
        code,
        hostname: hostname.as_deref().map(str::trim),
        platform: Some(std::env::consts::ARCH),
        version: env!("CARGO_PKG_VERSION"),
    };
    let claimed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(client.claim(&request))
        .map_err(|e| match e {
            SyncError::Unauthorized => {
                anyhow::anyhow!("the cloud refused the code: it is wrong, used or expired")
            }
            e => e.into(),
        })?;
    let credential = Credential {
        cloud_url: url,
        device_id: claimed.device_id,
        hotspot_id: claimed.hotspot_id,
        token: claimed.token,
    };
    sync::credential::save(&config.cloud.credential, &credential)?;
    println!(
        "claimed hotspot {} as device {}; credential stored in {} (mode 0600)",
        credential.hotspot_id,
        credential.device_id,
        config.cloud.credential.display()
    );
    Ok(())
}

/// Runs a technician's command against the configured database and prints its answer.
fn admin_cmd(
    path: &std::path::Path,
    f: impl FnOnce(&Store, &config::Config, i64) -> Result<String, admin::AdminError>,
) -> anyhow::Result<()> {
    let config = RawConfig::load(path)?.validate()?;
    let store = Store::open(&config.store_path)?;
    print!("{}", f(&store, &config, SystemClock.now())?);
    Ok(())
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
    tracing::info!(
        uri = %portal::captive_api_url(&config),
        "captive portal API; hand this URI out as DHCP option 114 (RFC 8910)"
    );
    if config.require_lease && !config.lease_file.exists() {
        tracing::warn!(
            lease_file = %config.lease_file.display(),
            "no DHCP lease file: every guest is refused until dnsmasq writes it \
             (set clients.require_lease = false on a machine without dnsmasq)"
        );
    }
    // Passive client learning (DHCP fingerprints, host names) on threads of its own, until return.
    let _learning =
        hotspot_edge::net::capture::start_learning(&config.lan_interface, config.capture);
    let firewall: Arc<dyn Firewall> = match config.firewall.backend {
        Backend::Nftables => Arc::new(Nft::new(NftSettings::from_config(&config))),
        Backend::Off => {
            tracing::warn!("firewall.backend = \"off\": nothing is enforced");
            Arc::new(firewall::Recording::default())
        }
    };
    // After a firewall reload (fw4 flushes the ruleset) a SIGHUP puts the table back at once;
    // otherwise the next accounting sweep repairs it.
    tokio::spawn(reapply_on_hangup(Arc::clone(&firewall)));
    let firewall_at_stop = Arc::clone(&firewall);
    let leases = Arc::new(LeaseFile::new(config.lease_file.clone()));
    let neighbours: Arc<dyn Neighbours> = match config.neighbour_source {
        NeighbourSource::Kernel => Arc::new(KernelNeighbours::new(config.lan_interface.clone())),
        NeighbourSource::Leases => Arc::new(LeaseNeighbours::new(Arc::clone(&leases))),
    };
    let sessions = Arc::new(
        Sessions::new(
            Arc::clone(&config),
            store,
            firewall,
            Arc::new(SystemClock),
            neighbours,
        )
        .with_leases(leases),
    );
    sessions
        .restore()
        .await
        .context("restoring live sessions to the firewall")?;
    let cloud = match sync::connect(&config.cloud) {
        Ok(Some(c)) => Some(c),
        Ok(None) => {
            tracing::info!(
                credential = %config.cloud.credential.display(),
                "no device credential: working alone, no M-Pesa purchases on the portal \
                 (hotspotd claim connects to the cloud)"
            );
            None
        }
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "the cloud connection is misconfigured (credential, [cloud] url or ca_file): \
                 working alone, no sync and no M-Pesa purchases"
            );
            None
        }
    };
    // M-Pesa purchases need the cloud: a claimed router with a reachable cloud URL.
    let payments = cloud.as_ref().map(|c| {
        Arc::new(hotspot_edge::payments::Payments::new(
            c.client.clone(),
            c.token.clone(),
            Arc::clone(&sessions),
        ))
    });
    if let Some(p) = &payments {
        let resumed = p.resume().await.context("reading pending purchases")?;
        tracing::info!(resumed, "M-Pesa purchases on the portal");
    }
    let (stop_sync, sync_stopped) = tokio::sync::watch::channel(false);
    let syncing = cloud.map(|c| {
        tracing::info!(cloud = %c.url, "syncing with the cloud");
        let syncer = sync::run::Syncer::new(Arc::clone(&sessions), c.client, c.token);
        tokio::spawn(syncer.run(sync_stopped))
    });
    hotspot_edge::serve_with(sessions, payments, listener, async move {
        shutdown_signal().await;
        let _ = stop_sync.send(true);
    })
    .await?;
    if let Some(task) = syncing {
        let _ = task.await;
    }
    // Logged-in guests stay online or not as [firewall] stop_removes_clients says; guests not
    // logged in still meet the portal.
    tokio::task::spawn_blocking(move || firewall_at_stop.stop())
        .await
        .context("stopping the firewall")?
        .context("stopping the firewall")?;
    tracing::info!("hotspotd stopped");
    Ok(())
}

async fn reapply_on_hangup(firewall: Arc<dyn Firewall>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; the accounting sweep repairs the firewall");
        return;
    };
    while hup.recv().await.is_some() {
        let fw = Arc::clone(&firewall);
        match tokio::task::spawn_blocking(move || fw.reapply()).await {
            Ok(Ok(())) => tracing::info!("firewall table re-applied"),
            Ok(Err(e)) => tracing::error!(error = %e, "re-applying the firewall table failed"),
            Err(e) => tracing::error!(error = %e, "re-applying the firewall table panicked"),
        }
    }
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
