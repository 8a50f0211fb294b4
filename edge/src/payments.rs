//! Buying a package with M-Pesa from the portal.
//!
//! The router holds no Daraja credentials: it asks the cloud to charge the guest's phone
//! (`hotspot_shared::purchase`), remembers the purchase in SQLite, and polls the cloud until the
//! payment is settled. When it is paid, the voucher the cloud issued is stored here and redeemed
//! for the guest's device, exactly like a typed code, so the guest is let in even if they closed
//! the portal. Pending purchases survive a restart: [`Payments::resume`] polls them again.
//!
//! A purchase started by a guest already online (from the status page) is a top-up: its voucher
//! extends the running session in place ([`Sessions::top_up`]), or logs the guest in if that
//! session ended meanwhile. The voucher's first use is what applies it, so it is applied once
//! however many times the poll and the portal see it paid.
//!
//! Only a hint of the phone number is kept on the router (`0712 *** 678`), enough for the guest
//! to recognise it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotspot_shared::MacAddr;
use hotspot_shared::phone::Msisdn;
use hotspot_shared::purchase::{
    self, PaymentFailure, PurchaseRequest, PurchaseState, PurchaseStatus, RefusalReason,
};
use hotspot_shared::sync::{Voucher, VoucherType};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::sessions::{Client, LoginError, Sessions};
use crate::store::StoreError;
use crate::sync::client::{CloudClient, PurchaseError, SyncError};

/// How long the router keeps asking about a purchase before it gives up on it (the cloud fails
/// an unanswered push after about 15 minutes).
pub const GIVE_UP_AFTER_S: i64 = 20 * 60;

/// A package for sale on this portal (an active plan with a price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub duration_minutes: Option<i64>,
    pub data_limit_mb: Option<i64>,
    /// Whole shillings.
    pub price_kes: u64,
}

impl Package {
    /// Whether this package adds something to a session whose time and data left are these
    /// (a limit it does not have cannot be extended: a data package adds nothing to a session
    /// limited by time alone).
    pub fn extends(&self, seconds_left: Option<u64>, bytes_left: Option<u64>) -> bool {
        (seconds_left.is_some() && self.duration_minutes.is_some())
            || (bytes_left.is_some() && self.data_limit_mb.is_some())
    }
}

/// The router's record of a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub id: String,
    pub mac: String,
    pub ip: Option<String>,
    pub plan_id: String,
    pub phone_hint: String,
    pub amount_kes: u64,
    pub status: Status,
    pub voucher_code: Option<String>,
    pub receipt: Option<String>,
    pub created_at: i64,
    /// Bought by a guest already online: when paid, it extends their running session.
    pub top_up: bool,
}

/// Where a purchase stands, as the portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Paid,
    Failed(PaymentFailure),
}

/// Why a purchase could not be started; each is a sentence for the guest.
#[derive(Debug, thiserror::Error)]
pub enum BuyError {
    #[error("phone number: {0}")]
    Phone(#[from] hotspot_shared::phone::PhoneError),
    #[error("no such package for sale here")]
    UnknownPackage,
    #[error("M-Pesa payments are not available here")]
    Unavailable,
    #[error("the cloud refused the purchase: {0:?}")]
    Refused(RefusalReason),
    #[error("the payment service cannot be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts purchases and sees them through.
pub struct Payments {
    cloud: CloudClient,
    token: String,
    sessions: Arc<Sessions>,
    /// Purchases with a poller running.
    polling: Mutex<HashSet<String>>,
    poll_every: Duration,
    /// The packages for sale and the plans generation they were read under.
    packages: Mutex<Option<(u64, Arc<Vec<Package>>)>>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments").finish_non_exhaustive()
    }
}

impl Payments {
    /// `token`: this router's device credential.
    pub fn new(cloud: CloudClient, token: String, sessions: Arc<Sessions>) -> Self {
        Self {
            cloud,
            token,
            sessions,
            polling: Mutex::new(HashSet::new()),
            poll_every: Duration::from_millis(purchase::POLL_INTERVAL_MS),
            packages: Mutex::new(None),
        }
    }

