//! `hotspot-cloud seed --demo`: the demo tenant loads, loads again without change, and is usable
//! by the service role.

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use hotspot_cloud::db::demo::{self, DEMO_CLIENT, DEMO_HOTSPOT, DEMO_TENANT};

use crate::helpers::{begin_as, migrated_db};

/// Rows of the demo tenant per table, counted by the owner.
async fn census(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in [
        "users",
        "service_packages",
        "billing_products",
        "billing_subscription_plans",
        "billing_prices",
        "hotspots",
        "hotspot_vouchers",
        "clients",
        "client_hotspot_access",
        "mpesa_settings",
    ] {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {t} WHERE tenant_id = $1"),
                &[&DEMO_TENANT],
            )
            .await
            .unwrap()
            .get(0);
        out.push((t.to_owned(), n));
    }
    out
}

#[tokio::test]
async fn the_demo_tenant_loads_once_and_works() {
    let db = migrated_db().await;
    let pool = db.pool();
    let first = demo::seed_demo(&pool, "correct horse").await.unwrap();
    assert!(first.created);
    let owner = db.connect().await;
    let after_first = census(&owner).await;
    let expected = [
        ("users", 1),
        ("service_packages", 4),
        ("billing_products", 1),
        ("billing_subscription_plans", 1),
        ("billing_prices", 1),
        ("hotspots", 1),
        ("hotspot_vouchers", 5),
        ("clients", 1),
        ("client_hotspot_access", 2),
        ("mpesa_settings", 1),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(after_first, expected);

    let second = demo::seed_demo(&pool, "another password").await.unwrap();
    assert!(!second.created);
    assert_eq!(census(&owner).await, expected);

    // The operator's password is an argon2 hash of the first password (not replaced).
    let hash: String = owner
        .query_one(
            "SELECT password_hash FROM users WHERE tenant_id = $1 AND email = $2",
            &[&DEMO_TENANT, &demo::DEMO_OPERATOR_EMAIL],
        )
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let parsed = PasswordHash::new(&hash).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"another password", &parsed)
            .is_err()
    );

    // The service sees it as the demo tenant: the client's devices auto-connect at the hotspot,
    // and the vouchers are unused and of the shared alphabet.
    let mut app = db.connect().await;
    let tx = begin_as(
        &mut app,
        "hotspot_app",
        Some(&DEMO_TENANT.to_string()),
        None,
    )
    .await;
    let macs: Vec<String> = tx
        .query(
            "SELECT mac_address FROM client_hotspot_access
             WHERE client_id = $1 AND hotspot_id = $2 AND auto_connect AND NOT is_blocked
             ORDER BY mac_address",
            &[&DEMO_CLIENT, &DEMO_HOTSPOT],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(macs, demo::DEMO_DEVICES);
    let codes: Vec<String> = tx
        .query(
            "SELECT voucher_code FROM hotspot_vouchers WHERE NOT is_used ORDER BY voucher_code",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(codes, demo::DEMO_VOUCHERS);
    for code in &codes {
        assert_eq!(code.len(), hotspot_shared::voucher::CODE_LEN);
        assert!(
            code.bytes()
                .all(|c| hotspot_shared::voucher::ALPHABET.contains(&c)),
            "{code}"
        );
    }
}

#[tokio::test]
async fn the_demo_tenant_gets_the_simulators_sandbox_credentials_sealed() {
    use hotspot_cloud::api::business::open_mpesa_secret;
    use hotspot_cloud::api::secrets::SecretsKey;
    let db = migrated_db().await;
    let pool = db.pool();
    demo::seed_demo(&pool, "correct horse").await.unwrap();
    let key = SecretsKey::from_bytes([9; 32]);
    for _ in 0..2 {
        demo::seed_demo_mpesa(&pool, &key).await.unwrap();
    }
    let owner = db.connect().await;
    let r = owner
        .query_one(
            "SELECT shortcode, environment, passkey, consumer_key, consumer_secret
             FROM mpesa_settings WHERE tenant_id = $1",
            &[&DEMO_TENANT],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "174379");
    assert_eq!(r.get::<_, String>(1), "sandbox");
    let open = |col: &str, i: usize| open_mpesa_secret(&key, col, &r.get::<_, String>(i)).unwrap();
    assert_eq!(open("passkey", 2), demo::SANDBOX_PASSKEY);
    assert_eq!(open("consumer_key", 3), "sim-key");
    assert_eq!(open("consumer_secret", 4), "sim-secret");
    assert!(
        !r.get::<_, String>(4).contains("sim-secret"),
        "sealed at rest"
    );
}
