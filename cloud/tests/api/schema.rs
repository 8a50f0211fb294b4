//! The schema as the catalog shows it: every table of both seeds exists, every tenant-scoped
//! table is under forced row-level security with the tenant policy, every other table is on the
//! allowlist below, and the service role owns nothing.

use crate::helpers::migrated_db;

/// Tables without `tenant_id`, each with the reason it has none. A new table missing from here
/// and lacking `tenant_id` fails `every_table_is_tenant_scoped_or_allowlisted`.
const GLOBAL_TABLES: &[(&str, &str)] = &[
    // The migration runner's ledger: the owner's alone (the service role has no access).
    ("schema_migrations", "migration ledger"),
    // The tenancy root itself: forced RLS by its own id (policy tenant_self).
    ("tenants", "tenancy root"),
    // Global reference data: device types every tenant picks from; read-only to the service.
    ("equipment_types", "global reference data"),
    // RADIUS attempts for usernames of no tenant: the platform's security log, no service access.
    ("radpostauth_unknown", "platform security log"),
];

/// Every table both seeds define or reference (seed 000's isp_companies is `tenants`, its
/// profiles are `users`), plus what FreeRADIUS's stock queries need.
const SEED_TABLES: &[&str] = &[
    // Seed 000.
    "hotspots",
    "hotspot_sessions",
    "client_hotspot_access",
    "hotspot_vouchers",
    "hotspot_analytics",
    "inventory_items",
    "inventory_history",
    "wallet_transactions",
    "mpesa_settings",
    "internal_messages",
    "message_attachments",
    "notifications",
    "departments",
    "ticket_assignments",
    "ticket_comments",
    "notification_preferences",
    "equipment_types",
    "client_equipment",
    "network_events",
    "qos_policies",
    "client_service_assignments",
    "interface_statistics",
    "bandwidth_statistics",
    "external_users",
    "notification_logs",
    // Seed 004.
    "tenants",
    "users",
    "radcheck",
    "radreply",
    "radacct",
    "nas",
    "bandwidth_profiles",
    "subscribers",
    "ip_pools",
    "ip_allocations",
    "devices",
    "vpn_tunnels",
    "olts",
    "onus",
    "splitters",
    "fiber_cables",
    "wireless_towers",
    "wireless_sectors",
    "wireless_subscribers",
    "service_activations",
    "ansible_jobs",
    // Referenced by the seeds, designed here.
    "clients",
    "customers",
    "support_tickets",
    "equipment",
    "service_packages",
    "billing_products",
    "billing_subscription_plans",
    "billing_prices",
    "billing_subscriptions",
    "billing_invoices",
    "billing_invoice_line_items",
    "billing_payments",
    // FreeRADIUS 3.x stock queries.
    "radpostauth",
    "radusergroup",
    "radgroupcheck",
    "radgroupreply",
    "radacct_history",
];

#[tokio::test]
async fn every_table_of_both_seeds_exists() {
    let db = migrated_db().await;
    let client = db.connect().await;
    let mut missing = Vec::new();
    for table in SEED_TABLES {
        let found: Option<String> = client
            .query_one("SELECT to_regclass('public.' || $1)::text", &[table])
            .await
            .unwrap()
            .get(0);
        if found.is_none() {
            missing.push(*table);
        }
    }
    assert!(missing.is_empty(), "missing tables: {missing:?}");
}

