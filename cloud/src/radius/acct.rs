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
use tokio_postgres::types::ToSql;
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

/// The rows of a round, as arrays (one element per record) that the statements below unnest
/// into `x`: one statement per kind of request per round, not one per request. Every statement
/// takes all of them ($1 the tenant), so one parameter list serves each.
macro_rules! rows {
    () => {
        "unnest($2::text[], $3::text[], $4::text[], $5::inet[], $6::text[], $7::text[], \
         $8::float8[], $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::inet[], \
         $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], \
         $20::text[], $21::int8[], $22::int4[]) \
         AS x(u, s, n, ip, pid, pt, t, st, io, oo, tc, fip, cd, cg, cl, sv, fp, ci, au, d, k)"
    };
}

/// A round in one statement (one plan, one execution: planning three statements was most of
/// a small batch's time). `x.k` is the request's Acct-Status-Type (1 Start, 2 Stop, 3
/// Interim-Update); the sessions of a round are distinct, so no row is touched twice.
///
/// - `started`: Start, the stock query's upsert (a repeated Start of an open session moves its
///   start).
/// - `done`: Interim-Update and Stop update the open row. An Interim-Update changes no indexed
///   column (`acctstoptime` stays NULL: a HOT update); a Stop closes the row.
///   `acctuniqueid = ANY(…)` besides the join keeps the rows found through the unique index
///   whatever the planner guesses of the arrays' length (rather than a scan of every open
///   session joined by hash).
/// - the final insert: an Interim-Update or Stop whose open row was not there (its Start was
///   lost) becomes a row as complete as the request allows (closed for a Stop); nothing when
///   the session's row exists (already stopped).
const ROUND: &str = concat!(
    "WITH x AS MATERIALIZED (SELECT * FROM ",
    rows!(),
    "), started AS (INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, \
     nasipaddress, nasportid, nasporttype, acctstarttime, acctupdatetime, acctsessiontime, \
     acctauthentic, connectinfo_start, acctinputoctets, acctoutputoctets, calledstationid, \
     callingstationid, servicetype, framedprotocol, framedipaddress, class, acctstartdelay) \
     SELECT $1::uuid, s, u, n, ip, pid, pt, to_timestamp(t), to_timestamp(t), 0, au, ci, 0, 0, \
     cd, cg, sv, fp, fip, cl, d FROM x WHERE x.k = 1 \
     ON CONFLICT (acctuniqueid) DO UPDATE SET acctstarttime = EXCLUDED.acctstarttime, \
     acctupdatetime = EXCLUDED.acctupdatetime, connectinfo_start = EXCLUDED.connectinfo_start \
     WHERE radacct.acctstoptime IS NULL), \
     done AS (UPDATE radacct r SET framedipaddress = COALESCE(x.fip, r.framedipaddress), \
     acctupdatetime = to_timestamp(x.t), acctinputoctets = x.io, acctoutputoctets = x.oo, \
     acctsessiontime = CASE WHEN x.k = 2 \
       THEN COALESCE(x.st, (x.t - EXTRACT(EPOCH FROM r.acctstarttime))::bigint) \
       ELSE COALESCE(x.st, r.acctsessiontime) END, \
     acctinterval = CASE WHEN x.k = 3 \
       THEN (x.t - EXTRACT(EPOCH FROM COALESCE(r.acctupdatetime, r.acctstarttime)))::int \
       ELSE r.acctinterval END, \
     acctstoptime = CASE WHEN x.k = 2 THEN to_timestamp(x.t) END, \
     acctterminatecause = CASE WHEN x.k = 2 THEN x.tc ELSE r.acctterminatecause END, \
     connectinfo_stop = CASE WHEN x.k = 2 THEN x.ci ELSE r.connectinfo_stop END, \
     acctstopdelay = CASE WHEN x.k = 2 THEN x.d ELSE r.acctstopdelay END \
     FROM x WHERE x.k <> 1 AND r.acctuniqueid = x.u AND r.acctuniqueid = ANY($2::text[]) \
     AND r.acctstoptime IS NULL RETURNING r.acctuniqueid) \
     INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, \
     nasipaddress, nasportid, nasporttype, acctstarttime, acctupdatetime, acctstoptime, \
     acctsessiontime, acctauthentic, acctinputoctets, acctoutputoctets, calledstationid, \
     callingstationid, acctterminatecause, servicetype, framedprotocol, framedipaddress, \
     class) \
     SELECT $1::uuid, x.s, x.u, x.n, x.ip, x.pid, x.pt, \
     to_timestamp(x.t - COALESCE(x.st, 0)), to_timestamp(x.t), \
     CASE WHEN x.k = 2 THEN to_timestamp(x.t) END, x.st, COALESCE(x.au, 'RADIUS'), x.io, x.oo, \
     x.cd, x.cg, x.tc, x.sv, x.fp, x.fip, x.cl FROM x \
     WHERE x.k <> 1 AND NOT EXISTS (SELECT 1 FROM done WHERE done.acctuniqueid = x.u) \
     ON CONFLICT (acctuniqueid) DO NOTHING"
);

