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
    /// Milliseconds a request waits for a free database connection before it is answered 503
    /// (overloaded). M-Pesa callbacks wait as long as it takes.
    #[arg(long, env = "HOTSPOT_DB_WAIT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    db_wait_ms: u64,
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
        /// Send the web console's cookies over plain HTTP too (no `Secure` flag). Only for
        /// development without TLS; behind HTTPS leave it off.
        /// The variable takes 1/true/yes/on, and 0/false/no/off or empty for off.
        #[arg(
            long,
            env = "HOTSPOT_CONSOLE_INSECURE_COOKIES",
            action = clap::ArgAction::SetTrue,
            value_parser = clap::builder::FalseyValueParser::new()
        )]
        console_insecure_cookies: bool,
        /// Requests worked on at once; past it a request is answered 503 with Retry-After at
        /// once. Health checks, /metrics and M-Pesa callbacks are never refused for load.
        #[arg(long, env = "HOTSPOT_MAX_IN_FLIGHT", default_value_t = 64,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_in_flight: u32,
        /// M-Pesa callbacks worked on at once; more wait their turn (never refused for load).
        #[arg(long, env = "HOTSPOT_MAX_CALLBACKS_IN_FLIGHT", default_value_t = 32,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_callbacks_in_flight: u32,
        /// Connections held open at once; past it the connection idle longest is closed for a
        /// newcomer. Keep it well under the open-files limit (LimitNOFILE).
        #[arg(long, env = "HOTSPOT_MAX_CONNECTIONS", default_value_t = hotspot_cloud::routes::shed::MAX_CONNECTIONS as u32,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: u32,
        /// Seconds for a whole request to arrive, and for a kept-alive connection to sit idle;
        /// past it the connection is closed.
        #[arg(long, env = "HOTSPOT_REQUEST_TIMEOUT_SECS", default_value_t = hotspot_cloud::routes::shed::REQUEST_DEADLINE.as_secs() as u32,
              value_parser = clap::value_parser!(u32).range(1..=3600))]
        request_timeout_secs: u32,
        #[command(flatten)]
        payments: Box<PaymentArgs>,
        #[command(flatten)]
        radius: Box<RadiusArgs>,
        /// Months of guest sessions (`hotspot_sessions`) kept; older monthly partitions are
        /// dropped. 0 keeps everything.
        #[arg(long, env = "HOTSPOT_RETENTION_SESSIONS_MONTHS", default_value_t = 24,
              value_parser = clap::value_parser!(i32).range(0..=1200))]
        retention_sessions_months: i32,
        /// Months of closed RADIUS sessions (`radacct_history`) kept; 0 keeps everything.
        #[arg(long, env = "HOTSPOT_RETENTION_RADACCT_MONTHS", default_value_t = 24,
              value_parser = clap::value_parser!(i32).range(0..=1200))]
        retention_radacct_months: i32,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Apply pending migrations, then load sample data. Safe to run repeatedly.
    Seed {
        /// Load the demo tenant: a hotspot, packages and a billing plan, vouchers, a client
        /// with registered devices and an operator login.
        #[arg(long)]
        demo: bool,
        /// Also give the demo tenant working M-Pesa sandbox credentials: those the Daraja
        /// simulator (`daraja-sim`) accepts (consumer key `sim-key`, secret `sim-secret`,
        /// shortcode 174379 with the public sandbox passkey). Needs HOTSPOT_SECRETS_KEY.
        #[arg(long)]
        mpesa_sandbox: bool,
        /// Key that encrypts secrets at rest (32 bytes, base64); the one `serve` uses.
        #[arg(long, env = "HOTSPOT_SECRETS_KEY", hide_env_values = true)]
        secrets_key: Option<String>,
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
    let pool = db::pool_with_wait(
        &cli.database_url,
        cli.db_pool,
        Some(std::time::Duration::from_millis(cli.db_wait_ms)),
    )?;
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
            mpesa_sandbox,
            secrets_key,
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
            if mpesa_sandbox {
                let key = secrets_key
                    .as_deref()
                    .context("--mpesa-sandbox needs HOTSPOT_SECRETS_KEY (the key serve uses)")?;
                let key = hotspot_cloud::api::secrets::SecretsKey::from_base64(key)?;
                db::demo::seed_demo_mpesa(&pool, &key).await?;
                println!("M-Pesa: sandbox credentials of the Daraja simulator stored");
            }
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
            console_insecure_cookies,
            max_in_flight,
            max_callbacks_in_flight,
            max_connections,
            request_timeout_secs,
            payments,
            radius,
            retention_sessions_months,
            retention_radacct_months,
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
            let payments_config = (*payments).into_config()?;
            if payments_config.public_base_url.is_none() {
                tracing::warn!(
                    "HOTSPOT_PUBLIC_URL is not set: M-Pesa purchases are refused until it is"
                );
            }
            let payments = hotspot_cloud::payments::Payments::new(payments_config, secrets.clone());
            if console_insecure_cookies {
                tracing::warn!(
                    "HOTSPOT_CONSOLE_INSECURE_COOKIES is set: console cookies travel over plain HTTP"
                );
            }
            let api = hotspot_cloud::api::ApiState::with_settings(
                secrets,
                std::time::Duration::from_secs(token_ttl_minutes.max(1) * 60),
                hotspot_cloud::console::ConsoleSettings {
                    secure_cookies: !console_insecure_cookies,
                },
            );
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            tracing::info!(listen = %listener.local_addr()?, "hotspot-cloud started");
            let radius = hotspot_cloud::radius::start(
                pool.clone(),
                cli.database_url.clone(),
                (*radius).into_settings()?,
            )
            .await
            .context("starting the RADIUS listeners")?;
            let (stop_jobs, jobs_stopped) = tokio::sync::oneshot::channel::<()>();
            let jobs = tokio::spawn(hotspot_cloud::payments::jobs::run(
                payments.clone(),
                pool.clone(),
                async {
                    let _ = jobs_stopped.await;
                },
            ));
            let (stop_compaction, compaction_stopped) = tokio::sync::oneshot::channel::<()>();
            let compaction = tokio::spawn(hotspot_cloud::sync::compact::run(pool.clone(), async {
                let _ = compaction_stopped.await;
            }));
            let (stop_maintenance, maintenance_stopped) = tokio::sync::oneshot::channel::<()>();
            let maintenance = tokio::spawn(db::maintenance::run(
                pool.clone(),
                db::maintenance::Retention {
                    sessions_months: retention_sessions_months,
                    radacct_months: retention_radacct_months,
                },
                async {
                    let _ = maintenance_stopped.await;
                },
            ));
            let (stop_sweep, sweep_stopped) = tokio::sync::oneshot::channel::<()>();
            let sweep = tokio::spawn(hotspot_cloud::console::sweep::run(pool.clone(), async {
                let _ = sweep_stopped.await;
            }));
            let served = hotspot_cloud::serve_with(
                AppState {
                    pool,
                    api,
                    payments,
                },
                listener,
                shutdown_signal(),
                hotspot_cloud::routes::shed::Limits {
                    max_in_flight: max_in_flight as usize,
                    callbacks_in_flight: max_callbacks_in_flight as usize,
                    connections: hotspot_cloud::routes::shed::connection_bounds(
                        max_connections as usize,
                        std::time::Duration::from_secs(u64::from(request_timeout_secs)),
                    ),
                    ..Default::default()
                },
            )
            .await;
            let _ = stop_jobs.send(());
            let _ = stop_compaction.send(());
            let _ = stop_maintenance.send(());
            let _ = stop_sweep.send(());
            radius.stop().await;
            let _ = jobs.await;
            let _ = compaction.await;
            let _ = maintenance.await;
            let _ = sweep.await;
            served?;
            tracing::info!("hotspot-cloud stopped");
            Ok(())
        }
    }
}

