//! The site's own database: SQLite in WAL mode, the only state the daemon keeps.
//!
//! Owns opening the file, applying `migrations/edge/` by `PRAGMA user_version`, and running
//! queries off the async workers. It must not know about HTTP or the firewall.
//!
//! Durability: `synchronous = FULL` so a committed redemption survives a power cut; a router's
//! flash is written once per transaction, so callers batch what can be batched.

pub mod access;
pub mod branding;
pub mod cloud;
pub mod outbox;
pub mod radius;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// The edge migrations, in order. A migration's position is its version: never reorder or edit
/// one that has shipped; add a new file.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_settings",
        include_str!("../../../migrations/edge/0001_settings.sql"),
    ),
    (
        "0002_access",
        include_str!("../../../migrations/edge/0002_access.sql"),
    ),
    (
        "0003_sync",
        include_str!("../../../migrations/edge/0003_sync.sql"),
    ),
    (
        "0004_purchases",
        include_str!("../../../migrations/edge/0004_purchases.sql"),
    ),
    (
        "0005_voucher_plan_link",
        include_str!("../../../migrations/edge/0005_voucher_plan_link.sql"),
    ),
    (
        "0006_radius_sessions",
        include_str!("../../../migrations/edge/0006_radius_sessions.sql"),
    ),
    (
        "0007_radius_accounting",
        include_str!("../../../migrations/edge/0007_radius_accounting.sql"),
    ),
    (
        "0008_throttle",
        include_str!("../../../migrations/edge/0008_throttle.sql"),
    ),
    (
        "0009_session_extensions",
        include_str!("../../../migrations/edge/0009_session_extensions.sql"),
    ),
    (
        "0010_purchase_top_up",
        include_str!("../../../migrations/edge/0010_purchase_top_up.sql"),
    ),
    (
        "0011_branding",
        include_str!("../../../migrations/edge/0011_branding.sql"),
    ),
];

/// A store failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("migration {name} failed: {source}")]
    Migrate {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "the database is at schema version {found}, newer than this hotspotd knows ({known}); \
         install a newer hotspotd or restore a backup"
    )]
    TooNew { found: i64, known: usize },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database worker stopped")]
    Worker,
    #[error("cannot start the database writer thread: {0}")]
    Thread(std::io::Error),
    #[error("database commit failed: {0}")]
    Commit(String),
}

/// A handle to the database, cheap to clone. Queries run on tokio's blocking pool, one at a time
/// (SQLite has one writer; one connection keeps memory small on a router).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// A read-only connection for reads that must not queue behind writes.
    reader: Arc<Mutex<Connection>>,
    /// Writes for the writer thread, which commits them in groups (see [`Store::write`]).
    writes: std::sync::mpsc::Sender<Job>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// A queued write: runs inside the group's transaction and returns what delivers its result
/// once the commit is known.
type Job = Box<dyn FnOnce(&Connection) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: path.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -1024;",
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        // The writer's page cache is 1 MiB, not SQLite's 2 MiB: a site's hot pages fit, the
        // rest is in the kernel's page cache, and the daemon stays within its 15 MiB with 1,000
        // live sessions (logins about 5 % slower in `benches/portal.rs`).
        let mut conn = conn;
        migrate(&mut conn)?;
        // Every hot statement stays parsed (the default cache holds 16).
        conn.set_prepared_statement_cache_capacity(64);
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let reader = Connection::open(path).map_err(open_err)?;
        reader
            .execute_batch(
                "PRAGMA query_only = ON;
                 PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -512;",
            )
            .map_err(open_err)?;
        reader.set_prepared_statement_cache_capacity(32);
        let conn = Arc::new(Mutex::new(conn));
        let writes = spawn_writer(Arc::clone(&conn)).map_err(StoreError::Thread)?;
        Ok(Self {
            conn,
            reader: Arc::new(Mutex::new(reader)),
            writes,
        })
    }

    /// Runs read-only `f` on a second connection, so reads (every probe and page load) do not
    /// wait while a write group is being flushed to flash. WAL mode lets it read the last
    /// committed state meanwhile.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().map_err(|_| StoreError::Worker)?;
            f(&guard)
        })
        .await
        .map_err(|_| StoreError::Worker)?
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Worker)?;
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Worker)?
    }

    /// Runs `f` as a write that is durable when this returns `Ok`, grouped with other writes
    /// queued meanwhile into one transaction: one flash write (fsync) for the group instead of
    /// one each. Each `f` runs in its own savepoint, so an `Err` undoes only its own changes.
    /// `f` must not begin or commit transactions itself.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |c: &Connection| {
            let result = match c.execute_batch("SAVEPOINT job") {
                Err(e) => Err(StoreError::Sql(e)),
                Ok(()) => {
                    let r = f(c);
                    let end = if r.is_ok() {
                        "RELEASE job"
                    } else {
                        "ROLLBACK TO job; RELEASE job"
                    };
                    match (r, c.execute_batch(end)) {
                        (Ok(v), Ok(())) => Ok(v),
                        (Err(e), _) => Err(e),
                        (Ok(_), Err(e)) => Err(StoreError::Sql(e)),
                    }
                }
            };
            Box::new(move |commit: Result<(), String>| {
                let _ = tx.send(match (result, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
                    (Err(e), _) => Err(e),
                });
            })
        });
        self.writes.send(job).map_err(|_| StoreError::Worker)?;
        rx.await.map_err(|_| StoreError::Worker)?
    }

    /// Runs `f` with the connection on this thread (the command line, which has no runtime).
    pub fn blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().map_err(|_| StoreError::Worker)?;
        f(&mut guard)
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }
}

