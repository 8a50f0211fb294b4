//! `hotspot-cloud`: parse arguments, start logging, run a subcommand.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};

use hotspot_cloud::{AppState, db, sync, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "hotspot-cloud",
    version,
    about = "The hotspot platform's cloud service"
)]
struct Cli {
    /// PostgreSQL connection URL (migrations run as this user: the schema owner).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Most database connections this process holds.
    #[arg(long, env = "HOTSPOT_DB_POOL", default_value_t = 16)]
    db_pool: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "HOTSPOT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Key that encrypts secrets at rest (M-Pesa credentials, TOTP seeds): 32 bytes, base64.
        /// Without it the API cannot store or use those secrets.
        #[arg(long, env = "HOTSPOT_SECRETS_KEY", hide_env_values = true)]
        secrets_key: Option<String>,
        /// How long an operator's sign-in lasts, in minutes.
        #[arg(long, env = "HOTSPOT_TOKEN_TTL_MINUTES", default_value_t = 720)]
        token_ttl_minutes: u64,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Apply pending migrations, then load sample data. Safe to run repeatedly.
    Seed {
        /// Load the demo tenant: a hotspot, packages and a billing plan, vouchers, a client
        /// with registered devices and an operator login.
        #[arg(long)]
        demo: bool,
        /// Password of the demo operator (used only when the operator is created).
        #[arg(
            long,
            env = "HOTSPOT_DEMO_PASSWORD",
            hide_env_values = true,
            default_value = "hotspot-demo"
        )]
        operator_password: String,
    },
    /// Create a one-time claim code for a hotspot's router (`hotspotd claim`); prints it once.
    ClaimCode {
        /// The hotspot's id.
        #[arg(long)]
        hotspot: uuid::Uuid,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
        hours: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init();
    let pool = db::pool(&cli.database_url, cli.db_pool)?;
    let report = db::migrate(&pool).await?;
    tracing::info!(
        applied = report.applied.len(),
        already = report.already,
        "schema up to date"
    );
    match cli.command {
        Command::Migrate => Ok(()),
        Command::Seed {
            demo,
            operator_password,
        } => {
            anyhow::ensure!(demo, "nothing to seed: pass --demo");
            let report = db::demo::seed_demo(&pool, &operator_password).await?;
            println!(
                "demo tenant {} {}\noperator login: {}\nvoucher codes: {}",
                report.tenant_id,
                if report.created {
                    "created"
                } else {
                    "already present (unchanged)"
                },
                report.operator_email,
                report.vouchers.join(" ")
            );
            Ok(())
        }
        Command::ClaimCode { hotspot, hours } => {
            // Run as the schema owner, which may look the hotspot's tenant up.
            let client = pool.get().await.context("connecting to PostgreSQL")?;
            let tenant: uuid::Uuid = client
                .query_opt("SELECT tenant_id FROM hotspots WHERE id = $1", &[&hotspot])
                .await?
                .with_context(|| format!("no hotspot {hotspot}"))?
                .get(0);
            drop(client);
            let expires = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
            let code =
                sync::device::create_claim_code(&pool, tenant, hotspot, None, expires).await?;
            println!("{}", code.code);
            eprintln!(
                "valid until {} for hotspot {hotspot}; shown once",
                code.expires_at
            );
            Ok(())
        }
        Command::Serve {
            listen,
            secrets_key,
            token_ttl_minutes,
        } => {
            let secrets = secrets_key
                .as_deref()
                .map(hotspot_cloud::api::secrets::SecretsKey::from_base64)
                .transpose()?;
            if secrets.is_none() {
                tracing::warn!(
                    "HOTSPOT_SECRETS_KEY is not set: M-Pesa settings and second factors cannot \
                     be stored or used until it is"
                );
            }
            let api = hotspot_cloud::api::ApiState::with_token_ttl(
                secrets,
                std::time::Duration::from_secs(token_ttl_minutes.max(1) * 60),
            );
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            tracing::info!(listen = %listener.local_addr()?, "hotspot-cloud started");
            hotspot_cloud::serve(AppState { pool, api }, listener, shutdown_signal()).await?;
            tracing::info!("hotspot-cloud stopped");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