/// The RADIUS server for operators' own NAS devices.
#[derive(Debug, clap::Args)]
struct RadiusArgs {
    /// UDP address for RADIUS authentication (and Status-Server), or `off`.
    #[arg(
        long,
        env = "HOTSPOT_RADIUS_AUTH_LISTEN",
        default_value = "0.0.0.0:1812"
    )]
    radius_auth_listen: String,
    /// UDP address for RADIUS accounting (and Status-Server), or `off`.
    #[arg(
        long,
        env = "HOTSPOT_RADIUS_ACCT_LISTEN",
        default_value = "0.0.0.0:1813"
    )]
    radius_acct_listen: String,
    /// TCP address for RadSec (RADIUS over TLS, RFC 6614; 2083 by convention), or `off`.
    #[arg(long, env = "HOTSPOT_RADSEC_LISTEN", default_value = "off")]
    radsec_listen: String,
    /// RadSec server certificate chain (PEM).
    #[arg(long, env = "HOTSPOT_RADSEC_CERT")]
    radsec_cert: Option<std::path::PathBuf>,
    /// RadSec server private key (PEM).
    #[arg(long, env = "HOTSPOT_RADSEC_KEY")]
    radsec_key: Option<std::path::PathBuf>,
    /// CA certificates (PEM) that NAS client certificates must chain to.
    #[arg(long, env = "HOTSPOT_RADSEC_CLIENT_CA")]
    radsec_client_ca: Option<std::path::PathBuf>,
    /// Acct-Interim-Interval sent in every Access-Accept the tables do not set (seconds, ≥ 60).
    #[arg(long, env = "HOTSPOT_RADIUS_INTERIM_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(60..=86_400))]
    radius_interim_secs: u32,
    /// Idle-Timeout sent with voucher and MAC logins (seconds).
    #[arg(long, env = "HOTSPOT_RADIUS_IDLE_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(60..=604_800))]
    radius_idle_secs: u32,
    /// Accounting writers: each writes one batch of requests (one transaction) at a time.
    #[arg(long, env = "HOTSPOT_RADIUS_WRITERS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    radius_writers: u16,
    /// Access-Requests worked on the database at once; the others wait in arrival order.
    #[arg(long, env = "HOTSPOT_RADIUS_AUTH_AT_ONCE", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    radius_auth_at_once: u16,
}

