//! The RADIUS clients (table `nas`, every tenant's) held in memory: a packet's source address
//! finds its NAS, tenant and secret without a database round trip. The table is read again when
//! PostgreSQL notifies a change (`hotspot_nas_changed`, migration 0026) and every
//! [`REFRESH_EVERY`] in any case (a missed notification, or a pooler that drops LISTEN).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::Pool;
use uuid::Uuid;

/// How often the table is read even without a notification.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// A per-NAS BlastRADIUS setting as FreeRADIUS 3.2.5+ defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Yes,
    No,
    /// Required once the NAS has been seen sending Message-Authenticator.
    Auto,
}

impl Flag {
    fn parse(s: &str) -> Flag {
        match s {
            "no" => Flag::No,
            "auto" => Flag::Auto,
            _ => Flag::Yes,
        }
    }
}

/// The reply dialect a NAS understands, from `nas.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MikroTik RouterOS: Mikrotik-Rate-Limit, Mikrotik-Total-Limit(+Gigawords).
    Mikrotik,
    /// CoovaChilli, ChilliSpot and OpenWrt's uspot: ChilliSpot-* and WISPr-* attributes.
    Chilli,
    /// Anything else (Ubiquiti, Cisco, other): WISPr bandwidth, ChilliSpot octet limits.
    Wispr,
}

impl Dialect {
    pub fn from_type(t: &str) -> Dialect {
        match t.trim().to_ascii_lowercase().as_str() {
            "mikrotik" | "routeros" => Dialect::Mikrotik,
            "chillispot" | "coovachilli" | "chilli" | "uspot" | "openwrt" => Dialect::Chilli,
            _ => Dialect::Wispr,
        }
    }
}

/// One NAS as the server needs it.
#[derive(Debug)]
pub struct Nas {
    pub id: i32,
    pub tenant: Uuid,
    pub address: IpAddr,
    pub shortname: String,
    pub dialect: Dialect,
    pub secret: Vec<u8>,
    pub require_ma: Flag,
    pub limit_proxy_state: Flag,
    pub coa_port: u16,
    pub hotspot: Option<Uuid>,
    /// Whether an Access-Request with Message-Authenticator has come from it (for `auto`).
    pub seen_ma: AtomicBool,
}

impl Nas {
    /// Whether an Access-Request from this NAS must carry Message-Authenticator.
    pub fn requires_ma(&self) -> bool {
        match self.require_ma {
            Flag::Yes => true,
            Flag::No => false,
            Flag::Auto => self.seen_ma.load(Ordering::Relaxed),
        }
    }

    /// Whether an Access-Request with Proxy-State but no Message-Authenticator is dropped.
    pub fn limits_proxy_state(&self) -> bool {
        match self.limit_proxy_state {
            Flag::Yes => true,
            Flag::No => false,
            Flag::Auto => self.seen_ma.load(Ordering::Relaxed),
        }
    }
}

/// The client table. Reads never wait on the database.
#[derive(Debug, Default)]
pub struct Clients {
    by_address: RwLock<Arc<HashMap<IpAddr, Arc<Nas>>>>,
    /// RadSec clients by the SHA-256 (hex) of their certificate.
    by_fingerprint: RwLock<Arc<HashMap<String, Arc<Nas>>>>,
}

