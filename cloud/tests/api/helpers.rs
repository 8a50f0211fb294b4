//! `TestDb` (a fresh database dropped afterwards) and `spawn_app` (the service on port 0).

use std::net::SocketAddr;

use deadpool_postgres::Pool;
use hotspot_cloud::{AppState, db};
use tokio::sync::oneshot;

/// The administrative URL tests create databases through: `DATABASE_URL`, or the local server.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// An empty database.
    pub async fn new() -> Self {
        Self::create("").await
    }

    /// A database made with `CREATE DATABASE name <options>`.
    async fn create(options: &str) -> Self {
        let name = format!("hotspot_test_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at DATABASE_URL (or 127.0.0.1:5432) is required: {e}")
            });
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .await
            .unwrap();
        let mut config: tokio_postgres::Config = admin_url().parse().unwrap();
        config.dbname(&name);
        let url = config_to_url(&config);
        Self { name, url }
    }

    pub fn pool(&self) -> Pool {
        db::pool(&self.url, 8).unwrap()
    }
}

/// Rebuilds a key=value connection string (what tokio-postgres accepts) from a parsed config.
fn config_to_url(c: &tokio_postgres::Config) -> String {
    let mut parts = vec![format!("dbname={}", c.get_dbname().unwrap_or("postgres"))];
    if let Some(user) = c.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(pw) = c.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(pw)));
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

impl Drop for TestDb {
    fn drop(&mut self) {
        admin_execute_blocking(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Runs `sql` as the administrator, from code that may be outside any runtime or inside one
/// (a `Drop`): on a thread with a small runtime of its own. Failures are ignored: this is
/// cleanup.
pub fn admin_execute_blocking(sql: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
                .await
                .ok()?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.ok()
        })
    })
    .join();
}

