//! Router credentials. An operator creates a one-time claim code for a hotspot; the router
//! presents it once and receives a device token; both are stored only as SHA-256. A token can be
//! rotated by its device and revoked by an operator.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use hotspot_shared::voucher;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::SyncError;
use crate::db::{service_transaction, tenant_transaction};

/// A router that proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub hotspot_id: Uuid,
}

/// Characters of a claim code (the voucher alphabet: typed by a technician) and its length.
const CLAIM_LEN: usize = 12;

/// SHA-256 of a secret, the only form kept.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new device token: 32 random bytes, URL-safe base64, with a prefix that says what it is
/// (so a leaked one is recognisable in logs and secret scanners).
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "hsd_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A new claim code, `XXXX-XXXX-XXXX` from the unambiguous alphabet (about 59 bits).
pub fn new_claim_code() -> String {
    let code: String = loop {
        let bytes: [u8; 32] = rand::random();
        let picked: String = bytes
            .iter()
            .filter(|&&b| b < 240)
            .map(|&b| voucher::ALPHABET[(b % 30) as usize] as char)
            .take(CLAIM_LEN)
            .collect();
        if picked.len() == CLAIM_LEN {
            break picked;
        }
    };
    format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..])
}

/// The form a claim code is hashed in: dashes and spaces dropped, upper case.
pub fn normalize_claim_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CLAIM_LEN && code.bytes().all(|b| voucher::ALPHABET.contains(&b)))
        .then_some(code)
}

/// A claim code just created: shown to the operator once.
#[derive(Debug, Clone)]
pub struct ClaimCode {
    pub device_id: Uuid,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a device slot for `hotspot` with a claim code valid until `expires_at`.
pub async fn create_claim_code(
    pool: &Pool,
    tenant: Uuid,
    hotspot: Uuid,
    created_by: Option<Uuid>,
    expires_at: DateTime<Utc>,
) -> Result<ClaimCode, SyncError> {
    let code = new_claim_code();
    let normalized =
        normalize_claim_code(&code).ok_or_else(|| SyncError::Invalid("claim code".into()))?;
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, tenant, created_by).await?;
    let row = tx
        .query_opt(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, claim_code_hash, claim_expires_at, created_by)
             SELECT $1, h.id, $3, $4, $5 FROM hotspots h WHERE h.id = $2
             RETURNING id",
            &[&tenant, &hotspot, &hash(&normalized), &expires_at, &created_by],
        )
        .await?
        .ok_or_else(|| SyncError::Invalid("no such hotspot".into()))?;
    tx.commit().await?;
    Ok(ClaimCode {
        device_id: row.get(0),
        code,
        expires_at,
    })
}

/// What a router says about itself when it claims.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub code: String,
    pub hostname: Option<String>,
    pub platform: Option<String>,
    pub version: Option<String>,
}

/// The answer to a successful claim; the token is never shown again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClaimResponse {
    pub device_id: Uuid,
    pub hotspot_id: Uuid,
    pub token: String,
}

fn short(s: &Option<String>, max: usize) -> Option<String> {
    s.as_ref()
        .map(|v| v.chars().filter(|c| !c.is_control()).take(max).collect())
}

/// Exchanges a claim code for a device token. A code works once.
pub async fn claim(pool: &Pool, req: &ClaimRequest) -> Result<ClaimResponse, SyncError> {
    let code = normalize_claim_code(&req.code).ok_or(SyncError::ClaimRefused)?;
    let token = new_token();
    let mut client = pool.get().await?;
    let tx = service_transaction(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT device_id, tenant_id, hotspot_id FROM device_claim($1, $2)",
            &[&hash(&code), &hash(&token)],
        )
        .await?
        .ok_or(SyncError::ClaimRefused)?;
    tx.commit().await?;
    let device = Device {
        id: row.get(0),
        tenant_id: row.get(1),
        hotspot_id: row.get(2),
    };
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    tx.execute(
        "UPDATE hotspot_devices SET hostname = $2, platform = $3, software_version = $4,
                last_seen_at = now() WHERE id = $1",
        &[
            &device.id,
            &short(&req.hostname, 255),
            &short(&req.platform, 100),
            &short(&req.version, 50),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(ClaimResponse {
        device_id: device.id,
        hotspot_id: device.hotspot_id,
        token,
    })
}

/// The device a bearer token belongs to, unless it is unknown or revoked.
pub async fn authenticate(pool: &Pool, token: &str) -> Result<Device, SyncError> {
    if !token.starts_with("hsd_") || token.len() > 100 {
        return Err(SyncError::Unauthorized);
    }
    let mut client = pool.get().await?;
    let tx = service_transaction(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT device_id, tenant_id, hotspot_id FROM device_token_lookup($1)",
            &[&hash(token)],
        )
        .await?
        .ok_or(SyncError::Unauthorized)?;
    tx.commit().await?;
    Ok(Device {
        id: row.get(0),
        tenant_id: row.get(1),
        hotspot_id: row.get(2),
    })
}

/// Replaces the device's token; the old one stops working at once.
pub async fn rotate(pool: &Pool, device: &Device) -> Result<String, SyncError> {
    let token = new_token();
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    let n = tx
        .execute(
            "UPDATE hotspot_devices SET token_hash = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&device.id, &hash(&token)],
        )
        .await?;
    if n != 1 {
        return Err(SyncError::Unauthorized);
    }
    tx.commit().await?;
    Ok(token)
}

/// Revokes a device of `tenant`: its token stops working. False when there is no such device.
pub async fn revoke(pool: &Pool, tenant: Uuid, device_id: Uuid) -> Result<bool, SyncError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let n = tx
        .execute(
            "UPDATE hotspot_devices SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&device_id],
        )
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_codes_are_typable_and_normalise() {
        let code = new_claim_code();
        assert_eq!(code.len(), 14);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(normalize_claim_code(&typed).unwrap(), code.replace('-', ""));
        assert_eq!(normalize_claim_code("ABCD-EFGH-JKL"), None);
        assert_eq!(
            normalize_claim_code("ABCD-EFGH-JKL0"),
            None,
            "0 is not in the alphabet"
        );
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with("hsd_") && a.len() == 47, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 32);
    }
}
