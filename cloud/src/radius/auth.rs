//! Access-Request: who is asking, with what proof, and what they get.
//!
//! Credentials are looked up within the NAS's tenant (a tenant transaction: row-level security
//! holds), in this order:
//! 1. MAC authentication, when User-Name is the device's own MAC (Calling-Station-Id): a device
//!    registered in `client_hotspot_access` (auto-connect, not blocked);
//! 2. `radcheck`/`radusergroup`/`radgroupcheck` as FreeRADIUS reads them (Cleartext-Password,
//!    Auth-Type, Simultaneous-Use, Expiration, comparisons on request attributes), with
//!    `radreply`/`radgroupreply` for the reply;
//! 3. seed 004 `subscribers` by `pppoe_username` (active only), with their bandwidth profile;
//! 4. `hotspot_vouchers`: the code as User-Name (password: the code again, or empty), under the
//!    same redemption rules as the edge ([`hotspot_shared::redeem`]).
//!
//! Proof is PAP, CHAP or MS-CHAP v1/v2 against the cleartext secret. A check item this server
//! cannot evaluate rejects (fail closed), as does a Simultaneous-Use count that cannot be made:
//! a database error gives no answer at all, so the NAS retries or fails over.

use std::net::IpAddr;

use hotspot_shared::MacAddr;
use hotspot_shared::radius::crypto::{chap_matches, ct_eq, unhide_password};
use hotspot_shared::radius::dict;
use hotspot_shared::radius::{Code, Packet, attr, vendor};
use hotspot_shared::redeem::{self, Refusal, Usage, Voucher, VoucherKind};
use uuid::Uuid;

use super::clients::Nas;
use super::mschap::{self, Attempt};
use super::reply::{self, Grant};
use crate::db::DbError;

/// Server-wide defaults a reply gets when the tables say nothing.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Acct-Interim-Interval in every Access-Accept.
    pub interim_interval: u32,
    /// Idle-Timeout for voucher and MAC logins.
    pub idle_timeout: u32,
}

/// What the server answers.
#[derive(Debug)]
pub struct Decision {
    pub accept: bool,
    /// MS-CHAPv2's MPPE keys, encrypted into the reply by [`authenticate`].
    pub mppe: Option<mschap::MppeKeys>,
    /// The reply's attributes (the code and authenticator are set when it is signed).
    pub reply: Packet,
    /// For the post-auth log.
    pub username: String,
    pub class: Option<String>,
}

/// The proof a request carries.
enum Proof {
    Pap(Vec<u8>),
    Chap {
        response: Vec<u8>,
        challenge: Vec<u8>,
    },
    MsChap(Attempt),
    None,
}

impl Proof {
    fn of(req: &Packet, secret: &[u8]) -> Proof {
        if let Some(hidden) = req.get(attr::USER_PASSWORD) {
            return match unhide_password(hidden, secret, &req.authenticator) {
                Some(pw) => Proof::Pap(pw),
                None => Proof::None,
            };
        }
        if let Some(chap) = req.get(attr::CHAP_PASSWORD) {
            let challenge = req
                .get(attr::CHAP_CHALLENGE)
                .map_or_else(|| req.authenticator.to_vec(), <[u8]>::to_vec);
            return Proof::Chap {
                response: chap.to_vec(),
                challenge,
            };
        }
        let ms = |t| req.get_vendor(vendor::MICROSOFT, t);
        match Attempt::from_attributes(
            ms(mschap::attr::MS_CHAP_CHALLENGE),
            ms(mschap::attr::MS_CHAP_RESPONSE),
            ms(mschap::attr::MS_CHAP2_RESPONSE),
        ) {
            Some(a) => Proof::MsChap(a),
            None => Proof::None,
        }
    }

    /// Whether `password` is proven; on success, MS-CHAPv2's answer and keys where due.
    fn proves(&self, user: &str, password: &str) -> Option<Option<mschap::Success>> {
        match self {
            Proof::Pap(pw) => ct_eq(pw, password.as_bytes()).then_some(None),
            Proof::Chap {
                response,
                challenge,
            } => chap_matches(response, challenge, password.as_bytes()).then_some(None),
            Proof::MsChap(a) => a.check(user, password),
            Proof::None => None,
        }
    }

    fn refuse(&self, reply: &mut Packet) {
        if let Proof::MsChap(a) = self {
            reply.push_vendor(
                vendor::MICROSOFT,
                mschap::attr::MS_CHAP_ERROR,
                &a.error_value(),
            );
        }
    }
}