/// Most writes in one group commit.
const MAX_GROUP: usize = 256;

/// The one writer thread: takes the writes queued since its last commit, runs each in its own
/// savepoint of one transaction, commits once and tells every caller. It ends when the last
/// [`Store`] handle is dropped.
fn spawn_writer(conn: Arc<Mutex<Connection>>) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let Ok(mut guard) = conn.lock() else { return };
                let tx = match guard
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                {
                    Ok(tx) => tx,
                    Err(e) => {
                        // Dropping the jobs unrun tells each caller the write failed.
                        tracing::error!(error = %e, "cannot begin a write transaction");
                        continue;
                    }
                };
                let delivers: Vec<Deliver> = jobs.into_iter().map(|job| job(&tx)).collect();
                let commit = tx.commit().map_err(|e| e.to_string());
                drop(guard);
                for d in delivers {
                    d(commit.clone());
                }
            }
        })?;
    Ok(tx)
}

/// Applies the migrations the database has not seen, each in its own transaction together with
/// the version bump, so a crash leaves the database at one version or the next.
///
/// Foreign keys are off while they run (SQLite's way to rebuild a table others reference) and
/// checked before each commit: a migration that would leave a dangling reference fails whole.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew {
            found: current,
            known: MIGRATIONS.len(),
        });
    }
    if current == MIGRATIONS.len() as i64 {
        return Ok(());
    }
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = apply_migrations(conn, current as usize);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result
}

