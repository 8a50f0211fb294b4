//! Who is online: voucher logins, MAC auto-connect, logout, the accounting cycle that applies
//! time, data and idle limits from the firewall's counters, and restoring the firewall at start.
//!
//! Owns the order that makes a login safe: the redemption and its session are committed to
//! SQLite in one transaction, then the client is granted in the firewall, then the guest is
//! answered. Decisions come from the pure rules in [`crate::vouchers`] and
//! [`hotspot_shared::plan`]; this module does the I/O around them. It knows nothing of HTTP.

pub mod reports;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rusqlite::TransactionBehavior;

use hotspot_shared::MacAddr;
use hotspot_shared::plan::{EndReason, Limits, mbps_to_kbps};
use hotspot_shared::sync::EdgeClock;
use hotspot_shared::voucher::{CodeError, normalize};

use crate::clock::{Clock, secs_of};
use crate::config::Config;
use crate::firewall::{Counters, Firewall, FirewallError, Grant};
use crate::net::{LeaseFile, Neighbours};
use crate::radius::settings::LoginOrder;
use crate::store::access::{self as q, NewSession, SessionRow, SessionType};
use crate::store::{Store, StoreError, outbox};
use crate::throttle::{Policy, Throttle};
use crate::vouchers::{self, Refusal};

/// A client on the LAN, identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

/// Why a client could not be identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// Its IP is not in the neighbour table (not on the LAN, or not yet seen).
    NoMac,
    /// Its IP and MAC hold no current DHCP lease from this router.
    NoLease,
}

/// A live session as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: SessionRow,
    /// Bytes counted against its data limit (the voucher's total for shared vouchers).
    pub used: u64,
    pub seconds_remaining: Option<u64>,
    pub bytes_remaining: Option<u64>,
    /// What the RADIUS server told the guest when it let them in (Reply-Message).
    pub notice: Option<String>,
}

/// What the portal should show a client.
// One per request, never held in bulk: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    Blocked { reason: Option<String> },
    Online(SessionView),
    Offline,
}

/// Why a voucher login did not let the client in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("too many wrong codes; wait {wait} s")]
    Throttled { wait: i64 },
    #[error("{0}")]
    BadCode(CodeError),
    #[error("voucher refused: {0:?}")]
    Refused(Refusal),
    #[error("device blocked")]
    Blocked { reason: Option<String> },
    /// The RADIUS server refused the login, with what it said to the guest.
    #[error("refused by the RADIUS server")]
    RadiusRejected { message: Option<String> },
    /// No RADIUS server answered (local vouchers still work).
    #[error("no RADIUS server answered")]
    RadiusUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}

/// What one accounting cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Sessions ended, with why.
    pub ended: Vec<(MacAddr, EndReason)>,
    /// Clients removed from the firewall that had no live session (kicks and blocks made with
    /// the command line, or leftovers).
    pub revoked_strays: usize,
    /// Live sessions missing from the firewall that were granted again.
    pub regranted: usize,
    /// Registered devices let in because they were seen on the LAN.
    pub auto_connected: usize,
}

/// The session engine, shared by the portal and the accounting loop.
pub struct Sessions {
    config: Arc<Config>,
    store: Store,
    firewall: Arc<dyn Firewall>,
    clock: Arc<dyn Clock>,
    neighbours: Arc<dyn Neighbours>,
    /// Wrong-code records per client; a std mutex, never held across `.await`.
    throttle: Mutex<Throttle>,
    /// One accounting cycle at a time (the loop and a test or CLI-triggered run).
    cycle: tokio::sync::Mutex<()>,
    /// Unix second the engine was made: the daemon's uptime in the daily report.
    started: i64,
    /// dnsmasq's leases, for refusing clients whose address it did not hand out.
    leases: Arc<LeaseFile>,
    /// Bumped after a pull that changed plans commits: readers caching the plan list compare it.
    plans_generation: std::sync::atomic::AtomicU64,
    /// The RADIUS servers this router is a NAS of, when `[radius]` is on.
    radius: Option<Arc<crate::radius::Nas>>,
    /// MAC authentication: when each device was last asked about (a reject, silence or a
    /// request in flight is not asked again before [`MAC_AUTH_AGAIN_SECS`]). A std mutex,
    /// never held across `.await`; at most [`MAC_AUTH_REMEMBERED`] entries.
    mac_auth_asked: Mutex<std::collections::HashMap<MacAddr, i64>>,
    /// The portal branding the cloud sent (loaded by [`Sessions::restore`], replaced by
    /// [`Sessions::apply_branding`]); `None`: the configuration's `[branding]`. A std lock,
    /// never held across `.await`.
    branding: std::sync::RwLock<Option<Arc<crate::store::branding::Look>>>,
}

/// Seconds before a device the RADIUS server refused (or did not answer about) by MAC
/// authentication is asked about again.
pub const MAC_AUTH_AGAIN_SECS: i64 = 300;
/// Devices remembered for MAC authentication; past this the oldest entries go.
pub const MAC_AUTH_REMEMBERED: usize = 4096;

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

enum Step {
    Done(SessionRow, u64),
    Already(SessionRow),
    Blocked(Option<String>),
    Refused(Refusal),
    /// A registered device with no session: one should be started.
    Start,
}

