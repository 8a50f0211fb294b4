//! `hotspot-cloud seed --demo`: a demo tenant to try the product with (and for other tests): a
//! hotspot, hotspot and subscription packages with a billing plan, vouchers with known codes, a
//! client with two registered devices, and an operator login; and, so the console's dashboard
//! shows a living business, four more sites with their routers and 30 days of trade on them
//! (guest sessions, paid M-Pesa purchases, vouchers sold and used, a few guests online now).
//!
//! Idempotent: every row has a fixed id or natural key and is inserted only when missing, so
//! running it again adds nothing (an existing operator keeps its password). The 30 days of trade
//! are made with the four sites, once, ending at that moment. The one thing a second run
//! touches is the simulated routers' last contact, stamped "now" again so those sites show
//! online (one of them stays offline on purpose). The first hotspot (the one a real router is
//! claimed to, [`DEMO_HOTSPOT`]) gets none of this: its sessions and payments are real ones.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::DbError;

/// The demo tenant's id.
pub const DEMO_TENANT: Uuid = Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0001);
/// The demo hotspot's id.
pub const DEMO_HOTSPOT: Uuid = Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0002);
/// The demo client's id.
pub const DEMO_CLIENT: Uuid = Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0003);
/// The operator's e-mail (the login name).
pub const DEMO_OPERATOR_EMAIL: &str = "operator@demo.hotspot.test";
/// Voucher codes of the demo hotspot: three of one hour, two of one day.
pub const DEMO_VOUCHERS: [&str; 5] = [
    "DEM2VW3HKA",
    "DEM3VW4HKB",
    "DEM4VW5HKC",
    "DEM5VW6HKD",
    "DEM6VW7HKE",
];
/// MAC addresses of the demo client's registered devices.
pub const DEMO_DEVICES: [&str; 2] = ["02:00:5E:10:00:01", "02:00:5E:10:00:02"];
/// The four sites with 30 days of trade, each with a simulated router (ids `DEMO_ROUTERS`).
pub const DEMO_SITES: [Uuid; 4] = [
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0010),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0011),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0012),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0013),
];
/// The simulated routers of [`DEMO_SITES`] (`hotspot_devices`), in the same order. The last
/// one was last heard from two days ago, so the dashboard shows an offline site too.
pub const DEMO_ROUTERS: [Uuid; 4] = [
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0020),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0021),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0022),
    Uuid::from_u128(0x0de0_0000_0000_4000_8000_0000_0000_0023),
];

/// What `seed_demo` found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    pub tenant_id: Uuid,
    /// False when the demo tenant was already there (nothing was changed).
    pub created: bool,
    pub operator_email: &'static str,
    pub vouchers: Vec<String>,
}

/// A failure while seeding.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot hash the operator password: {0}")]
    Hash(String),
}

impl From<tokio_postgres::Error> for DemoError {
    fn from(e: tokio_postgres::Error) -> Self {
        DemoError::Db(DbError::Sql(e))
    }
}

/// Hashes a password for `users.password_hash` (argon2id, PHC string, random salt).
pub fn hash_password(password: &str) -> Result<String, DemoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DemoError::Hash(e.to_string()))
}

