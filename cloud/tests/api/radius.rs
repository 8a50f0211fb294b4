//! FreeRADIUS 3.2's stock PostgreSQL queries (raddb/mods-config/sql/main/postgresql/queries.conf),
//! run as FreeRADIUS runs them: one statement per packet, autocommit, as a member of
//! `hotspot_radius`, with the attribute values already expanded into the text.

use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::helpers::{begin_as, migrated_db, seed_tenant};

/// The expanded attributes of one Accounting-Request.
struct Acct<'a> {
    session_id: &'a str,
    unique_id: String,
    user: &'a str,
    nas: &'a str,
    port: &'a str,
    /// Event-Timestamp (seconds since the epoch).
    ts: i64,
    session_time: i64,
    input_octets: i64,
    input_gigawords: i64,
    output_octets: i64,
    cause: &'a str,
}

/// `accounting { column_list }` of FreeRADIUS 3.2.
const COLUMNS: &str = "AcctSessionId, AcctUniqueId, UserName, Realm, NASIPAddress, NASPortId, \
    NASPortType, AcctStartTime, AcctUpdateTime, AcctStopTime, AcctSessionTime, AcctAuthentic, \
    ConnectInfo_start, ConnectInfo_Stop, AcctInputOctets, AcctOutputOctets, CalledStationId, \
    CallingStationId, AcctTerminateCause, ServiceType, FramedProtocol, FramedIpAddress, \
    FramedIpv6Address, FramedIpv6Prefix, FramedInterfaceId, DelegatedIpv6Prefix, Class";

impl Acct<'_> {
    fn start(&self) -> String {
        let Acct {
            session_id,
            unique_id,
            user,
            nas,
            port,
            ts,
            ..
        } = self;
        format!(
            "INSERT INTO radacct ({COLUMNS}) VALUES('{session_id}', '{unique_id}', '{user}', \
             NULLIF('', ''), '{nas}', NULLIF('{port}', ''), 'Wireless-802.11', \
             TO_TIMESTAMP({ts}), TO_TIMESTAMP({ts}), NULL, 0, 'RADIUS', 'CONNECT 54Mbps 802.11g', \
             NULL, 0, 0, 'AA-BB-CC-00-00-01:Cafe', '11-22-33-44-55-66', NULL, 'Login-User', '', \
             NULLIF('10.5.50.23', '')::inet, NULLIF('', '')::inet, NULLIF('', '')::inet, \
             NULLIF('', ''), NULLIF('', '')::inet, '') \
             ON CONFLICT (AcctUniqueId) DO UPDATE SET AcctStartTime = TO_TIMESTAMP({ts}), \
             AcctUpdateTime = TO_TIMESTAMP({ts}), ConnectInfo_start = 'CONNECT 54Mbps 802.11g', \
             Class = '' WHERE radacct.AcctUniqueId = '{unique_id}' AND radacct.AcctStopTime IS NULL"
        )
    }

    fn octets(&self) -> (String, String) {
        let Acct {
            input_octets,
            input_gigawords,
            output_octets,
            ..
        } = self;
        (
            format!("(('{input_gigawords}'::bigint << 32) + '{input_octets}'::bigint)"),
            format!("(('0'::bigint << 32) + '{output_octets}'::bigint)"),
        )
    }

    fn interim_update(&self) -> String {
        let Acct {
            unique_id,
            ts,
            session_time,
            ..
        } = self;
        let (i, o) = self.octets();
        format!(
            "UPDATE radacct SET FramedIPAddress = NULLIF('10.5.50.23', '')::inet, \
             FramedIPv6Address = NULLIF('', '')::inet, FramedIPv6Prefix = NULLIF('', '')::inet, \
             FramedInterfaceId = NULLIF('', ''), DelegatedIPv6Prefix = NULLIF('', '')::inet, \
             AcctSessionTime = {session_time}, \
             AcctInterval = ({ts} - EXTRACT(EPOCH FROM (COALESCE(AcctUpdateTime, AcctStartTime)))), \
             AcctUpdateTime = TO_TIMESTAMP({ts}), AcctInputOctets = {i}, AcctOutputOctets = {o}, \
             Class = '' WHERE AcctUniqueId = '{unique_id}' AND AcctStopTime IS NULL"
        )
    }

    /// The interim-update fallback when no row exists (the Start was lost).
    fn interim_insert(&self) -> String {
        let Acct {
            session_id,
            unique_id,
            user,
            nas,
            port,
            ts,
            session_time,
            ..
        } = self;
        let (i, o) = self.octets();
        format!(
            "INSERT INTO radacct ({COLUMNS}) VALUES('{session_id}', '{unique_id}', '{user}', \
             NULLIF('', ''), '{nas}', NULLIF('{port}', ''), 'Wireless-802.11', \
             TO_TIMESTAMP({ts}), TO_TIMESTAMP({ts}), NULL, {session_time}, 'RADIUS', '', NULL, \
             {i}, {o}, 'AA-BB-CC-00-00-01:Cafe', '11-22-33-44-55-66', NULL, 'Login-User', '', \
             NULLIF('10.5.50.23', '')::inet, NULLIF('', '')::inet, NULLIF('', '')::inet, \
             NULLIF('', ''), NULLIF('', '')::inet, '') ON CONFLICT (AcctUniqueId) DO NOTHING"
        )
    }

    fn stop(&self) -> String {
        let Acct {
            unique_id,
            ts,
            session_time,
            cause,
            ..
        } = self;
        let (i, o) = self.octets();
        format!(
            "UPDATE radacct SET AcctStopTime = TO_TIMESTAMP({ts}), \
             AcctUpdateTime = TO_TIMESTAMP({ts}), \
             AcctSessionTime = COALESCE({session_time}, ({ts} - EXTRACT(EPOCH FROM(AcctStartTime)))), \
             AcctInputOctets = {i}, AcctOutputOctets = {o}, AcctTerminateCause = '{cause}', \
             FramedIPAddress = NULLIF('10.5.50.23', '')::inet, \
             FramedIPv6Address = NULLIF('', '')::inet, FramedIPv6Prefix = NULLIF('', '')::inet, \
             FramedInterfaceId = NULLIF('', ''), DelegatedIPv6Prefix = NULLIF('', '')::inet, \
             ConnectInfo_stop = '', Class = '' \
             WHERE AcctUniqueId = '{unique_id}' AND AcctStopTime IS NULL"
        )
    }
}

