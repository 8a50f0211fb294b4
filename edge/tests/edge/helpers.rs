//! The daemon in-process on a real socket, against a real SQLite file, with a clock the tests
//! move, the recording firewall and a neighbour table the tests fill. Guests are sockets bound
//! to their own loopback address (127.0.0.N), so each has its own IP and MAC.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotspot_edge::clock::ManualClock;
use hotspot_edge::config::{Config, RawConfig};
use hotspot_edge::firewall::Recording;
use hotspot_edge::net::StaticNeighbours;
use hotspot_edge::sessions::Sessions;
use hotspot_edge::store::Store;
use hotspot_shared::MacAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// 2026-11-23 12:00 UTC.
pub const T0: i64 = 1_795_435_200;

pub struct TestEdge {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub firewall: Arc<Recording>,
    pub neighbours: Arc<StaticNeighbours>,
    pub sessions: Arc<Sessions>,
    pub store: Store,
    pub config: Arc<Config>,
    pub dir: Arc<tempfile::TempDir>,
    /// The cloud URL M-Pesa purchases go to, when they are on.
    pub cloud: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestEdge {
    pub fn leases(&self) -> PathBuf {
        self.dir.path().join("dhcp.leases")
    }

    /// A guest at 127.0.0.`n` with MAC 02:00:00:00:00:`n`, on the LAN and holding a lease.
    pub fn guest(&self, n: u8) -> Guest {
        let g = self.unleased_guest(n);
        let mut text = std::fs::read_to_string(self.leases()).unwrap_or_default();
        text.push_str(&format!("0 {} {} guest{n} *\n", g.mac, g.ip));
        std::fs::write(self.leases(), text).unwrap();
        g
    }

    /// A guest in the neighbour table without a DHCP lease (a spoofed or static address).
    pub fn unleased_guest(&self, n: u8) -> Guest {
        let g = Guest::new(self.addr, n);
        self.neighbours.insert(g.ip, g.mac);
        g
    }

    /// Imports vouchers through the technician's CSV import.
    pub fn import(&self, csv: &str) {
        hotspot_edge::admin::import(&self.store, &self.config, csv, self.clock_now()).unwrap();
    }

    pub fn clock_now(&self) -> i64 {
        use hotspot_edge::clock::Clock;
        self.clock.now()
    }

    pub fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_owned();
        self.store
            .blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .unwrap()
    }

    pub fn text(&self, sql: &str) -> Option<String> {
        let sql = sql.to_owned();
        self.store
            .blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .unwrap()
    }

    pub fn granted(&self) -> Vec<String> {
        self.firewall
            .granted()
            .iter()
            .map(|g| g.mac.to_string())
            .collect()
    }

    /// Stops the daemon as a power cut would leave it: the firewall forgets everything.
    /// Starts a new one on the same database; it restores live sessions.
    pub async fn restart(mut self) -> TestEdge {
        self.shutdown().await;
        let dir = Arc::clone(&self.dir);
        let clock = Arc::clone(&self.clock);
        let neighbours = Arc::clone(&self.neighbours);
        let config = Arc::clone(&self.config);
        let addr = self.addr;
        let cloud = self.cloud.take();
        drop(self);
        start(config, dir, clock, neighbours, Some(addr), cloud).await
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), done)
                .await
                .expect("server stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

pub fn config(dir: &Path, extra: &str, clients: &str) -> Arc<Config> {
    let text = format!(
        "[store]\npath = {:?}\n[lan]\naddress = \"10.0.0.1\"\n\
         [clients]\nlease_file = {:?}\n{clients}\
         [sessions]\naccounting_interval_seconds = 3600\nidle_timeout_seconds = 600\n{extra}",
        dir.join("edge.db"),
        dir.join("dhcp.leases"),
    );
    Arc::new(
        RawConfig::parse(&text, Path::new("t.toml"))
            .unwrap()
            .validate()
            .unwrap(),
    )
}

/// An edge with the test configuration plus `extra` TOML (sections not already used above, or
/// `[site]`, `[portal]`, `[branding]`, `[vouchers]`).
pub async fn spawn_edge(extra: &str) -> TestEdge {
    spawn(extra, "").await
}

/// An edge with extra `[clients]` settings.
pub async fn spawn_edge_with_clients(clients: &str) -> TestEdge {
    spawn("", clients).await
}

async fn spawn(extra: &str, clients: &str) -> TestEdge {
    spawn_full(extra, clients, None).await
}

/// An edge whose portal sells packages through the cloud at `cloud`.
pub async fn spawn_edge_with_cloud(cloud: &str) -> TestEdge {
    spawn_full("", "", Some(cloud.to_owned())).await
}

async fn spawn_full(extra: &str, clients: &str, cloud: Option<String>) -> TestEdge {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let config = config(dir.path(), extra, clients);
    start(
        config,
        dir,
        Arc::new(ManualClock::new(T0)),
        Arc::new(StaticNeighbours::default()),
        None,
        cloud,
    )
    .await
}

async fn start(
    config: Arc<Config>,
    dir: Arc<tempfile::TempDir>,
    clock: Arc<ManualClock>,
    neighbours: Arc<StaticNeighbours>,
    addr: Option<SocketAddr>,
    cloud: Option<String>,
) -> TestEdge {
    let store = Store::open(&config.store_path).unwrap();
    let firewall = Arc::new(Recording::default());
    let sessions = Arc::new(Sessions::new(
        Arc::clone(&config),
        store.clone(),
        firewall.clone(),
        clock.clone(),
        neighbours.clone(),
    ));
    sessions.restore().await.unwrap();
    // A restarted edge listens where the old one did, as the daemon would.
    let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let payments = cloud.as_deref().map(|url| {
        let client = hotspot_edge::sync::client::CloudClient::new(url, None).unwrap();
        // Polls a pending purchase often, so a test sees it settled soon after the cloud does.
        Arc::new(
            hotspot_edge::payments::Payments::new(client, "hsd_test".into(), sessions.clone())
                .with_poll_interval(std::time::Duration::from_millis(50)),
        )
    });
    // As the daemon does at start: purchases still pending are polled again.
    if let Some(p) = &payments {
        p.resume().await.unwrap();
    }
    let done = tokio::spawn(hotspot_edge::serve_with(
        sessions.clone(),
        payments,
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    TestEdge {
        addr,
        clock,
        firewall,
        neighbours,
        sessions,
        store,
        config,
        dir,
        cloud,
        stop: Some(stop),
        done: Some(done),
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// The header block, lower-cased.
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::trim)
        })
    }

    /// The form token on the page.
    pub fn token(&self) -> String {
        let at = self
            .body
            .find("name=\"token\" value=\"")
            .unwrap_or_else(|| panic!("no form token in {}", self.body))
            + 20;
        self.body[at..at + 32].to_owned()
    }
}