/// A row of radcheck/radreply/radgroupcheck/radgroupreply.
#[derive(Debug, Clone)]
struct Item {
    source: i16,
    group: String,
    attribute: String,
    op: String,
    value: String,
}

const CHECK: i16 = 0;
const REPLY: i16 = 1;
const GROUP_CHECK: i16 = 2;
const GROUP_REPLY: i16 = 3;
/// radius_authorize()'s row saying the device (Calling-Station-Id) is blocked.
const BLOCKED: i16 = 9;

/// What the check items of a user (and its matching groups) decide.
#[derive(Debug, Default)]
struct Control {
    password: Option<String>,
    auth_type: Option<String>,
    simultaneous_use: Option<i64>,
    expired: bool,
    unsupported: Option<String>,
}

impl Control {
    /// Takes a matching group's items where the user's own rows set none.
    fn merge(&mut self, group: Control) {
        if self.password.is_none() {
            self.password = group.password;
        }
        if self.auth_type.is_none() {
            self.auth_type = group.auth_type;
        }
        if self.simultaneous_use.is_none() {
            self.simultaneous_use = group.simultaneous_use;
        }
        self.expired |= group.expired;
    }
}

/// Control items with no effect on the decision, accepted as FreeRADIUS would.
const HARMLESS: &[&str] = &["Fall-Through"];

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~")
}

/// Evaluates one comparison check item against the request: `None` when it cannot be.
fn compare(item: &Item, req: &Packet) -> Option<bool> {
    let def = dict::lookup(&item.attribute)?;
    let got = def.get(req).map(|v| def.format(v));
    let want = item.value.trim();
    Some(match (item.op.as_str(), got) {
        ("==", Some(g)) => g.eq_ignore_ascii_case(want),
        ("==", None) => false,
        ("!=", Some(g)) => !g.eq_ignore_ascii_case(want),
        ("!=", None) => true,
        (op @ (">" | ">=" | "<" | "<="), Some(g)) => {
            let (g, w) = (g.parse::<i64>().ok()?, want.parse::<i64>().ok()?);
            match op {
                ">" => g > w,
                ">=" => g >= w,
                "<" => g < w,
                _ => g <= w,
            }
        }
        (">" | ">=" | "<" | "<=", None) => false,
        _ => return None,
    })
}

/// FreeRADIUS's Expiration formats ("12 Jan 2027", "12 Jan 2027 13:00:00", "Jan 12 2027").
fn parse_expiration(s: &str) -> Option<i64> {
    let s = s.trim();
    for f in [
        "%d %b %Y %H:%M:%S",
        "%b %d %Y %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    for f in ["%d %b %Y", "%b %d %Y", "%Y-%m-%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, f) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
        }
    }
    None
}

/// Applies control (set) items and comparisons of one user or group. For a group, a failed
/// comparison means the group does not apply (`Ok(false)`); for the user it rejects.
fn evaluate(items: &[&Item], req: &Packet, control: &mut Control, now: i64) -> bool {
    for item in items {
        if is_comparison(&item.op) {
            match compare(item, req) {
                Some(true) => continue,
                Some(false) => return false,
                None => {
                    control.unsupported = Some(format!("{} {}", item.attribute, item.op));
                    return false;
                }
            }
        }
        let name = item.attribute.as_str();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("Cleartext-Password") || is("User-Password") || is("Password") {
            control.password.get_or_insert_with(|| item.value.clone());
        } else if is("Auth-Type") {
            control.auth_type.get_or_insert_with(|| item.value.clone());
        } else if is("Simultaneous-Use") {
            match item.value.trim().parse::<i64>() {
                Ok(n) => {
                    control.simultaneous_use.get_or_insert(n);
                }
                Err(_) => control.unsupported = Some(format!("Simultaneous-Use {}", item.value)),
            }
        } else if is("Expiration") {
            match parse_expiration(&item.value) {
                Some(t) if now >= t => control.expired = true,
                Some(_) => {}
                None => control.unsupported = Some(format!("Expiration {}", item.value)),
            }
        } else if !HARMLESS.iter().any(|n| is(n)) {
            // Anything else (Login-Time, Max-*-Session, Expire-After, other password kinds…)
            // could restrict the login in ways not evaluated here: refuse rather than ignore.
            control.unsupported = Some(item.attribute.clone());
        }
    }
    true
}

