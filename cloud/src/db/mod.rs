//! The PostgreSQL side: the connection pool, the migration runner, the transaction helpers that
//! put each request under row-level security ([`tenant_transaction`], [`service_transaction`]),
//! and the demo seed ([`demo`]).
//!
//! Migrations are the plain SQL files of `migrations/cloud/`, embedded at build time and applied
//! in name order, each in its own transaction with its record in `schema_migrations`. A
//! session-level advisory lock makes replicas that start together apply them once. An applied
//! migration whose text has changed is refused: shipped migrations are never edited.

pub mod demo;
pub mod maintenance;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

/// The embedded migrations: (file stem, SQL).
pub const MIGRATIONS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Advisory lock key held while migrating ("hotspot" in ASCII).
const MIGRATION_LOCK: i64 = 0x0068_6f74_7370_6f74;

/// A database failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid DATABASE_URL: {0}")]
    Url(tokio_postgres::Error),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// No pooled connection came free within the pool's wait ([`pool_with_wait`]): the
    /// service is overloaded. Answered 503 with `Retry-After`, not retried here.
    #[error("no database connection free in time (overloaded)")]
    Busy,
    #[error("migration {name} failed: {source}")]
    Migrate {
        name: String,
        source: tokio_postgres::Error,
    },
    #[error(
        "migration {name} was applied with different contents; shipped migrations must not be \
         edited (add a new one)"
    )]
    Checksum { name: String },
    #[error("database error: {0}")]
    Sql(#[from] tokio_postgres::Error),
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        if is_busy(&e) {
            return DbError::Busy;
        }
        DbError::Connect(e.to_string())
    }
}

/// Whether `e` is the pool's wait running out (every connection in use), not a failure to
/// connect.
pub fn is_busy(e: &deadpool_postgres::PoolError) -> bool {
    matches!(
        e,
        deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait)
    )
}

impl DbError {
    /// Whether the work may succeed if simply done again on a new connection: the connection
    /// was lost or refused (the primary went away, a failover is under way), the server is
    /// shutting down or starting, the node is read-only (a standby, or a primary being demoted),
    /// or the transaction lost a serialization race or a deadlock.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Connect(_) => true,
            DbError::Sql(e) => {
                if e.is_closed() {
                    return true;
                }
                match e.code() {
                    // No SQLSTATE: an I/O error on the connection.
                    None => e.as_db_error().is_none(),
                    Some(code) => {
                        let code = code.code();
                        code.starts_with("08")
                            || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
                            || matches!(code, "40001" | "40P01")
                    }
                }
            }
            _ => false,
        }
    }
}

/// The waits before each retry of work that failed transiently ([`DbError::is_transient`]):
/// about 8 s in all, the time a PostgreSQL failover takes to promote a standby (docs/ha.md).
pub const RETRY_WAITS: [std::time::Duration; 5] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(1000),
    std::time::Duration::from_millis(2500),
    std::time::Duration::from_millis(4000),
];