const NAS_RESTART: &str = "UPDATE radacct SET acctstoptime = to_timestamp($2::float8), \
    acctupdatetime = to_timestamp($2::float8), \
    acctsessiontime = ($2::float8 - EXTRACT(EPOCH FROM acctstarttime))::bigint, \
    acctterminatecause = COALESCE($3, 'NAS-Reboot') \
    WHERE acctstoptime IS NULL AND nasipaddress = $1 AND acctstarttime <= to_timestamp($2::float8)";

/// The statements a batch uses, prepared (once per connection) before anything is sent.
struct Statements {
    round: tokio_postgres::Statement,
    restart: tokio_postgres::Statement,
    tenant: tokio_postgres::Statement,
}

async fn statements(
    client: &deadpool_postgres::Object,
) -> Result<Statements, tokio_postgres::Error> {
    Ok(Statements {
        round: client.prepare_cached(ROUND).await?,
        restart: client.prepare_cached(NAS_RESTART).await?,
        tenant: client
            .prepare_cached("SELECT set_config('app.tenant_id', $1, true)")
            .await?,
    })
}

/// The records of one kind in a round, column by column (the arrays of [`rows!`]).
#[derive(Default)]
struct Columns<'a> {
    unique_id: Vec<&'a str>,
    session_id: Vec<&'a str>,
    username: Vec<&'a str>,
    nas_ip: Vec<IpAddr>,
    nas_port_id: Vec<Option<&'a str>>,
    nas_port_type: Vec<Option<&'a str>>,
    at: Vec<f64>,
    session_time: Vec<Option<i64>>,
    input_octets: Vec<i64>,
    output_octets: Vec<i64>,
    terminate_cause: Vec<Option<&'a str>>,
    framed_ip: Vec<Option<IpAddr>>,
    called: Vec<Option<&'a str>>,
    calling: Vec<Option<&'a str>>,
    class: Vec<Option<&'a str>>,
    service_type: Vec<Option<&'a str>>,
    framed_protocol: Vec<Option<&'a str>>,
    connect_info: Vec<Option<&'a str>>,
    authentic: Vec<Option<&'a str>>,
    delay: Vec<Option<i64>>,
    /// Acct-Status-Type: 1 Start, 2 Stop, 3 Interim-Update.
    kind: Vec<i32>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, r: &'a Record) {
        self.unique_id.push(&r.unique_id);
        self.session_id.push(&r.session_id);
        self.username.push(&r.username);
        self.nas_ip.push(r.nas_ip);
        self.nas_port_id.push(r.nas_port_id.as_deref());
        self.nas_port_type.push(r.nas_port_type.as_deref());
        self.at.push(r.at as f64);
        self.session_time.push(r.session_time);
        self.input_octets.push(r.input_octets);
        self.output_octets.push(r.output_octets);
        self.terminate_cause.push(r.terminate_cause.as_deref());
        self.framed_ip.push(r.framed_ip);
        self.called.push(r.called.as_deref());
        self.calling.push(r.calling.as_deref());
        self.class.push(r.class.as_deref());
        self.service_type.push(r.service_type.as_deref());
        self.framed_protocol.push(r.framed_protocol.as_deref());
        self.connect_info.push(r.connect_info.as_deref());
        self.authentic.push(r.authentic.as_deref());
        self.delay.push(r.delay);
        self.kind.push(r.status as i32);
    }

    fn params<'b>(&'b self, tenant: &'b Uuid) -> [&'b (dyn ToSql + Sync); 22] {
        [
            tenant,
            &self.unique_id,
            &self.session_id,
            &self.username,
            &self.nas_ip,
            &self.nas_port_id,
            &self.nas_port_type,
            &self.at,
            &self.session_time,
            &self.input_octets,
            &self.output_octets,
            &self.terminate_cause,
            &self.framed_ip,
            &self.called,
            &self.calling,
            &self.class,
            &self.service_type,
            &self.framed_protocol,
            &self.connect_info,
            &self.authentic,
            &self.delay,
            &self.kind,
        ]
    }
}