/// Adds a table's reply item to `reply` with FreeRADIUS's operators (`=` adds when absent,
/// `:=` replaces, `+=` appends). Unknown names and bad values are skipped with a log line.
fn add_reply_item(reply: &mut Packet, name: &str, op: &str, value: &str) {
    let Some(def) = dict::lookup(name) else {
        tracing::debug!(
            attribute = name,
            "reply attribute not in the dictionary; skipped"
        );
        return;
    };
    let bytes = match def.encode(value) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "reply attribute skipped");
            return;
        }
    };
    let present = def.get(reply).is_some();
    match op {
        ":=" => {
            if present {
                if def.vendor == 0 {
                    reply.remove(def.typ);
                } else {
                    reply.attributes.retain(|a| {
                        a.typ != attr::VENDOR_SPECIFIC
                            || hotspot_shared::radius::split_vendor(&a.value)
                                .is_none_or(|(v, t, _)| (v, t) != (def.vendor, def.typ))
                    });
                }
            }
            def.push(reply, &bytes);
        }
        "+=" => def.push(reply, &bytes),
        _ => {
            if !present {
                def.push(reply, &bytes);
            }
        }
    }
}

fn reject(user: &str, message: &str, proof: &Proof) -> Decision {
    let mut reply = Packet::new(Code::AccessReject, 0, [0; 16]);
    reply.push(attr::REPLY_MESSAGE, message.as_bytes());
    proof.refuse(&mut reply);
    Decision {
        accept: false,
        mppe: None,
        reply,
        username: user.to_owned(),
        class: None,
    }
}

fn accept(
    user: &str,
    mut reply: Packet,
    grant: &Grant,
    nas: &Nas,
    success: Option<mschap::Success>,
) -> Decision {
    reply.code = Code::AccessAccept;
    let mut mppe = None;
    if let Some(s) = success {
        reply.push_vendor(vendor::MICROSOFT, mschap::attr::MS_CHAP2_SUCCESS, &s.value);
        mppe = Some(s.keys);
    }
    reply::apply(&mut reply, grant, nas.dialect);
    Decision {
        accept: true,
        mppe,
        reply,
        username: user.to_owned(),
        class: grant.class.clone(),
    }
}

const WRONG: &str = "Wrong username or password";

/// Answers one Access-Request from `nas`. An MS-CHAPv2 Access-Accept carries the link's MPPE
/// keys (MS-MPPE-Send-Key/Recv-Key, encrypted with the secret and this request's
/// authenticator) and allows encryption (MS-MPPE-Encryption-Policy 1, types 40 or 128 bits), as
/// FreeRADIUS's mschap module sends them by default, so a PPPoE server that requires
/// encryption brings the link up.
pub async fn authenticate(
    pool: &deadpool_postgres::Pool,
    nas: &Nas,
    secret: &[u8],
    req: &Packet,
    defaults: &Defaults,
    now: i64,
) -> Result<Decision, DbError> {
    let mut d = decide(pool, nas, secret, req, defaults, now).await?;
    if let Some(keys) = d.mppe.take().filter(|_| d.accept) {
        let salt: u16 = rand::random();
        let salt = salt.to_be_bytes();
        // Each key attribute of a packet has its own salt.
        let other = [salt[0], salt[1].wrapping_add(1)];
        let ms = vendor::MICROSOFT;
        let send = mschap::encrypt_mppe_key(&keys.send, secret, &req.authenticator, salt);
        let recv = mschap::encrypt_mppe_key(&keys.recv, secret, &req.authenticator, other);
        d.reply
            .push_vendor(ms, mschap::attr::MS_MPPE_SEND_KEY, &send);
        d.reply
            .push_vendor(ms, mschap::attr::MS_MPPE_RECV_KEY, &recv);
        d.reply.push_vendor(
            ms,
            mschap::attr::MS_MPPE_ENCRYPTION_POLICY,
            &1u32.to_be_bytes(),
        );
        d.reply.push_vendor(
            ms,
            mschap::attr::MS_MPPE_ENCRYPTION_TYPES,
            &6u32.to_be_bytes(),
        );
    }
    Ok(d)
}