impl RadiusArgs {
    fn into_settings(self) -> anyhow::Result<hotspot_cloud::radius::Settings> {
        use hotspot_cloud::radius::{Settings, parse_listen};
        let mut s = Settings {
            auth_listen: parse_listen(&self.radius_auth_listen)
                .map_err(anyhow::Error::msg)
                .context("HOTSPOT_RADIUS_AUTH_LISTEN")?,
            acct_listen: parse_listen(&self.radius_acct_listen)
                .map_err(anyhow::Error::msg)
                .context("HOTSPOT_RADIUS_ACCT_LISTEN")?,
            radsec_listen: parse_listen(&self.radsec_listen)
                .map_err(anyhow::Error::msg)
                .context("HOTSPOT_RADSEC_LISTEN")?,
            ..Settings::default()
        };
        if s.radsec_listen.is_some() {
            let need = |v: Option<std::path::PathBuf>, name: &str| {
                v.with_context(|| format!("RadSec is on: {name} must be set"))
            };
            s.radsec_tls = Some(hotspot_cloud::radius::radsec::TlsFiles {
                cert: need(self.radsec_cert, "HOTSPOT_RADSEC_CERT")?,
                key: need(self.radsec_key, "HOTSPOT_RADSEC_KEY")?,
                client_ca: need(self.radsec_client_ca, "HOTSPOT_RADSEC_CLIENT_CA")?,
            });
        }
        s.defaults.interim_interval = self.radius_interim_secs;
        s.defaults.idle_timeout = self.radius_idle_secs;
        s.writers = usize::from(self.radius_writers);
        s.auth_at_once = usize::from(self.radius_auth_at_once);
        Ok(s)
    }
}

