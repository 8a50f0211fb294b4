//! The sync loop inside `hotspotd run`: push the outbox, pull the changes, repeat.
//!
//! Each round pushes the outbox oldest first in batches of at most
//! [`MAX_EVENTS_PER_PUSH`] (gzip), and after a 2xx answer deletes exactly the events of that
//! batch and applies the answer's actions (a refused redemption ends its session). Then it pulls
//! changes page by page while the cloud says `more`, each page applied with its cursor in one
//! transaction. A round that fails waits with exponential backoff and full jitter
//! ([`super::backoff`]); a 401 stops sync until the router is claimed again and restarted. A
//! batch refused as malformed (422) or too large (413) is halved until the refused event is
//! alone, and that one is set aside and counted, so it cannot block the queue.
//!
//! A crash (or `kill -9`) at any point loses nothing and doubles nothing: events leave the outbox
//! only after the cloud stored them, and the cloud stores each event id once, so a batch sent
//! again is answered as duplicates.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hotspot_shared::sync::{MAX_EVENTS_PER_PUSH, MAX_PUSH_BYTES, PushRequest, VERSION};

use super::backoff;
use super::client::{CloudClient, SyncError};
use crate::sessions::{LoginError, Sessions};
use crate::store::{cloud, outbox};

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Cloud(#[from] SyncError),
    #[error(transparent)]
    Local(#[from] LoginError),
}

impl From<crate::store::StoreError> for RoundError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Local(e.into())
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub pushed: usize,
    pub duplicates: usize,
    pub changes: usize,
}

/// Most batches pushed in one round, so a pull still happens while events keep coming.
const MAX_BATCHES_PER_ROUND: usize = 200;
/// Most pull pages in one round.
const MAX_PAGES_PER_ROUND: usize = 100;

/// The sync loop of one router.
pub struct Syncer {
    sessions: Arc<Sessions>,
    client: CloudClient,
    /// The device token; never logged.
    token: String,
    /// Wait between rounds while all is well.
    interval: Duration,
    /// Events per batch: the protocol's most, halved while the cloud refuses a batch.
    limit: AtomicUsize,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer").finish_non_exhaustive()
    }
}

impl Syncer {
    pub fn new(sessions: Arc<Sessions>, client: CloudClient, token: String) -> Self {
        let interval = Duration::from_secs(sessions.config().sync.interval_secs);
        Self {
            sessions,
            client,
            token,
            interval,
            limit: AtomicUsize::new(MAX_EVENTS_PER_PUSH),
        }
    }

    /// Pushes the oldest batch. Returns (events sent, duplicates), `None` when the outbox is
    /// empty.
    ///
    /// A batch the cloud refuses as malformed or too large (422, 413) is halved until the event
    /// it refuses is alone; that one is set aside (deleted, counted as `outbox_refused`, logged
    /// with the cloud's reason) so it cannot hold the queue behind it forever.
    pub async fn push_once(&self) -> Result<Option<(usize, usize)>, RoundError> {
        let store = self.sessions.store().clone();
        // Room for the envelope within the cloud's limit.
        let budget = MAX_PUSH_BYTES - 64 * 1024;
        let limit = self
            .limit
            .load(Ordering::Relaxed)
            .clamp(1, MAX_EVENTS_PER_PUSH);
        let batch = store.read(move |c| outbox::batch(c, limit, budget)).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        let (seqs, events): (Vec<i64>, Vec<_>) = batch.into_iter().unzip();
        let first = (events[0].id, outbox::kind_of(&events[0].body));
        let request = PushRequest {
            version: VERSION,
            sent: self.sessions.clock().reading(),
            events,
        };
        let answer = match self.client.push(&self.token, &request).await {
            Ok(a) => a,
            Err(SyncError::Refused { status, message }) if matches!(status, 413 | 422) => {
                if seqs.len() > 1 {
                    self.limit.store(seqs.len() / 2, Ordering::Relaxed);
                    tracing::warn!(status, %message, events = seqs.len(), "the cloud refused a batch; halving it");
                } else {
                    store
                        .write(move |c| {
                            outbox::delete(c, &seqs)?;
                            outbox::add_counter(c, "outbox_refused", 1)
                        })
                        .await?;
                    tracing::error!(
                        status,
                        %message,
                        event = %first.0,
                        kind = first.1,
                        "the cloud refused an event; it is set aside (counted in hotspotd status)"
                    );
                    self.limit.store(MAX_EVENTS_PER_PUSH, Ordering::Relaxed);
                }
                return Ok(Some((0, 0)));
            }
            Err(e) => return Err(e.into()),
        };
        self.limit.store(MAX_EVENTS_PER_PUSH, Ordering::Relaxed);
        let sent = seqs.len();
        let ended = self.sessions.pushed(seqs, answer.actions).await?;
        tracing::debug!(
            sent,
            accepted = answer.accepted,
            duplicates = answer.duplicates,
            ended,
            "pushed"
        );
        Ok(Some((sent, answer.duplicates as usize)))
    }