async fn decide(
    pool: &deadpool_postgres::Pool,
    nas: &Nas,
    secret: &[u8],
    req: &Packet,
    defaults: &Defaults,
    now: i64,
) -> Result<Decision, DbError> {
    let proof = Proof::of(req, secret);
    // What the tables cannot hold is refused here, not by a failing query.
    let Some(user) = req
        .get_text(attr::USER_NAME)
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.contains('\0'))
    else {
        let shown = req.get_text(attr::USER_NAME).unwrap_or_default();
        return Ok(reject(&shown.replace('\0', ""), WRONG, &proof));
    };
    let calling_mac = req
        .get_text(attr::CALLING_STATION_ID)
        .and_then(|s| s.trim().parse::<MacAddr>().ok());
    let mut client = pool
        .get()
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;

    // The user's rows of the FreeRADIUS tables, and whether the device is blocked, in one call
    // (radius_authorize(), scoped to the NAS's tenant).
    let stmt = client
        .prepare_cached(
            "SELECT source, groupname, attribute, op, value \
             FROM radius_authorize($1, $2, $3, $4)",
        )
        .await?;
    let mac_text = calling_mac.map(|m| m.to_string());
    let items: Vec<Item> = client
        .query(&stmt, &[&nas.tenant, &user, &mac_text, &nas.hotspot])
        .await?
        .into_iter()
        .map(|r| Item {
            source: r.get(0),
            group: r.get(1),
            attribute: r.get(2),
            op: r.get(3),
            value: r.get(4),
        })
        .collect();
    if items.iter().any(|i| i.source == BLOCKED) {
        return Ok(reject(&user, "This device is blocked", &proof));
    }

    // 1. MAC authentication: User-Name is the device's own address.
    if let (Ok(mac), Some(calling)) = (user.trim().parse::<MacAddr>(), calling_mac)
        && mac == calling
    {
        let tx = crate::db::tenant_transaction(&mut client, nas.tenant, None).await?;
        if let Some(d) = mac_login(&tx, nas, &user, mac, defaults).await? {
            tx.commit().await?;
            return Ok(d);
        }
        tx.commit().await?;
    }

    // 2. The FreeRADIUS tables.
    if items
        .iter()
        .any(|i| i.source == CHECK || i.source == GROUP_CHECK)
    {
        return table_login(
            &client,
            nas,
            req,
            &user,
            &items,
            &proof,
            calling_mac,
            defaults,
            now,
        )
        .await;
    }

    let tx = crate::db::tenant_transaction(&mut client, nas.tenant, None).await?;
    // 3. A subscriber's PPPoE account.
    if let Some(d) = subscriber_login(&tx, nas, &user, &proof, calling_mac, defaults).await? {
        tx.commit().await?;
        return Ok(d);
    }

    // 4. A voucher.
    let d = voucher_login(&tx, nas, &user, &proof, calling_mac, defaults, now).await?;
    tx.commit().await?;
    Ok(d)
}

/// Open sessions of `user` in the tenant, other than one from the same device (a NAS that
/// rebooted without a Stop leaves that one open; the device coming back is not a second use).
async fn open_sessions(
    db: &impl deadpool_postgres::GenericClient,
    tenant: Uuid,
    user: &str,
    mac: Option<MacAddr>,
) -> Result<i64, DbError> {
    let stmt = db
        .prepare_cached("SELECT radius_open_sessions($1, $2, $3)")
        .await?;
    let mac = mac.map(|m| m.to_string().to_ascii_uppercase());
    Ok(db.query_one(&stmt, &[&tenant, &user, &mac]).await?.get(0))
}