impl Clients {
    /// The NAS at `address`, if one is registered.
    pub fn get(&self, address: IpAddr) -> Option<Arc<Nas>> {
        let address = match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.by_address
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&address)
            .cloned()
    }

    /// The NAS whose RadSec client certificate has this SHA-256 (lower-case hex).
    pub fn by_certificate(&self, fingerprint: &str) -> Option<Arc<Nas>> {
        self.by_fingerprint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(fingerprint)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.by_address
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the whole table again (one query). What a NAS learned (`seen_ma`) is kept.
    pub async fn reload(&self, pool: &Pool) -> Result<usize, crate::db::DbError> {
        let mut client = pool
            .get()
            .await
            .map_err(|e| crate::db::DbError::Connect(e.to_string()))?;
        let tx = crate::db::service_transaction(&mut client).await?;
        let rows = tx
            .query(
                "SELECT nas_id, tenant_id, nasname, shortname, type, secret, require_ma, \
                 limit_proxy_state, coa_port, hotspot_id, tls_fingerprint FROM radius_clients() \
                 ORDER BY nas_id",
                &[],
            )
            .await?;
        tx.commit().await?;
        let old = self
            .by_address
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut map = HashMap::with_capacity(rows.len());
        let mut certs = HashMap::new();
        for row in rows {
            let name: String = row.get(2);
            let fingerprint: Option<String> = row.get(10);
            let address = match name.trim().parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) if fingerprint.is_some() => None,
                Err(_) => {
                    tracing::warn!(nas = %name, "nas row skipped: nasname is not an IP address");
                    continue;
                }
            };
            let id: i32 = row.get(0);
            if address.is_some_and(|a| map.contains_key(&a)) {
                tracing::warn!(nas = %name, id, "nas row skipped: another row has the same address");
                continue;
            }
            let seen = address
                .and_then(|a| old.get(&a))
                .is_some_and(|n| n.id == id && n.seen_ma.load(Ordering::Relaxed));
            let kind: Option<String> = row.get(4);
            let secret: String = row.get(5);
            let nas = Arc::new(Nas {
                id,
                tenant: row.get(1),
                address: address.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                shortname: row.get(3),
                dialect: Dialect::from_type(kind.as_deref().unwrap_or("other")),
                secret: secret.into_bytes(),
                require_ma: Flag::parse(row.get(6)),
                limit_proxy_state: Flag::parse(row.get(7)),
                coa_port: u16::try_from(row.get::<_, i32>(8)).unwrap_or(3799),
                hotspot: row.get(9),
                seen_ma: AtomicBool::new(seen),
            });
            if let Some(f) = fingerprint {
                certs.insert(f.trim().to_owned(), nas.clone());
            }
            if let Some(a) = address {
                map.insert(a, nas);
            }
        }
        let n = map.len() + certs.len();
        *self.by_address.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        *self
            .by_fingerprint
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(certs);
        Ok(n)
    }

    /// Keeps the table fresh until `shutdown`: LISTEN on a connection of its own to
    /// `database_url`, reload on each notification, and every [`REFRESH_EVERY`] regardless.
    pub async fn keep_fresh(
        self: Arc<Self>,
        pool: Pool,
        database_url: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let listening = listen(&database_url).await;
            if let Err(e) = self.reload(&pool).await {
                tracing::warn!(error = %e, "reading the RADIUS clients failed; keeping the last table");
            }
            match listening {
                Ok((client, mut connection)) => {
                    let mut tick = tokio::time::interval(REFRESH_EVERY);
                    tick.tick().await;
                    loop {
                        let message = std::future::poll_fn(|cx| connection.poll_message(cx));
                        tokio::select! {
                            m = message => match m {
                                Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                                    // Let a burst of edits settle into one read.
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                                Some(Ok(_)) => continue,
                                Some(Err(e)) => {
                                    tracing::warn!(error = %e, "RADIUS client notifications lost; reconnecting");
                                    break;
                                }
                                None => break,
                            },
                            _ = tick.tick() => {}
                            _ = shutdown.changed() => return,
                        }
                        if let Err(e) = self.reload(&pool).await {
                            tracing::warn!(error = %e, "reading the RADIUS clients failed");
                        }
                    }
                    drop(client);
                    // Do not spin on a server that closes connections at once.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for NAS changes; trying again in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(REFRESH_EVERY.min(Duration::from_secs(5))) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

type Listening = (
    tokio_postgres::Client,
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
);

async fn listen(url: &str) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    // The connection must be polled for the LISTEN to complete: drive both together.
    {
        let listen = client.batch_execute("LISTEN hotspot_nas_changed");
        tokio::pin!(listen);
        loop {
            let message = std::future::poll_fn(|cx| connection.poll_message(cx));
            tokio::select! {
                r = &mut listen => { r?; break; }
                m = message => match m {
                    Some(Err(e)) => return Err(e),
                    None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    Ok((client, connection))
}
