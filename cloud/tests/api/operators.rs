//! The operators' API over HTTP: accounts and tokens, roles, and the typed endpoints of the
//! hotspot business, each with its refusals (no token, expired token, wrong role, another
//! tenant's id, bad input).

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use hotspot_cloud::api::secrets::SecretsKey;
use hotspot_cloud::api::totp;

use crate::helpers::{TEST_SECRETS_KEY, TestApp, seed_tenant, spawn_app};

/// A running service with two tenants from the fixture and a client to talk to it.
pub struct Api {
    pub app: TestApp,
    pub http: reqwest::Client,
    pub owner: tokio_postgres::Client,
    pub a: Uuid,
    pub b: Uuid,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl Api {
    pub async fn new() -> Self {
        let app = spawn_app().await;
        let owner = app._db.connect().await;
        let a = seed_tenant(&owner, 1).await;
        let b = seed_tenant(&owner, 2).await;
        Api {
            http: hotspot_cloud::mpesa::client::http_client().unwrap(),
            app,
            owner,
            a,
            b,
        }
    }

    /// Adds a user of `tenant` with `roles` (as the owner) and returns its id.
    pub async fn user(&self, tenant: Uuid, email: &str, roles: &[&str]) -> Uuid {
        let hash = hotspot_cloud::db::demo::hash_password(PASSWORD).unwrap();
        self.owner
            .query_one(
                "INSERT INTO users (tenant_id, email, password_hash, full_name, roles)
                 VALUES ($1, $2, $3, 'Test User', $4) RETURNING id",
                &[&tenant, &email, &hash, &json!(roles)],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Signs in and returns the token.
    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// A user with `roles` at `tenant`, signed in.
    pub async fn token(&self, tenant: Uuid, roles: &[&str]) -> String {
        let email = format!("{}@example.test", Uuid::new_v4().simple());
        self.user(tenant, &email, roles).await;
        self.login(&email).await
    }

    /// One request; the body as JSON (or as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, text) = self.raw(method, path, token, body).await;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// One request: status, content type, body text.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String, String) {
        let mut req = self.http.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ctype, resp.text().await.unwrap())
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// An id from tenant `t`'s rows of `table` (as the owner).
    pub async fn id_of(&self, table: &str, t: Uuid) -> Uuid {
        self.owner
            .query_one(
                &format!("SELECT id FROM {table} WHERE tenant_id = $1 ORDER BY id LIMIT 1"),
                &[&t],
            )
            .await
            .unwrap()
            .get(0)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.owner.query_one(sql, &[]).await.unwrap().get(0)
    }
}

pub fn assert_problem(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["type"].as_str().unwrap().starts_with("/problems/"),
        "{body}"
    );
}

#[tokio::test]
async fn login_gives_a_token_and_refuses_wrong_credentials_alike() {
    let api = Api::new().await;
    api.user(api.a, "ops@a.test", &["tenant_admin"]).await;
    let token = api.login("ops@a.test").await;
    let (status, me) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["tenant_id"], json!(api.a));
    assert_eq!(me["roles"], json!(["tenant_admin"]));
    // Stored hashed only.
    let stored = api
        .count("SELECT count(*) FROM api_tokens WHERE token_hash = digest('x', 'sha256')")
        .await;
    assert_eq!(stored, 0);
    let plain: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM api_tokens WHERE token_hash = digest($1, 'sha256')",
            &[&token],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, 1);

    for body in [
        json!({"email": "ops@a.test", "password": "wrong"}),
        json!({"email": "nobody@a.test", "password": PASSWORD}),
    ] {
        let (status, ctype, text) = api
            .raw(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await;
        assert_eq!(status, 401, "{text}");
        assert_eq!(ctype, "application/problem+json");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["detail"], "wrong e-mail or password");
    }
    // Bad input: a missing field is 422 naming it; unreadable JSON is 400.
    let (status, v) = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "x@y"})),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"][0]["field"], "password", "{v}");
    let resp = api
        .http
        .post(api.app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn tokens_are_refused_when_missing_unknown_expired_or_revoked() {
    let api = Api::new().await;
    let user = api.user(api.a, "ops@a.test", &["tenant_admin"]).await;
    let (status, v) = api.call(Method::GET, "/api/v1/hotspots", None, None).await;
    assert_problem(status, &v, 401);
    let (status, v) = api.get("/api/v1/hotspots", "hsk_made_up").await;
    assert_problem(status, &v, 401);

    // An expired token.
    api.owner
        .execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, digest('hsk_expired', 'sha256'), now() - interval '1 second')",
            &[&api.a, &user],
        )
        .await
        .unwrap();
    let (status, v) = api.get("/api/v1/hotspots", "hsk_expired").await;
    assert_problem(status, &v, 401);
    assert_eq!(v["detail"], "token expired");

    // Sign-out revokes.
    let token = api.login("ops@a.test").await;
    assert_eq!(api.get("/api/v1/hotspots", &token).await.0, 200);
    let (status, _) = api
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    let (status, v) = api.get("/api/v1/hotspots", &token).await;
    assert_problem(status, &v, 401);
    assert_eq!(v["detail"], "token revoked");
}