    /// Polls more often (tests).
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// The packages for sale, cheapest first. Read from SQLite once and again only after a pull
    /// changed plans, since the portal shows them on every page view.
    pub async fn packages(&self) -> Result<Arc<Vec<Package>>, StoreError> {
        let generation = self.sessions.plans_generation();
        if let Ok(cached) = self.packages.lock()
            && let Some((at, list)) = cached.as_ref()
            && *at == generation
        {
            return Ok(Arc::clone(list));
        }
        let list = Arc::new(self.sessions.store().read(packages).await?);
        if let Ok(mut cached) = self.packages.lock() {
            *cached = Some((generation, Arc::clone(&list)));
        }
        Ok(list)
    }

    /// Starts a purchase of `package_id` for `client`, charged to the phone number typed.
    /// `request_id` comes from the form, so a second tap of the same form answers the same
    /// purchase and the cloud sends one push. `top_up`: the guest is online and this extends
    /// their session.
    pub async fn start(
        self: &Arc<Self>,
        client: Client,
        package_id: &str,
        phone_typed: &str,
        request_id: Uuid,
        top_up: bool,
    ) -> Result<Purchase, BuyError> {
        let phone = Msisdn::parse(phone_typed)?;
        let store = self.sessions.store().clone();
        let rid = request_id.to_string();
        if let Some(p) = store.read(move |c| by_request(c, &rid)).await? {
            return Ok(p);
        }
        let pid = package_id.to_owned();
        let package = store
            .read(move |c| package(c, &pid))
            .await?
            .ok_or(BuyError::UnknownPackage)?;
        let package_uuid = Uuid::parse_str(&package.id).map_err(|_| BuyError::UnknownPackage)?;
        let req = PurchaseRequest {
            version: hotspot_shared::sync::VERSION,
            request_id,
            package_id: package_uuid,
            phone: phone.clone(),
            mac: client.mac,
            ip: Some(client.ip),
        };
        let state = match self.cloud.start_purchase(&self.token, &req).await {
            Ok(s) => s,
            Err(PurchaseError::Refused(r)) => {
                return Err(match r.reason {
                    RefusalReason::UnknownPackage => BuyError::UnknownPackage,
                    RefusalReason::PaymentsUnavailable => BuyError::Unavailable,
                    other => BuyError::Refused(other),
                });
            }
            Err(PurchaseError::Sync(e)) => {
                tracing::warn!(error = %e, "starting a purchase");
                return Err(BuyError::Unreachable(e.to_string()));
            }
        };
        let now = self.sessions.now();
        let row = Purchase {
            id: state.purchase_id.to_string(),
            mac: client.mac.to_string(),
            ip: Some(client.ip.to_string()),
            plan_id: package.id,
            phone_hint: phone_hint(&phone),
            amount_kes: state.amount_kes,
            status: Status::Pending,
            voucher_code: None,
            receipt: None,
            created_at: now,
            top_up,
        };
        let (insert, rid) = (row.clone(), request_id.to_string());
        store
            .write(move |c| insert_purchase(c, &insert, &rid))
            .await?;
        tracing::info!(purchase = %row.id, mac = %row.mac, amount = row.amount_kes, top_up, "purchase started");
        self.settle(&row.id, &state).await;
        if !state.status.is_final() {
            self.watch(row.id.clone());
        }
        let id = row.id.clone();
        Ok(store.read(move |c| by_id(c, &id)).await?.unwrap_or(row))
    }

    /// The purchase `id`, if it is `mac`'s.
    pub async fn get(&self, id: &str, mac: MacAddr) -> Result<Option<Purchase>, StoreError> {
        let (id, mac) = (id.to_owned(), mac.to_string());
        self.sessions
            .store()
            .read(move |c| Ok(by_id(c, &id)?.filter(|p| p.mac == mac)))
            .await
    }

    /// Polls every purchase still pending (after a restart).
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let since = self.sessions.now() - GIVE_UP_AFTER_S;
        let ids = self
            .sessions
            .store()
            .read(move |c| pending_since(c, since))
            .await?;
        for id in &ids {
            self.watch(id.clone());
        }
        Ok(ids.len())
    }

