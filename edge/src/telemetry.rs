//! Logging setup, done once by `main`.
//!
//! Journald where systemd runs it; plain text on stderr elsewhere (OpenWrt's procd forwards stderr
//! to the system log). The level comes from `RUST_LOG`, defaulting to `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // systemd sets JOURNAL_STREAM for services whose output goes to the journal.
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                // Colour codes only for a person at a terminal, not in procd's or a file's log.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}