/// One round: records of one tenant and of distinct sessions.
struct Round<'a> {
    tenant: Uuid,
    /// Its Starts, Interim-Updates and Stops, in one statement.
    rows: Columns<'a>,
    /// Accounting-On/Off: (NAS address, time, cause), each closing its NAS's open sessions.
    restart: Vec<(IpAddr, f64, Option<&'a str>)>,
}

/// Splits `records` into rounds: a round is a run of records of one tenant and of distinct
/// sessions (one statement cannot touch a row twice, and a session's requests keep their
/// order); an Accounting-On/Off is a round of its own, so what came before and after it on its
/// NAS stays before and after.
fn rounds<'a>(records: &[&'a Record]) -> Vec<Round<'a>> {
    let restart = |r: &Record| {
        !matches!(
            r.status,
            acct_status::START | acct_status::STOP | acct_status::INTERIM_UPDATE
        )
    };
    let mut out = Vec::new();
    let mut rest = records;
    while let Some(first) = rest.first() {
        let n = if restart(first) {
            1
        } else {
            let mut seen = std::collections::HashSet::new();
            rest.iter()
                .take_while(|r| {
                    r.tenant == first.tenant && !restart(r) && seen.insert(r.unique_id.as_str())
                })
                .count()
        };
        let (this, after) = rest.split_at(n);
        let mut round = Round {
            tenant: first.tenant,
            rows: Columns::default(),
            restart: Vec::new(),
        };
        for r in this {
            match r.status {
                acct_status::START | acct_status::INTERIM_UPDATE | acct_status::STOP => {
                    round.rows.push(r)
                }
                _ => round
                    .restart
                    .push((r.nas_ip, r.at as f64, r.terminate_cause.as_deref())),
            }
        }
        out.push(round);
        rest = after;
    }
    out
}

/// A request waiting for its row to be durable.
pub type Job = (Record, oneshot::Sender<bool>);

type Sent<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>,
>;

/// Applies `records` in one transaction whose statements are all sent at once, pipelined:
/// BEGIN (with the service role and the first round's tenant), per round one statement per kind
/// of request (and the tenant setting when it changes), COMMIT; one round trip in all. The
/// result of every statement is read before the batch counts as written: if any failed, the
/// transaction was aborted and the COMMIT rolled it back.
async fn apply(pool: &Pool, records: &[&Record]) -> Result<(), crate::db::DbError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let client = pool
        .get()
        .await
        .map_err(|e| crate::db::DbError::Connect(e.to_string()))?;
    let st = statements(&client).await?;
    let client: &tokio_postgres::Client = &client;
    let rounds = rounds(records);
    let tenants: Vec<String> = rounds.iter().map(|r| r.tenant.to_string()).collect();
    // The same statements as crate::db::service_transaction, sent without waiting.
    let begin = format!(
        "BEGIN; SET LOCAL ROLE hotspot_app; \
         SELECT set_config('app.tenant_id', '{}', true), set_config('app.user_id', '', true)",
        first.tenant
    );
    let mut sent: Vec<Sent<'_>> = vec![Box::pin(client.batch_execute(&begin))];
    let mut current = first.tenant;
    for (round, tenant_text) in rounds.iter().zip(&tenants) {
        if round.tenant != current {
            sent.push(Box::pin(async {
                client.execute(&st.tenant, &[tenant_text]).await.map(drop)
            }));
            current = round.tenant;
        }
        if !round.rows.unique_id.is_empty() {
            let params = round.rows.params(&round.tenant);
            let statement = &st.round;
            sent.push(Box::pin(async move {
                client.execute(statement, &params).await.map(drop)
            }));
        }
        for (nas, at, cause) in &round.restart {
            sent.push(Box::pin(async {
                client
                    .execute(&st.restart, &[nas, at, cause])
                    .await
                    .map(drop)
            }));
        }
    }
    sent.push(Box::pin(client.batch_execute("COMMIT")));
    // join_all, not try_join_all: every answer is awaited, so the connection goes back to the
    // pool idle, after the COMMIT (or the ROLLBACK it turns into).
    for result in futures_util::future::join_all(sent).await {
        result?;
    }
    Ok(())
}