    /// Polls purchase `id` in the background until it is settled or given up on.
    fn watch(self: &Arc<Self>, id: String) {
        let fresh = self
            .polling
            .lock()
            .map(|mut p| p.insert(id.clone()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            me.poll(&id).await;
            if let Ok(mut p) = me.polling.lock() {
                p.remove(&id);
            }
        });
    }

    async fn poll(&self, id: &str) {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return;
        };
        let store = self.sessions.store().clone();
        let key = id.to_owned();
        let Ok(Some(row)) = store.read(move |c| by_id(c, &key)).await else {
            return;
        };
        let deadline = row.created_at + GIVE_UP_AFTER_S;
        loop {
            tokio::time::sleep(self.poll_every).await;
            match self.cloud.purchase_state(&self.token, uuid).await {
                Ok(state) => {
                    if self.settle(id, &state).await {
                        return;
                    }
                }
                Err(SyncError::Unauthorized) => {
                    tracing::error!(purchase = id, "the cloud refused this router's credential");
                    return;
                }
                Err(e) => tracing::warn!(purchase = id, error = %e, "asking about a purchase"),
            }
            if self.sessions.now() >= deadline {
                let key = id.to_owned();
                let now = self.sessions.now();
                let _ = store
                    .write(move |c| mark_failed(c, &key, PaymentFailure::NoAnswer, now).map(|_| ()))
                    .await;
                tracing::warn!(purchase = id, "no result from the cloud in time; given up");
                return;
            }
        }
    }

    /// Records what the cloud said. True when the purchase is settled (paid or failed).
    async fn settle(&self, id: &str, state: &PurchaseState) -> bool {
        let store = self.sessions.store().clone();
        let now = self.sessions.now();
        let key = id.to_owned();
        match &state.status {
            PurchaseStatus::Pending => false,
            PurchaseStatus::Failed { reason } => {
                let reason = *reason;
                if let Err(e) = store
                    .write(move |c| mark_failed(c, &key, reason, now).map(|_| ()))
                    .await
                {
                    tracing::error!(purchase = id, error = %e, "recording a failed purchase");
                    return false;
                }
                tracing::info!(purchase = id, ?reason, "purchase failed");
                true
            }
            PurchaseStatus::Paid { voucher, receipt } => {
                let (v, r) = (voucher.clone(), receipt.clone());
                let hotspot = self.sessions.config().hotspot_id.clone();
                let saved = store
                    .write(move |c| {
                        store_voucher(c, &v, hotspot.as_deref(), &r, now)?;
                        mark_paid(c, &key, &v.code, &r, now)?;
                        by_id(c, &key)
                    })
                    .await;
                let row = match saved {
                    Ok(Some(row)) => row,
                    Ok(None) => return true,
                    Err(e) => {
                        tracing::error!(purchase = id, error = %e, "storing a paid voucher");
                        return false;
                    }
                };
                tracing::info!(purchase = id, receipt = %receipt, "purchase paid");
                self.let_in(&row, &voucher.code).await;
                true
            }
        }
    }

    /// Lets the buyer of a paid purchase in if they are not yet (a crash between storing the
    /// voucher and the login; the status page calls this while it waits), or applies a paid
    /// top-up not applied yet.
    pub async fn ensure_in(&self, p: &Purchase, client: Client) {
        if let (Status::Paid, Some(code)) = (p.status, p.voucher_code.as_deref())
            && p.mac == client.mac.to_string()
        {
            self.login(p, client, code).await;
        }
    }

    /// Redeems the paid voucher for the buyer's device.
    async fn let_in(&self, row: &Purchase, code: &str) {
        let (Ok(mac), Some(Ok(ip))) = (
            row.mac.parse::<MacAddr>(),
            row.ip.as_deref().map(str::parse),
        ) else {
            return;
        };
        self.login(row, Client { ip, mac }, code).await;
    }

    async fn login(&self, row: &Purchase, client: Client, code: &str) {
        let mac = client.mac;
        // A guest who mistyped codes before paying is not kept waiting by the guessing throttle.
        self.sessions.forgive(mac);
        if row.top_up {
            // Extends the running session, or logs in when it has ended. A voucher already
            // used is a top-up already applied.
            match self.sessions.top_up(client, code, None).await {
                Ok(_) => tracing::info!(purchase = %row.id, %mac, "paid top-up applied"),
                Err(LoginError::Refused(crate::vouchers::Refusal::UsedUp)) => {
                    tracing::debug!(purchase = %row.id, "paid top-up already applied")
                }
                Err(e) => tracing::warn!(purchase = %row.id, error = %e, "applying a paid top-up"),
            }
            return;
        }
        match self.sessions.login(client, code, None).await {
            Ok(_) => tracing::info!(purchase = %row.id, %mac, "paid guest let in"),
            Err(LoginError::Refused(r)) => {
                tracing::warn!(purchase = %row.id, ?r, "the paid voucher was refused")
            }
            Err(e) => tracing::error!(purchase = %row.id, error = %e, "letting a paid guest in"),
        }
    }
}

