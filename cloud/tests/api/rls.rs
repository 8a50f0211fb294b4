//! Row-level security at the database: two tenants, every tenant-scoped table (read from the
//! catalog, so a new table is covered without editing this file), the service role.

use std::collections::BTreeMap;

use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::helpers::{begin_as, migrated_db, seed_tenant};

/// Tables whose rows are also scoped to a user (`app.user_id`): without a user, a tenant sees
/// none of its own rows either.
const USER_SCOPED: &[&str] = &[
    "internal_messages",
    "message_attachments",
    "notifications",
    "notification_preferences",
];

/// Every table (partitions included) with a tenant_id column.
async fn tenant_tables(client: &tokio_postgres::Client) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT c.relname::text, c.relispartition FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// (rows of a, rows of b) per table, counted by the owner.
async fn counts(
    client: &tokio_postgres::Client,
    tables: &[(String, bool)],
    a: Uuid,
    b: Uuid,
) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    for (t, _) in tables {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*) FILTER (WHERE tenant_id = $1),
                            count(*) FILTER (WHERE tenant_id = $2) FROM {t}"
                ),
                &[&a, &b],
            )
            .await
            .unwrap();
        out.insert(t.clone(), (row.get(0), row.get(1)));
    }
    out
}

#[tokio::test]
async fn a_tenant_reads_none_of_another_tenants_rows_in_any_table() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let tables = tenant_tables(&owner).await;
    assert!(tables.len() >= 60, "{tables:?}");
    // The fixture sells nothing: a voucher sold at each site, so the revenue roll-up has rows.
    owner
        .batch_execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes,
                                           price, is_used, used_at)
             SELECT tenant_id, id, 'SOLD' || left(md5(id::text), 8), 60, 20, true, now()
             FROM hotspots",
        )
        .await
        .unwrap();
    // Nor does it brand the portal: a branding for each tenant.
    owner
        .batch_execute(
            "INSERT INTO portal_branding (tenant_id, title, welcome, accent_color)
             SELECT id, 'WiFi', 'Karibu', '#0a7d55' FROM tenants",
        )
        .await
        .unwrap();
    // And a site's own branding (its title only) at each site.
    owner
        .batch_execute(
            "INSERT INTO hotspot_branding (tenant_id, hotspot_id, title)
             SELECT tenant_id, id, 'Site WiFi' FROM hotspots",
        )
        .await
        .unwrap();

    // The fixture really put rows of both tenants everywhere (partitions may be empty), so the
    // checks below can fail.
    let before = counts(&owner, &tables, a, b).await;
    for (t, partition) in &tables {
        let (na, nb) = before[t];
        if !partition {
            assert!(na > 0 && nb > 0, "{t}: fixture left it empty ({na}, {nb})");
        }
    }

    let mut app = db.connect().await;
    let a_text = a.to_string();
    for (t, partition) in &tables {
        let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
        let row = tx
            .query_one(
                &format!(
                    "SELECT count(*) FILTER (WHERE tenant_id = $1),
                            count(*) FILTER (WHERE tenant_id IS DISTINCT FROM $1) FROM {t}"
                ),
                &[&a],
            )
            .await
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        let (own, foreign): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(
            foreign, 0,
            "{t}: tenant A sees {foreign} rows of another tenant"
        );
        if !partition && !USER_SCOPED.contains(&t.as_str()) {
            assert!(own > 0, "{t}: tenant A does not see its own rows");
        }
    }

    // The tenancy root: its own row only.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let ids: Vec<Uuid> = tx
        .query("SELECT id FROM tenants", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![a]);
}

#[tokio::test]
async fn with_no_tenant_set_the_service_role_reads_nothing() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    seed_tenant(&owner, 1).await;
    seed_tenant(&owner, 2).await;
    let mut tables = tenant_tables(&owner).await;
    tables.push(("tenants".to_owned(), false));
    let mut app = db.connect().await;
    // Unset, and set to the empty string (what a pooled connection may carry): no rows, no error.
    for setting in [None, Some("")] {
        for (t, _) in &tables {
            let tx = begin_as(&mut app, "hotspot_app", setting, None).await;
            let n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap_or_else(|e| panic!("{t} with {setting:?}: {e}"))
                .get(0);
            assert_eq!(n, 0, "{t}: {n} rows visible with app.tenant_id {setting:?}");
        }
    }
}

