//! `hotspot-cloud seed --demo`: a demo tenant to try the product with (and for other tests): a
//! hotspot, hotspot and subscription packages with a billing plan, vouchers with known codes, a
//! client with two registered devices, and an operator login.
//!
//! Idempotent: every row has a fixed id or natural key and is inserted only when missing, so
//! running it again changes nothing (an existing operator keeps its password).

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

    tx.batch_execute(
        &DEMO_SQL
            .replace("{T}", &DEMO_TENANT.to_string())
            .replace("{H}", &DEMO_HOTSPOT.to_string())
            .replace("{C}", &DEMO_CLIENT.to_string()),
    )
    .await?;
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