/// `0712 *** 678`: enough to recognise one's own number.
pub fn phone_hint(phone: &Msisdn) -> String {
    let local = &phone.as_str()[3..];
    format!("0{} *** {}", &local[..3], &local[6..])
}

/// Active packages with a price, cheapest first.
pub fn packages(c: &Connection) -> Result<Vec<Package>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, name, duration_minutes, data_limit_mb, price FROM plans
         WHERE is_active = 1 AND currency = 'KES'",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, duration_minutes, data_limit_mb, price) = row?;
        if let Some(price_kes) = whole_shillings(&price).filter(|p| *p > 0) {
            out.push(Package {
                id,
                name,
                duration_minutes,
                data_limit_mb,
                price_kes,
            });
        }
    }
    out.sort_by(|a, b| a.price_kes.cmp(&b.price_kes).then(a.name.cmp(&b.name)));
    Ok(out)
}

fn package(c: &Connection, id: &str) -> Result<Option<Package>, StoreError> {
    Ok(packages(c)?.into_iter().find(|p| p.id == id))
}

/// A decimal price (`"50"`, `"50.00"`) in whole shillings; M-Pesa takes no cents, so a price
/// with cents is not for sale by M-Pesa.
fn whole_shillings(price: &str) -> Option<u64> {
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    int.parse().ok()
}

const COLUMNS: &str = "id, mac_address, ip_address, plan_id, phone_hint, amount_kes, status, \
                       failure, voucher_code, receipt, created_at, top_up";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Purchase> {
    let status: String = r.get(6)?;
    let failure: Option<String> = r.get(7)?;
    let status = match status.as_str() {
        "paid" => Status::Paid,
        "failed" => Status::Failed(
            failure
                .and_then(|f| serde_json::from_value(serde_json::Value::String(f)).ok())
                .unwrap_or(PaymentFailure::Other),
        ),
        _ => Status::Pending,
    };
    Ok(Purchase {
        id: r.get(0)?,
        mac: r.get(1)?,
        ip: r.get(2)?,
        plan_id: r.get(3)?,
        phone_hint: r.get(4)?,
        amount_kes: r.get::<_, i64>(5)?.max(0) as u64,
        status,
        voucher_code: r.get(8)?,
        receipt: r.get(9)?,
        created_at: r.get(10)?,
        top_up: r.get(11)?,
    })
}

fn by_id(c: &Connection, id: &str) -> Result<Option<Purchase>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM purchases WHERE id = ?1"),
        [id],
        read_row,
    )
    .optional()?)
}

fn by_request(c: &Connection, request_id: &str) -> Result<Option<Purchase>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM purchases WHERE request_id = ?1"),
        [request_id],
        read_row,
    )
    .optional()?)
}

