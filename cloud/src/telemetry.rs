//! Logging setup, done once by `main`: journald under systemd, plain text on stderr otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
                // Colour codes only for a person at a terminal, not in a file's log.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}

/// At most one log line every [`RateLimitedLog::EVERY_SECS`] for a kind of event that may come by
/// the thousand (overload): each line says how many events it stands for.
#[derive(Debug)]
pub struct RateLimitedLog {
    /// Seconds since the Unix epoch of the last line written.
    last: AtomicU64,
    /// Events since then, the one about to be logged included.
    pending: AtomicU64,
}

impl RateLimitedLog {
    pub const EVERY_SECS: u64 = 10;

    pub const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Counts an event; `Some(events counted since the last line)` when a line is due now.
    pub fn due(&self) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Ordering::Relaxed);
        if now >= last + Self::EVERY_SECS
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.pending.swap(0, Ordering::Relaxed))
        } else {
            None
        }
    }
}

impl Default for RateLimitedLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_lines_come_at_most_once_in_ten_seconds_and_count_what_they_stand_for() {
        let log = RateLimitedLog::new();
        assert_eq!(log.due(), Some(1));
        for _ in 0..5 {
            assert_eq!(log.due(), None);
        }
        // Ten seconds later (the last line moved back stands for it).
        let last = log.last.load(Ordering::Relaxed);
        log.last
            .store(last - RateLimitedLog::EVERY_SECS, Ordering::Relaxed);
        assert_eq!(log.due(), Some(6));
        assert_eq!(log.due(), None);
    }
}