fn apply_migrations(conn: &mut Connection, from: usize) -> Result<(), StoreError> {
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn
            .transaction()
            .map_err(|source| StoreError::Migrate { name, source })?;
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migrate { name, source })?;
        let dangling: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(|source| StoreError::Migrate { name, source })?;
        if dangling > 0 {
            return Err(StoreError::Migrate {
                name,
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!("{dangling} rows with dangling references")),
                ),
            });
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|source| StoreError::Migrate { name, source })?;
        tx.commit()
            .map_err(|source| StoreError::Migrate { name, source })?;
        tracing::info!(migration = name, "applied edge migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_migrates_and_reopens_without_reapplying() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/edge.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            MIGRATIONS.len() as i64
        );
        store
            .call(|c| {
                c.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('a', 'b', 1)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let value: String = store
            .call(|c| {
                Ok(
                    c.query_row("SELECT value FROM settings WHERE key = 'a'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        assert_eq!(value, "b");
        let mode: String = store
            .call(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_are_durable_together_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("edge.db")).unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |c| {
                            c.execute(
                                "INSERT INTO settings (key, value, updated_at) VALUES (?1, 'v', 0)",
                                [format!("k{i}")],
                            )?;
                            if i % 2 == 1 {
                                return Err(StoreError::Worker);
                            }
                            Ok(i)
                        })
                        .await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            assert_eq!(r.is_ok(), i % 2 == 0, "write {i}: {r:?}");
        }
        drop(store);
        // Reopened: what was acknowledged is there, what failed is not.
        let c = Connection::open(dir.path().join("edge.db")).unwrap();
        let keys: Vec<String> = c
            .prepare("SELECT key FROM settings ORDER BY CAST(substr(key, 2) AS INTEGER)")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<String> = (0..40).step_by(2).map(|i| format!("k{i}")).collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn the_old_outbox_becomes_protocol_events_and_references_survive_the_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.db");
        {
            // A database of a daemon before sync: schema 2, with a redemption and its events.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0].1).unwrap();
            c.execute_batch(MIGRATIONS[1].1).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            c.execute_batch(
                r#"INSERT INTO vouchers (id, voucher_code, duration_minutes, created_at)
                     VALUES ('v1', 'ABCDEFGH', 60, 1);
                   INSERT INTO voucher_redemptions VALUES ('v1', '02:00:00:00:00:01', 1795435200);
                   INSERT INTO sessions (id, mac_address, session_type, session_status,
                     end_reason, start_time, voucher_id, voucher_code, last_activity, created_at)
                     VALUES ('5e5510aa-0000-4000-8000-000000000001', '02:00:00:00:00:01',
                     'voucher', 'ended', 'time', 1795435200, 'v1', 'ABCDEFGH', 1, 1);
                   INSERT INTO outbox (id, kind, payload, created_at) VALUES
                   ('00000000-0000-4000-8000-00000000000a', 'voucher.redeemed',
                    '{"voucher_id":"v1","voucher_code":"ABCDEFGH","mac_address":"02:00:00:00:00:01","redeemed_at":1795435200}', 1795435200),
                   ('00000000-0000-4000-8000-00000000000b', 'session.started',
                    '{"session_id":"5e5510aa-0000-4000-8000-000000000001","mac_address":"02:00:00:00:00:01","ip_address":"10.0.0.5","session_type":"voucher","voucher_code":"ABCDEFGH","start_time":1795435200}', 1795435200),
                   ('00000000-0000-4000-8000-00000000000c', 'access.blocked',
                    '{"mac_address":"02:00:00:00:00:02","blocked_reason":"x","at":1}', 1795435300),
                   ('00000000-0000-4000-8000-00000000000d', 'session.ended',
                    '{"session_id":"5e5510aa-0000-4000-8000-000000000001","mac_address":"02:00:00:00:00:01","end_time":1795438800,"end_reason":"time","duration_minutes":60,"bytes_up":10,"bytes_down":20}', 1795438800);"#,
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let events = store.blocking(|c| outbox::oldest(c, 10)).unwrap();
        use hotspot_shared::sync::EventBody;
        let kinds: Vec<&str> = events
            .iter()
            .map(|(_, e)| outbox::kind_of(&e.body))
            .collect();
        assert_eq!(
            kinds,
            ["voucher_redeemed", "session_started", "session_ended"],
            "access.blocked has no protocol event"
        );
        let session = uuid::Uuid::from_u128(0x5e5510aa_0000_4000_8000_000000000001);
        match &events[0].1.body {
            EventBody::VoucherRedeemed(r) => assert_eq!(r.session_id, session),
            other => panic!("{other:?}"),
        }
        match &events[2].1.body {
            EventBody::SessionEnded(e) => {
                assert_eq!((e.bytes_up, e.bytes_down, e.duration_s), (10, 20, 3600));
                assert_eq!(e.reason, hotspot_shared::sync::EndReason::TimeUsedUp);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[0].1.id.to_string(),
            "00000000-0000-4000-8000-00000000000a",
            "ids are kept"
        );
        assert_eq!(events[0].1.at.wall_ms, 1_795_435_200_000);
        assert!(events[0].1.at.wall_trusted);
        // The rebuilt tables still hold the voucher its redemption and session refer to.
        let n: i64 = store
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM voucher_redemptions r JOIN vouchers v ON v.id = r.voucher_id
                     JOIN sessions s ON s.voucher_id = v.id",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn refuses_a_database_from_a_newer_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_failed_migration_leaves_the_version_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.db");
        // A table in the way of migration 1 makes it fail part-way.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE settings (x)")
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::Migrate { .. })
        ));
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0);
    }
}