/// Loads the demo tenant (as the schema owner, in one transaction).
pub async fn seed_demo(pool: &Pool, operator_password: &str) -> Result<DemoReport, DemoError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;
    let tx = client.transaction().await?;
    // Everything below is the demo tenant's: act as it, so forced RLS holds even for an owner
    // without BYPASSRLS.
    tx.execute(
        "SELECT set_config('app.tenant_id', $1, true)",
        &[&DEMO_TENANT.to_string()],
    )
    .await?;
    let created = tx
        .execute(
            "INSERT INTO tenants (id, name, slug, status, plan_type, email, phone, country,
                                  timezone, county, address, contact_person)
             VALUES ($1, 'Demo Hotspot ISP', 'demo', 'active', 'starter', 'hello@demo.hotspot.test',
                     '+254700000000', 'Kenya', 'Africa/Nairobi', 'Nairobi',
                     'Kimathi Street, Nairobi', 'Demo Operator')
             ON CONFLICT (id) DO NOTHING",
            &[&DEMO_TENANT],
        )
        .await?
        == 1;

    let has_operator: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND email = $2)",
            &[&DEMO_TENANT, &DEMO_OPERATOR_EMAIL],
        )
        .await?
        .get(0);
    if !has_operator {
        let hash = hash_password(operator_password)?;
        tx.execute(
            "INSERT INTO users (tenant_id, email, username, password_hash, full_name, first_name,
                                last_name, role, roles, is_active, is_verified, email_verified_at)
             VALUES ($1, $2, 'operator', $3, 'Demo Operator', 'Demo', 'Operator', 'isp_admin',
                     '[\"tenant_admin\"]', true, true, now())",
            &[&DEMO_TENANT, &DEMO_OPERATOR_EMAIL, &hash],
        )
        .await?;
    }

    tx.batch_execute(&substitute(DEMO_SQL)).await?;
    for (i, code) in DEMO_VOUCHERS.iter().enumerate() {
        let minutes: i32 = if i < 3 { 60 } else { 1440 };
        tx.execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type,
                                           duration_minutes, price, max_devices,
                                           service_package_id, expiry_date)
             SELECT $1, $2, $3, 'time_based', $4, p.price, 1, p.id, now() + interval '1 year'
             FROM service_packages p
             WHERE p.tenant_id = $1 AND p.package_type = 'hotspot' AND p.duration_minutes = $4
             ON CONFLICT (voucher_code) DO NOTHING",
            &[&DEMO_TENANT, &DEMO_HOTSPOT, code, &minutes],
        )
        .await?;
    }
    let sites_ids: Vec<Uuid> = DEMO_SITES.to_vec();
    let router_ids: Vec<Uuid> = DEMO_ROUTERS.to_vec();
    let new_sites = tx
        .execute(
            DEMO_SITES_SQL,
            &[&DEMO_TENANT, &DEMO_HOTSPOT, &sites_ids, &router_ids],
        )
        .await?;
    if new_sites > 0 {
        tx.batch_execute(&substitute(DEMO_TRADE_SQL)).await?;
    }
    // The simulated routers report in (all but the last, which is offline).
    tx.execute(
        "UPDATE hotspot_devices d
         SET last_seen_at = now() - (r.n * 37) * interval '1 second'
         FROM unnest($1::uuid[]) WITH ORDINALITY AS r(id, n)
         WHERE d.id = r.id AND d.tenant_id = $2",
        &[&router_ids[..3].to_vec(), &DEMO_TENANT],
    )
    .await?;
    for (mac, name, kind) in [
        (DEMO_DEVICES[0], "Amina's phone", "smartphone"),
        (DEMO_DEVICES[1], "Amina's laptop", "laptop"),
    ] {
        tx.execute(
            "INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address,
                                                device_name, device_type, bandwidth_allocation)
             VALUES ($1, $2, $3, $4, $5, $6, 5)
             ON CONFLICT (client_id, hotspot_id, mac_address) DO NOTHING",
            &[
                &DEMO_TENANT,
                &DEMO_CLIENT,
                &DEMO_HOTSPOT,
                &mac,
                &name,
                &kind,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(DemoReport {
        tenant_id: DEMO_TENANT,
        created,
        operator_email: DEMO_OPERATOR_EMAIL,
        vouchers: DEMO_VOUCHERS.iter().map(|c| c.to_string()).collect(),
    })
}

/// `sql` with the demo's ids in place of `{T}` (tenant), `{H}` (hotspot), `{C}` (client) and
/// `{S1}`…`{S4}`, `{R1}`…`{R4}` (the trading sites and their routers).
fn substitute(sql: &str) -> String {
    let mut out = sql
        .replace("{T}", &DEMO_TENANT.to_string())
        .replace("{H}", &DEMO_HOTSPOT.to_string())
        .replace("{C}", &DEMO_CLIENT.to_string());
    for (i, (site, router)) in DEMO_SITES.iter().zip(DEMO_ROUTERS.iter()).enumerate() {
        out = out
            .replace(&format!("{{S{}}}", i + 1), &site.to_string())
            .replace(&format!("{{R{}}}", i + 1), &router.to_string());
    }
    out
}

/// The public sandbox passkey of shortcode 174379 (Safaricom's documentation; the simulator's).
pub const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// Stores working sandbox credentials for the demo tenant (those `daraja-sim` accepts), sealed
/// with `key`. Run after [`seed_demo`]; running it again stores the same values.
pub async fn seed_demo_mpesa(
    pool: &Pool,
    key: &crate::api::secrets::SecretsKey,
) -> Result<(), DemoError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT set_config('app.tenant_id', $1, true)",
        &[&DEMO_TENANT.to_string()],
    )
    .await?;
    tx.execute(
        "UPDATE mpesa_settings
         SET paybill_number = '174379', shortcode = '174379', environment = 'sandbox',
             passkey = $2, consumer_key = $3, consumer_secret = $4, is_active = true
         WHERE tenant_id = $1",
        &[
            &DEMO_TENANT,
            &key.seal("mpesa_settings.passkey", SANDBOX_PASSKEY.as_bytes()),
            &key.seal("mpesa_settings.consumer_key", b"sim-key"),
            &key.seal("mpesa_settings.consumer_secret", b"sim-secret"),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The rows with natural keys: packages, billing plan, hotspot, M-Pesa sandbox settings, client.
const DEMO_SQL: &str = "
INSERT INTO service_packages (tenant_id, name, description, package_type, connection_type,
                              download_mbps, upload_mbps, price, duration_minutes, max_devices,
                              validity_days)
VALUES ('{T}', '1 Hour', 'One hour of WiFi', 'hotspot', 'hotspot', 5, 2, 20, 60, 1, 1),
       ('{T}', '1 Day', 'A day of WiFi', 'hotspot', 'hotspot', 5, 2, 50, 1440, 1, 1),
       ('{T}', '1 Week', 'A week of WiFi on two devices', 'hotspot', 'hotspot', 10, 5, 250, 10080,
        2, 7)
ON CONFLICT (tenant_id, name) DO NOTHING;

INSERT INTO service_packages (tenant_id, name, description, package_type, connection_type,
                              download_mbps, upload_mbps, monthly_rate, price, validity_days)
VALUES ('{T}', 'Home 10 Mbps', 'Fibre to the home, 10/5 Mbps', 'subscription', 'fiber', 10, 5,
        1500, 1500, 30)
ON CONFLICT (tenant_id, name) DO NOTHING;

INSERT INTO billing_products (tenant_id, name, description, product_type, service_package_id)
SELECT '{T}', 'Home Internet', 'Monthly home internet', 'service', id
FROM service_packages WHERE tenant_id = '{T}' AND name = 'Home 10 Mbps'
ON CONFLICT (tenant_id, name) DO NOTHING;

INSERT INTO billing_subscription_plans (tenant_id, product_id, name, billing_interval)
SELECT '{T}', id, 'Home 10 Mbps monthly', 'monthly'
FROM billing_products WHERE tenant_id = '{T}' AND name = 'Home Internet'
ON CONFLICT (tenant_id, name) DO NOTHING;

INSERT INTO billing_prices (tenant_id, plan_id, amount, currency, tax_rate)
SELECT '{T}', p.id, 1500, 'KES', 16
FROM billing_subscription_plans p
WHERE p.tenant_id = '{T}' AND p.name = 'Home 10 Mbps monthly'
  AND NOT EXISTS (SELECT 1 FROM billing_prices x WHERE x.plan_id = p.id);

INSERT INTO hotspots (id, tenant_id, name, location, latitude, longitude, ssid, status,
                      bandwidth_limit, max_concurrent_users, installation_date)
VALUES ('{H}', '{T}', 'Demo Cafe', 'Kimathi Street, Nairobi', -1.2841, 36.8233, 'Demo-Cafe-WiFi',
        'active', 20, 50, current_date)
ON CONFLICT (id) DO NOTHING;

-- Safaricom's public sandbox shortcode; credentials are set by the operator.
INSERT INTO mpesa_settings (tenant_id, paybill_number, shortcode, environment)
VALUES ('{T}', '174379', '174379', 'sandbox')
ON CONFLICT (tenant_id) DO NOTHING;

INSERT INTO clients (id, tenant_id, name, email, phone, mpesa_number, client_type,
                     connection_type, address, county, status, service_package_id, monthly_rate,
                     wallet_balance, auto_renewal, subscription_start_date, subscription_end_date,
                     subscription_type)
SELECT '{C}', '{T}', 'Amina Wanjiku', 'amina@demo.hotspot.test', '254712345678', '254712345678',
       'individual', 'hotspot', 'Kilimani, Nairobi', 'Nairobi', 'active', p.id, 1500, 500, true,
       now(), now() + interval '30 days', 'monthly'
FROM service_packages p WHERE p.tenant_id = '{T}' AND p.name = 'Home 10 Mbps'
ON CONFLICT (id) DO NOTHING;
";

/// The four trading sites and their routers, created after the first hotspot (so it stays the
/// first by creation, the one a router is claimed to). Parameters: tenant, first hotspot, the
/// sites' ids, the routers' ids. Inserts only missing sites; returns how many it made. The
/// routers' tokens are random hashes: nothing can sign in as them.
const DEMO_SITES_SQL: &str = "
WITH s AS (
    SELECT * FROM unnest($3::uuid[], $4::uuid[],
        ARRAY['Kilimani Mall', 'Westlands Stage', 'Roysambu Hostel', 'Kisumu Market'],
        ARRAY['Argwings Kodhek Road, Nairobi', 'Waiyaki Way, Nairobi', 'Thika Road, Nairobi',
              'Oginga Odinga Street, Kisumu'],
        ARRAY[-1.2897, -1.2676, -1.2186, -0.0917]::float8[],
        ARRAY[36.7856, 36.8108, 36.8868, 34.7680]::float8[],
        ARRAY['Kilimani-Mall-WiFi', 'Westlands-Stage-WiFi', 'Roysambu-Hostel-WiFi',
              'Kisumu-Market-WiFi'],
        ARRAY['ramips/mt7621', 'ath79/generic', 'ramips/mt7621', 'mediatek/filogic'])
        WITH ORDINALITY AS x(id, router, name, location, lat, lon, ssid, platform, n)
), first AS (
    SELECT created_at FROM hotspots WHERE id = $2
), made AS (
    INSERT INTO hotspots (id, tenant_id, name, location, latitude, longitude, ssid, status,
                          bandwidth_limit, max_concurrent_users, installation_date, created_at)
    SELECT s.id, $1, s.name, s.location, s.lat, s.lon, s.ssid, 'active', 50, 80,
           current_date - 120 + 20 * s.n::int, first.created_at + s.n * interval '1 second'
    FROM s, first
    ON CONFLICT (id) DO NOTHING
    RETURNING id, created_at
), routers AS (
    INSERT INTO hotspot_devices (id, tenant_id, hotspot_id, claimed_at, token_hash, hostname,
                                 platform, software_version, last_seen_at)
    SELECT s.router, $1, made.id, made.created_at, digest(gen_random_bytes(32), 'sha256'),
           lower(replace(s.name, ' ', '-')), s.platform, '0.1.0',
           CASE WHEN s.n = 4 THEN now() - interval '2 days 3 hours' ELSE now() END
    FROM made JOIN s ON s.id = made.id
    ON CONFLICT (id) DO NOTHING
)
SELECT 1 FROM made";

/// Thirty days of trade on the four sites, up to now, in the tenant's time zone
/// (Africa/Nairobi): guests from six in the morning to eleven at night, more at weekends and at
/// the busier sites; each guest's voucher either bought with M-Pesa on the portal (a paid
/// purchase, its receipt, the voucher it issued) or sold at the counter from a printed batch;
/// sessions still within their time are online now, plus four that started in the last hour.
/// Some stock of printed vouchers is left unused. Pseudo-random but fixed: md5 of each slot.
const DEMO_TRADE_SQL: &str = "
CREATE TEMP TABLE demo_trade ON COMMIT DROP AS
WITH site AS (
    SELECT * FROM (VALUES (1, '{S1}'::uuid, '{R1}'::uuid, 1.4), (2, '{S2}', '{R2}', 1.0),
                          (3, '{S3}', '{R3}', 0.8), (4, '{S4}', '{R4}', 0.6)) x(n, id, router, weight)
), midnight AS (
    SELECT (date_trunc('day', now() AT TIME ZONE 'Africa/Nairobi') AT TIME ZONE 'Africa/Nairobi')
               AS today
), slot AS (
    SELECT site.n AS site_n, site.id AS hotspot_id, site.router, d, k,
           ('x' || substr(md5('demo-' || site.n || '-' || d || '-' || k), 1, 8))::bit(32)::int8 AS h1,
           ('x' || substr(md5('demo-' || site.n || '-' || d || '-' || k), 9, 8))::bit(32)::int8 AS h2,
           ('x' || substr(md5('demo-' || site.n || '-' || d || '-' || k), 17, 8))::bit(32)::int8 AS h3,
           midnight.today - d * interval '1 day' AS day_start
    FROM site, midnight, generate_series(0, 29) d,
         LATERAL generate_series(1, (site.weight * (22 + 10 * (extract(isodow FROM
             midnight.today - d * interval '1 day') >= 5)::int + (d * 7 + site.n * 3) % 9))::int) k
    UNION ALL
    -- Guests who came in within the last hour, whatever the hour.
    SELECT site.n, site.id, site.router, -1, k, 130, 1000 + 100 * k, 50 * k, now() - interval '1 hour'
    FROM site, generate_series(1, 2) k WHERE site.n <= 2
), t AS (
    SELECT s.*,
           CASE WHEN s.d < 0 THEN now() - (8 + 11 * s.k) * interval '1 minute'
                ELSE s.day_start + interval '6 hours' + (s.h1 % 61200) * interval '1 second'
           END AS start_time,
           CASE WHEN s.h2 % 100 < 70 THEN '1 Hour' WHEN s.h2 % 100 < 95 THEN '1 Day'
                ELSE '1 Week' END AS package,
           s.h3 % 100 < 45 AS by_mpesa,
           '0A:DE:' || lpad(to_hex(s.site_n), 2, '0') || ':' ||
               upper(lpad(to_hex((s.h3 / 100) % 4 * 64 + (s.h2 / 100) % 64), 2, '0')) || ':' ||
               upper(lpad(to_hex((s.h1 / 7) % 256), 2, '0')) || ':' ||
               upper(lpad(to_hex((s.h1 / 1792) % 3), 2, '0')) AS mac
    FROM slot s
)
SELECT row_number() OVER (ORDER BY t.start_time, t.site_n, t.k) AS seq, t.*,
       p.id AS package_id, p.price, p.duration_minutes AS package_minutes, p.max_devices,
       least(p.duration_minutes, 12 + t.h1 % 140)::int AS minutes
FROM t JOIN service_packages p ON p.tenant_id = '{T}' AND p.name = t.package
WHERE t.start_time < now() - interval '1 minute';

ALTER TABLE demo_trade ADD COLUMN code TEXT, ADD COLUMN receipt TEXT, ADD COLUMN voucher_id UUID,
    ADD COLUMN ends_at TIMESTAMPTZ;
-- Codes and receipts: the shared voucher alphabet, numbered, so none repeats.
UPDATE demo_trade SET
    code = 'DM' || (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ',
                        ((seq / power(30, i)::int8) % 30)::int + 1, 1), '' ORDER BY i DESC)
                    FROM generate_series(0, 7) i),
    receipt = 'TD' || (SELECT string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                        ((seq * 7919 / power(36, i)::int8) % 36)::int + 1, 1), '' ORDER BY i DESC)
                    FROM generate_series(0, 7) i),
    voucher_id = md5('demo-voucher-' || seq)::uuid,
    ends_at = start_time + minutes * interval '1 minute';