#[allow(clippy::too_many_arguments)]
async fn table_login(
    db: &impl deadpool_postgres::GenericClient,
    nas: &Nas,
    req: &Packet,
    user: &str,
    items: &[Item],
    proof: &Proof,
    mac: Option<MacAddr>,
    defaults: &Defaults,
    now: i64,
) -> Result<Decision, DbError> {
    let mut control = Control::default();
    let own: Vec<&Item> = items.iter().filter(|i| i.source == CHECK).collect();
    if !evaluate(&own, req, &mut control, now) || control.unsupported.is_some() {
        if let Some(u) = &control.unsupported {
            tracing::warn!(user, item = %u, "check item not supported; login refused");
        }
        return Ok(reject(user, WRONG, proof));
    }
    // Groups in priority order; a group whose comparisons fail does not apply.
    let mut groups: Vec<&str> = Vec::new();
    for i in items
        .iter()
        .filter(|i| i.source == GROUP_CHECK || i.source == GROUP_REPLY)
    {
        if !groups.contains(&i.group.as_str()) {
            groups.push(&i.group);
        }
    }
    let mut applying = Vec::new();
    for g in &groups {
        let checks: Vec<&Item> = items
            .iter()
            .filter(|i| i.source == GROUP_CHECK && i.group == *g)
            .collect();
        // A group's items count only when all its comparisons hold (FreeRADIUS's rule).
        let mut own = Control::default();
        let applies = evaluate(&checks, req, &mut own, now);
        if let Some(u) = &own.unsupported {
            tracing::warn!(user, item = %u, "group check item not supported; login refused");
            return Ok(reject(user, WRONG, proof));
        }
        if applies {
            control.merge(own);
            applying.push(*g);
        }
    }
    if control
        .auth_type
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("Reject"))
    {
        return Ok(reject(user, "Access denied", proof));
    }
    let success = if control
        .auth_type
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("Accept"))
    {
        None
    } else {
        match control
            .password
            .as_deref()
            .and_then(|pw| proof.proves(user, pw))
        {
            Some(s) => s,
            None => return Ok(reject(user, WRONG, proof)),
        }
    };
    if control.expired {
        return Ok(reject(user, "Password Has Expired", proof));
    }
    if let Some(max) = control.simultaneous_use
        && open_sessions(db, nas.tenant, user, mac).await? >= max
    {
        return Ok(reject(
            user,
            "You are already logged in - access denied",
            proof,
        ));
    }
    let mut reply = Packet::new(Code::AccessAccept, 0, [0; 16]);
    for i in items.iter().filter(|i| i.source == REPLY) {
        add_reply_item(&mut reply, &i.attribute, &i.op, &i.value);
    }
    for i in items
        .iter()
        .filter(|i| i.source == GROUP_REPLY && applying.contains(&i.group.as_str()))
    {
        add_reply_item(&mut reply, &i.attribute, &i.op, &i.value);
    }
    let grant = Grant {
        interim_interval: Some(defaults.interim_interval),
        class: Some("hotspot:user".into()),
        ..Grant::default()
    };
    Ok(accept(user, reply, &grant, nas, success))
}

async fn subscriber_login(
    tx: &deadpool_postgres::Transaction<'_>,
    nas: &Nas,
    user: &str,
    proof: &Proof,
    mac: Option<MacAddr>,
    defaults: &Defaults,
) -> Result<Option<Decision>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT s.id, s.pppoe_password, s.status, bp.download_mbps, bp.upload_mbps, \
                    bp.radius_attributes, bp.monthly_data_cap_gb, \
                    GREATEST(COALESCE(s.monthly_data_usage_gb, 0)::float8, \
                             radius_subscriber_month_bytes(s.tenant_id, s.id) / 1073741824) \
             FROM subscribers s \
             LEFT JOIN bandwidth_profiles bp ON bp.tenant_id = s.tenant_id \
                  AND bp.id = s.bandwidth_profile_id AND bp.deleted_at IS NULL \
             WHERE s.pppoe_username = $1 AND s.deleted_at IS NULL",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&user]).await? else {
        return Ok(None);
    };
    let id: Uuid = row.get(0);
    let password: Option<String> = row.get(1);
    let status: String = row.get(2);
    let Some(success) = password.as_deref().and_then(|pw| proof.proves(user, pw)) else {
        return Ok(Some(reject(user, WRONG, proof)));
    };
    if status != "active" {
        return Ok(Some(reject(user, "Account is not active", proof)));
    }
    let cap_gb: Option<i32> = row.get(6);
    let used_gb: f64 = row.get(7);
    let total_bytes = cap_gb.map(|cap| {
        let left = f64::from(cap) - used_gb;
        (left.max(0.0) * 1_073_741_824.0) as u64
    });
    if total_bytes == Some(0) {
        return Ok(Some(reject(user, "Monthly data allowance used up", proof)));
    }
    if open_sessions(tx, nas.tenant, user, mac).await? >= 1 {
        return Ok(Some(reject(
            user,
            "You are already logged in - access denied",
            proof,
        )));
    }
    let mut reply = Packet::new(Code::AccessAccept, 0, [0; 16]);
    if let Some(serde_json::Value::Object(template)) = row.get::<_, Option<serde_json::Value>>(5) {
        for (name, value) in template {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            add_reply_item(&mut reply, &name, "=", &text);
        }
    }
    let down: Option<i32> = row.get(3);
    let up: Option<i32> = row.get(4);
    let grant = Grant {
        interim_interval: Some(defaults.interim_interval),
        up_kbps: up.map(|m| hotspot_shared::plan::mbps_to_kbps(i64::from(m))),
        down_kbps: down.map(|m| hotspot_shared::plan::mbps_to_kbps(i64::from(m))),
        total_bytes,
        class: Some(format!("hotspot:subscriber:{id}")),
        ..Grant::default()
    };
    Ok(Some(accept(user, reply, &grant, nas, success)))
}