/// A running service: its address and the handle that stops it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Held so the database outlives the service; dropped (and removed) with it.
    pub _db: TestDb,
    pub pool: Pool,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A connection as the schema owner, for setting up and inspecting rows.
    pub async fn owner(&self) -> tokio_postgres::Client {
        self._db.connect().await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the service on a fresh, migrated database, listening on 127.0.0.1:0.
pub async fn spawn_app() -> TestApp {
    let db = migrated_db().await;
    let pool = db.pool();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let state = AppState {
        pool: pool.clone(),
        api: test_api_state(),
        payments: hotspot_cloud::payments::Payments::disabled(),
    };
    tokio::spawn(hotspot_cloud::serve(state, listener, async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        _db: db,
        pool,
        stop: Some(stop),
    }
}

/// Starts the service with payments configured by `config` (given the service's own address,
/// which callback URLs need) and the payments jobs loop running; both stop with the app.
pub async fn spawn_app_with_payments(
    config: impl FnOnce(SocketAddr) -> hotspot_cloud::payments::PaymentsConfig,
) -> TestApp {
    spawn_app_with_payments_on(config, TestDb::pool).await
}

/// [`spawn_app_with_payments`] with the pool `pool` builds for the test database (a small one
/// with a bounded wait, as production runs, to test work under a busy pool).
pub async fn spawn_app_with_payments_on(
    config: impl FnOnce(SocketAddr) -> hotspot_cloud::payments::PaymentsConfig,
    pool: impl FnOnce(&TestDb) -> Pool,
) -> TestApp {
    let db = migrated_db().await;
    let pool = pool(&db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let payments = hotspot_cloud::payments::Payments::new(
        config(addr),
        Some(hotspot_cloud::api::secrets::SecretsKey::from_bytes(
            TEST_SECRETS_KEY,
        )),
    );
    let state = AppState {
        pool: pool.clone(),
        api: test_api_state(),
        payments: payments.clone(),
    };
    let (stop_jobs, jobs_stopped) = oneshot::channel::<()>();
    tokio::spawn(hotspot_cloud::payments::jobs::run(
        payments,
        pool.clone(),
        async {
            let _ = jobs_stopped.await;
        },
    ));
    tokio::spawn(hotspot_cloud::serve(state, listener, async {
        let _ = stopped.await;
        let _ = stop_jobs.send(());
    }));
    TestApp {
        addr,
        _db: db,
        pool,
        stop: Some(stop),
    }
}

/// The API's configuration in tests: a fixed secrets key ([`TEST_SECRETS_KEY`]).
pub fn test_api_state() -> std::sync::Arc<hotspot_cloud::api::ApiState> {
    hotspot_cloud::api::ApiState::new(hotspot_cloud::api::secrets::SecretsKey::from_bytes(
        TEST_SECRETS_KEY,
    ))
}

/// The secrets key of test services.
pub const TEST_SECRETS_KEY: [u8; 32] = [42; 32];

/// A plain HTTP/1.1 GET over a socket; returns (status, body).
pub async fn get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A fresh database with every migration applied, cloned from a template database.
pub async fn migrated_db() -> TestDb {
    let template = template().await;
    TestDb::create(&format!("TEMPLATE {template}")).await
}

/// The name of a database holding every migration, built once per set of migrations (its name
/// carries their digest, so test runs of other revisions on the same server do not collide) and
/// cloned with `CREATE DATABASE … TEMPLATE` for each test: much quicker than migrating each one.
async fn template() -> String {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE.get_or_init(build_template).await.clone()
}

async fn build_template() -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for (name, sql) in db::MIGRATIONS {
        digest.update(name.as_bytes());
        digest.update(sql.as_bytes());
    }
    let hex: String = digest
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("hotspot_tmpl_{hex}");
    let (admin, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Other test processes may build the same template at the same moment.
    admin
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&name])
        .await
        .unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .unwrap();
        let mut config: tokio_postgres::Config = admin_url().parse().unwrap();
        config.dbname(&building);
        let pool = db::pool(&config_to_url(&config), 1).unwrap();
        db::migrate(&pool).await.unwrap();
        pool.close();
        drop(pool);
        // The closed connection may take a moment to leave the server; bounded retries.
        let mut renamed = false;
        for _ in 0..100 {
            let sql = format!("ALTER DATABASE {building} RENAME TO {name}");
            if admin.batch_execute(&sql).await.is_ok() {
                renamed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(renamed, "could not rename the template database {building}");
    }
    admin
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&name])
        .await
        .unwrap();
    name
}

impl TestDb {
    /// A connection of its own (as the schema owner, like the migration runner).
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
}

/// The test fixture: at least one row in every tenant-scoped table for one tenant.
const TENANT_FIXTURE: &str = include_str!("sql/tenant_fixture.sql");

/// Loads the fixture for a new tenant (as the owner). `n` (1-250) must differ between the tenants
/// of one database: it picks the NAS address 192.0.2.n and other globally unique values.
pub async fn seed_tenant(client: &tokio_postgres::Client, n: u8) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let sql = TENANT_FIXTURE
        .replace("{T}", &id.to_string())
        .replace("{S}", &format!("t{n}"))
        .replace("{N}", &n.to_string());
    client.batch_execute(&sql).await.unwrap();
    id
}

/// Opens a transaction as `role` (e.g. `hotspot_app`), with `app.tenant_id` and `app.user_id`
/// set for that transaction when given. The caller commits or drops it.
pub async fn begin_as<'a>(
    client: &'a mut tokio_postgres::Client,
    role: &str,
    tenant: Option<&str>,
    user: Option<uuid::Uuid>,
) -> tokio_postgres::Transaction<'a> {
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!("SET LOCAL ROLE {role}"))
        .await
        .unwrap();
    if let Some(tenant) = tenant {
        tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenant])
            .await
            .unwrap();
    }
    if let Some(user) = user {
        tx.execute(
            "SELECT set_config('app.user_id', $1, true)",
            &[&user.to_string()],
        )
        .await
        .unwrap();
    }
    tx
}