INSERT INTO hotspot_vouchers (id, tenant_id, hotspot_id, voucher_code, voucher_type,
    duration_minutes, price, max_devices, expiry_date, is_used, used_at, used_by_mac,
    payment_reference, mpesa_receipt_number, service_package_id, batch_id, created_at)
SELECT voucher_id, '{T}', hotspot_id, code, 'time_based', package_minutes, price, max_devices,
       start_time + interval '30 days', true, start_time, mac,
       CASE WHEN by_mpesa THEN 'ws_CO_DEMO' || lpad(seq::text, 8, '0') END,
       CASE WHEN by_mpesa THEN receipt END, package_id,
       CASE WHEN NOT by_mpesa THEN md5('demo-batch-' || site_n || '-' || (d + 3) / 7)::uuid END,
       CASE WHEN by_mpesa THEN start_time - interval '15 seconds'
            ELSE start_time - ((d + 3) % 7 + 1) * interval '1 day' END
FROM demo_trade;

INSERT INTO hotspot_purchases (tenant_id, hotspot_id, device_id, request_id, service_package_id,
    package_name, amount, phone_number, client_mac, status, result_code, result_desc,
    merchant_request_id, checkout_request_id, mpesa_receipt_number, callback_token_hash,
    push_sent_at, next_query_at, settled_at, settled_by, voucher_id, created_at, updated_at)