pub(crate) fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn totp_once_verified_is_required_at_sign_in() {
    let api = Api::new().await;
    let user = api.user(api.a, "mfa@a.test", &["support_agent"]).await;
    let token = api.login("mfa@a.test").await;
    let (status, e) = api.post("/api/v1/auth/mfa/enroll", &token, json!({})).await;
    assert_eq!(status, 200, "{e}");
    let secret = base32_decode(e["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    // Stored sealed, not in the clear.
    let stored: String = api
        .owner
        .query_one("SELECT mfa_secret FROM users WHERE id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("v1:"));
    assert_eq!(
        SecretsKey::from_bytes(TEST_SECRETS_KEY)
            .open("users.mfa_secret", &stored)
            .unwrap(),
        secret
    );
    // Not yet enabled: sign-in still works with the password alone.
    api.login("mfa@a.test").await;
    // A wrong code is refused and enables nothing: one no step from a minute ago to two
    // minutes on would accept (a code is good for the steps beside its own too).
    let wrong = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| (0..7).all(|k| !totp::verify(&secret, c, now() - 60 + k * 30)))
        .expect("four codes cannot all be near-current");
    let (status, v) = api
        .post("/api/v1/auth/mfa/verify", &token, json!({"code": wrong}))
        .await;
    assert_problem(status, &v, 422);
    api.login("mfa@a.test").await;
    let (status, codes) = api
        .post(
            "/api/v1/auth/mfa/verify",
            &token,
            json!({"code": totp::code_at(&secret, now())}),
        )
        .await;
    assert_eq!(status, 200, "{codes}");
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    let login = |totp: Option<String>| {
        let mut body = json!({"email": "mfa@a.test", "password": PASSWORD});
        if let Some(t) = totp {
            body["totp"] = json!(t);
        }
        api.call(Method::POST, "/api/v1/auth/login", None, Some(body))
    };
    let (status, v) = login(None).await;
    assert_problem(status, &v, 401);
    assert_eq!(v["type"], "/problems/mfa-required");
    let (status, v) = login(Some(wrong.to_owned())).await;
    assert_problem(status, &v, 401);
    let (status, v) = login(Some(totp::code_at(&secret, now()))).await;
    assert_eq!(status, 200, "{v}");
    // A second enrolment is refused while enabled.
    let (status, v) = api.post("/api/v1/auth/mfa/enroll", &token, json!({})).await;
    assert_problem(status, &v, 409);
    // A recovery code signs in once in place of a code.
    let (status, v) = login(Some(codes[0].clone())).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = login(Some(codes[0].clone())).await;
    assert_problem(status, &v, 401);
    // New codes take a current code; the old ones stop working.
    let (status, v) = api
        .post(
            "/api/v1/auth/mfa/recovery-codes",
            &token,
            json!({"code": wrong}),
        )
        .await;
    assert_problem(status, &v, 401);
    let (status, fresh) = api
        .post(
            "/api/v1/auth/mfa/recovery-codes",
            &token,
            json!({"code": totp::code_at(&secret, now())}),
        )
        .await;
    assert_eq!(status, 200, "{fresh}");
    let fresh = fresh["recovery_codes"][0].as_str().unwrap().to_owned();
    let (status, v) = login(Some(codes[1].clone())).await;
    assert_problem(status, &v, 401);
    let (status, v) = login(Some(fresh)).await;
    assert_eq!(status, 200, "{v}");

    // An administrator resets it (another tenant's cannot, nor a non-administrator); the
    // account's tokens stop working and the password alone signs in again.
    let other_admin = api.token(api.b, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let path = format!("/api/v1/users/{user}/mfa/reset");
    let (status, v) = api.post(&path, &other_admin, json!({})).await;
    assert_problem(status, &v, 404);
    let (status, v) = api.post(&path, &noc, json!({})).await;
    assert_problem(status, &v, 403);
    let (status, v) = login(None).await;
    assert_problem(status, &v, 401);
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let (status, v) = api.post(&path, &admin, json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["mfa_enabled"], false);
    let (status, _) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!(status, 401, "signed out everywhere");
    let (status, v) = login(None).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn hotspots_are_created_listed_with_device_status_and_isolated() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;

    let (status, h) = api
        .post(
            "/api/v1/hotspots",
            &noc,
            json!({"name": "Market", "location": "Kisumu", "ssid": "Market-WiFi"}),
        )
        .await;
    assert_eq!(status, 201, "{h}");
    assert_eq!(h["clients_now"], 0);
    assert!(h.get("password").is_none());
    let id = h["id"].as_str().unwrap().to_owned();

    // The fixture's hotspot has a router and an active session.
    let (status, list) = api.get("/api/v1/hotspots", &field).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let cafe = list.iter().find(|h| h["name"] == "Cafe t1").unwrap();
    assert_eq!(cafe["clients_now"], 1, "{cafe}");
    assert!(cafe.as_object().unwrap().contains_key("last_seen_at"));
    assert!(cafe.as_object().unwrap().contains_key("software_version"));

    // Wrong role: a field technician reads but does not create.
    let (status, v) = api
        .post(
            "/api/v1/hotspots",
            &field,
            json!({"name": "X", "location": "Y", "ssid": "Z"}),
        )
        .await;
    assert_problem(status, &v, 403);

    // Another tenant's id: 404 for reading and changing.
    let (status, v) = api.get(&format!("/api/v1/hotspots/{id}"), &other).await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/hotspots/{id}"),
            Some(&other),
            Some(json!({"name": "Mine now"})),
        )
        .await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .post(
            &format!("/api/v1/hotspots/{id}/claim-code"),
            &other,
            json!({}),
        )
        .await;
    assert_problem(status, &v, 404);

    // Bad input: each field named, nothing written.
    let before = api.count("SELECT count(*) FROM hotspots").await;
    let (status, v) = api
        .post(
            "/api/v1/hotspots",
            &noc,
            json!({"name": "", "location": "Y", "status": "on fire", "latitude": 123.0}),
        )
        .await;
    assert_problem(status, &v, 422);
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "ssid", "status", "latitude"], "{v}");
    let (status, v) = api
        .post(
            "/api/v1/hotspots",
            &noc,
            json!({"name": "A", "colour": "red"}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(api.count("SELECT count(*) FROM hotspots").await, before);

    // Update and a claim code for the router (stored hashed).
    let (status, h) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/hotspots/{id}"),
            Some(&noc),
            Some(json!({"status": "maintenance"})),
        )
        .await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "maintenance");
    assert_eq!(h["name"], "Market");
    let (status, c) = api
        .post(
            &format!("/api/v1/hotspots/{id}/claim-code"),
            &noc,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    // The same code `hotspotd claim` takes: XXXX-XXXX-XXXX, stored as the hash of its 12
    // characters without dashes.
    let code = c["claim_code"].as_str().unwrap();
    assert_eq!(code.len(), 14, "{code}");
    let bare = hotspot_cloud::sync::device::normalize_claim_code(code).expect("a valid claim code");
    let n: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM hotspot_devices WHERE claim_code_hash = digest($1, 'sha256')",
            &[&bare],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn packages_are_managed_by_noc_and_soft_deleted() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let support = api.token(api.a, &["support_agent"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let (status, p) = api
        .post(
            "/api/v1/packages",
            &noc,
            json!({"name": "1 hour", "package_type": "hotspot", "download_mbps": 5,
                   "upload_mbps": 2, "price": 20, "duration_minutes": 60}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["connection_type"], "hotspot");
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post("/api/v1/packages", &support, json!({"name": "x"}))
        .await;
    assert_problem(status, &v, 403);
    let (status, v) = api
        .post(
            "/api/v1/packages",
            &noc,
            json!({"name": "x", "download_mbps": 0}),
        )
        .await;
    assert_problem(status, &v, 422);
    let (status, v) = api.get(&format!("/api/v1/packages/{id}"), &other).await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/packages/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_problem(status, &v, 404);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/packages/{id}"),
            Some(&noc),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&format!("/api/v1/packages/{id}"), &noc).await;
    assert_eq!(status, 404);
    assert_eq!(
        api.count(&format!(
            "SELECT count(*) FROM service_packages WHERE id = '{id}' AND deleted_at IS NOT NULL"
        ))
        .await,
        1
    );
}

/// A hotspot package of tenant `t` (as the owner).
pub async fn hotspot_package(api: &Api, t: Uuid) -> Uuid {
    api.owner
        .query_one(
            "INSERT INTO service_packages (tenant_id, name, package_type, connection_type,
                 download_mbps, upload_mbps, price, duration_minutes)
             VALUES ($1, 'One hour', 'hotspot', 'hotspot', 5, 2, 20, 60) RETURNING id",
            &[&t],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn vouchers_are_generated_listed_exported_printed_and_revoked() {
    let api = Api::new().await;
    let support = api.token(api.a, &["support_agent"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;
    let package = hotspot_package(&api, api.a).await;
    let b_hotspot = api.id_of("hotspots", api.b).await;

    let (status, batch) = api
        .post(
            "/api/v1/vouchers/batches",
            &support,
            json!({"hotspot_id": hotspot, "package_id": package, "count": 25}),
        )
        .await;
    assert_eq!(status, 201, "{batch}");
    let codes: Vec<String> = batch["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 25);
    assert!(codes.iter().all(|c| c.len() == 10));
    let batch_id = batch["batch_id"].as_str().unwrap();

    // Refusals: wrong role, another tenant's hotspot (named, nothing written), bad count.
    let before = api.count("SELECT count(*) FROM hotspot_vouchers").await;
    let (status, v) = api
        .post(
            "/api/v1/vouchers/batches",
            &field,
            json!({"hotspot_id": hotspot, "package_id": package, "count": 1}),
        )
        .await;
    assert_problem(status, &v, 403);
    let (status, v) = api
        .post(
            "/api/v1/vouchers/batches",
            &support,
            json!({"hotspot_id": b_hotspot, "package_id": package, "count": 1}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"][0]["field"], "hotspot_id");
    for count in [0, 10_001] {
        let (status, v) = api
            .post(
                "/api/v1/vouchers/batches",
                &support,
                json!({"hotspot_id": hotspot, "package_id": package, "count": count}),
            )
            .await;
        assert_problem(status, &v, 422);
        assert_eq!(v["errors"][0]["field"], "count");
    }
    assert_eq!(
        api.count("SELECT count(*) FROM hotspot_vouchers").await,
        before
    );

    // Paged listing of the batch: 10 + 10 + 5, no repeats.
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/vouchers?batch_id={batch_id}&limit=10");
    loop {
        let (status, page) = api.get(&path, &field).await;
        assert_eq!(status, 200, "{page}");
        for v in page["items"].as_array().unwrap() {
            assert_eq!(v["status"], "unused");
            seen.push(v["voucher_code"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/vouchers?batch_id={batch_id}&limit=10&cursor={c}"),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_codes = codes.clone();
    sorted_codes.sort();
    assert_eq!(sorted_seen, sorted_codes);
    let (status, v) = api.get("/api/v1/vouchers?status=lost", &field).await;
    assert_problem(status, &v, 422);
    let (status, v) = api.get("/api/v1/vouchers?limit=0", &field).await;
    assert_problem(status, &v, 422);
    // B sees none of them.
    let (_, page) = api
        .get(&format!("/api/v1/vouchers?batch_id={batch_id}"), &other)
        .await;
    assert_eq!(page["items"], json!([]));

    // Revocation: B cannot, A can once.
    let (_, page) = api
        .get(&format!("/api/v1/vouchers?code={}", codes[0]), &support)
        .await;
    let vid = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(&format!("/api/v1/vouchers/{vid}/revoke"), &other, json!({}))
        .await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .post(
            &format!("/api/v1/vouchers/{vid}/revoke"),
            &support,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "revoked");
    let (status, v) = api
        .post(
            &format!("/api/v1/vouchers/{vid}/revoke"),
            &support,
            json!({}),
        )
        .await;
    assert_problem(status, &v, 409);
    let (_, page) = api
        .get(
            &format!("/api/v1/vouchers?batch_id={batch_id}&status=unused&limit=100"),
            &field,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 24);

    // CSV and cards of the batch.
    let (status, ctype, csv) = api
        .raw(
            Method::GET,
            &format!("/api/v1/vouchers/export.csv?batch_id={batch_id}"),
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"));
    assert_eq!(csv.lines().count(), 26);
    assert!(csv.starts_with("voucher_code,status,"));
    assert!(codes.iter().all(|c| csv.contains(c.as_str())));
    let (status, ctype, html) = api
        .raw(
            Method::GET,
            &format!("/api/v1/vouchers/cards?batch_id={batch_id}"),
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    assert_eq!(html.matches("class=\"card\"").count(), 24);
    assert!(
        !html.contains(&codes[0]),
        "a revoked voucher is not printed"
    );
    assert!(html.contains("Cafe-t1"));
    let (_, _, other_csv) = api
        .raw(
            Method::GET,
            &format!("/api/v1/vouchers/export.csv?batch_id={batch_id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(other_csv.lines().count(), 1);
}

#[tokio::test]
async fn sessions_are_filtered_and_kicked_for_the_edge() {
    let api = Api::new().await;
    let support = api.token(api.a, &["support_agent"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;

    let (status, page) = api
        .get(
            &format!("/api/v1/hotspots/{hotspot}/sessions/active"),
            &field,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let sid = items[0]["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .get(
            &format!("/api/v1/hotspots/{hotspot}/sessions/active"),
            &other,
        )
        .await;
    assert_problem(status, &v, 404);

    let (_, page) = api
        .get(
            "/api/v1/sessions?mac=aa-bb-cc-00-00-01&status=active",
            &field,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = api
        .get("/api/v1/sessions?mac=AA:BB:CC:00:00:02", &field)
        .await;
    assert_eq!(page["items"], json!([]));
    let (_, page) = api
        .get(
            "/api/v1/sessions?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z",
            &field,
        )
        .await;
    assert_eq!(page["items"], json!([]));
    for bad in ["status=gone", "mac=zz", "from=yesterday"] {
        let (status, v) = api.get(&format!("/api/v1/sessions?{bad}"), &field).await;
        assert_problem(status, &v, 422);
    }

    // Kick: wrong role, other tenant, then done once and recorded for the router.
    let path = format!("/api/v1/sessions/{sid}/kick");
    let (status, v) = api.post(&path, &field, json!({})).await;
    assert_problem(status, &v, 403);
    let (status, v) = api.post(&path, &other, json!({})).await;
    assert_problem(status, &v, 404);
    let (status, s) = api.post(&path, &support, json!({"reason": "abuse"})).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["session_status"], "terminated");
    assert!(s["end_time"].is_string());
    let (status, v) = api.post(&path, &support, json!({})).await;
    assert_problem(status, &v, 409);
    let row = api
        .owner
        .query_one(
            "SELECT hotspot_id, mac_address, reason, delivered_at IS NULL
             FROM hotspot_session_kicks WHERE session_id = $1",
            &[&Uuid::parse_str(&sid).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), hotspot);
    assert_eq!(row.get::<_, String>(1), "AA:BB:CC:00:00:01");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("abuse"));
    assert!(row.get::<_, bool>(3));
    let (_, page) = api
        .get(
            &format!("/api/v1/hotspots/{hotspot}/sessions/active"),
            &field,
        )
        .await;
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn devices_are_added_blocked_with_a_reason_and_unblocked() {
    let api = Api::new().await;
    let support = api.token(api.a, &["support_agent"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;
    let client = api.id_of("clients", api.a).await;
    let b_client = api.id_of("clients", api.b).await;

    let (status, d) = api
        .post(
            "/api/v1/access",
            &support,
            json!({"client_id": client, "hotspot_id": hotspot, "mac_address": "02-00-5e-00-00-aa",
                   "device_name": "Phone"}),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["mac_address"], "02:00:5E:00:00:AA");
    let id = d["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(
            "/api/v1/access",
            &support,
            json!({"client_id": client, "hotspot_id": hotspot, "mac_address": "02:00:5E:00:00:AA"}),
        )
        .await;
    assert_problem(status, &v, 409);
    let before = api
        .count("SELECT count(*) FROM client_hotspot_access")
        .await;
    let (status, v) = api
        .post(
            "/api/v1/access",
            &support,
            json!({"client_id": b_client, "hotspot_id": hotspot, "mac_address": "nope"}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"][0]["field"], "mac_address");
    let (status, v) = api
        .post(
            "/api/v1/access",
            &support,
            json!({"client_id": b_client, "hotspot_id": hotspot, "mac_address": "02:00:5E:00:00:AB"}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"][0]["field"], "client_id");
    assert_eq!(
        api.count("SELECT count(*) FROM client_hotspot_access")
            .await,
        before
    );

    let block = format!("/api/v1/access/{id}/block");
    let (status, v) = api.post(&block, &support, json!({"reason": " "})).await;
    assert_problem(status, &v, 422);
    let (status, v) = api.post(&block, &field, json!({"reason": "x"})).await;
    assert_problem(status, &v, 403);
    let (status, v) = api.post(&block, &other, json!({"reason": "x"})).await;
    assert_problem(status, &v, 404);
    let (status, d) = api
        .post(&block, &support, json!({"reason": "stolen"}))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["is_blocked"], true);
    assert_eq!(d["blocked_reason"], "stolen");
    let (_, list) = api.get("/api/v1/access?blocked=true", &field).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, d) = api
        .post(&format!("/api/v1/access/{id}/unblock"), &support, json!({}))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["is_blocked"], false);
    assert_eq!(d["blocked_reason"], Value::Null);
}

#[tokio::test]
async fn analytics_and_wallet_stay_within_the_tenant() {
    let api = Api::new().await;
    let field = api.token(api.a, &["field_tech"]).await;
    let support = api.token(api.a, &["support_agent"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;
    api.owner
        .execute(
            "UPDATE hotspot_analytics SET total_sessions = 7, unique_users = 5,
                 peak_concurrent_users = 3, revenue_generated = 140 WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO hotspot_analytics (tenant_id, hotspot_id, date, total_sessions,
                 peak_concurrent_users, revenue_generated)
             VALUES ($1, $2, current_date - 1, 3, 9, 60)",
            &[&api.a, &hotspot],
        )
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(7);
    let (status, a) = api
        .get(&format!("/api/v1/analytics?from={from}&to={today}"), &field)
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["days"].as_array().unwrap().len(), 2);
    assert_eq!(a["totals"]["total_sessions"], 10);
    assert_eq!(a["totals"]["peak_concurrent_users"], 9);
    assert_eq!(a["totals"]["revenue_generated"], 200);
    let (status, v) = api
        .get(&format!("/api/v1/analytics?from={today}&to={from}"), &field)
        .await;
    assert_problem(status, &v, 422);
    let (status, v) = api.get("/api/v1/analytics?from=x&to=y", &field).await;
    assert_problem(status, &v, 422);

    let (status, w) = api.get("/api/v1/wallet-transactions", &support).await;
    assert_eq!(status, 200, "{w}");
    let w = w.as_array().unwrap();
    assert!(!w.is_empty());
    assert!(w.iter().all(|t| t["tenant_id"] == json!(api.a)));
    let (status, v) = api.get("/api/v1/wallet-transactions", &field).await;
    assert_problem(status, &v, 403);
}

#[tokio::test]
async fn mpesa_secrets_are_write_only_and_encrypted_at_rest() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let body = json!({"paybill_number": "174379", "environment": "sandbox",
                      "passkey": "bfb279f9aa9bdbcf", "consumer_key": "ck-123",
                      "consumer_secret": "cs-456"});
    let (status, v) = api
        .call(
            Method::PUT,
            "/api/v1/mpesa-settings",
            Some(&noc),
            Some(body.clone()),
        )
        .await;
    assert_problem(status, &v, 403);
    let (status, v) = api
        .call(
            Method::PUT,
            "/api/v1/mpesa-settings",
            Some(&admin),
            Some(json!({"paybill_number": "12ab", "environment": "live"})),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    // The fixture's settings are replaced (update path): no new callback token.
    let (status, v) = api
        .call(
            Method::PUT,
            "/api/v1/mpesa-settings",
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passkey_set"], true);
    let text = v.to_string();
    assert!(
        !text.contains("bfb279f9aa9bdbcf") && !text.contains("ck-123") && !text.contains("cs-456")
    );
    let row = api
        .owner
        .query_one(
            "SELECT passkey, consumer_key, consumer_secret FROM mpesa_settings WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap();
    let key = SecretsKey::from_bytes(TEST_SECRETS_KEY);
    for (i, (col, plain)) in [
        ("passkey", "bfb279f9aa9bdbcf"),
        ("consumer_key", "ck-123"),
        ("consumer_secret", "cs-456"),
    ]
    .into_iter()
    .enumerate()
    {
        let stored: String = row.get(i);
        assert!(!stored.contains(plain));
        assert_eq!(
            hotspot_cloud::api::business::open_mpesa_secret(&key, col, &stored).unwrap(),
            plain
        );
    }
    let (status, v) = api.get("/api/v1/mpesa-settings", &admin).await;
    assert_eq!(status, 200);
    assert!(v.get("passkey").is_none());
    // Changing the paybill alone keeps the secrets.
    let (_, v) = api
        .call(
            Method::PUT,
            "/api/v1/mpesa-settings",
            Some(&admin),
            Some(json!({"paybill_number": "600000"})),
        )
        .await;
    assert_eq!(v["paybill_number"], "600000");
    assert_eq!(v["consumer_secret_set"], true);
    // A tenant without settings gets them created, with its callback token once.
    api.owner
        .execute("DELETE FROM mpesa_settings WHERE tenant_id = $1", &[&api.b])
        .await
        .unwrap();
    let b_admin = api.token(api.b, &["tenant_admin"]).await;
    let (status, _) = api.get("/api/v1/mpesa-settings", &b_admin).await;
    assert_eq!(status, 404);
    let (status, v) = api
        .call(
            Method::PUT,
            "/api/v1/mpesa-settings",
            Some(&b_admin),
            Some(json!({"paybill_number": "400200"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let token = v["callback_token"].as_str().unwrap();
    let n: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM mpesa_settings
             WHERE tenant_id = $1 AND callback_token_hash = digest($2, 'sha256')",
            &[&api.b, &token],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn tenants_are_administered_by_platform_administrators_only() {
    let api = Api::new().await;
    let platform = api.token(api.a, &["platform_admin"]).await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let (status, v) = api.get("/api/v1/tenants", &admin).await;
    assert_problem(status, &v, 403);
    let (status, list) = api.get("/api/v1/tenants", &platform).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, t) = api
        .post(
            "/api/v1/tenants",
            &platform,
            json!({"name": "New ISP", "slug": "new-isp"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["status"], "trial");
    let (status, v) = api
        .post(
            "/api/v1/tenants",
            &platform,
            json!({"name": "Again", "slug": "new-isp"}),
        )
        .await;
    assert_problem(status, &v, 409);
    let (status, v) = api
        .post(
            "/api/v1/tenants",
            &platform,
            json!({"name": "", "slug": "Bad Slug"}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    let (status, v) = api
        .post("/api/v1/tenants", &admin, json!({"name": "X", "slug": "x"}))
        .await;
    assert_problem(status, &v, 403);
    let (status, t) = api
        .post(
            &format!("/api/v1/tenants/{}/status", api.b),
            &platform,
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["status"], "suspended");
    let (status, _) = api
        .get(&format!("/api/v1/tenants/{}", Uuid::new_v4()), &platform)
        .await;
    assert_eq!(status, 404);
    // A suspended tenant's users cannot sign in.
    api.user(api.b, "late@b.test", &["tenant_admin"]).await;
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "late@b.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401);
    // The database itself refuses tenant creation to anyone else.
    let (status, _) = api.get("/api/v1/tenant", &admin).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_the_pool() {
    let api = Api::new().await;
    let token = api.token(api.a, &["field_tech"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;
    api.get(&format!("/api/v1/hotspots/{hotspot}"), &token)
        .await;
    api.get(&format!("/api/v1/hotspots/{}", Uuid::new_v4()), &token)
        .await;
    let (status, ctype, text) = api.raw(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain"));
    assert!(
        text.contains(
            "http_requests_total{route=\"/api/v1/hotspots/{id}\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "http_requests_total{route=\"/api/v1/hotspots/{id}\",method=\"GET\",status=\"404\"} 1"
    ));
    assert!(text.contains("http_request_duration_seconds_bucket{route=\"/api/v1/auth/login\""));
    assert!(text.contains("db_pool_size "));
    assert!(text.contains("db_pool_available "));
    assert!(
        !text.contains(&hotspot.to_string()),
        "raw paths must not become labels"
    );
}

/// A key from a JSON row as it goes in a URL.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn repeated_wrong_passwords_close_sign_in_for_that_address() {
    let api = Api::new().await;
    api.user(api.a, "target@a.test", &["tenant_admin"]).await;
    api.user(api.a, "bystander@a.test", &["tenant_admin"]).await;
    let attempt = |email: &'static str, password: &'static str| {
        api.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    for _ in 0..10 {
        assert_eq!(attempt("target@a.test", "guess").await.0, 401);
    }
    // Even the right password is refused now; other addresses are not affected.
    let (status, v) = attempt("target@a.test", PASSWORD).await;
    assert_problem(status, &v, 429);
    assert_eq!(attempt("bystander@a.test", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn administrators_manage_staff_accounts_of_their_tenant_only() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let new = json!({"email": "Agent@A.test", "password": "long enough password",
                     "roles": ["support_agent"]});
    let (status, v) = api.post("/api/v1/users", &noc, new.clone()).await;
    assert_problem(status, &v, 403);
    let (status, u) = api.post("/api/v1/users", &admin, new.clone()).await;
    assert_eq!(status, 201, "{u}");
    assert_eq!(u["email"], "agent@a.test");
    assert!(u.get("password_hash").is_none() && u.get("mfa_secret").is_none());
    let id = u["id"].as_str().unwrap().to_owned();
    let (status, v) = api.post("/api/v1/users", &admin, new).await;
    assert_problem(status, &v, 409);
    // Bad input, and no tenant may make a platform administrator.
    let before = api.count("SELECT count(*) FROM users").await;
    let (status, v) = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "x", "password": "short", "roles": ["platform_admin"]}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(v["errors"].as_array().unwrap().len(), 3, "{v}");
    let (status, v) = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "y@a.test", "password": "long enough password", "roles": ["root"]}),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(api.count("SELECT count(*) FROM users").await, before);
    // The new account signs in and works with its role.
    let (status, v) = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "agent@a.test", "password": "long enough password"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let agent = v["token"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/api/v1/vouchers", &agent).await.0, 200);
    // B's administrator cannot touch it.
    let (status, v) = api
        .post(
            &format!("/api/v1/users/{id}/roles"),
            &other,
            json!({"roles": ["tenant_admin"]}),
        )
        .await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .post(&format!("/api/v1/users/{id}/deactivate"), &other, json!({}))
        .await;
    assert_problem(status, &v, 404);
    let (_, list) = api.get("/api/v1/users", &other).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|u| u["email"] != "agent@a.test")
    );
    // Roles change; deactivation ends its sessions at once.
    let (status, u) = api
        .post(
            &format!("/api/v1/users/{id}/roles"),
            &admin,
            json!({"roles": ["field_tech"]}),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["roles"], json!(["field_tech"]));
    let (status, _) = api
        .post("/api/v1/vouchers/batches", &agent, json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, u) = api
        .post(&format!("/api/v1/users/{id}/deactivate"), &admin, json!({}))
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["is_active"], false);
    let (status, _) = api.get("/api/v1/vouchers", &agent).await;
    assert_eq!(status, 401);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "agent@a.test", "password": "long enough password"})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_a_secrets_key_secrets_are_refused_and_nothing_is_stored() {
    let db = crate::helpers::migrated_db().await;
    let pool = db.pool();
    let owner = db.connect().await;
    let tenant = seed_tenant(&owner, 3).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = hotspot_cloud::AppState {
        pool,
        api: hotspot_cloud::api::ApiState::with_token_ttl(
            None,
            std::time::Duration::from_secs(600),
        ),
        payments: hotspot_cloud::payments::Payments::disabled(),
    };
    tokio::spawn(hotspot_cloud::serve(
        state,
        listener,
        std::future::pending(),
    ));
    let hash = hotspot_cloud::db::demo::hash_password(PASSWORD).unwrap();
    owner
        .execute(
            "INSERT INTO users (tenant_id, email, password_hash, roles)
             VALUES ($1, 'k@c.test', $2, '[\"tenant_admin\"]')",
            &[&tenant, &hash],
        )
        .await
        .unwrap();
    let http = hotspot_cloud::mpesa::client::http_client().unwrap();
    let url = |p: &str| format!("http://{addr}{p}");
    let login: Value = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": "k@c.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let before: String = owner
        .query_one(
            "SELECT m::text FROM mpesa_settings m WHERE tenant_id = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0);
    let resp = http
        .put(url("/api/v1/mpesa-settings"))
        .bearer_auth(token)
        .json(&json!({"paybill_number": "174379", "passkey": "plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body.get("detail").is_none(),
        "the cause stays in the log: {body}"
    );
    let after: String = owner
        .query_one(
            "SELECT m::text FROM mpesa_settings m WHERE tenant_id = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(before, after);
    let resp = http
        .post(url("/api/v1/auth/mfa/enroll"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
}