/// Accounting-On/Off: every open session of the NAS ends.
fn accounting_on(nas: &str, ts: i64) -> String {
    format!(
        "UPDATE radacct SET AcctStopTime = TO_TIMESTAMP({ts}), AcctUpdateTime = TO_TIMESTAMP({ts}), \
         AcctSessionTime = ({ts} - EXTRACT(EPOCH FROM(AcctStartTime))), \
         AcctTerminateCause = 'NAS-Reboot', Class = '' \
         WHERE AcctStopTime IS NULL AND NASIPAddress= '{nas}' AND AcctStartTime <= TO_TIMESTAMP({ts})"
    )
}

/// A connection as FreeRADIUS's login role (a member of hotspot_radius).
async fn freeradius(db: &crate::helpers::TestDb) -> tokio_postgres::Client {
    let client = db.connect().await;
    client
        .batch_execute("SET ROLE hotspot_radius")
        .await
        .unwrap();
    client
}

/// Acct-Unique-Session-Id as FreeRADIUS's acct_unique policy computes it.
async fn unique_id(owner: &tokio_postgres::Client, user: &str, session: &str, nas: &str) -> String {
    owner
        .query_one(
            "SELECT md5(format('%s,%s,%s,,%s,', $1::text, $2::text, $3::text, 'wlan1'))",
            &[&user, &session, &nas],
        )
        .await
        .unwrap()
        .get(0)
}