#[tokio::test]
async fn a_tenant_cannot_insert_update_or_delete_another_tenants_rows() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let tables = tenant_tables(&owner).await;
    let before = counts(&owner, &tables, a, b).await;
    let mut app = db.connect().await;
    let a_text = a.to_string();

    for (t, _) in &tables {
        // A copy of one of B's rows, taken by the owner.
        let row = owner
            .query_opt(
                &format!("SELECT to_jsonb(x)::text FROM {t} x WHERE tenant_id = $1 LIMIT 1"),
                &[&b],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            let json: String = row.get(0);
            let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
            let err = tx
                .execute(
                    &format!("INSERT INTO {t} SELECT * FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb)"),
                    &[&json],
                )
                .await
                .expect_err(&format!("{t}: tenant A inserted a row of tenant B"));
            assert_eq!(
                err.code(),
                Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                "{t}: {err}"
            );
        }

        // Updating or deleting B's rows touches nothing.
        for sql in [
            format!("UPDATE {t} SET tenant_id = tenant_id WHERE tenant_id = $1"),
            format!("DELETE FROM {t} WHERE tenant_id = $1"),
        ] {
            let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
            let n = tx
                .execute(&sql, &[&b])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(n, 0, "{sql}: touched {n} rows of tenant B");
            tx.commit().await.unwrap();
        }

        // Handing one of A's own rows to B is refused.
        let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
        match tx
            .execute(
                &format!(
                    "UPDATE {t} SET tenant_id = $2
                     WHERE ctid = (SELECT ctid FROM {t} WHERE tenant_id = $1 LIMIT 1)"
                ),
                &[&a, &b],
            )
            .await
        {
            Ok(n) => {
                assert_eq!(n, 0, "{t}: moved a row from tenant A to tenant B");
                tx.commit().await.unwrap();
            }
            Err(e) => assert_eq!(
                e.code(),
                Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                "{t}: {e}"
            ),
        }
    }

    let after = counts(&owner, &tables, a, b).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn messages_and_notifications_are_scoped_to_their_users() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let users: Vec<Uuid> = owner
        .query(
            "SELECT id FROM users WHERE tenant_id = $1 ORDER BY email",
            &[&a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The fixture: admin (sender) and staff (recipient, and owner of the preferences).
    let (admin, staff) = (users[0], users[1]);
    let third: Uuid = owner
        .query_one(
            "INSERT INTO users (tenant_id, email, role) VALUES ($1, 'third@t1.test', 'technician')
             RETURNING id",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    let mut app = db.connect().await;
    let a_text = a.to_string();

    for (user, messages, notifications, prefs) in
        [(admin, 1, 0, 0), (staff, 1, 1, 1), (third, 0, 0, 0)]
    {
        let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(user)).await;
        let mut seen = Vec::new();
        for t in USER_SCOPED {
            let n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get(0);
            seen.push(n);
        }
        assert_eq!(
            seen,
            vec![messages, messages, notifications, prefs],
            "user {user}"
        );
    }

    // Nobody writes a message in someone else's name.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(third)).await;
    let err = tx
        .execute(
            "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content)
             VALUES ($1, $2, $3, 'Forged', 'x')",
            &[&a, &admin, &staff],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    drop(tx);

    // A user cannot mark another user's notification read, nor delete it.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(third)).await;
    let n = tx
        .execute("UPDATE notifications SET is_read = true", &[])
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = tx.execute("DELETE FROM notifications", &[]).await.unwrap();
    assert_eq!(n, 0);
    tx.commit().await.unwrap();
    let unread: i64 = owner
        .query_one(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT is_read",
            &[&staff],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unread, 1);
}

#[tokio::test]
async fn global_tables_are_read_only_or_closed_to_the_service() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    owner
        .execute(
            "INSERT INTO equipment_types (name, brand, model, device_type)
             VALUES ('hAP ax2', 'MikroTik', 'C52iG-5HaxD2HaxD', 'router')",
            &[],
        )
        .await
        .unwrap();
    let mut app = db.connect().await;
    let a_text = a.to_string();
    let denied = [
        "INSERT INTO tenants (name, slug) VALUES ('Mine', 'mine')".to_owned(),
        format!("DELETE FROM tenants WHERE id = '{a}'"),
        "INSERT INTO equipment_types (name, brand, model, device_type)
         VALUES ('x', 'y', 'z', 'router')"
            .to_owned(),
        "UPDATE equipment_types SET name = 'x'".to_owned(),
        "SELECT count(*) FROM schema_migrations".to_owned(),
        "SELECT count(*) FROM radpostauth_unknown".to_owned(),
    ];
    for sql in &denied {
        let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
        let err = tx.execute(sql.as_str(), &[]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err}"
        );
    }
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let types: i64 = tx
        .query_one("SELECT count(*) FROM equipment_types", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(types, 1, "reference data is readable by every tenant");
    // Its own tenant row is editable; another's is out of reach.
    let own = tx
        .execute(
            "UPDATE tenants SET phone = '+254700111222' WHERE id = $1",
            &[&a],
        )
        .await
        .unwrap();
    let other = tx
        .execute(
            "UPDATE tenants SET phone = '+254700111222' WHERE id = $1",
            &[&b],
        )
        .await
        .unwrap();
    assert_eq!((own, other), (1, 0));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_services_tenant_transaction_holds_even_on_an_owner_login() {
    // The pool logs in as the schema owner (a superuser here); the transaction helpers still
    // confine the work to the service role and one tenant.
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    let pool = db.pool();
    let mut client = pool.get().await.unwrap();

    let tx = hotspot_cloud::db::tenant_transaction(&mut client, a, None)
        .await
        .unwrap();
    let row = tx
        .query_one(
            "SELECT current_user::text, count(*) FILTER (WHERE tenant_id = $1),
                    count(*) FILTER (WHERE tenant_id <> $1)
             FROM hotspots",
            &[&a],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "hotspot_app");
    assert_eq!((row.get::<_, i64>(1), row.get::<_, i64>(2)), (1, 0));
    tx.commit().await.unwrap();

    // Settings and role end with the transaction: the pooled connection is the owner again, and
    // a service transaction on it carries no tenant.
    let back: bool = client
        .query_one("SELECT current_user = session_user", &[])
        .await
        .unwrap()
        .get(0);
    assert!(back, "the role outlived the transaction");
    let tx = hotspot_cloud::db::service_transaction(&mut client)
        .await
        .unwrap();
    let n: i64 = tx
        .query_one("SELECT count(*) FROM hotspots", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let found: Vec<Uuid> = tx
        .query("SELECT tenant_id FROM nas_lookup('192.0.2.2')", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(found, vec![b]);
}