    /// Pulls one page of changes and applies it. Returns (changes, more).
    pub async fn pull_once(&self) -> Result<(usize, bool), RoundError> {
        let cursor = self.sessions.store().read(cloud::cursor).await?;
        let page = self.client.pull(&self.token, cursor.as_deref()).await?;
        if page.version != VERSION {
            return Err(SyncError::Refused {
                status: 200,
                message: format!("the cloud speaks sync protocol {}", page.version),
            }
            .into());
        }
        let mut n = page.changes.len() + page.extensions.len();
        if let Some(b) = &page.branding {
            // Before the page's cursor is stored: a page pulled again applies it again, which
            // changes nothing (only a newer version replaces the stored one).
            self.sessions.apply_branding(b).await?;
            n += 1;
        }
        self.sessions
            .apply_pull(page.changes, page.extensions, page.cursor)
            .await?;
        Ok((n, page.more))
    }

    /// One round: push everything, then pull everything.
    pub async fn run_once(&self) -> Result<Round, RoundError> {
        let mut round = Round::default();
        for _ in 0..MAX_BATCHES_PER_ROUND {
            let Some((sent, dup)) = self.push_once().await? else {
                break;
            };
            round.pushed += sent;
            round.duplicates += dup;
        }
        for _ in 0..MAX_PAGES_PER_ROUND {
            let (n, more) = self.pull_once().await?;
            round.changes += n;
            if !more {
                break;
            }
        }
        if round.pushed + round.changes > 0 {
            tracing::info!(
                pushed = round.pushed,
                duplicates = round.duplicates,
                changes = round.changes,
                "synced with the cloud"
            );
        }
        Ok(round)
    }

    /// Runs rounds until `stop` turns true: every `interval` while the cloud answers, with
    /// backoff after failures, never again after a 401.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            let result = tokio::select! {
                r = self.run_once() => r,
                _ = stop.changed() => return,
            };
            let wait = match result {
                Ok(_) => {
                    if failures > 0 {
                        tracing::info!("the cloud answers again");
                    }
                    failures = 0;
                    self.interval
                }
                Err(RoundError::Cloud(SyncError::Unauthorized)) => {
                    tracing::error!(
                        "the cloud refused this router's credential (401): sync stopped, events \
                         are kept; claim the router again (hotspotd claim) and restart hotspotd"
                    );
                    return;
                }
                Err(e) => {
                    let wait = backoff::delay(failures, jitter());
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), failures, "sync failed");
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// A random number in [0, 1) for the backoff's jitter (from the OS's randomness, through uuid).
fn jitter() -> f64 {
    // The low 53 bits of a v4 UUID are random (its version and variant bits are higher up).
    let bits = uuid::Uuid::new_v4().as_u128() as u64 & ((1u64 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_covers_the_unit_interval() {
        let xs: Vec<f64> = (0..2000).map(|_| super::jitter()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.iter().any(|&x| x < 0.1) && xs.iter().any(|&x| x > 0.9));
    }
}