fn pending_since(c: &Connection, since: i64) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        c.prepare("SELECT id FROM purchases WHERE status = 'pending' AND created_at >= ?1")?;
    let ids = stmt
        .query_map([since], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

fn insert_purchase(c: &Connection, p: &Purchase, request_id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO purchases (id, request_id, mac_address, ip_address, plan_id, phone_hint,
                                amount_kes, status, created_at, updated_at, top_up)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8, ?9)
         ON CONFLICT (id) DO NOTHING",
        params![
            p.id,
            request_id,
            p.mac,
            p.ip,
            p.plan_id,
            p.phone_hint,
            p.amount_kes as i64,
            p.created_at,
            p.top_up
        ],
    )?;
    Ok(())
}

fn mark_failed(
    c: &Connection,
    id: &str,
    reason: PaymentFailure,
    now: i64,
) -> Result<usize, StoreError> {
    let reason = serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".into());
    Ok(c.execute(
        "UPDATE purchases SET status = 'failed', failure = ?2, updated_at = ?3
         WHERE id = ?1 AND status = 'pending'",
        params![id, reason, now],
    )?)
}

fn mark_paid(
    c: &Connection,
    id: &str,
    code: &str,
    receipt: &str,
    now: i64,
) -> Result<usize, StoreError> {
    // A purchase given up on here may still have been paid: the cloud's word wins.
    Ok(c.execute(
        "UPDATE purchases SET status = 'paid', failure = NULL, voucher_code = ?2, receipt = ?3,
                              updated_at = ?4
         WHERE id = ?1 AND status <> 'paid'",
        params![id, code, receipt, now],
    )?)
}

/// Keeps the voucher the cloud issued for a purchase, unless the change log brought it first.
fn store_voucher(
    c: &Connection,
    v: &Voucher,
    hotspot: Option<&str>,
    receipt: &str,
    now: i64,
) -> Result<(), StoreError> {
    let kind = match v.voucher_type {
        VoucherType::TimeBased => "time_based",
        VoucherType::DataBased => "data_based",
        VoucherType::Unlimited => {
            return Err(StoreError::Commit(format!(
                "voucher {} for a purchase has no time or data limit",
                v.id
            )));
        }
    };
    let plan = match &v.plan_id {
        Some(p) => c
            .query_row("SELECT id FROM plans WHERE id = ?1", [p.to_string()], |r| {
                r.get::<_, String>(0)
            })
            .optional()?,
        None => None,
    };
    c.execute(
        "INSERT INTO vouchers (id, hotspot_id, voucher_code, voucher_type, duration_minutes,
                               data_limit_mb, plan_id, max_devices, expiry_date,
                               mpesa_receipt_number, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT DO NOTHING",
        params![
            v.id.to_string(),
            hotspot,
            v.code,
            kind,
            v.duration_minutes,
            v.data_limit_mb,
            plan,
            v.max_devices.max(1),
            v.expires_ms.map(|ms| ms.div_euclid(1000)),
            receipt,
            now
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_hints_hide_the_middle() {
        let p = Msisdn::parse("+254 712 345 678").unwrap();
        assert_eq!(phone_hint(&p), "0712 *** 678");
        let p = Msisdn::parse("0110123456").unwrap();
        assert_eq!(phone_hint(&p), "0110 *** 456");
    }

    #[test]
    fn a_package_extends_only_the_limits_a_session_has() {
        let p = |minutes: Option<i64>, mb: Option<i64>| Package {
            id: "p".into(),
            name: "p".into(),
            duration_minutes: minutes,
            data_limit_mb: mb,
            price_kes: 20,
        };
        let (time, data, both) = (
            p(Some(60), None),
            p(None, Some(500)),
            p(Some(60), Some(500)),
        );
        // A session limited by time alone.
        assert!(time.extends(Some(600), None) && both.extends(Some(600), None));
        assert!(!data.extends(Some(600), None));
        // By data alone.
        assert!(data.extends(None, Some(1)) && !time.extends(None, Some(1)));
        // Unlimited: nothing to extend.
        assert!(!both.extends(None, None));
    }

    #[test]
    fn prices_in_whole_shillings_only() {
        assert_eq!(whole_shillings("50"), Some(50));
        assert_eq!(whole_shillings("50.00"), Some(50));
        assert_eq!(whole_shillings("49.50"), None);
        assert_eq!(whole_shillings("-5"), None);
        assert_eq!(whole_shillings("abc"), None);
    }
}
