//! What the benches share: their settings from the environment, the database URL of the
//! database each one creates for itself, and starting the service on it ([`server`]).

// Each bench uses part of it.
#[allow(dead_code)]
pub mod server;

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `c` as a key=value connection string (dbname, user, first host and port), for
/// [`hotspot_cloud::db::pool`] and the server's `DATABASE_URL`.
pub fn url_of(c: &tokio_postgres::Config) -> String {
    let mut parts = vec![format!("dbname={}", c.get_dbname().unwrap_or("postgres"))];
    if let Some(user) = c.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(host) = c.get_hosts().first() {
        match host {
            tokio_postgres::config::Host::Tcp(h) => parts.push(format!("host={h}")),
            tokio_postgres::config::Host::Unix(p) => parts.push(format!("host={}", p.display())),
        }
    }
    if let Some(port) = c.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    parts.join(" ")
}
