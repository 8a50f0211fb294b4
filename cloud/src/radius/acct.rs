//! Accounting-Request into `radacct`, written the way FreeRADIUS 3.2's stock queries write it
//! (the same `acctuniqueid`, Gigawords folded into the octet columns, Start as an upsert,
//! Interim-Update and Stop as updates of the open row with an insert when it is missing,
//! Accounting-On/Off closing the NAS's open sessions), so both servers can share the table.
//!
//! Requests are written in batches: a writer takes what is queued (up to [`BATCH`]) and applies
//! it in one transaction; each request's answer is sent only after that commit. If the batch
//! fails, each of its requests is tried alone, so one bad request cannot hold back the others; a
//! request that still fails gets no answer (the NAS retries it). Every request of one session
//! goes to the same writer ([`writer_for`]), so a Stop never overtakes its own Start.
//! Text that the columns cannot hold is cut to their width and NUL bytes removed, so what a NAS
//! sends never fails a statement.

use deadpool_postgres::Pool;
use hotspot_shared::radius::{Packet, acct_status, attr};
use md5::{Digest, Md5};
use std::net::IpAddr;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most requests in one transaction.
pub const BATCH: usize = 256;

/// One accounting request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub tenant: Uuid,
    pub status: u32,
    pub unique_id: String,
    pub session_id: String,
    pub username: String,
    pub nas_ip: IpAddr,
    pub nas_port_id: Option<String>,
    pub nas_port_type: Option<String>,
    /// Unix seconds the event happened (Event-Timestamp, or arrival less Acct-Delay-Time).
    pub at: i64,
    pub session_time: Option<i64>,
    pub input_octets: i64,
    pub output_octets: i64,
    pub terminate_cause: Option<String>,
    pub framed_ip: Option<IpAddr>,
    pub called: Option<String>,
    pub calling: Option<String>,
    pub class: Option<String>,
    pub service_type: Option<String>,
    pub framed_protocol: Option<String>,
    pub connect_info: Option<String>,
    pub interval: Option<i32>,
    pub authentic: Option<String>,
    /// Acct-Delay-Time (acctstartdelay / acctstopdelay).
    pub delay: Option<i64>,
}

/// Which of `writers` takes `record`: by session, so one session's requests stay in order.
pub fn writer_for(record: &Record, writers: usize) -> usize {
    let key = if record.unique_id.is_empty() {
        record.nas_ip.to_string()
    } else {
        record.unique_id.clone()
    };
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % writers.max(1) as u64) as usize
}

/// Text as a column of `width` characters takes it: NULs removed, cut to the width.
fn column(text: String, width: usize) -> String {
    if text.len() <= width && !text.contains('\0') {
        return text;
    }
    text.chars().filter(|c| *c != '\0').take(width).collect()
}