/// Lets the requests that arrived with the first one join its batch: requests come in bursts
/// (a closed loop of NAS retries, or many NAS answering one event), and the tasks that parse
/// them may not have queued theirs yet when the writer wakes. Each yield lets them run; the
/// gathering stops as soon as a yield brings nothing new, so a lone request waits for no
/// timer, only for one turn of the scheduler.
async fn gather(queue: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>) {
    for _ in 0..GATHER_ROUNDS {
        if jobs.len() >= BATCH {
            return;
        }
        tokio::task::yield_now().await;
        let before = jobs.len();
        while jobs.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if jobs.len() == before {
            return;
        }
    }
}

/// At most this many yields while gathering a batch (see [`gather`]).
const GATHER_ROUNDS: usize = 4;

/// Runs one writer until its queue closes.
pub async fn writer(pool: Pool, mut queue: mpsc::Receiver<Job>) {
    loop {
        let mut jobs: Vec<Job> = Vec::new();
        if queue.recv_many(&mut jobs, BATCH).await == 0 {
            return;
        }
        gather(&mut queue, &mut jobs).await;
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
    fn rounds_keep_sessions_distinct_and_accounting_on_apart() {
        let record = |tenant: u128, status: u32, session: &str| Record {
            tenant: Uuid::from_u128(tenant),
            status,
            unique_id: session.to_owned(),
            session_id: session.to_owned(),
            username: "u".to_owned(),
            nas_ip: "10.0.0.1".parse().unwrap(),
            nas_port_id: None,
            nas_port_type: None,
            at: 0,
            session_time: None,
            input_octets: 0,
            output_octets: 0,
            terminate_cause: None,
            framed_ip: None,
            called: None,
            calling: None,
            class: None,
            service_type: None,
            framed_protocol: None,
            connect_info: None,
            interval: None,
            authentic: None,
            delay: None,
        };
        let records = [
            record(1, acct_status::START, "a"),
            record(1, acct_status::START, "b"),
            record(1, acct_status::INTERIM_UPDATE, "c"),
            // Session a again: a new round.
            record(1, acct_status::STOP, "a"),
            record(1, acct_status::STOP, "b"),
            // Another tenant: a new round.
            record(2, acct_status::START, "d"),
            // Accounting-On: a round of its own.
            record(2, acct_status::ACCOUNTING_ON, "on"),
            record(2, acct_status::START, "e"),
        ];
        let refs: Vec<&Record> = records.iter().collect();
        let rounds = rounds(&refs);
        let shape: Vec<(u128, Vec<i32>, usize)> = rounds
            .iter()
            .map(|r| (r.tenant.as_u128(), r.rows.kind.clone(), r.restart.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (1, vec![1, 1, 3], 0),
                (1, vec![2, 2], 0),
                (2, vec![1], 0),
                (2, vec![], 1),
                (2, vec![1], 0)
            ]
        );
        assert_eq!(rounds[0].rows.unique_id, ["a", "b", "c"]);
        assert_eq!(rounds[0].rows.params(&rounds[0].tenant).len(), 22);
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