async fn now_epoch(owner: &tokio_postgres::Client) -> i64 {
    owner
        .query_one("SELECT extract(epoch FROM now())::bigint", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn accounting_start_interim_stop_land_in_the_tenant_of_the_nas() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let radius = freeradius(&db).await;
    let t0 = now_epoch(&owner).await - 3600;

    // The fixture's RADIUS users are "ppp" + tenant suffix: the subscriber is found from it.
    let mut session_a = Acct {
        session_id: "81200001",
        unique_id: unique_id(&owner, "pppt1", "81200001", "192.0.2.1").await,
        user: "pppt1",
        nas: "192.0.2.1",
        port: "wlan1",
        ts: t0,
        session_time: 0,
        input_octets: 0,
        input_gigawords: 0,
        output_octets: 0,
        cause: "",
    };
    let session_b = Acct {
        session_id: "81200001",
        unique_id: unique_id(&owner, "pppt2", "81200001", "192.0.2.2").await,
        user: "pppt2",
        nas: "192.0.2.2",
        ..copy(&session_a)
    };

    assert_eq!(radius.execute(&session_a.start(), &[]).await.unwrap(), 1);
    // A retransmitted Start is absorbed by ON CONFLICT.
    assert_eq!(radius.execute(&session_a.start(), &[]).await.unwrap(), 1);
    assert_eq!(radius.execute(&session_b.start(), &[]).await.unwrap(), 1);

    session_a.ts = t0 + 600;
    session_a.session_time = 600;
    session_a.input_octets = 5_000;
    session_a.input_gigawords = 1;
    session_a.output_octets = 70_000;
    assert_eq!(
        radius
            .execute(&session_a.interim_update(), &[])
            .await
            .unwrap(),
        1
    );
    session_a.ts = t0 + 900;
    session_a.session_time = 900;
    session_a.cause = "User-Request";
    assert_eq!(radius.execute(&session_a.stop(), &[]).await.unwrap(), 1);
    // A duplicate Stop finds no open session.
    assert_eq!(radius.execute(&session_a.stop(), &[]).await.unwrap(), 0);

    let row = owner
        .query_one(
            "SELECT r.tenant_id, r.subscriber_id = s.id, r.acctinputoctets, r.acctoutputoctets,
                    r.acctsessiontime, r.acctterminatecause,
                    r.acctstoptime = to_timestamp($2::bigint), r.acctinterval
             FROM radacct r LEFT JOIN subscribers s ON s.pppoe_username = r.username
             WHERE r.acctuniqueid = $1",
            &[&session_a.unique_id, &(t0 + 900)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), a);
    assert_eq!(
        row.get::<_, Option<bool>>(1),
        Some(true),
        "subscriber linked"
    );
    assert_eq!(row.get::<_, i64>(2), (1_i64 << 32) + 5_000);
    assert_eq!(row.get::<_, i64>(3), 70_000);
    assert_eq!(row.get::<_, i64>(4), 900);
    assert_eq!(row.get::<_, String>(5), "User-Request");
    assert!(row.get::<_, bool>(6));
    assert_eq!(row.get::<_, Option<i32>>(7), Some(600));
    let b_tenant: Uuid = owner
        .query_one(
            "SELECT tenant_id FROM radacct WHERE acctuniqueid = $1",
            &[&session_b.unique_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(b_tenant, b);

    // The service, as tenant A, sees A's session and not B's.
    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    let seen: Vec<String> = tx
        .query(
            "SELECT acctuniqueid FROM radacct WHERE acctsessionid = '81200001'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, vec![session_a.unique_id.clone()]);
    drop(tx);

    // The job moves closed sessions into the month's partition of radacct_history; the open one
    // stays for FreeRADIUS's updates.
    let tx = begin_as(&mut app, "hotspot_app", None, None).await;
    let moved: i64 = tx
        .query_one("SELECT radacct_archive(now() + interval '1 minute')", &[])
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    assert_eq!(moved, 1);
    let row = owner
        .query_one(
            "SELECT tableoid::regclass::text, tenant_id,
                    'radacct_history_' || to_char(to_timestamp($2::bigint) AT TIME ZONE 'UTC', 'YYYY_MM')
             FROM radacct_history WHERE acctuniqueid = $1",
            &[&session_a.unique_id, &(t0 + 900)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), row.get::<_, String>(2));
    assert_eq!(row.get::<_, Uuid>(1), a);
    let left: Vec<String> = owner
        .query(
            "SELECT acctuniqueid FROM radacct WHERE acctsessionid = '81200001'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![session_b.unique_id.clone()]);
}

fn copy<'a>(s: &Acct<'a>) -> Acct<'a> {
    Acct {
        session_id: s.session_id,
        unique_id: s.unique_id.clone(),
        user: s.user,
        nas: s.nas,
        port: s.port,
        ts: s.ts,
        session_time: s.session_time,
        input_octets: s.input_octets,
        input_gigawords: s.input_gigawords,
        output_octets: s.output_octets,
        cause: s.cause,
    }
}

#[tokio::test]
async fn lost_starts_nas_reboots_and_unknown_nas_are_handled() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    seed_tenant(&owner, 2).await;
    let radius = freeradius(&db).await;
    let ts = now_epoch(&owner).await;

    // An Interim-Update for a session whose Start never arrived: the UPDATE finds nothing, the
    // INSERT fallback creates the row, in the NAS's tenant.
    let lost = Acct {
        session_id: "lost-1",
        unique_id: unique_id(&owner, "Vt1", "lost-1", "192.0.2.1").await,
        user: "Vt1",
        nas: "192.0.2.1",
        port: "wlan1",
        ts,
        session_time: 120,
        input_octets: 10,
        input_gigawords: 0,
        output_octets: 20,
        cause: "",
    };
    assert_eq!(
        radius.execute(&lost.interim_update(), &[]).await.unwrap(),
        0
    );
    assert_eq!(
        radius.execute(&lost.interim_insert(), &[]).await.unwrap(),
        1
    );
    let tenant: Uuid = owner
        .query_one(
            "SELECT tenant_id FROM radacct WHERE acctuniqueid = $1",
            &[&lost.unique_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tenant, a);

    // Accounting-On from A's NAS closes A's open sessions only.
    let closed = radius
        .execute(&accounting_on("192.0.2.1", ts + 5), &[])
        .await
        .unwrap();
    assert_eq!(closed, 2, "the fixture's open session and the lost one");
    let open: Vec<String> = owner
        .query(
            "SELECT host(nasipaddress) FROM radacct WHERE acctstoptime IS NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(open, vec!["192.0.2.2".to_owned()]);

    // A NAS nobody registered: refused, with a message that says why.
    let stranger = Acct {
        nas: "198.51.100.7",
        unique_id: unique_id(&owner, "x", "s-9", "198.51.100.7").await,
        ..copy(&lost)
    };
    let err = radius.execute(&stranger.start(), &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
    assert!(
        err.as_db_error()
            .unwrap()
            .message()
            .contains("no nas row for NAS address 198.51.100.7"),
        "{err}"
    );
}

/// The partition of radacct_history holding a session.
async fn place(owner: &tokio_postgres::Client, id: String) -> String {
    owner
        .query_one(
            "SELECT tableoid::regclass::text FROM radacct_history WHERE acctuniqueid = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn closed_sessions_of_a_month_without_partition_wait_in_the_default_one() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let radius = freeradius(&db).await;
    // A session that stops in May 2031, years past the partitions made ahead.
    let ts: i64 = owner
        .query_one(
            "SELECT extract(epoch FROM timestamptz '2031-05-15 12:00:00+00')::bigint",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut s = Acct {
        session_id: "future-1",
        unique_id: unique_id(&owner, "pppt1", "future-1", "192.0.2.1").await,
        user: "pppt1",
        nas: "192.0.2.1",
        port: "wlan1",
        ts,
        session_time: 0,
        input_octets: 0,
        input_gigawords: 0,
        output_octets: 0,
        cause: "",
    };
    radius.execute(&s.start(), &[]).await.unwrap();
    s.ts = ts + 60;
    s.session_time = 60;
    s.cause = "Idle-Timeout";
    assert_eq!(radius.execute(&s.stop(), &[]).await.unwrap(), 1);

    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", None, None).await;
    let moved: i64 = tx
        .query_one("SELECT radacct_archive(timestamptz '2031-06-01')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 1);
    tx.commit().await.unwrap();
    assert_eq!(
        place(&owner, s.unique_id.clone()).await,
        "radacct_history_default"
    );

    // Creating that month's partition moves the row into it; doing it again creates nothing.
    let tx = begin_as(&mut app, "hotspot_app", None, None).await;
    let created: i32 = tx
        .query_one(
            "SELECT radacct_create_partitions(0, timestamptz '2031-05-20')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1);
    let again: i32 = tx
        .query_one(
            "SELECT radacct_create_partitions(0, timestamptz '2031-05-20')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, 0);
    tx.commit().await.unwrap();
    assert_eq!(
        place(&owner, s.unique_id.clone()).await,
        "radacct_history_2031_05"
    );
    let row = owner
        .query_one(
            "SELECT c.relrowsecurity AND c.relforcerowsecurity,
                    EXISTS (SELECT 1 FROM pg_policy p
                            WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'),
                    (SELECT tenant_id FROM radacct_history_2031_05 LIMIT 1)
             FROM pg_class c WHERE c.relname = 'radacct_history_2031_05'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Uuid>(2), a);
}

#[tokio::test]
async fn authorize_and_post_auth_queries_work_unchanged() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    seed_tenant(&owner, 2).await;
    let radius = freeradius(&db).await;

    let nas: Vec<String> = radius
        .query(
            "SELECT id, nasname, shortname, type, secret, server FROM nas",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(1))
        .collect();
    assert_eq!(nas.len(), 2, "FreeRADIUS loads every tenant's NAS: {nas:?}");

    let check = radius
        .query(
            "SELECT id, UserName, Attribute, Value, Op FROM radcheck \
             WHERE Username = 'pppt1' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(check.len(), 1);
    assert_eq!(check[0].get::<_, String>(2), "Cleartext-Password");
    let reply = radius
        .query(
            "SELECT id, UserName, Attribute, Value, Op FROM radreply \
             WHERE Username = 'pppt1' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(reply[0].get::<_, String>(3), "10M/10M");
    let groups: Vec<String> = radius
        .query(
            "SELECT GroupName FROM radusergroup WHERE UserName='pppt1' ORDER BY priority",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(groups, vec!["grpt1".to_owned()]);
    for table in ["radgroupcheck", "radgroupreply"] {
        let n = radius
            .query(
                &format!(
                    "SELECT id, GroupName, Attribute, Value, op FROM {table} \
                     WHERE GroupName = 'grpt1' ORDER BY id"
                ),
                &[],
            )
            .await
            .unwrap()
            .len();
        assert_eq!(n, 1, "{table}");
    }

    // Post-auth: a known user lands in its tenant; an unknown one in the platform's log.
    let post_auth = |user: &str| {
        format!(
            "INSERT INTO radpostauth (username, pass, reply, authdate, class) \
             VALUES('{user}', 'secret', 'Access-Accept', '2026-11-23 10:00:00.123', '')"
        )
    };
    assert_eq!(radius.execute(&post_auth("pppt1"), &[]).await.unwrap(), 1);
    assert_eq!(
        radius.execute(&post_auth("guess123"), &[]).await.unwrap(),
        0
    );
    let rows: Vec<(Uuid, Option<String>)> = owner
        .query(
            "SELECT tenant_id, pass FROM radpostauth WHERE authdate = '2026-11-23 10:00:00.123'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![(a, None)], "the typed password is not kept");
    let unknown: i64 = owner
        .query_one(
            "SELECT count(*) FROM radpostauth_unknown WHERE username = 'guess123'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unknown, 1);

    // FreeRADIUS cannot touch anything else.
    let err = radius
        .query("SELECT count(*) FROM clients", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let err = radius
        .execute("DELETE FROM radacct", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
}

#[tokio::test]
async fn radius_usernames_and_nas_addresses_belong_to_one_tenant() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&b.to_string()), None).await;
    let err = tx
        .execute(
            "INSERT INTO radcheck (tenant_id, username, attribute, value)
             VALUES ($1, 'pppt1', 'Cleartext-Password', 'x')",
            &[&b],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::EXCLUSION_VIOLATION), "{err}");
    drop(tx);
    let tx = begin_as(&mut app, "hotspot_app", Some(&b.to_string()), None).await;
    let err = tx
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             VALUES ($1, '192.0.2.1', 'dup', 'x')",
            &[&b],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
}

#[tokio::test]
async fn cross_tenant_lookups_answer_only_what_they_are_for() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let hotspot_b: Uuid = owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&b])
        .await
        .unwrap()
        .get(0);
    owner
        .execute(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, claim_code_hash, claim_expires_at)
             VALUES ($1, $2, digest('CLAIM-B', 'sha256'), now() + interval '1 hour')",
            &[&b, &hotspot_b],
        )
        .await
        .unwrap();
    let mut app = db.connect().await;
    // No tenant yet: that is the point of these functions.
    let tx = begin_as(&mut app, "hotspot_app", None, None).await;

    let row = tx
        .query_one("SELECT tenant_id, secret FROM nas_lookup('192.0.2.2')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), b);
    assert_eq!(row.get::<_, String>(1), "s3cret");
    assert!(
        tx.query("SELECT * FROM nas_lookup('203.0.113.9')", &[])
            .await
            .unwrap()
            .is_empty()
    );

    let row = tx
        .query_one(
            "SELECT tenant_id FROM device_token_lookup(digest('token-t1', 'sha256'))",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), a);
    assert!(
        tx.query(
            "SELECT * FROM device_token_lookup(digest('token-nope', 'sha256'))",
            &[]
        )
        .await
        .unwrap()
        .is_empty()
    );

    let claimed = tx
        .query(
            "SELECT tenant_id, hotspot_id FROM device_claim(digest('CLAIM-B', 'sha256'),
                                                            digest('new-token', 'sha256'))",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].get::<_, Uuid>(1), hotspot_b);
    let twice = tx
        .query(
            "SELECT * FROM device_claim(digest('CLAIM-B', 'sha256'), digest('other', 'sha256'))",
            &[],
        )
        .await
        .unwrap();
    assert!(twice.is_empty(), "a claim code works once");
    let row = tx
        .query_one(
            "SELECT tenant_id FROM device_token_lookup(digest('new-token', 'sha256'))",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), b);

    // The payment callback needs the tenant's token AND a checkout id of that tenant.
    let found = tx
        .query(
            "SELECT tenant_id FROM payment_callback_lookup('callback-t1', 'ws_CO_t1')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get::<_, Uuid>(0), a);
    for (token, checkout) in [
        ("callback-t1", "ws_CO_t2"),
        ("callback-t2", "ws_CO_t1"),
        ("x", "ws_CO_t1"),
    ] {
        let none = tx
            .query(
                "SELECT * FROM payment_callback_lookup($1, $2)",
                &[&token, &checkout],
            )
            .await
            .unwrap();
        assert!(none.is_empty(), "{token} {checkout}");
    }

    let tenants: Vec<Uuid> = tx
        .query("SELECT id FROM platform_list_tenants()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tenants, vec![a, b]);

    // None of this opened the tables themselves.
    let n: i64 = tx
        .query_one("SELECT count(*) FROM hotspot_devices", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

/// A voucher session's Start as the cloud's server or FreeRADIUS writes it (as the owner):
/// `class` names the voucher, Calling-Station-Id the device.
fn voucher_start(nas: &str, unique_id: &str, voucher: Uuid, mac: &str) -> String {
    format!(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, \
         acctupdatetime, callingstationid, class) \
         VALUES ('{unique_id}', '{unique_id}', 'Vt1', '{nas}', now(), now(), '{mac}', \
                 'hotspot:voucher:{voucher}')"
    )
}

/// docs/edge-radius.md "Double reporting": sessions of a NAS that is a claimed router of the
/// tenant are reported by the router itself, so radacct keeps them but they are not mirrored
/// into hotspot_sessions; other NAS are mirrored as before, and so is a router once revoked.
#[tokio::test]
async fn sessions_of_a_claimed_router_are_not_mirrored_twice() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let id = |sql: &'static str, t: Uuid| {
        let owner = &owner;
        async move { owner.query_one(sql, &[&t]).await.unwrap().get::<_, Uuid>(0) }
    };
    let voucher = id("SELECT id FROM hotspot_vouchers WHERE tenant_id = $1", a).await;
    let device = id("SELECT id FROM hotspot_devices WHERE tenant_id = $1", a).await;
    let other_device = id("SELECT id FROM hotspot_devices WHERE tenant_id = $1", b).await;
    // Tenant a's router (it holds a device token: claimed) is also its NAS at 192.0.2.101.
    owner
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret, device_id) \
             VALUES ($1, '192.0.2.101', 'router', 'router-secret-0123', $2)",
            &[&a, &device],
        )
        .await
        .unwrap();
    // A NAS cannot be linked to another tenant's router.
    let err = owner
        .execute(
            "UPDATE nas SET device_id = $1 WHERE nasname = '192.0.2.1'",
            &[&other_device],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");

    let mirrored = |unique_id: &'static str| {
        let owner = &owner;
        async move {
            owner
                .query_one(
                    "SELECT count(*) FROM hotspot_sessions WHERE radius_session = $1",
                    &[&unique_id],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    // The plain NAS's session is mirrored; the router's is in radacct only.
    for (nas, unique_id, mac) in [
        ("192.0.2.1", "nas-session-1", "02-00-00-00-00-01"),
        ("192.0.2.101", "router-session-1", "02-00-00-00-00-02"),
    ] {
        owner
            .batch_execute(&voucher_start(nas, unique_id, voucher, mac))
            .await
            .unwrap();
    }
    assert_eq!(mirrored("nas-session-1").await, 1);
    assert_eq!(mirrored("router-session-1").await, 0);
    let kept: i64 = owner
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctuniqueid = 'router-session-1' AND tenant_id = $1",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    // Its Stop adds nothing either.
    owner
        .batch_execute(
            "UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'User-Request' \
             WHERE acctuniqueid = 'router-session-1'",
        )
        .await
        .unwrap();
    assert_eq!(mirrored("router-session-1").await, 0);

    // A session mirrored before the NAS was linked to the router is still followed to its end.
    owner
        .execute(
            "UPDATE nas SET device_id = NULL WHERE nasname = '192.0.2.101'",
            &[],
        )
        .await
        .unwrap();
    owner
        .batch_execute(&voucher_start(
            "192.0.2.101",
            "router-session-2",
            voucher,
            "02-00-00-00-00-03",
        ))
        .await
        .unwrap();
    assert_eq!(mirrored("router-session-2").await, 1);
    owner
        .execute(
            "UPDATE nas SET device_id = $1 WHERE nasname = '192.0.2.101'",
            &[&device],
        )
        .await
        .unwrap();
    owner
        .batch_execute(
            "UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'User-Request' \
             WHERE acctuniqueid = 'router-session-2'",
        )
        .await
        .unwrap();
    let status: String = owner
        .query_one(
            "SELECT session_status FROM hotspot_sessions WHERE radius_session = 'router-session-2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "ended");

    // A revoked router no longer reports: its NAS's sessions are mirrored again.
    owner
        .execute(
            "UPDATE hotspot_devices SET revoked_at = now() WHERE id = $1",
            &[&device],
        )
        .await
        .unwrap();
    owner
        .batch_execute(&voucher_start(
            "192.0.2.101",
            "router-session-3",
            voucher,
            "02-00-00-00-00-04",
        ))
        .await
        .unwrap();
    assert_eq!(mirrored("router-session-3").await, 1);
    // Deleting the router unlinks its NAS (the NAS row stays).
    owner
        .execute("DELETE FROM hotspot_devices WHERE id = $1", &[&device])
        .await
        .unwrap();
    let linked: Option<Uuid> = owner
        .query_one(
            "SELECT device_id FROM nas WHERE nasname = '192.0.2.101'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(linked, None);
}
