//! The cloud side of edge sync (flow 5) and router provisioning (flow 6).
//!
//! - [`device`]: claim codes, device tokens (only their SHA-256 is stored), authentication,
//!   rotation and revocation.
//! - [`ingest`]: a pushed batch of events applied in one transaction under the device's tenant,
//!   each event once by its id.
//! - [`pull`]: the changes a router has not seen, read from the `sync_changes` log by cursor.
//! - [`compact`]: the log kept to about one row per entity (hourly, in `hotspot-cloud serve`).
//!
//! The wire types are `hotspot_shared::sync`. HTTP lives in `routes::sync`.

pub mod compact;
pub mod device;
pub mod ingest;
pub mod pull;

use crate::db::DbError;

/// Why a sync request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No, a wrong, a revoked or an unknown device token.
    #[error("unknown or revoked device credential")]
    Unauthorized,
    /// A wrong, used or expired claim code.
    #[error("the claim code is wrong, used or expired")]
    ClaimRefused,
    #[error("sync protocol version {0} is not supported (this service speaks 1)")]
    Version(u32),
    #[error("a batch holds at most {max} events; this one has {got}")]
    TooManyEvents { got: usize, max: usize },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl crate::db::Transient for SyncError {
    fn is_transient(&self) -> bool {
        matches!(self, SyncError::Db(e) if e.is_transient())
    }
}

impl From<tokio_postgres::Error> for SyncError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

impl From<deadpool_postgres::PoolError> for SyncError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Db(e.into())
    }
}
