//! Provisioning end to end with the real binaries: the cloud makes a claim code, `hotspotd claim`
//! exchanges it for a credential stored with mode 0600, and the code does not work twice.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use hotspot_system_tests::binary;
use hotspot_system_tests::stack::{Db, cloud_output, free_port, serve_cloud};

#[test]
fn a_router_claims_its_hotspot_once_and_keeps_the_credential_private() {
    let Some(db) = Db::new("claim") else { return };
    let seeded = cloud_output(&db, &[], &["seed", "--demo"]);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let hotspot = db.query("SELECT id FROM hotspots ORDER BY created_at LIMIT 1");
    let made = cloud_output(&db, &[], &["claim-code", "--hotspot", &hotspot]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let code = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 14, "{code}");
    let unknown = cloud_output(
        &db,
        &[],
        &[
            "claim-code",
            "--hotspot",
            "00000000-0000-0000-0000-000000000000",
        ],
    );
    assert!(!unknown.status.success());

    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _server = serve_cloud(&db, port, &[], &dir.path().join("cloud.log"));

    let credential = dir.path().join("etc/device.json");
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, format!("[cloud]\ncredential = {credential:?}\n")).unwrap();
    let claim = |code: &str| {
        Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&config)
            .args([
                "claim",
                "--cloud",
                &format!("http://127.0.0.1:{port}/"),
                code,
            ])
            .output()
            .unwrap()
    };
    let first = claim(&code.to_lowercase());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mode = std::fs::metadata(&credential).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credential).unwrap()).unwrap();
    assert_eq!(stored["hotspot_id"], hotspot.as_str());
    let token = stored["token"].as_str().unwrap();
    assert!(token.starts_with("hsd_"));
    let kept = db.query(&format!(
        "SELECT encode(token_hash, 'hex') FROM hotspot_devices \
         WHERE claimed_at IS NOT NULL AND hotspot_id = '{hotspot}'"
    ));
    assert!(
        !kept.contains(token) && kept.len() == 64,
        "only the hash is kept"
    );

    let second = claim(&code);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("wrong, used or expired"), "{err}");

    let not_https = claim_with(&config, "http://192.0.2.1/", &code);
    assert!(
        String::from_utf8_lossy(&not_https.stderr).contains("https"),
        "plain http refused"
    );
}

fn claim_with(config: &std::path::Path, url: &str, code: &str) -> Output {
    Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(config)
        .args(["claim", "--cloud", url, code])
        .output()
        .unwrap()
}