async fn mac_login(
    tx: &deadpool_postgres::Transaction<'_>,
    nas: &Nas,
    user: &str,
    mac: MacAddr,
    defaults: &Defaults,
) -> Result<Option<Decision>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, auto_connect, COALESCE(bandwidth_allocation, 0), is_blocked \
             FROM client_hotspot_access \
             WHERE lower(mac_address) = $1 AND ($2::uuid IS NULL OR hotspot_id = $2) \
             ORDER BY is_blocked DESC, auto_connect DESC",
        )
        .await?;
    let rows = tx.query(&stmt, &[&mac.to_string(), &nas.hotspot]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    if row.get::<_, bool>(3) {
        return Ok(Some(reject(user, "This device is blocked", &Proof::None)));
    }
    if !row.get::<_, bool>(1) {
        return Ok(None);
    }
    let id: Uuid = row.get(0);
    let kbps = hotspot_shared::plan::mbps_to_kbps(i64::from(row.get::<_, i32>(2)));
    let grant = Grant {
        interim_interval: Some(defaults.interim_interval),
        idle_timeout: Some(defaults.idle_timeout),
        up_kbps: Some(kbps),
        down_kbps: Some(kbps),
        class: Some(format!("hotspot:device:{id}")),
        ..Grant::default()
    };
    Ok(Some(accept(
        user,
        Packet::new(Code::AccessAccept, 0, [0; 16]),
        &grant,
        nas,
        None,
    )))
}

fn refusal_text(r: &Refusal) -> String {
    match r {
        Refusal::Unknown => WRONG.into(),
        Refusal::WrongHotspot => "This voucher is for another hotspot".into(),
        Refusal::Expired { .. } => "This voucher has expired".into(),
        Refusal::UsedUp => "This voucher is used up".into(),
        Refusal::TooManyDevices { max } => format!(
            "This voucher is already in use on {max} device{}",
            if *max == 1 { "" } else { "s" }
        ),
    }
}

/// The bytes a voucher has moved, as an SQL expression over its code and its Class (two
/// placeholders): its edge sessions' megabytes and the octets of every RADIUS session under its
/// name or Class, open or closed.
macro_rules! voucher_bytes_sql {
    ($code:literal, $class:literal) => {
        concat!(
            "(SELECT COALESCE(sum(data_used_mb), 0) FROM hotspot_sessions \
              WHERE voucher_code = ",
            $code,
            " AND radius_session IS NULL)::float8 * 1048576 \
             + (SELECT COALESCE(sum(acctinputoctets + acctoutputoctets), 0) FROM ( \
                  SELECT acctinputoctets, acctoutputoctets FROM radacct \
                  WHERE username = ",
            $code,
            " OR class = ",
            $class,
            " \
                  UNION ALL SELECT acctinputoctets, acctoutputoctets \
                  FROM radacct_history WHERE username = ",
            $code,
            " OR class = ",
            $class,
            ") u)::float8"
        )
    };
}

/// The Class an Access-Accept for voucher `id` carries, which its accounting echoes.
fn voucher_class(id: Uuid) -> String {
    format!("hotspot:voucher:{id}")
}

