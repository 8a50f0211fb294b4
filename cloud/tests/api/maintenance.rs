//! The hourly maintenance job against a real database: partitions made ahead, closed RADIUS
//! sessions archived in batches, partitions past their retention dropped with their rows.

use hotspot_cloud::db::maintenance::{self, Retention};

use crate::helpers::{migrated_db, seed_tenant};

async fn partitions(owner: &tokio_postgres::Client, parent: &str) -> Vec<String> {
    owner
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = $1::text::regclass ORDER BY 1",
            &[&parent],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The partition name of the UTC month `months` from now.
async fn month_name(owner: &tokio_postgres::Client, parent: &str, months: i32) -> String {
    owner
        .query_one(
            "SELECT $1 || '_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') \
                                         + make_interval(months => $2), 'YYYY_MM')",
            &[&parent, &months],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn partitions_ahead_archiving_and_retention() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let tenant = seed_tenant(&owner, 41).await;
    let pool = db.pool();

    // A month ahead is missing (dropped by hand); a month 30 months back holds an old session and
    // an old RADIUS session; 12 months back holds a newer one.
    let ahead = month_name(&owner, "hotspot_sessions", 2).await;
    owner
        .batch_execute(&format!("DROP TABLE {ahead}"))
        .await
        .unwrap();
    owner
        .batch_execute(&format!(
            "SELECT create_monthly_partitions('hotspot_sessions', 0, now() - interval '30 months'); \
             SELECT create_monthly_partitions('hotspot_sessions', 0, now() - interval '12 months'); \
             SELECT create_monthly_partitions('radacct_history', 0, now() - interval '30 months'); \
             INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time, \
                                           end_time, session_status) \
             SELECT '{tenant}', id, '02:00:00:00:00:30', now() - interval '30 months', \
                    now() - interval '30 months' + interval '1 hour', 'ended' \
             FROM hotspots WHERE tenant_id = '{tenant}' LIMIT 1; \
             INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time, \
                                           end_time, session_status) \
             SELECT '{tenant}', id, '02:00:00:00:00:12', now() - interval '12 months', \
                    now() - interval '12 months' + interval '1 hour', 'ended' \
             FROM hotspots WHERE tenant_id = '{tenant}' LIMIT 1; \
             INSERT INTO radacct_history (tenant_id, acctsessionid, acctuniqueid, username, \
                                          nasipaddress, acctstarttime, acctstoptime, radacctid) \
             VALUES ('{tenant}', 'old', md5('old'), 'u', '192.0.2.1', \
                     now() - interval '30 months' - interval '1 hour', \
                     now() - interval '30 months', nextval('radacct_radacctid_seq'));"
        ))
        .await
        .unwrap();
    // radacct: 12 sessions closed two days ago, one closed an hour ago, one open.
    for i in 0..12 {
        owner
            .execute(
                "INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, \
                                      nasipaddress, acctstarttime, acctstoptime) \
                 VALUES ($1, $2::text, md5($2::text), 'u', '192.0.2.1', now() - interval '3 days', \
                         now() - interval '2 days')",
                &[&tenant, &format!("closed-{i}")],
            )
            .await
            .unwrap();
    }
    owner
        .batch_execute(&format!(
            "INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, \
                                  acctstarttime, acctstoptime) \
             VALUES ('{tenant}', 'recent', md5('recent'), 'u', '192.0.2.1', \
                     now() - interval '2 hours', now() - interval '1 hour'), \
                    ('{tenant}', 'open', md5('open'), 'u', '192.0.2.1', now(), NULL);"
        ))
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let owner = &owner;
        async move { owner.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let radacct_before = count("SELECT count(*) FROM radacct").await;
    let history_before = count("SELECT count(*) FROM radacct_history").await;

    // Keeping everything: partitions made, sessions archived, nothing dropped.
    let keep_all = Retention {
        sessions_months: 0,
        radacct_months: 0,
    };
    let report = maintenance::run_once(&pool, keep_all)
        .await
        .unwrap()
        .unwrap();
    assert!(report.partitions_created >= 1, "{report:?}");
    assert!(
        partitions(&owner, "hotspot_sessions")
            .await
            .contains(&ahead),
        "the missing month ahead is made again"
    );
    assert!(report.partitions_dropped.is_empty());
    // The twelve closed two days ago moved, in one transaction per batch; the one closed an hour
    // ago and the open one stay for a late Stop.
    assert!(report.sessions_archived >= 12, "{report:?}");
    assert_eq!(
        count("SELECT count(*) FROM radacct WHERE acctsessionid LIKE 'closed-%'").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM radacct WHERE acctsessionid IN ('recent', 'open')").await,
        2
    );
    assert_eq!(
        count("SELECT count(*) FROM radacct").await
            + count("SELECT count(*) FROM radacct_history").await,
        radacct_before + history_before,
        "moved, not lost or copied"
    );

    // 24 months kept: the month 30 months back goes with its rows; 12 months back stays.
    let old_sessions = month_name(&owner, "hotspot_sessions", -30).await;
    let old_radacct = month_name(&owner, "radacct_history", -30).await;
    let kept = month_name(&owner, "hotspot_sessions", -12).await;
    let report = maintenance::run_once(&pool, Retention::default())
        .await
        .unwrap()
        .unwrap();
    assert!(
        report.partitions_dropped.contains(&old_sessions),
        "{report:?}"
    );
    assert!(
        report.partitions_dropped.contains(&old_radacct),
        "{report:?}"
    );
    let sessions = partitions(&owner, "hotspot_sessions").await;
    assert!(!sessions.contains(&old_sessions));
    assert!(sessions.contains(&kept));
    assert!(sessions.contains(&"hotspot_sessions_default".to_owned()));
    assert_eq!(
        count("SELECT count(*) FROM hotspot_sessions WHERE mac_address = '02:00:00:00:00:30'")
            .await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM hotspot_sessions WHERE mac_address = '02:00:00:00:00:12'")
            .await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM radacct_history WHERE acctsessionid = 'old'").await,
        0
    );
    // Run again: nothing left to do.
    let report = maintenance::run_once(&pool, Retention::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.partitions_created, 0);
    assert!(report.partitions_dropped.is_empty());

    // Bad settings are refused by the database, and change nothing.
    let err = owner
        .query_one(
            "SELECT count(*) FROM drop_monthly_partitions('clients', 1)",
            &[],
        )
        .await
        .unwrap_err();
    let msg = err.as_db_error().unwrap().message().to_owned();
    assert!(msg.contains("not a table partitioned by month"), "{msg}");
    let err = owner
        .query_one(
            "SELECT count(*) FROM drop_monthly_partitions('hotspot_sessions', -1)",
            &[],
        )
        .await
        .unwrap_err();
    let msg = err.as_db_error().unwrap().message().to_owned();
    assert!(msg.contains("between 0 and 1200"), "{msg}");
    assert_eq!(partitions(&owner, "hotspot_sessions").await, sessions);
}