/// M-Pesa payments: where Daraja is, where it calls us back, and the reconciliation timings.
#[derive(Debug, clap::Args)]
struct PaymentArgs {
    /// Public base URL Daraja calls back (HTTPS in production), e.g. https://pay.example.com;
    /// callbacks go to <URL>/mpesa/callback/<token>. Without it purchases are refused.
    #[arg(long, env = "HOTSPOT_PUBLIC_URL")]
    public_url: Option<reqwest::Url>,
    /// Daraja base URL for tenants whose M-Pesa environment is `sandbox` (point it at
    /// `daraja-sim` for demos and tests).
    #[arg(
        long,
        env = "HOTSPOT_DARAJA_SANDBOX_URL",
        default_value = "https://sandbox.safaricom.co.ke"
    )]
    daraja_sandbox_url: reqwest::Url,
    /// Daraja base URL for tenants whose M-Pesa environment is `production`.
    #[arg(
        long,
        env = "HOTSPOT_DARAJA_PRODUCTION_URL",
        default_value = "https://api.safaricom.co.ke"
    )]
    daraja_production_url: reqwest::Url,
    /// Addresses M-Pesa callbacks may come from: comma-separated CIDRs, `safaricom` for
    /// Safaricom's published ones. Empty: any address (the per-payment token still applies).
    #[arg(long, env = "HOTSPOT_MPESA_ALLOWLIST", default_value = "")]
    mpesa_allowlist: String,
    /// Reverse proxies (comma-separated CIDRs) whose X-Forwarded-For is believed.
    #[arg(long, env = "HOTSPOT_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Seconds from an STK push to its first STK query when no callback came.
    #[arg(long, env = "HOTSPOT_MPESA_FIRST_QUERY_SECS", default_value_t = 45)]
    mpesa_first_query_secs: u64,
    /// Seconds between STK queries at first (doubling up to --mpesa-query-max-secs).
    #[arg(long, env = "HOTSPOT_MPESA_QUERY_EVERY_SECS", default_value_t = 30)]
    mpesa_query_every_secs: u64,
    #[arg(long, env = "HOTSPOT_MPESA_QUERY_MAX_SECS", default_value_t = 60)]
    mpesa_query_max_secs: u64,
    /// Seconds after which a push with no result fails as no_answer.
    #[arg(long, env = "HOTSPOT_MPESA_GIVE_UP_SECS", default_value_t = 900)]
    mpesa_give_up_secs: u64,
    /// Seconds between passes of the payments job.
    #[arg(long, env = "HOTSPOT_JOBS_INTERVAL_SECS", default_value_t = 5)]
    jobs_interval_secs: u64,
    /// Minutes between automatic subscription renewals from wallets (0: never).
    #[arg(long, env = "HOTSPOT_RENEWALS_EVERY_MINUTES", default_value_t = 60)]
    renewals_every_minutes: u64,
}

impl PaymentArgs {
    fn into_config(self) -> anyhow::Result<hotspot_cloud::payments::PaymentsConfig> {
        use hotspot_cloud::payments::PaymentsConfig;
        use std::time::Duration;
        let secs = |s: u64| Duration::from_secs(s.max(1));
        Ok(PaymentsConfig {
            public_base_url: self.public_url,
            sandbox_url: self.daraja_sandbox_url,
            production_url: self.daraja_production_url,
            allowlist: PaymentsConfig::parse_cidrs(&self.mpesa_allowlist)
                .map_err(anyhow::Error::msg)
                .context("HOTSPOT_MPESA_ALLOWLIST")?,
            trusted_proxies: PaymentsConfig::parse_cidrs(&self.trusted_proxies)
                .map_err(anyhow::Error::msg)
                .context("HOTSPOT_TRUSTED_PROXIES")?,
            first_query_after: secs(self.mpesa_first_query_secs),
            query_every: secs(self.mpesa_query_every_secs),
            query_max_every: secs(self.mpesa_query_max_secs),
            give_up_after: secs(self.mpesa_give_up_secs),
            job_interval: secs(self.jobs_interval_secs),
            renewal_interval: (self.renewals_every_minutes > 0)
                .then(|| Duration::from_secs(self.renewals_every_minutes * 60)),
            ..PaymentsConfig::default()
        })
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
