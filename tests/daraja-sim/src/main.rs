//! `daraja-sim`: a local stand-in for Safaricom's Daraja API, for tests and demos.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "daraja-sim",
    version,
    about = "A local Daraja (M-Pesa API) simulator for tests and demos"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
    /// Seconds from an accepted STK push to its result and callback.
    #[arg(long, default_value_t = 2)]
    result_delay: u64,
    /// Refuse http:// callback URLs, as Daraja does.
    #[arg(long)]
    https_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let config = daraja_sim::Config {
        result_delay: Duration::from_secs(cli.result_delay),
        allow_http_callbacks: !cli.https_only,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "daraja-sim started (consumer key sim-key, secret sim-secret, shortcode 174379)");
    daraja_sim::serve(daraja_sim::Sim::new(config), listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