/// A guest device: a socket source address and its MAC.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    pub ip: IpAddr,
    pub mac: MacAddr,
    server: SocketAddr,
}

impl Guest {
    pub fn new(server: SocketAddr, n: u8) -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)),
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            server,
        }
    }

    pub async fn raw(&self, bytes: &[u8]) -> Resp {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(self.ip, 0)).unwrap();
        let mut s = sock.connect(self.server).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut buf))
            .await
            .expect("the server answers within 20 s")
            .unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {text:?}"));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Resp {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    pub async fn get_with(&self, path: &str, host: &str, headers: &str) -> Resp {
        self.raw(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
    }

    pub async fn get(&self, path: &str, host: &str) -> Resp {
        self.get_with(path, host, "").await
    }

    pub async fn post(&self, path: &str, body: &[u8]) -> Resp {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: 10.0.0.1:2050\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.raw(&req).await
    }

    pub async fn token(&self) -> String {
        self.get("/", "10.0.0.1:2050").await.token()
    }

    /// Enters a code on the portal as a browser would.
    pub async fn login(&self, code: &str) -> Resp {
        let token = self.token().await;
        let code: String = code
            .bytes()
            .map(|b| match b {
                b' ' => "+".to_owned(),
                b if b.is_ascii_alphanumeric() || b == b'-' => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        self.post("/login", format!("code={code}&token={token}").as_bytes())
            .await
    }
}

/// The cloud's purchase API (`hotspot_shared::purchase`) as the edge sees it: each request id
/// gets a purchase, and every purchase asked about (started here or not) is pending until the
/// test settles them all with [`FakeCloud::settle`].
pub struct FakeCloud {
    pub url: String,
    state: Arc<std::sync::Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct FakeState {
    /// Purchase ids by request id.
    purchases: std::collections::HashMap<uuid::Uuid, uuid::Uuid>,
    requests: Vec<hotspot_shared::purchase::PurchaseRequest>,
    settled: Option<hotspot_shared::purchase::PurchaseStatus>,
}

impl FakeCloud {
    pub async fn start() -> FakeCloud {
        use axum::body::Bytes;
        use axum::extract::{Path as UrlPath, State};
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        use hotspot_shared::purchase::{PurchaseRequest, PurchaseState, PurchaseStatus};
        type Shared = Arc<std::sync::Mutex<FakeState>>;

        fn answer(s: &FakeState, purchase_id: uuid::Uuid) -> axum::response::Response {
            let state = PurchaseState {
                purchase_id,
                amount_kes: 20,
                status: s.settled.clone().unwrap_or(PurchaseStatus::Pending),
            };
            (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&state).unwrap(),
            )
                .into_response()
        }
        async fn start(State(s): State<Shared>, body: Bytes) -> axum::response::Response {
            let Ok(req) = serde_json::from_slice::<PurchaseRequest>(&body) else {
                return StatusCode::UNPROCESSABLE_ENTITY.into_response();
            };
            let mut s = s.lock().unwrap();
            let id = *s
                .purchases
                .entry(req.request_id)
                .or_insert_with(uuid::Uuid::new_v4);
            s.requests.push(req);
            answer(&s, id)
        }
        async fn state(
            State(s): State<Shared>,
            UrlPath(id): UrlPath<uuid::Uuid>,
        ) -> axum::response::Response {
            answer(&s.lock().unwrap(), id)
        }

        let shared: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/sync/v1/purchases", axum::routing::post(start))
            .route("/sync/v1/purchases/{id}", axum::routing::get(state))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCloud {
            url,
            state: shared,
            task,
        }
    }

    /// Every purchase, started or to come, now has this outcome.
    pub fn settle(&self, status: hotspot_shared::purchase::PurchaseStatus) {
        self.state.lock().unwrap().settled = Some(status);
    }

    /// The purchase requests the edge sent.
    pub fn requests(&self) -> Vec<hotspot_shared::purchase::PurchaseRequest> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits up to 10 s for `done` to hold, checking every 50 ms.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}