/// Runs `work` until it succeeds, fails for good, or has failed transiently after every wait
/// of [`RETRY_WAITS`]. Only for work that is idempotent as a whole (a rolled-back transaction,
/// or one whose effect is an upsert keyed on the request): sync ingest, callbacks, pulls.
pub async fn retry_transient<T, E, F, Fut>(mut work: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Transient + std::fmt::Display,
{
    let mut waits = RETRY_WAITS.iter();
    loop {
        match work().await {
            Err(e) if e.is_transient() => match waits.next() {
                Some(wait) => {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                        "database unavailable; retrying");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// An error that can say whether doing the work again may succeed.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for DbError {
    fn is_transient(&self) -> bool {
        DbError::is_transient(self)
    }
}

/// Builds a pool of connections to `url` (a libpq-style URL or key=value string). Asking for a
/// connection waits until one is free, however long that takes.
pub fn pool(url: &str, max_size: usize) -> Result<Pool, DbError> {
    pool_with_wait(url, max_size, None)
}

/// [`pool`], where asking for a connection waits at most `wait` for one to come free, then
/// fails with [`DbError::Busy`] (a 503): under overload requests are refused quickly instead of
/// queueing for connections behind each other. Work that must not be refused for load asks with
/// [`get_patient`].
pub fn pool_with_wait(
    url: &str,
    max_size: usize,
    wait: Option<std::time::Duration>,
) -> Result<Pool, DbError> {
    let config: tokio_postgres::Config = url.parse().map_err(DbError::Url)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(wait)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// A connection from `pool`, waiting as long as it takes even when the pool bounds its waits:
/// for what must not be lost to load (M-Pesa callbacks, which Daraja does not send again).
pub async fn get_patient(
    pool: &Pool,
) -> Result<deadpool_postgres::Object, deadpool_postgres::PoolError> {
    let mut timeouts = pool.timeouts();
    timeouts.wait = None;
    pool.timeout_get(&timeouts).await
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub already: usize,
}

/// Applies every embedded migration not yet recorded. Safe to run concurrently and repeatedly.
pub async fn migrate(pool: &Pool) -> Result<MigrationReport, DbError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = migrate_locked(&mut client).await;
    // Released even when a migration failed; the connection returns to the pool clean.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = result?;
    unlock?;
    Ok(report)
}

async fn migrate_locked(
    client: &mut deadpool_postgres::Object,
) -> Result<MigrationReport, DbError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name       TEXT PRIMARY KEY,
                 checksum   TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let mut report = MigrationReport {
        applied: Vec::new(),
        already: 0,
    };
    for (name, sql) in MIGRATIONS {
        let checksum = hex(&Sha256::digest(sql.as_bytes()));
        let row = client
            .query_opt(
                "SELECT checksum FROM schema_migrations WHERE name = $1",
                &[name],
            )
            .await?;
        if let Some(row) = row {
            if row.get::<_, String>(0) != checksum {
                return Err(DbError::Checksum {
                    name: name.to_string(),
                });
            }
            report.already += 1;
            continue;
        }
        let fail = |source| DbError::Migrate {
            name: name.to_string(),
            source,
        };
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
            &[name, &checksum],
        )
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(migration = name, "applied cloud migration");
        report.applied.push(name.to_string());
    }
    Ok(report)
}

/// The role requests run as: it owns nothing and cannot bypass row-level security.
pub const SERVICE_ROLE: &str = "hotspot_app";

/// Opens a transaction that acts for one tenant: as [`SERVICE_ROLE`] (so row-level security
/// holds even when the pool logs in as the schema owner, which must then be a member of that
/// role), with `app.tenant_id` and, for a signed-in user, `app.user_id` set for this transaction
/// only. Every request's database work goes through one of these.
pub async fn tenant_transaction<'a>(
    client: &'a mut deadpool_postgres::Object,
    tenant: uuid::Uuid,
    user: Option<uuid::Uuid>,
) -> Result<deadpool_postgres::Transaction<'a>, DbError> {
    tenant_transaction_in(client, tenant, user, None).await
}

/// [`tenant_transaction`] whose `TimeZone` is `zone` (a name PostgreSQL knows) when given, set in
/// the same statement: the console's pages read and show times in the tenant's zone.
pub async fn tenant_transaction_in<'a>(
    client: &'a mut deadpool_postgres::Object,
    tenant: uuid::Uuid,
    user: Option<uuid::Uuid>,
    zone: Option<&str>,
) -> Result<deadpool_postgres::Transaction<'a>, DbError> {
    let tx = service_transaction(client).await?;
    tx.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true),
                CASE WHEN $3::text IS NOT NULL THEN set_config('TimeZone', $3, true) END",
        &[
            &tenant.to_string(),
            &user.map(|u| u.to_string()).unwrap_or_default(),
            &zone,
        ],
    )
    .await?;
    Ok(tx)
}

/// Runs `work` while this replica holds the session advisory lock `key` (one replica at a time);
/// `None` when another session holds it. The lock lives on a pooled connection of its own; if
/// releasing it fails, that connection is closed (which releases it) instead of going back to
/// the pool still holding it, where it would keep every replica out for good.
pub async fn with_advisory_lock<T, E, Fut>(
    pool: &Pool,
    key: i64,
    work: impl FnOnce() -> Fut,
) -> Result<Option<T>, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<deadpool_postgres::PoolError> + From<tokio_postgres::Error>,
{
    let lock = pool.get().await?;
    let got: bool = lock
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await?
        .get(0);
    if !got {
        return Ok(None);
    }
    let result = work().await;
    if let Err(e) = lock.execute("SELECT pg_advisory_unlock($1)", &[&key]).await {
        drop(deadpool_postgres::Object::take(lock));
        return Err(e.into());
    }
    result.map(Some)
}

/// Opens a transaction as [`SERVICE_ROLE`] with no tenant: it sees no tenant's rows, and is for
/// the cross-tenant SECURITY DEFINER functions (device token, payment callback, NAS lookup,
/// tenant listing) that find out which tenant a request belongs to.
pub async fn service_transaction(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SET LOCAL ROLE hotspot_app; \
         SELECT set_config('app.tenant_id', '', true), set_config('app.user_id', '', true)",
    )
    .await?;
    Ok(tx)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