impl Sessions {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        firewall: Arc<dyn Firewall>,
        clock: Arc<dyn Clock>,
        neighbours: Arc<dyn Neighbours>,
    ) -> Self {
        let policy = Policy::from_settings(&config.vouchers);
        let started = clock.now();
        let leases = Arc::new(LeaseFile::new(config.lease_file.clone()));
        let radius = config
            .radius
            .clone()
            .map(|r| Arc::new(crate::radius::Nas::new(r)));
        Self {
            started,
            config,
            store,
            firewall,
            clock,
            neighbours,
            throttle: Mutex::new(Throttle::new(policy)),
            cycle: tokio::sync::Mutex::new(()),
            plans_generation: std::sync::atomic::AtomicU64::new(0),
            leases,
            radius,
            mac_auth_asked: Mutex::new(std::collections::HashMap::new()),
            branding: std::sync::RwLock::new(None),
        }
    }

    /// Changes whenever pulled changes to plans have been committed; a cached plan list read
    /// under an older value is stale.
    pub fn plans_generation(&self) -> u64 {
        self.plans_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Uses `leases` (the same file as `[clients] lease_file`) instead of a copy of its own, so a
    /// lease neighbour table and the lease check share one parse.
    pub fn with_leases(mut self, leases: Arc<LeaseFile>) -> Self {
        self.leases = leases;
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The client's MAC from its IP, and (when required) a matching DHCP lease. Reads the
    /// neighbour table and lease file on the blocking pool.
    pub async fn identify(self: &Arc<Self>, ip: IpAddr) -> Result<Client, IdentityError> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.identify_blocking(ip))
            .await
            .unwrap_or(Err(IdentityError::NoMac))
    }

    fn identify_blocking(&self, ip: IpAddr) -> Result<Client, IdentityError> {
        let mac = self.neighbours.lookup(ip).ok_or(IdentityError::NoMac)?;
        if self.config.require_lease && !self.leases.holds(ip, mac, self.now()) {
            return Err(IdentityError::NoLease);
        }
        Ok(Client { ip, mac })
    }

    fn view(&self, session: SessionRow, used: u64, now: i64) -> SessionView {
        SessionView {
            seconds_remaining: session.limits.seconds_remaining(now),
            bytes_remaining: session.limits.bytes_remaining(used),
            session,
            used,
            notice: None,
        }
    }

    fn grant_of(s: &SessionRow) -> Grant {
        Grant {
            mac: s.mac,
            addrs: s
                .ip
                .as_deref()
                .and_then(|i| i.parse().ok())
                .into_iter()
                .collect(),
            down_kbps: s.down_kbps,
            up_kbps: s.up_kbps,
        }
    }

    /// The client's state; a registered auto-connect device that is offline is let in now.
    pub async fn client_state(self: &Arc<Self>, client: Client) -> Result<ClientState, StoreError> {
        let at = self.clock.reading();
        let now = secs_of(&at);
        // Most requests (probes, page loads) only read; the write path, which waits for a group
        // commit, is taken only to start an auto-connect session.
        let mut state = self
            .store
            .read(move |c| client_step(c, client, &at, false))
            .await?;
        let mut started = false;
        if matches!(state, Step::Start) {
            state = self
                .store
                .write(move |c| client_step(c, client, &at, true))
                .await?;
            started = matches!(state, Step::Done(..));
        }
        if matches!(state, Step::Refused(Refusal::Unknown))
            && let Some(v) = self.mac_auth(client, now).await
        {
            return Ok(ClientState::Online(v));
        }
        Ok(match state {
            Step::Blocked(reason) => ClientState::Blocked { reason },
            Step::Done(s, used) => {
                if started {
                    tracing::info!(mac = %s.mac, "registered device auto-connected");
                    if let Err(e) = self.firewall.grant(&Self::grant_of(&s)) {
                        // The session is recorded; the next accounting cycle grants it again.
                        tracing::error!(error = %e, mac = %s.mac, "firewall grant failed");
                    }
                }
                ClientState::Online(self.view(s, used, now))
            }
            _ => ClientState::Offline,
        })
    }

    /// A voucher login: throttle, check, commit redemption and session, grant, answer.
    pub async fn login(
        self: &Arc<Self>,
        client: Client,
        typed: &str,
        user_agent: Option<String>,
    ) -> Result<SessionView, LoginError> {
        let at = self.clock.reading();
        let now = secs_of(&at);
        let key = client.mac.to_string();
        if let Err(wait) = self.throttle_check(&key, now) {
            return Err(LoginError::Throttled { wait });
        }
        let order = self.radius.as_ref().map(|n| n.config.login);
        if order == Some(LoginOrder::Radius) {
            let code = typed.trim();
            return self.radius_login(client, code, code, user_agent).await;
        }
        let code = match normalize(typed) {
            Ok(c) => c,
            Err(_) if order == Some(LoginOrder::LocalThenRadius) => {
                let code = typed.trim();
                return self.after_local_miss(client, code, user_agent).await;
            }
            Err(e) => {
                self.throttle_fail(&key, now);
                return Err(LoginError::BadCode(e));
            }
        };
        let hotspot = self.config.hotspot_id.clone();
        let (down, up) = (self.config.vouchers.down_kbps, self.config.vouchers.up_kbps);
        let ua = user_agent.clone();
        let step = self
            .store
            .write(move |tx| {
                let user_agent = ua;
                if let Some(e) = q::access_entry(tx, client.mac)?
                    && e.is_blocked
                {
                    return Ok(Step::Blocked(e.blocked_reason));
                }
                if let Some(s) = q::active_session(tx, client.mac)? {
                    return Ok(Step::Already(s));
                }
                let voucher = q::find_voucher(tx, &code)?;
                let usage = match &voucher {
                    Some(v) => q::voucher_usage(tx, &v.id)?,
                    None => vouchers::Usage::default(),
                };
                let admission = match vouchers::check(
                    voucher.as_ref(),
                    &code,
                    &usage,
                    client.mac,
                    hotspot.as_deref(),
                    now,
                ) {
                    Ok(a) => a,
                    Err(r) => return Ok(Step::Refused(r)),
                };
                let Some(v) = voucher else {
                    return Ok(Step::Refused(Refusal::Unknown));
                };
                let (down, up) = match &v.plan_id {
                    Some(p) => q::plan_rates(tx, p)?.unwrap_or((down, up)),
                    None => (down, up),
                };
                let s = q::start_session(
                    tx,
                    &NewSession {
                        mac: client.mac,
                        ip: Some(client.ip.to_string()),
                        session_type: SessionType::Voucher,
                        voucher: Some((&v.id, &v.code)),
                        limits: admission.limits,
                        down_kbps: down,
                        up_kbps: up,
                        user_agent,
                    },
                    &at,
                )?;
                q::redeem(tx, &v, client.mac, &s.id, &at)?;
                // `write` returns only once this is committed: durable before the firewall
                // lets the guest through.
                Ok(Step::Done(s, usage.bytes))
            })
            .await?;
        match step {
            Step::Blocked(reason) => Err(LoginError::Blocked { reason }),
            Step::Start => Err(LoginError::Refused(Refusal::Unknown)),
            Step::Refused(Refusal::Unknown) if order == Some(LoginOrder::LocalThenRadius) => {
                // A code this router does not know may be the RADIUS server's (the voucher
                // code as User-Name and password, as CoovaChilli and our cloud take it).
                self.after_local_miss(client, typed.trim(), user_agent)
                    .await
            }
            Step::Refused(r) => {
                // Only a code that does not exist is a guess: a real code that is used up,
                // expired, of another site or on all its devices (friends sharing one) counts
                // against no one, or a full voucher would soon lock the whole site out.
                if r == Refusal::Unknown {
                    self.throttle_fail(&key, now);
                }
                Err(LoginError::Refused(r))
            }
            Step::Already(s) => {
                let used = s.bytes();
                Ok(self.view(s, used, now))
            }
            Step::Done(s, used) => {
                self.throttle_succeed(&key);
                self.firewall.grant(&Self::grant_of(&s))?;
                tracing::info!(mac = %s.mac, "voucher login");
                Ok(self.view(s, used, now))
            }
        }
    }

    /// A live top-up: an online guest enters another, unused voucher on the status page and
    /// the running session is extended in place (no new session, no reconnect): its time by the
    /// voucher's duration from the later of now and its current end, its data limit by the
    /// voucher's data. A limit the session does not have (unlimited) stays unlimited. The
    /// voucher is redeemed to this session. A guest not online is logged in as by [`Self::login`].
    pub async fn top_up(
        self: &Arc<Self>,
        client: Client,
        typed: &str,
        user_agent: Option<String>,
    ) -> Result<SessionView, LoginError> {
        let at = self.clock.reading();
        let now = secs_of(&at);
        let key = client.mac.to_string();
        if let Err(wait) = self.throttle_check(&key, now) {
            return Err(LoginError::Throttled { wait });
        }
        let code = match normalize(typed) {
            Ok(c) => c,
            Err(e) => {
                self.throttle_fail(&key, now);
                return Err(LoginError::BadCode(e));
            }
        };
        let hotspot = self.config.hotspot_id.clone();
        let step = self
            .store
            .write(move |tx| {
                let Some(s) = q::active_session(tx, client.mac)? else {
                    return Ok(Step::Start);
                };
                let voucher = q::find_voucher(tx, &code)?;
                let usage = match &voucher {
                    Some(v) => q::voucher_usage(tx, &v.id)?,
                    None => vouchers::Usage::default(),
                };
                let admission = match vouchers::check(
                    voucher.as_ref(),
                    &code,
                    &usage,
                    client.mac,
                    hotspot.as_deref(),
                    now,
                ) {
                    Ok(a) => a,
                    Err(r) => return Ok(Step::Refused(r)),
                };
                let Some(v) = voucher else {
                    return Ok(Step::Refused(Refusal::Unknown));
                };
                // Only a fresh voucher extends a session: one already running has its own
                // clock, which a login with it continues.
                if !admission.first_use || v.id.as_str() == s.voucher_id.as_deref().unwrap_or("") {
                    return Ok(Step::Refused(Refusal::UsedUp));
                }
                let more = s.limits.extended(
                    admission.limits.ends_at.map(|end| end - now),
                    admission.limits.data_bytes,
                    now,
                );
                q::extend_session(tx, &s.id, more.ends_at, more.data_bytes)?;
                q::redeem(tx, &v, client.mac, &s.id, &at)?;
                let s = q::session_by_id(tx, &s.id)?.unwrap_or(s);
                let used = used_against_limit(tx, &s)?;
                Ok(Step::Done(s, used))
            })
            .await?;
        match step {
            Step::Start => self.login(client, typed, user_agent).await,
            Step::Done(s, used) => {
                self.throttle_succeed(&key);
                tracing::info!(mac = %s.mac, "session topped up with a voucher");
                Ok(self.view(s, used, now))
            }
            Step::Refused(r) => {
                // Only a code that does not exist is a guess: a real code that is used up,
                // expired, of another site or on all its devices (friends sharing one) counts
                // against no one, or a full voucher would soon lock the whole site out.
                if r == Refusal::Unknown {
                    self.throttle_fail(&key, now);
                }
                Err(LoginError::Refused(r))
            }
            Step::Blocked(reason) => Err(LoginError::Blocked { reason }),
            Step::Already(s) => {
                let used = s.bytes();
                Ok(self.view(s, used, now))
            }
        }
    }

    /// A code the local store does not know, tried at the RADIUS server. With no server
    /// answering it still counts as a wrong code: otherwise an outage would lift the throttle
    /// that protects the local vouchers from guessing.
    async fn after_local_miss(
        self: &Arc<Self>,
        client: Client,
        code: &str,
        user_agent: Option<String>,
    ) -> Result<SessionView, LoginError> {
        let result = self.radius_login(client, code, code, user_agent).await;
        if matches!(result, Err(LoginError::RadiusUnavailable)) {
            self.throttle_fail(&client.mac.to_string(), self.clock.now());
        }
        result
    }

    /// A login with a username and password (the portal's second form), checked by the RADIUS
    /// server. Refused as a wrong code when `[radius]` is off.
    pub async fn login_user(
        self: &Arc<Self>,
        client: Client,
        user: &str,
        password: &str,
        user_agent: Option<String>,
    ) -> Result<SessionView, LoginError> {
        let now = self.clock.now();
        if let Err(wait) = self.throttle_check(&client.mac.to_string(), now) {
            return Err(LoginError::Throttled { wait });
        }
        if self.radius.is_none() {
            return Err(LoginError::Refused(Refusal::Unknown));
        }
        self.radius_login(client, user.trim(), password, user_agent)
            .await
    }

    /// MAC authentication of a device this router does not know, with `[radius] mac_auth` on:
    /// the server is asked about it (User-Name and password = its MAC in `mac_format`,
    /// Service-Type Call-Check) at most once per [`MAC_AUTH_AGAIN_SECS`]. The caller waits
    /// one `timeout_ms` at most; a slower answer still lets the device in for its next request.
    async fn mac_auth(self: &Arc<Self>, client: Client, now: i64) -> Option<SessionView> {
        let nas = self.radius.as_ref().filter(|n| n.config.mac_auth)?;
        {
            let mut asked = self
                .mac_auth_asked
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if asked
                .get(&client.mac)
                .is_some_and(|&at| now - at < MAC_AUTH_AGAIN_SECS)
            {
                return None;
            }
            if asked.len() >= MAC_AUTH_REMEMBERED {
                asked.retain(|_, at| now - *at < MAC_AUTH_AGAIN_SECS);
                if asked.len() >= MAC_AUTH_REMEMBERED {
                    let oldest = asked.iter().min_by_key(|(_, at)| **at).map(|(m, _)| *m);
                    if let Some(m) = oldest {
                        asked.remove(&m);
                    }
                }
            }
            asked.insert(client.mac, now);
        }
        // As for registered devices: one that logged out, was kicked or went idle is not let
        // back in by its MAC alone until the idle timeout has passed.
        let idle = self.config.idle_timeout_secs;
        let mac = client.mac;
        let recent = self
            .store
            .read(move |c| {
                Ok(q::last_end(c, mac)?.is_some_and(|(reason, at)| {
                    matches!(reason.as_str(), "idle" | "logout" | "kick") && now - at < idle
                }))
            })
            .await;
        if !matches!(recent, Ok(false)) {
            return None;
        }
        let name = nas.config.mac_format.format(client.mac);
        let me = Arc::clone(self);
        let task =
            tokio::spawn(
                async move { me.radius_authorize(client, &name, &name, None, true).await },
            );
        match tokio::time::timeout(nas.config.timeout, task).await {
            Ok(Ok(Ok(v))) => {
                // Let in: a later session end starts the count afresh.
                self.mac_auth_asked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&client.mac);
                Some(v)
            }
            _ => None,
        }
    }

    /// Asks the RADIUS server about `user`; on Access-Accept commits the session and its
    /// RADIUS state, then grants it. The throttle counts rejects as wrong codes.
    async fn radius_login(
        self: &Arc<Self>,
        client: Client,
        user: &str,
        password: &str,
        user_agent: Option<String>,
    ) -> Result<SessionView, LoginError> {
        self.radius_authorize(client, user, password, user_agent, false)
            .await
    }

    /// [`Self::radius_login`], or with `mac_auth` a MAC authentication: Service-Type
    /// Call-Check, and nothing counted in the wrong-code throttle (the guest typed nothing).
    async fn radius_authorize(
        self: &Arc<Self>,
        client: Client,
        user: &str,
        password: &str,
        user_agent: Option<String>,
        mac_auth: bool,
    ) -> Result<SessionView, LoginError> {
        let Some(nas) = self.radius.clone() else {
            return Err(LoginError::Refused(Refusal::Unknown));
        };
        let key = client.mac.to_string();
        let fail = |now| {
            if !mac_auth {
                self.throttle_fail(&key, now);
            }
        };
        if user.is_empty() || user.len() > 253 || password.len() > 128 {
            fail(self.clock.now());
            return Err(LoginError::RadiusRejected { message: None });
        }
        // A blocked device or one already online is answered without asking the server.
        let state = self
            .store
            .read(move |c| {
                if let Some(e) = q::access_entry(c, client.mac)?
                    && e.is_blocked
                {
                    return Ok(Step::Blocked(e.blocked_reason));
                }
                Ok(match q::active_session(c, client.mac)? {
                    Some(s) => Step::Already(s),
                    None => Step::Start,
                })
            })
            .await?;
        match state {
            Step::Blocked(reason) => return Err(LoginError::Blocked { reason }),
            Step::Already(s) => {
                let used = s.bytes();
                return Ok(self.view(s, used, self.clock.now()));
            }
            _ => {}
        }
        let mut request =
            crate::radius::attrs::access_request(&nas.config, user, client.mac, Some(client.ip));
        if mac_auth {
            request.remove(hotspot_shared::radius::attr::SERVICE_TYPE);
            request.push_u32(
                hotspot_shared::radius::attr::SERVICE_TYPE,
                crate::radius::attrs::SERVICE_CALL_CHECK,
            );
        }
        let reply = match nas.auth.send(&request, Some(password.as_bytes())).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "RADIUS login: no server answered");
                return Err(LoginError::RadiusUnavailable);
            }
        };
        let at = self.clock.reading();
        let now = secs_of(&at);
        if reply.code != hotspot_shared::radius::Code::AccessAccept {
            // Access-Challenge (a second factor) is not supported: refused like a reject.
            fail(now);
            tracing::info!(mac = %client.mac, code = ?reply.code, mac_auth, "RADIUS login refused");
            return Err(LoginError::RadiusRejected {
                message: crate::radius::attrs::reply_message(&reply),
            });
        }
        let auth = crate::radius::attrs::authorization(&reply);
        let limits = Limits {
            ends_at: auth.session_timeout.map(|t| now + i64::from(t)),
            data_bytes: auth.data_bytes,
        };
        let down = auth.down_kbps.unwrap_or(self.config.vouchers.down_kbps);
        let up = auth.up_kbps.unwrap_or(self.config.vouchers.up_kbps);
        let user = user.to_owned();
        let interim = i64::from(
            auth.interim_interval
                .unwrap_or(nas.config.interim_interval_secs),
        );
        let notice = auth.reply_message.clone();
        let step = self
            .store
            .write(move |tx| {
                if let Some(e) = q::access_entry(tx, client.mac)?
                    && e.is_blocked
                {
                    return Ok(Step::Blocked(e.blocked_reason));
                }
                if let Some(s) = q::active_session(tx, client.mac)? {
                    return Ok(Step::Already(s));
                }
                let s = q::start_session(
                    tx,
                    &NewSession {
                        mac: client.mac,
                        ip: Some(client.ip.to_string()),
                        session_type: SessionType::Guest,
                        voucher: None,
                        limits,
                        down_kbps: down,
                        up_kbps: up,
                        user_agent,
                    },
                    &at,
                )?;
                crate::store::radius::insert(
                    tx,
                    &crate::store::radius::RadiusSession {
                        acct_session_id: s.id.replace('-', "").to_ascii_uppercase(),
                        session_id: s.id.clone(),
                        user_name: user,
                        class: auth.class,
                        idle_timeout: auth.idle_timeout.map(i64::from),
                        interim_interval: interim,
                        reply_message: auth.reply_message,
                    },
                    now,
                )?;
                crate::store::radius::queue_session(
                    tx,
                    &s,
                    hotspot_shared::radius::acct_status::START,
                    None,
                    now,
                )?;
                // Durable before the firewall lets the guest through, as a voucher login.
                Ok(Step::Done(s, 0))
            })
            .await?;
        match step {
            Step::Blocked(reason) => Err(LoginError::Blocked { reason }),
            Step::Already(s) => {
                let used = s.bytes();
                Ok(self.view(s, used, now))
            }
            Step::Done(s, used) => {
                if !mac_auth {
                    self.throttle_succeed(&key);
                }
                self.firewall.grant(&Self::grant_of(&s))?;
                nas.wake.notify_one();
                tracing::info!(mac = %s.mac, mac_auth, "RADIUS login");
                let mut v = self.view(s, used, now);
                v.notice = notice;
                Ok(v)
            }
            Step::Refused(r) => Err(LoginError::Refused(r)),
            Step::Start => Err(LoginError::Refused(Refusal::Unknown)),
        }
    }

    /// Whether the portal offers the username and password form.
    pub fn radius_enabled(&self) -> bool {
        self.radius.is_some()
    }

    /// This router as a RADIUS NAS, when `[radius]` is on.
    pub fn nas(&self) -> Option<&Arc<crate::radius::Nas>> {
        self.radius.as_ref()
    }

    /// Sends the queued RADIUS accounting now, in order, until the queue is empty or no server
    /// answers. Returns how many requests were answered (0 with `[radius]` off).
    pub async fn radius_flush(&self) -> Result<usize, crate::radius::accounting::FlushError> {
        match &self.radius {
            Some(nas) => {
                crate::radius::accounting::flush(&self.store, nas, &self.clock, usize::MAX).await
            }
            None => Ok(0),
        }
    }

    /// Live RADIUS sessions matching every identifier `sel` gives (Disconnect and CoA).
    pub async fn radius_find(
        &self,
        sel: crate::radius::das::Selector,
    ) -> Result<Vec<SessionRow>, StoreError> {
        self.store
            .read(move |c| crate::store::radius::find_live(c, &sel))
            .await
    }

    /// Applies a CoA's changes to a live session: Session-Timeout (from now), data limit,
    /// rates, Idle-Timeout; then grants it again at its rates (the guest stays through).
    pub async fn radius_change(
        &self,
        session_id: String,
        change: crate::radius::attrs::Authorization,
    ) -> Result<(), LoginError> {
        let now = self.clock.now();
        let live = self
            .store
            .write(move |c| crate::store::radius::change(c, &session_id, &change, now))
            .await?;
        if let Some(s) = live {
            self.firewall.grant(&Self::grant_of(&s))?;
        }
        Ok(())
    }

    fn radius_wake(&self) {
        if let Some(nas) = &self.radius {
            nas.wake.notify_one();
        }
    }

    fn throttle_check(&self, key: &str, now: i64) -> Result<(), i64> {
        match self.throttle.lock() {
            Ok(t) => t.check(key, now),
            Err(_) => Ok(()),
        }
    }

    fn throttle_fail(&self, key: &str, now: i64) {
        if let Ok(mut t) = self.throttle.lock() {
            if let Some(wait) = t.fail(key, now) {
                tracing::warn!(client = key, wait, "voucher guessing throttled");
            }
            self.throttle_save(t.rows(key));
        }
    }

    fn throttle_succeed(&self, key: &str) {
        if let Ok(mut t) = self.throttle.lock() {
            t.succeed(key);
            self.throttle_save(t.rows(key));
        }
    }

    /// Stores the throttle's rows in the background (a restart reads them back); the throttle
    /// in memory is what decides meanwhile.
    fn throttle_save(&self, rows: [(String, Option<crate::throttle::Record>); 2]) {
        let store = self.store.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = store.write(move |c| crate::throttle::save(c, &rows)).await {
                    tracing::warn!(error = %e, "cannot store the voucher throttle");
                }
            });
        }
    }

    /// Clears `mac`'s wrong-code record (a guest who has just paid is not made to wait).
    pub fn forgive(&self, mac: MacAddr) {
        self.throttle_succeed(&mac.to_string());
    }

    /// Ends the client's session at its request. False when it had none.
    pub async fn logout(self: &Arc<Self>, mac: MacAddr) -> Result<bool, LoginError> {
        self.end(mac, EndReason::Logout).await
    }

    /// Ends the client's session for `reason` and removes it from the firewall.
    pub async fn end(
        self: &Arc<Self>,
        mac: MacAddr,
        reason: EndReason,
    ) -> Result<bool, LoginError> {
        let at = self.clock.reading();
        let ended = self
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let ended = match q::active_session(&tx, mac)? {
                    Some(s) => q::end_session(&tx, &s, reason, &at)?,
                    None => false,
                };
                tx.commit()?;
                Ok(ended)
            })
            .await?;
        self.firewall.revoke(mac)?;
        self.radius_wake();
        Ok(ended)
    }

    /// The clock the engine stamps events with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Applies a page of pulled changes and operators' extensions of sessions and stores
    /// `cursor`, in one transaction; then makes the firewall follow (ended sessions removed,
    /// changed rates granted again). An extension takes effect in place: the session's limits
    /// grow and the next accounting cycle lets it run on. Returns how many sessions it ended.
    pub async fn apply_pull(
        self: &Arc<Self>,
        changes: Vec<hotspot_shared::sync::Change>,
        extensions: Vec<hotspot_shared::sync::Extension>,
        cursor: String,
    ) -> Result<usize, LoginError> {
        use hotspot_shared::sync::Change;
        let at = self.clock.reading();
        let plans_changed = changes
            .iter()
            .any(|c| matches!(c, Change::PlanUpsert(_) | Change::PlanDelete { .. }));
        let effects = self
            .store
            .write(move |c| crate::store::cloud::apply_page(c, &changes, &extensions, &cursor, &at))
            .await?;
        if plans_changed {
            self.plans_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        self.follow(effects).await
    }

    /// The portal's look: the branding the cloud sent, else the configuration's `[branding]`.
    pub fn look(&self) -> Arc<crate::store::branding::Look> {
        self.branding
            .read()
            .ok()
            .and_then(|b| b.clone())
            .unwrap_or_else(|| {
                Arc::new(crate::store::branding::Look::of_config(
                    &self.config.branding,
                ))
            })
    }

    /// Stores a branding the cloud sent and shows it, unless the stored one is as new. One the
    /// configuration's rules would refuse is logged and left out: the portal keeps its look.
    /// Returns whether it was applied.
    pub async fn apply_branding(
        &self,
        b: &hotspot_shared::branding::Branding,
    ) -> Result<bool, LoginError> {
        use crate::store::branding;
        let checked = match branding::check(b) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(version = b.version, error = %e, "branding from the cloud refused");
                return Ok(false);
            }
        };
        let now = self.clock.now();
        let applied = self
            .store
            .write(move |c| branding::save(c, &checked, now))
            .await?;
        let Some(look) = applied else {
            return Ok(false);
        };
        tracing::info!(version = b.version, "portal branding applied");
        if let Ok(mut current) = self.branding.write() {
            *current = Some(Arc::new(look));
        }
        Ok(true)
    }

    /// After a push the cloud answered: forgets exactly the events it received (`seqs`) and
    /// ends the sessions it refused, in one transaction; then removes those from the firewall.
    pub async fn pushed(
        self: &Arc<Self>,
        seqs: Vec<i64>,
        actions: Vec<hotspot_shared::sync::EdgeAction>,
    ) -> Result<usize, LoginError> {
        let at = self.clock.reading();
        let effects = self
            .store
            .write(move |c| {
                outbox::delete(c, &seqs)?;
                let mut effects = Vec::new();
                for a in &actions {
                    match a {
                        hotspot_shared::sync::EdgeAction::EndSession {
                            session_id,
                            message,
                        } => {
                            if let Some(mac) =
                                crate::store::cloud::end_refused(c, *session_id, &at)?
                            {
                                tracing::warn!(%mac, %message, "the cloud refused a redemption");
                                effects.push(crate::store::cloud::Effect::Revoke(mac));
                            }
                        }
                    }
                }
                Ok(effects)
            })
            .await?;
        self.follow(effects).await
    }

    async fn follow(
        self: &Arc<Self>,
        effects: Vec<crate::store::cloud::Effect>,
    ) -> Result<usize, LoginError> {
        use crate::store::cloud::Effect;
        let mut ended = 0;
        for e in effects {
            match e {
                Effect::Revoke(mac) => {
                    self.firewall.revoke(mac)?;
                    ended += 1;
                }
                Effect::Regrant(mac) => {
                    let live = self.store.read(move |c| q::active_session(c, mac)).await?;
                    if let Some(s) = live {
                        self.firewall.grant(&Self::grant_of(&s))?;
                    }
                }
            }
        }
        Ok(ended)
    }

    /// Start-up: ends sessions whose time or data ran out while the daemon was down, restarts
    /// the idle clock of the others, and makes the firewall hold exactly the live sessions.
    /// Returns how many were restored.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, LoginError> {
        let at = self.clock.reading();
        let now = secs_of(&at);
        let policy = Policy::from_settings(&self.config.vouchers);
        // One read for both (each distinct store call costs code in a size-budgeted binary).
        let (throttled, branding) = self
            .store
            .read(move |c| {
                Ok((
                    crate::throttle::load(c, &policy, now)?,
                    crate::store::branding::load(c)?,
                ))
            })
            .await?;
        if let Ok(mut b) = self.branding.write() {
            *b = branding.map(Arc::new);
        }
        if let Ok(mut t) = self.throttle.lock() {
            t.restore(throttled);
        }
        let radius = self.radius.is_some();
        let live = self
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                if radius {
                    // The server closes this NAS's sessions on Accounting-On; the ones restored
                    // below are opened again by a Start each, with their own Acct-Session-Id.
                    crate::store::radius::queue_nas(
                        &tx,
                        hotspot_shared::radius::acct_status::ACCOUNTING_ON,
                        now,
                    )?;
                }
                let mut live = Vec::new();
                for mut s in q::active_sessions(&tx)? {
                    let used = used_against_limit(&tx, &s)?;
                    match s.limits.verdict(used, now, i64::MAX, now) {
                        Some(reason) => {
                            q::end_session(&tx, &s, reason, &at)?;
                        }
                        None => {
                            s.last_activity = now;
                            q::update_usage(&tx, &s)?;
                            if radius {
                                crate::store::radius::queue_session(
                                    &tx,
                                    &s,
                                    hotspot_shared::radius::acct_status::START,
                                    None,
                                    now,
                                )?;
                            }
                            live.push(s);
                        }
                    }
                }
                tx.commit()?;
                Ok(live)
            })
            .await?;
        let grants: Vec<Grant> = live.iter().map(Self::grant_of).collect();
        self.firewall.reconcile(&grants)?;
        tracing::info!(
            restored = grants.len(),
            "firewall restored from the database"
        );
        Ok(grants.len())
    }

    /// One accounting cycle: read counters, account, end sessions over their limits (and
    /// those of blocked devices), make the firewall match the database, let in registered
    /// devices seen on the LAN.
    pub async fn run_once(self: &Arc<Self>) -> Result<CycleReport, LoginError> {
        let _one = self.cycle.lock().await;
        let at = self.clock.reading();
        let now = secs_of(&at);
        let counters = self.firewall.counters()?;
        let idle = self.config.idle_timeout_secs;
        let every = self.config.sync.session_update_secs;
        let readings = counters.clone();
        let radius = self.radius.is_some();
        let (ended, live) = self
            .store
            .call(move |c| account(c, &readings, idle, radius, every, &at))
            .await?;
        let mut report = CycleReport::default();
        for (mac, reason) in &ended {
            self.firewall.revoke(*mac)?;
            tracing::info!(mac = %mac, reason = reason.as_str(), "session ended");
        }
        report.ended = ended;
        self.radius_wake();
        let live_macs: BTreeSet<MacAddr> = live.iter().map(|s| s.mac).collect();
        for mac in counters.keys() {
            if !live_macs.contains(mac) && !report.ended.iter().any(|(m, _)| m == mac) {
                self.firewall.revoke(*mac)?;
                report.revoked_strays += 1;
            }
        }
        for s in &live {
            if !counters.contains_key(&s.mac) {
                self.firewall.grant(&Self::grant_of(s))?;
                report.regranted += 1;
            }
        }
        // Registered devices seen on the LAN. One whose session just ended for idleness is
        // not brought back by the table alone (its entry lingers); its next request is enough.
        let me = Arc::clone(self);
        let seen = tokio::task::spawn_blocking(move || {
            // One reading of the lease file for the whole table.
            let leases = me.config.require_lease.then(|| me.leases.current());
            me.neighbours
                .entries()
                .into_iter()
                .filter(|(ip, mac)| {
                    leases
                        .as_ref()
                        .is_none_or(|l| crate::net::holds_in(l, *ip, *mac, now))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let report_every = self.config.sync.report_secs;
        let bound = self.config.sync.bound;
        let started = self.started;
        let macs = seen.clone();
        let online = live.len();
        self.store
            .write(move |c| {
                q::note_macs(c, &macs, &at)?;
                reports::maybe_report(c, report_every, started, online, &at)?;
                outbox::enforce(c, bound)?;
                Ok(())
            })
            .await?;
        for (ip, mac) in seen {
            if live_macs.contains(&mac) {
                continue;
            }
            let eligible = self
                .store
                .call(move |c| {
                    let entry = q::access_entry(c, mac)?;
                    if !entry.is_some_and(|e| e.auto_connect && !e.is_blocked) {
                        return Ok(false);
                    }
                    Ok(match q::last_end(c, mac)? {
                        Some((reason, at)) => {
                            !(matches!(reason.as_str(), "idle" | "logout" | "kick")
                                && now - at < idle)
                        }
                        None => true,
                    })
                })
                .await?;
            if eligible
                && matches!(
                    self.client_state(Client { ip, mac }).await?,
                    ClientState::Online(_)
                )
            {
                report.auto_connected += 1;
            }
        }
        Ok(report)
    }

    /// Runs [`Self::run_once`] every `accounting_interval_secs` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let period = std::time::Duration::from_secs(self.config.accounting_interval_secs);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.run_once().await {
                        tracing::error!(error = %e, "accounting cycle failed");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

/// A client's state; with `start`, a registered auto-connect device without a session gets one
/// (`Done`), otherwise it is reported as `Start`.
fn client_step(
    c: &rusqlite::Connection,
    client: Client,
    at: &EdgeClock,
    start: bool,
) -> Result<Step, StoreError> {
    let entry = q::access_entry(c, client.mac)?;
    if let Some(e) = &entry
        && e.is_blocked
    {
        return Ok(Step::Blocked(e.blocked_reason.clone()));
    }
    if let Some(s) = q::active_session(c, client.mac)? {
        let used = used_against_limit(c, &s)?;
        return Ok(Step::Done(s, used));
    }
    match entry {
        Some(e) if e.auto_connect && !start => Ok(Step::Start),
        Some(e) if e.auto_connect => {
            let s = q::start_session(
                c,
                &NewSession {
                    mac: client.mac,
                    ip: Some(client.ip.to_string()),
                    session_type: SessionType::Client,
                    voucher: None,
                    limits: Limits::default(),
                    down_kbps: mbps_to_kbps(e.bandwidth_allocation),
                    up_kbps: mbps_to_kbps(e.bandwidth_allocation),
                    user_agent: None,
                },
                at,
            )?;
            Ok(Step::Done(s, 0))
        }
        _ => Ok(Step::Refused(Refusal::Unknown)),
    }
}

/// Bytes of `s` that count against its data limit: the voucher's total across its devices.
fn used_against_limit(c: &rusqlite::Connection, s: &SessionRow) -> Result<u64, StoreError> {
    match &s.voucher_id {
        Some(v) if s.limits.data_bytes.is_some() => Ok(q::voucher_usage(c, v)?.bytes),
        _ => Ok(s.bytes()),
    }
}

/// The accounting transaction: applies counter readings, ends what must end. Returns what
/// ended and what is still live.
#[allow(clippy::type_complexity)]
fn account(
    c: &mut rusqlite::Connection,
    counters: &BTreeMap<MacAddr, Counters>,
    idle: i64,
    radius: bool,
    update_every: i64,
    at: &EdgeClock,
) -> Result<(Vec<(MacAddr, EndReason)>, Vec<SessionRow>), StoreError> {
    let now = secs_of(at);
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut sessions = q::active_sessions(&tx)?;
    for s in &mut sessions {
        if let Some(r) = counters.get(&s.mac) {
            let up = hotspot_shared::plan::counter_delta(s.counter_up, r.bytes_up);
            let down = hotspot_shared::plan::counter_delta(s.counter_down, r.bytes_down);
            s.counter_up = r.bytes_up;
            s.counter_down = r.bytes_down;
            if up + down > 0 {
                s.bytes_up = s.bytes_up.saturating_add(up);
                s.bytes_down = s.bytes_down.saturating_add(down);
                s.last_activity = now;
                q::update_usage(&tx, s)?;
            }
        }
    }
    let mut ended = Vec::new();
    let mut live = Vec::new();
    // Idle-Timeouts a RADIUS server set (only read when this router is a NAS).
    let idle_of = if radius {
        crate::store::radius::live_idle_timeouts(&tx)?
    } else {
        Default::default()
    };
    for s in sessions {
        let blocked = q::access_entry(&tx, s.mac)?.is_some_and(|e| e.is_blocked);
        let used = used_against_limit(&tx, &s)?;
        let idle = idle_of.get(&s.id).copied().unwrap_or(idle);
        let verdict = if blocked {
            Some(EndReason::Blocked)
        } else {
            s.limits.verdict(used, s.last_activity, idle, now)
        };
        match verdict {
            Some(reason) => {
                q::end_session(&tx, &s, reason, at)?;
                ended.push((s.mac, reason));
            }
            None => {
                q::note_progress(&tx, &s, update_every, at)?;
                live.push(s);
            }
        }
    }
    if radius {
        // Interim-Updates due, with the totals just read.
        let due: BTreeSet<String> = crate::store::radius::interims_due(&tx, now)?
            .into_iter()
            .collect();
        for s in live.iter().filter(|s| due.contains(&s.id)) {
            crate::store::radius::queue_session(
                &tx,
                s,
                hotspot_shared::radius::acct_status::INTERIM_UPDATE,
                None,
                now,
            )?;
        }
        crate::store::radius::enforce_bound(&tx, crate::store::radius::QUEUE_MAX_ROWS)?;
    }
    q::note_concurrency(&tx, live.len(), now)?;
    tx.commit()?;
    Ok((ended, live))
}