SELECT '{T}', hotspot_id, router, md5('demo-request-' || seq)::uuid, package_id, package, price,
       '25479' || lpad(((h1 * 31 + h2) % 10000000)::text, 7, '0'), mac, 'paid', '0',
       'The service request is processed successfully.', 'demo-' || seq,
       'ws_CO_DEMO' || lpad(seq::text, 8, '0'), receipt, digest(gen_random_bytes(32), 'sha256'),
       start_time - interval '40 seconds', start_time - interval '15 seconds',
       start_time - interval '15 seconds', 'callback', voucher_id,
       start_time - interval '45 seconds', start_time - interval '15 seconds'
FROM demo_trade WHERE by_mpesa;

INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, session_type, start_time,
    end_time, duration_minutes, data_used_mb, session_status, ip_address, payment_reference,
    voucher_code)
SELECT '{T}', hotspot_id, mac, CASE WHEN by_mpesa THEN 'mpesa' ELSE 'voucher' END, start_time,
       CASE WHEN ends_at <= now() THEN ends_at END,
       CASE WHEN ends_at <= now() THEN minutes END,
       round((minutes * (1 + h2 % 23) / 3.0)::numeric, 1),
       CASE WHEN ends_at <= now() THEN 'ended' ELSE 'active' END,
       ('10.' || (10 + site_n) || '.' || (h3 % 4) || '.' || (2 + h1 % 250))::inet,
       CASE WHEN by_mpesa THEN receipt END, code
FROM demo_trade;

-- Printed stock still to sell: a batch of each hour and day vouchers per site.
INSERT INTO hotspot_vouchers (id, tenant_id, hotspot_id, voucher_code, voucher_type,
    duration_minutes, price, max_devices, expiry_date, service_package_id, batch_id, created_at)
SELECT md5('demo-stock-' || s.n || '-' || p.name || '-' || g)::uuid, '{T}', s.id,
       'DS' || (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ',
                    (((s.n * 100000 + p.duration_minutes * 100 + g) / power(30, i)::int8) % 30)::int + 1,
                    1), '' ORDER BY i DESC) FROM generate_series(0, 7) i),
       'time_based', p.duration_minutes, p.price, p.max_devices, now() + interval '60 days',
       p.id, md5('demo-stock-' || s.n || '-' || p.name)::uuid, now() - interval '2 days'
FROM (VALUES (1, '{S1}'::uuid), (2, '{S2}'), (3, '{S3}'), (4, '{S4}')) s(n, id),
     service_packages p, generate_series(1, 40) g
WHERE p.tenant_id = '{T}' AND p.name IN ('1 Hour', '1 Day')
  AND g <= CASE WHEN p.name = '1 Hour' THEN 40 ELSE 15 END;
";