/// What voucher `id` (code `code`) allows from `now` on, by the same rules as a login: the
/// seconds left (from its first use), and the bytes left after everything it has moved. `None`
/// for a limit the voucher does not have, or for a voucher not there.
pub async fn voucher_remaining(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    now: i64,
) -> Result<Option<(Option<u32>, Option<u64>)>, DbError> {
    let row = tx
        .query_opt(
            concat!(
                "SELECT EXTRACT(EPOCH FROM used_at)::int8, duration_minutes, data_limit_mb, ",
                voucher_bytes_sql!("v.voucher_code", "$2"),
                " FROM hotspot_vouchers v WHERE id = $1"
            ),
            &[&id, &voucher_class(id)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let used_at: Option<i64> = row.get(0);
    let minutes: Option<i32> = row.get(1);
    let megabytes: Option<i32> = row.get(2);
    let bytes: f64 = row.get(3);
    let limits = hotspot_shared::plan::voucher_limits(
        used_at.unwrap_or(now),
        minutes.map(i64::from),
        megabytes.map(i64::from),
    );
    Ok(Some((
        limits
            .seconds_remaining(now)
            .map(|s| s.min(u64::from(u32::MAX)) as u32),
        limits.bytes_remaining(bytes.max(0.0) as u64),
    )))
}

async fn voucher_login(
    tx: &deadpool_postgres::Transaction<'_>,
    nas: &Nas,
    user: &str,
    proof: &Proof,
    mac: Option<MacAddr>,
    defaults: &Defaults,
    now: i64,
) -> Result<Decision, DbError> {
    let Ok(code) = hotspot_shared::voucher::normalize(user) else {
        return Ok(reject(user, WRONG, proof));
    };
    let stmt = tx
        .prepare_cached(
            "SELECT v.id, v.hotspot_id, v.voucher_code, v.voucher_type, v.duration_minutes, \
                    v.data_limit_mb, COALESCE(v.max_devices, 1), \
                    EXTRACT(EPOCH FROM v.expiry_date)::int8, EXTRACT(EPOCH FROM v.used_at)::int8, \
                    v.used_by_mac, p.download_mbps, p.upload_mbps \
             FROM hotspot_vouchers v \
             LEFT JOIN service_packages p ON p.tenant_id = v.tenant_id \
                  AND p.id = v.service_package_id \
             WHERE v.voucher_code = $1 FOR UPDATE OF v",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&code]).await? else {
        return Ok(reject(user, WRONG, proof));
    };
    // The password is the code again (as typed or normalised), or empty.
    let success = [user, code.as_str(), ""]
        .iter()
        .find_map(|pw| proof.proves(user, pw));
    let Some(success) = success else {
        return Ok(reject(user, WRONG, proof));
    };
    let Some(mac) = mac else {
        return Ok(reject(
            user,
            "The hotspot did not send this device's MAC address (Calling-Station-Id)",
            proof,
        ));
    };
    let id: Uuid = row.get(0);
    let voucher_hotspot: Uuid = row.get(1);
    let kind: String = row.get(3);
    let voucher = Voucher {
        id: id.to_string(),
        hotspot_id: Some(voucher_hotspot.to_string()),
        code: row.get(2),
        kind: if kind == "data_based" {
            VoucherKind::Data
        } else {
            VoucherKind::Time
        },
        duration_minutes: row.get::<_, Option<i32>>(4).map(i64::from),
        data_limit_mb: row.get::<_, Option<i32>>(5).map(i64::from),
        max_devices: i64::from(row.get::<_, i32>(6)),
        expiry_date: row.get(7),
        used_at: row.get(8),
        used_by_mac: row.get(9),
        plan_id: None,
    };
    let usage_stmt = tx
        .prepare_cached(concat!(
            "SELECT ARRAY(SELECT mac_address::text FROM hotspot_voucher_redemptions \
                          WHERE voucher_id = $1 AND accepted), ",
            voucher_bytes_sql!("$2", "$3")
        ))
        .await?;
    let class = voucher_class(id);
    let usage_row = tx.query_one(&usage_stmt, &[&id, &code, &class]).await?;
    let devices: Vec<String> = usage_row.get(0);
    let bytes: f64 = usage_row.get(1);
    let usage = Usage {
        devices: devices.iter().filter_map(|m| m.parse().ok()).collect(),
        bytes: bytes.max(0.0) as u64,
    };
    // A NAS serving no one hotspot takes any voucher of its tenant.
    let site = nas.hotspot.unwrap_or(voucher_hotspot).to_string();
    let admission = match redeem::check(Some(&voucher), &code, &usage, mac, Some(&site), now) {
        Ok(a) => a,
        Err(r) => return Ok(reject(user, &refusal_text(&r), proof)),
    };
    if admission.new_device {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO hotspot_voucher_redemptions \
                   (tenant_id, voucher_id, hotspot_id, mac_address, redeemed_at, accepted) \
                 VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, now(), true) \
                 ON CONFLICT (voucher_id, mac_address) DO UPDATE SET accepted = true",
            )
            .await?;
        let hotspot = nas.hotspot.unwrap_or(voucher_hotspot);
        tx.execute(&stmt, &[&id, &hotspot, &mac.to_string()])
            .await?;
    }
    if admission.first_use {
        let stmt = tx
            .prepare_cached(
                "UPDATE hotspot_vouchers SET is_used = true, used_at = to_timestamp($2), \
                 used_by_mac = $3 WHERE id = $1 AND used_at IS NULL",
            )
            .await?;
        tx.execute(&stmt, &[&id, &(now as f64), &mac.to_string()])
            .await?;
    }
    let down: Option<i32> = row.get(10);
    let up: Option<i32> = row.get(11);
    let grant = Grant {
        session_timeout: admission
            .limits
            .seconds_remaining(now)
            .map(|s| s.min(u64::from(u32::MAX)) as u32),
        idle_timeout: Some(defaults.idle_timeout),
        interim_interval: Some(defaults.interim_interval),
        up_kbps: up.map(|m| hotspot_shared::plan::mbps_to_kbps(i64::from(m))),
        down_kbps: down.map(|m| hotspot_shared::plan::mbps_to_kbps(i64::from(m))),
        total_bytes: admission.limits.bytes_remaining(usage.bytes),
        class: Some(class),
    };
    // The code as the tables spell it: the NAS accounts under this name (RFC 2865 §5.1).
    let mut reply = Packet::new(Code::AccessAccept, 0, [0; 16]);
    reply.push(attr::USER_NAME, code.as_bytes());
    Ok(accept(user, reply, &grant, nas, success))
}