fn md5_hex(input: &str) -> String {
    let digest: [u8; 16] = Md5::digest(input.as_bytes()).into();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// FreeRADIUS's `Acct-Unique-Session-Id` (policy `acct_unique`): with a Class that starts with
/// `ai:` (exactly so) and 32 hex digits (either case), md5 of `"<those digits as sent>,
/// Acct-Session-Id"`; otherwise md5 of "User-Name,Acct-Session-Id,NAS-IP(v6)-Address,
/// NAS-Identifier,NAS-Port-Id,NAS-Port", absent attributes as empty text.
pub fn unique_id(req: &Packet, nas_ip: IpAddr) -> String {
    let text = |t| req.get_text(t).unwrap_or_default();
    if let Some(class) = req.get(attr::CLASS)
        && let Some(hex) = class.strip_prefix(b"ai:").and_then(|rest| rest.get(..32))
        && hex.iter().all(u8::is_ascii_hexdigit)
    {
        let hex = String::from_utf8_lossy(hex);
        return md5_hex(&format!("{hex},{}", text(attr::ACCT_SESSION_ID)));
    }
    let port = req
        .get_u32(attr::NAS_PORT)
        .map(|p| p.to_string())
        .unwrap_or_default();
    let input = format!(
        "{},{},{},{},{},{}",
        text(attr::USER_NAME),
        text(attr::ACCT_SESSION_ID),
        nas_ip,
        text(attr::NAS_IDENTIFIER),
        text(attr::NAS_PORT_ID),
        port
    );
    md5_hex(&input)
}

/// The NAS address as FreeRADIUS sees it: NAS-IPv6-Address, NAS-IP-Address, or the source.
pub fn nas_ip(req: &Packet, source: IpAddr) -> IpAddr {
    if let Some(v6) = req
        .get(attr::NAS_IPV6_ADDRESS)
        .and_then(|v| <[u8; 16]>::try_from(v).ok())
    {
        return IpAddr::from(v6);
    }
    req.get_ipv4(attr::NAS_IP_ADDRESS)
        .map(IpAddr::V4)
        .unwrap_or(source)
}

fn named(typ: u8, value: Option<u32>) -> Option<String> {
    let def = hotspot_shared::radius::dict::by_number(0, typ);
    value.map(|v| match def {
        Some(d) => d.format(&v.to_be_bytes()),
        None => v.to_string(),
    })
}

fn terminate_cause(n: u32) -> String {
    const NAMES: &[&str] = &[
        "",
        "User-Request",
        "Lost-Carrier",
        "Lost-Service",
        "Idle-Timeout",
        "Session-Timeout",
        "Admin-Reset",
        "Admin-Reboot",
        "Port-Error",
        "NAS-Error",
        "NAS-Request",
        "NAS-Reboot",
        "Port-Unneeded",
        "Port-Preempted",
        "Port-Suspended",
        "Service-Unavailable",
        "Callback",
        "User-Error",
        "Host-Request",
    ];
    NAMES
        .get(n as usize)
        .filter(|s| !s.is_empty())
        .map_or_else(|| n.to_string(), |s| (*s).to_owned())
}

/// Parses an Accounting-Request from `source`, arrived at `now`. `None` without
/// Acct-Status-Type, or for a status this server does not record.
pub fn parse(req: &Packet, tenant: Uuid, source: IpAddr, now: i64) -> Option<Record> {
    let status = req.get_u32(attr::ACCT_STATUS_TYPE)?;
    if !matches!(
        status,
        acct_status::START
            | acct_status::STOP
            | acct_status::INTERIM_UPDATE
            | acct_status::ACCOUNTING_ON
            | acct_status::ACCOUNTING_OFF
    ) {
        return None;
    }
    let nas_ip = nas_ip(req, source);
    // FreeRADIUS 3.2: Event-Timestamp when sent, else the time the request arrived.
    let at = req.get_u32(attr::EVENT_TIMESTAMP).map_or(now, i64::from);
    let octets = |low, giga| {
        (i64::from(req.get_u32(giga).unwrap_or(0)) << 32) | i64::from(req.get_u32(low).unwrap_or(0))
    };
    let text = |t, width| {
        req.get_text(t)
            .map(|s| column(s, width))
            .filter(|s| !s.is_empty())
    };
    let short = |s: Option<String>| s.map(|s| column(s, 32));
    Some(Record {
        tenant,
        status,
        unique_id: unique_id(req, nas_ip),
        session_id: text(attr::ACCT_SESSION_ID, 64).unwrap_or_default(),
        username: text(attr::USER_NAME, 64).unwrap_or_default(),
        nas_ip,
        // As the stock query: NAS-Port-Id, else NAS-Port.
        nas_port_id: text(attr::NAS_PORT_ID, 253)
            .or_else(|| req.get_u32(attr::NAS_PORT).map(|p| p.to_string())),
        nas_port_type: short(named(attr::NAS_PORT_TYPE, req.get_u32(attr::NAS_PORT_TYPE))),
        at,
        session_time: req.get_u32(attr::ACCT_SESSION_TIME).map(i64::from),
        input_octets: octets(attr::ACCT_INPUT_OCTETS, attr::ACCT_INPUT_GIGAWORDS),
        output_octets: octets(attr::ACCT_OUTPUT_OCTETS, attr::ACCT_OUTPUT_GIGAWORDS),
        terminate_cause: short(req.get_u32(attr::ACCT_TERMINATE_CAUSE).map(terminate_cause)),
        framed_ip: req.get_ipv4(attr::FRAMED_IP_ADDRESS).map(IpAddr::V4),
        called: text(attr::CALLED_STATION_ID, 50),
        calling: text(attr::CALLING_STATION_ID, 50),
        class: text(attr::CLASS, 64),
        service_type: short(named(attr::SERVICE_TYPE, req.get_u32(attr::SERVICE_TYPE))),
        framed_protocol: short(named(
            attr::FRAMED_PROTOCOL,
            req.get_u32(attr::FRAMED_PROTOCOL),
        )),
        connect_info: text(attr::CONNECT_INFO, 253),
        interval: req
            .get_u32(attr::ACCT_INTERIM_INTERVAL)
            .and_then(|i| i32::try_from(i).ok()),
        authentic: req.get_u32(attr::ACCT_AUTHENTIC).map(|a| match a {
            1 => "RADIUS".to_owned(),
            2 => "Local".to_owned(),
            3 => "Remote".to_owned(),
            4 => "Diameter".to_owned(),
            n => n.to_string(),
        }),
        delay: req.get_u32(attr::ACCT_DELAY_TIME).map(i64::from),
    })
}

const START: &str = "INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, \
    nasipaddress, nasportid, nasporttype, acctstarttime, acctupdatetime, acctsessiontime, \
    acctauthentic, connectinfo_start, acctinputoctets, acctoutputoctets, calledstationid, \
    callingstationid, servicetype, framedprotocol, framedipaddress, class, acctstartdelay) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::float8), to_timestamp($8::float8), 0, \
    $16, $9, \
    0, 0, $10, $11, $12, $13, $14, $15, $17) \
    ON CONFLICT (acctuniqueid) DO UPDATE SET acctstarttime = EXCLUDED.acctstarttime, \
    acctupdatetime = EXCLUDED.acctupdatetime, connectinfo_start = EXCLUDED.connectinfo_start \
    WHERE radacct.acctstoptime IS NULL";

const INTERIM: &str = "UPDATE radacct SET framedipaddress = COALESCE($2, framedipaddress), \
    acctsessiontime = COALESCE($3, acctsessiontime), \
    acctinterval = ($4::float8 - EXTRACT(EPOCH FROM COALESCE(acctupdatetime, acctstarttime)))::int, \
    acctupdatetime = to_timestamp($4::float8), acctinputoctets = $5, acctoutputoctets = $6 \
    WHERE acctuniqueid = $1 AND acctstoptime IS NULL";

const STOP: &str = "UPDATE radacct SET acctstoptime = to_timestamp($2::float8), \
    acctupdatetime = to_timestamp($2::float8), \
    acctsessiontime = COALESCE($3, ($2::float8 - EXTRACT(EPOCH FROM acctstarttime))::bigint), \
    acctinputoctets = $4, acctoutputoctets = $5, acctterminatecause = $6, \
    framedipaddress = COALESCE($7, framedipaddress), connectinfo_stop = $8, acctstopdelay = $9 \
    WHERE acctuniqueid = $1 AND acctstoptime IS NULL";

/// The fallback of Interim-Update and Stop when no open row exists (the Start was lost): a row
/// as complete as the request allows; nothing when the session's row exists (already stopped).
const FALLBACK: &str = "INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, \
    nasipaddress, nasportid, nasporttype, acctstarttime, acctupdatetime, acctstoptime, \
    acctsessiontime, acctauthentic, acctinputoctets, acctoutputoctets, calledstationid, \
    callingstationid, acctterminatecause, servicetype, framedprotocol, framedipaddress, class) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::float8 - COALESCE($9::float8, 0)), \
    to_timestamp($8::float8), CASE WHEN $10::bool THEN to_timestamp($8::float8) END, \
    $9::float8::bigint, COALESCE($20, 'RADIUS'), $11, $12, $13, $14, $15, $16, $17, \
    $18, $19) ON CONFLICT (acctuniqueid) DO NOTHING";

const NAS_RESTART: &str = "UPDATE radacct SET acctstoptime = to_timestamp($2::float8), \
    acctupdatetime = to_timestamp($2::float8), \
    acctsessiontime = ($2::float8 - EXTRACT(EPOCH FROM acctstarttime))::bigint, \
    acctterminatecause = COALESCE($3, 'NAS-Reboot') \
    WHERE acctstoptime IS NULL AND nasipaddress = $1 AND acctstarttime <= to_timestamp($2::float8)";

/// The statements a batch uses, prepared (once per connection) before anything is sent.
struct Statements {
    start: tokio_postgres::Statement,
    interim: tokio_postgres::Statement,
    stop: tokio_postgres::Statement,
    fallback: tokio_postgres::Statement,
    restart: tokio_postgres::Statement,
    tenant: tokio_postgres::Statement,
}

async fn statements(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<Statements, tokio_postgres::Error> {
    Ok(Statements {
        start: tx.prepare_cached(START).await?,
        interim: tx.prepare_cached(INTERIM).await?,
        stop: tx.prepare_cached(STOP).await?,
        fallback: tx.prepare_cached(FALLBACK).await?,
        restart: tx.prepare_cached(NAS_RESTART).await?,
        tenant: tx
            .prepare_cached("SELECT set_config('app.tenant_id', $1, true)")
            .await?,
    })
}

/// A record's first statement: Start's upsert, the update of the open row for Interim-Update
/// and Stop, or the closing of the NAS's sessions. Returns the rows it touched. Sent when the
/// future is first polled, so a round's statements go out together, pipelined.
async fn primary(
    tx: &deadpool_postgres::Transaction<'_>,
    st: &Statements,
    r: &Record,
) -> Result<u64, tokio_postgres::Error> {
    let at = r.at as f64;
    match r.status {
        acct_status::START => {
            tx.execute(
                &st.start,
                &[
                    &r.tenant,
                    &r.session_id,
                    &r.unique_id,
                    &r.username,
                    &r.nas_ip,
                    &r.nas_port_id,
                    &r.nas_port_type,
                    &at,
                    &r.connect_info,
                    &r.called,
                    &r.calling,
                    &r.service_type,
                    &r.framed_protocol,
                    &r.framed_ip,
                    &r.class,
                    &r.authentic,
                    &r.delay,
                ],
            )
            .await
        }
        acct_status::STOP => {
            tx.execute(
                &st.stop,
                &[
                    &r.unique_id,
                    &at,
                    &r.session_time,
                    &r.input_octets,
                    &r.output_octets,
                    &r.terminate_cause,
                    &r.framed_ip,
                    &r.connect_info,
                    &r.delay,
                ],
            )
            .await
        }
        acct_status::INTERIM_UPDATE => {
            tx.execute(
                &st.interim,
                &[
                    &r.unique_id,
                    &r.framed_ip,
                    &r.session_time,
                    &at,
                    &r.input_octets,
                    &r.output_octets,
                ],
            )
            .await
        }
        _ => {
            tx.execute(&st.restart, &[&r.nas_ip, &at, &r.terminate_cause])
                .await
        }
    }
}

/// The insert for an Interim-Update or Stop whose open row was not there (its Start was lost).
async fn fallback(
    tx: &deadpool_postgres::Transaction<'_>,
    st: &Statements,
    r: &Record,
) -> Result<u64, tokio_postgres::Error> {
    let stop = r.status == acct_status::STOP;
    tx.execute(
        &st.fallback,
        &[
            &r.tenant,
            &r.session_id,
            &r.unique_id,
            &r.username,
            &r.nas_ip,
            &r.nas_port_id,
            &r.nas_port_type,
            &(r.at as f64),
            &r.session_time.map(|t| t as f64),
            &stop,
            &r.input_octets,
            &r.output_octets,
            &r.called,
            &r.calling,
            &r.terminate_cause,
            &r.service_type,
            &r.framed_protocol,
            &r.framed_ip,
            &r.class,
            &r.authentic,
        ],
    )
    .await
}

/// A request waiting for its row to be durable.
pub type Job = (Record, oneshot::Sender<bool>);

/// Applies `records` in one transaction, switching the tenant setting as the records do. The
/// records are sent in rounds: a round is a run of records of one tenant and of distinct
/// sessions, whose statements are sent at once and awaited together (one round trip, not one
/// per request; their order does not matter, and two requests of one session keep theirs).
/// Any failure rolls the whole batch back.
async fn apply(pool: &Pool, records: &[&Record]) -> Result<(), crate::db::DbError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| crate::db::DbError::Connect(e.to_string()))?;
    let tx = crate::db::service_transaction(&mut client).await?;
    let st = statements(&tx).await?;
    let mut current = None;
    let mut rest = records;
    while !rest.is_empty() {
        let tenant = rest[0].tenant;
        let mut seen = std::collections::HashSet::new();
        let n = rest
            .iter()
            .take_while(|r| r.tenant == tenant && seen.insert(r.unique_id.as_str()))
            .count();
        let (round, after) = rest.split_at(n);
        if current != Some(tenant) {
            tx.execute(&st.tenant, &[&tenant.to_string()]).await?;
            current = Some(tenant);
        }
        let touched =
            futures_util::future::try_join_all(round.iter().map(|r| primary(&tx, &st, r))).await?;
        let missing = round.iter().zip(touched).filter(|(r, n)| {
            *n == 0 && matches!(r.status, acct_status::INTERIM_UPDATE | acct_status::STOP)
        });
        futures_util::future::try_join_all(missing.map(|(r, _)| fallback(&tx, &st, r))).await?;
        rest = after;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs one writer until its queue closes.
pub async fn writer(pool: Pool, mut queue: mpsc::Receiver<Job>) {
    loop {
        let mut jobs: Vec<Job> = Vec::new();
        if queue.recv_many(&mut jobs, BATCH).await == 0 {
            return;
        }
        let records: Vec<&Record> = jobs.iter().map(|(r, _)| r).collect();
        match apply(&pool, &records).await {
            Ok(()) => {
                for (_, done) in jobs {
                    let _ = done.send(true);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, n = jobs.len(), "accounting batch failed; writing its requests one by one");
                for (r, done) in jobs {
                    let ok = match apply(&pool, &[&r]).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(error = %e, session = %r.unique_id, "accounting request not recorded; no answer sent");
                            false
                        }
                    };
                    let _ = done.send(ok);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotspot_shared::radius::Code;

    #[test]
    fn unique_id_matches_freeradius() {
        // md5("alice,S1,192.0.2.1,,,") as FreeRADIUS's acct_unique policy computes it.
        let mut p = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        p.push(attr::USER_NAME, "alice");
        p.push(attr::ACCT_SESSION_ID, "S1");
        p.push(attr::NAS_IP_ADDRESS, [192, 0, 2, 1]);
        let ip = nas_ip(&p, "127.0.0.1".parse().unwrap());
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        let want: [u8; 16] = Md5::digest(b"alice,S1,192.0.2.1,,,").into();
        let want: String = want.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(unique_id(&p, ip), want);
        p.push_u32(attr::NAS_PORT, 7);
        assert_ne!(unique_id(&p, ip), want);
    }

    #[test]
    fn class_with_an_accounting_id_and_column_widths() {
        let mut p = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        p.push(attr::ACCT_SESSION_ID, "S9");
        p.push(attr::CLASS, "ai:0123456789abcdef0123456789ABCDEF");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        // The digits as sent, in their case: FreeRADIUS hashes its regex capture.
        assert_eq!(
            unique_id(&p, ip),
            md5_hex("0123456789abcdef0123456789ABCDEF,S9")
        );
        // Only a Class that starts with `ai:` in lower case counts (the policy compares the
        // prefix byte for byte); anything else falls back to the attributes' hash.
        let fallback = md5_hex(",S9,10.0.0.1,,,");
        for other in [
            "AI:0123456789abcdef0123456789abcdef",
            "x ai:0123456789abcdef0123456789abcdef",
            "ai:0123456789abcdef0123456789abcde",
        ] {
            let mut q = Packet::new(Code::AccountingRequest, 1, [0; 16]);
            q.push(attr::ACCT_SESSION_ID, "S9");
            q.push(attr::CLASS, other);
            assert_eq!(unique_id(&q, ip), fallback, "{other}");
        }
        p.push_u32(attr::ACCT_STATUS_TYPE, acct_status::START);
        p.push(attr::USER_NAME, format!("a\0{}", "b".repeat(100)));
        p.push_u32(attr::NAS_PORT, 12);
        let r = parse(&p, Uuid::nil(), ip, 0).unwrap();
        assert_eq!(r.username.len(), 64);
        assert!(!r.username.contains('\0'));
        assert_eq!(r.nas_port_id.as_deref(), Some("12"));
        assert!(writer_for(&r, 4) < 4);
        assert_eq!(writer_for(&r, 4), writer_for(&r.clone(), 4));
    }

    #[test]
    fn gigawords_fold_and_times() {
        let mut p = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        p.push_u32(attr::ACCT_STATUS_TYPE, acct_status::STOP);
        p.push_u32(attr::ACCT_INPUT_OCTETS, 5);
        p.push_u32(attr::ACCT_INPUT_GIGAWORDS, 2);
        p.push_u32(attr::ACCT_DELAY_TIME, 30);
        p.push_u32(attr::ACCT_TERMINATE_CAUSE, 1);
        let r = parse(&p, Uuid::nil(), "10.0.0.1".parse().unwrap(), 1000).unwrap();
        assert_eq!(r.input_octets, (2i64 << 32) + 5);
        assert_eq!(r.output_octets, 0);
        assert_eq!(
            r.at, 1000,
            "arrival time, as FreeRADIUS without Event-Timestamp"
        );
        assert_eq!(r.delay, Some(30));
        assert_eq!(r.terminate_cause.as_deref(), Some("User-Request"));
        assert_eq!(r.nas_ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        p.push_u32(attr::EVENT_TIMESTAMP, 900);
        assert_eq!(
            parse(&p, Uuid::nil(), "10.0.0.1".parse().unwrap(), 1000)
                .unwrap()
                .at,
            900
        );
        let mut other = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        assert!(parse(&other, Uuid::nil(), "10.0.0.1".parse().unwrap(), 0).is_none());
        other.push_u32(attr::ACCT_STATUS_TYPE, 15);
        assert!(parse(&other, Uuid::nil(), "10.0.0.1".parse().unwrap(), 0).is_none());
    }
}