#[tokio::test]
async fn every_table_is_tenant_scoped_or_allowlisted() {
    let db = migrated_db().await;
    let client = db.connect().await;
    let rows = client
        .query(
            r"SELECT c.relname::text,
                     c.relrowsecurity,
                     c.relforcerowsecurity,
                     a.attname IS NOT NULL AS has_tenant,
                     coalesce(a.attnotnull AND a.atttypid = 'uuid'::regtype, false) AS tenant_ok,
                     EXISTS (
                         SELECT 1 FROM pg_policies p
                         WHERE p.schemaname = 'public' AND p.tablename = c.relname
                           AND p.permissive = 'PERMISSIVE' AND p.cmd = 'ALL'
                           AND p.roles = '{public}'
                           AND p.qual ~ '^\(tenant_id = \(NULLIF\(current_setting\(''app\.tenant_id''::text, true\), ''''::text\)\)::uuid\)$'
                           AND p.with_check = p.qual
                     ) AS has_policy
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              LEFT JOIN pg_attribute a
                     ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() > 60, "only {} tables", rows.len());
    let mut failures = Vec::new();
    let mut scoped = 0;
    for row in &rows {
        let name: String = row.get(0);
        let (rls, forced, has_tenant, tenant_ok, policy): (bool, bool, bool, bool, bool) =
            (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
        if has_tenant {
            scoped += 1;
            if !rls || !forced {
                failures.push(format!("{name}: row-level security not enabled and forced"));
            }
            if !tenant_ok {
                failures.push(format!("{name}: tenant_id is not UUID NOT NULL"));
            }
            if !policy {
                failures.push(format!(
                    "{name}: no tenant_isolation policy on app.tenant_id"
                ));
            }
        } else if !GLOBAL_TABLES.iter().any(|(t, _)| *t == name) {
            failures.push(format!(
                "{name}: no tenant_id and not on the global allowlist"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(scoped >= 60, "only {scoped} tenant-scoped tables");

    // The tenancy root is under forced RLS too.
    let row = client
        .query_one(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'tenants'::regclass",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
}

#[tokio::test]
async fn every_tenant_reference_includes_the_tenant() {
    // A foreign key from a tenant table to another tenant table must be (tenant_id, x) →
    // (tenant_id, id): a plain one is checked without RLS and could point into another tenant.
    let db = migrated_db().await;
    let client = db.connect().await;
    let rows = client
        .query(
            "SELECT con.conrelid::regclass::text, con.conname::text
             FROM pg_constraint con
             JOIN pg_class src ON src.oid = con.conrelid
             WHERE con.contype = 'f' AND NOT src.relispartition
               AND con.conparentid = 0
               AND con.confrelid <> 'tenants'::regclass
               AND EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = con.confrelid AND a.attname = 'tenant_id')
               AND NOT EXISTS (
                   SELECT 1 FROM pg_attribute a
                   WHERE a.attrelid = con.conrelid AND a.attname = 'tenant_id'
                     AND a.attnum = ANY (con.conkey))",
            &[],
        )
        .await
        .unwrap();
    let bad: Vec<String> = rows
        .iter()
        .map(|r| format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    assert!(bad.is_empty(), "foreign keys without tenant_id: {bad:?}");
}

#[tokio::test]
async fn the_service_role_owns_nothing_and_security_definers_are_narrow() {
    let db = migrated_db().await;
    let client = db.connect().await;
    let owned: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                  + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
             FROM pg_roles r WHERE r.rolname = 'hotspot_app'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owned, 0);

    let rows = client
        .query(
            "SELECT p.proname::text,
                    coalesce(array_to_string(p.proconfig, ','), '') LIKE '%search_path=%',
                    p.proacl IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM aclexplode(p.proacl) x
                        WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE')
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.prosecdef
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for expected in [
        "device_token_lookup",
        "device_claim",
        "payment_callback_lookup",
        "nas_lookup",
        "platform_list_tenants",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for row in &rows {
        let name: String = row.get(0);
        assert!(
            row.get::<_, bool>(1),
            "{name}: SECURITY DEFINER without SET search_path"
        );
        assert!(
            row.get::<_, bool>(2),
            "{name}: SECURITY DEFINER executable by PUBLIC"
        );
    }

    // And the service role can call the ones meant for it.
    for f in [
        "device_token_lookup(bytea)",
        "device_claim(bytea, bytea)",
        "payment_callback_lookup(text, text)",
        "nas_lookup(inet)",
        "platform_list_tenants()",
        "generate_voucher_code()",
    ] {
        let ok: bool = client
            .query_one(
                "SELECT has_function_privilege('hotspot_app', $1, 'EXECUTE')",
                &[&f],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ok, "hotspot_app cannot execute {f}");
    }
    let admin_only: bool = client
        .query_one(
            "SELECT has_function_privilege('hotspot_app', 'hotspot_secure_tables()', 'EXECUTE')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!admin_only);
}

#[tokio::test]
async fn every_updated_at_is_maintained_by_trigger() {
    let db = migrated_db().await;
    let client = db.connect().await;
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at'
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relispartition
               AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                               WHERE t.tgrelid = c.oid AND t.tgname = 'set_updated_at')",
            &[],
        )
        .await
        .unwrap();
    let missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert!(missing.is_empty(), "no updated_at trigger: {missing:?}");
}