/// One line of radpostauth, written in batches off the answer's path.
#[derive(Debug, Clone)]
pub struct PostAuth {
    pub tenant: Uuid,
    pub username: String,
    pub reply: &'static str,
    pub nas: IpAddr,
    pub class: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(attribute: &str, op: &str, value: &str) -> Item {
        Item {
            source: CHECK,
            group: String::new(),
            attribute: attribute.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    #[test]
    fn check_items() {
        let mut req = Packet::new(Code::AccessRequest, 1, [0; 16]);
        req.push(attr::CALLED_STATION_ID, "hotspot1");
        let items = [
            item("Cleartext-Password", ":=", "pw"),
            item("Simultaneous-Use", ":=", "2"),
            item("Called-Station-Id", "==", "HOTSPOT1"),
        ];
        let refs: Vec<&Item> = items.iter().collect();
        let mut c = Control::default();
        assert!(evaluate(&refs, &req, &mut c, 0));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert_eq!(c.simultaneous_use, Some(2));
        assert!(c.unsupported.is_none());

        let other = [item("Called-Station-Id", "==", "elsewhere")];
        let mut c = Control::default();
        assert!(!evaluate(
            &other.iter().collect::<Vec<_>>(),
            &req,
            &mut c,
            0
        ));

        let strange = [item("Max-Daily-Session", ":=", "3600")];
        let mut c = Control::default();
        evaluate(&strange.iter().collect::<Vec<_>>(), &req, &mut c, 0);
        assert!(c.unsupported.is_some(), "an unsupported limit fails closed");

        let regex = [item("Calling-Station-Id", "=~", "^AA")];
        let mut c = Control::default();
        assert!(!evaluate(
            &regex.iter().collect::<Vec<_>>(),
            &req,
            &mut c,
            0
        ));
        assert!(c.unsupported.is_some());

        let exp = [item("Expiration", ":=", "01 Jan 2020")];
        let mut c = Control::default();
        evaluate(&exp.iter().collect::<Vec<_>>(), &req, &mut c, 1_700_000_000);
        assert!(c.expired);
        assert_eq!(
            parse_expiration("01 Jan 2020 00:00:01"),
            Some(1_577_836_801)
        );
    }

    #[test]
    fn reply_operators() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        add_reply_item(&mut p, "Session-Timeout", "=", "100");
        add_reply_item(&mut p, "Session-Timeout", "=", "200");
        assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(100));
        add_reply_item(&mut p, "Session-Timeout", ":=", "300");
        assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(300));
        assert_eq!(p.get_all(attr::SESSION_TIMEOUT).count(), 1);
        add_reply_item(&mut p, "Mikrotik-Rate-Limit", "=", "1M/2M");
        add_reply_item(&mut p, "Mikrotik-Rate-Limit", ":=", "3M/4M");
        assert_eq!(p.get_vendor(vendor::MIKROTIK, 8), Some(&b"3M/4M"[..]));
        add_reply_item(&mut p, "Mikrotik-Address-List", "+=", "a");
        add_reply_item(&mut p, "Mikrotik-Address-List", "+=", "b");
        assert_eq!(p.get_all(attr::VENDOR_SPECIFIC).count(), 3);
        add_reply_item(&mut p, "Unknown-Thing", "=", "x");
        add_reply_item(&mut p, "Session-Timeout", ":=", "soon");
        assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(300));
    }
}
