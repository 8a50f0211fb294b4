//! Bad input to every operation of the served OpenAPI document, to the routers' sync endpoints
//! and to Daraja's callback endpoints: malformed JSON, wrong types, oversized bodies, NUL bytes
//! and overlong text in every field of each request body (the others valid), and wrong types,
//! SQL metacharacters and unicode in every query parameter. Every answer is a 4xx, never a 5xx,
//! and no table of the database gains, loses or changes a row. SQL metacharacters and unicode
//! are also put in every body field: they are valid text, so the answer may be a success, but
//! never a 5xx.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use hotspot_cloud::sync::device;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::operators::Api;

/// Every table's row count and a digest of its contents, by name.
async fn footprint(owner: &tokio_postgres::Client) -> BTreeMap<String, String> {
    let tables: Vec<String> = owner
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let row = owner
            .query_one(
                &format!(
                    "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(md5(x::text), '' \
                     ORDER BY md5(x::text))), '') FROM {t} x"
                ),
                &[],
            )
            .await
            .unwrap();
        out.insert(t, row.get(0));
    }
    out
}

/// Tables a refused request may still touch: the token's last use.
const CHANGES_ON_EVERY_CALL: &[&str] = &["api_tokens"];

fn differences(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    a.iter()
        .filter(|(t, v)| !CHANGES_ON_EVERY_CALL.contains(&t.as_str()) && b.get(*t) != Some(*v))
        .map(|(t, v)| format!("{t}: {v} -> {:?}", b.get(t)))
        .collect()
}

/// A value of the schema's type (following `$ref` one level into `components`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(&r.replacen('#', "", 1)).unwrap_or(&Value::Null),
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A plausible valid value for a field.
fn valid(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return e.clone();
    }
    if let Some(one) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return valid(doc, one);
    }
    let t = types(schema);
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    if t.iter().any(|t| t == "string") {
        return match format {
            "uuid" => json!(Uuid::new_v4()),
            "date-time" => json!("2026-11-23T12:00:00Z"),
            "date" => json!("2026-11-23"),
            _ => json!("Kahawa 1"),
        };
    }
    if t.iter().any(|t| t == "integer") {
        return json!(1);
    }
    if t.iter().any(|t| t == "number") {
        return json!(1.5);
    }
    if t.iter().any(|t| t == "boolean") {
        return json!(true);
    }
    if t.iter().any(|t| t == "array") {
        return json!([]);
    }
    json!({})
}

/// Values of the wrong type, or of the right type that no field may hold.
fn invalid(doc: &Value, schema: &Value) -> Vec<Value> {
    let t = types(resolve(doc, schema));
    let mut out = vec![json!({"nested": [1]}), json!([[]])];
    if t.iter().any(|t| t == "string") {
        out.extend([
            json!(12345),
            json!(true),
            json!("nul\u{0}byte"),
            json!("A".repeat(100_000)),
        ]);
    } else {
        out.extend([json!("a string"), json!("\u{0}")]);
    }
    if t.iter().any(|t| t == "integer" || t == "number") {
        out.extend([
            json!(1e300),
            json!(-1e300),
            json!(-9_223_372_036_854_775_807i64),
        ]);
    }
    out
}

/// Text that is valid but has broken other programs: SQL and JSON metacharacters, unicode.
fn metacharacters() -> Vec<&'static str> {
    vec![
        "'; DROP TABLE vouchers; --",
        "' OR '1'='1",
        "\\\"%_*?",
        "é\u{202e}\u{fffd}😀𝕏",
        "${jndi:x}{{7*7}}",
    ]
}

/// The document's operations: method, path template, body schema, query parameters.
type Operation = (Method, String, Option<Value>, Vec<(String, Value)>);

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let body = op
                .pointer("/requestBody/content/application~1json/schema")
                .cloned();
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| !path.contains(&format!("{{{}}}", p["name"].as_str().unwrap())))
                .map(|p| (p["name"].as_str().unwrap().to_owned(), p["schema"].clone()))
                .collect();
            out.push((
                method.to_uppercase().parse().unwrap(),
                path.clone(),
                body,
                query,
            ));
        }
    }
    out
}

/// Sends a raw body with a content type; returns the status.
async fn send(
    api: &Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    ctype: &str,
    body: Vec<u8>,
) -> u16 {
    let mut req = api
        .http
        .request(method, api.app.url(path))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Malformed, mistyped and oversized bodies: each must be a 4xx.
fn malformed_bodies() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let huge = format!("{{\"name\":\"{}\"}}", "A".repeat(3 * 1024 * 1024));
    vec![
        ("truncated JSON", "application/json", b"{\"name\":".to_vec()),
        ("not JSON", "application/json", b"name=x".to_vec()),
        (
            "invalid UTF-8",
            "application/json",
            b"{\"name\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "a lone surrogate",
            "application/json",
            br#"{"name":"\ud800"}"#.to_vec(),
        ),
        ("an array", "application/json", b"[1,2,3]".to_vec()),
        ("a string", "application/json", b"\"x\"".to_vec()),
        ("null", "application/json", b"null".to_vec()),
        (
            "deep nesting",
            "application/json",
            [b"[".repeat(10_000), b"]".repeat(10_000)].concat(),
        ),
        ("over 3 MiB", "application/json", huge.into_bytes()),
        ("not declared JSON", "text/plain", b"{}".to_vec()),
    ]
}

#[tokio::test]
async fn every_route_refuses_bad_input_with_a_4xx_and_stores_nothing() {
    let api = Api::new().await;
    let token = api.token(api.a, &["tenant_admin", "platform_admin"]).await;
    let doc: Value = serde_json::from_str(&hotspot_cloud::api::openapi::document()).unwrap();
    let hotspot = api.id_of("hotspots", api.a).await;
    // A router of tenant a, claimed over HTTP, for the sync endpoints.
    let code = device::create_claim_code(
        &api.app.pool,
        api.a,
        hotspot,
        None,
        Utc::now() + Duration::hours(1),
    )
    .await
    .unwrap();
    let claim = json!({"code": code.code, "hostname": "cafe-router", "version": "0.1.0"});
    let resp = api
        .http
        .post(api.app.url("/sync/v1/claim"))
        .json(&claim)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let device_token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let before = footprint(&api.owner).await;
    let mut failures = Vec::new();
    let mut sent = 0;
    let concrete = |path: &str| {
        path.replace("/hotspots/{id}", &format!("/hotspots/{hotspot}"))
            .replace("/tenants/{id}", &format!("/tenants/{}", api.a))
            .replace("/nas/{id}", "/nas/1")
            .replace("/sessions/{id}/coa", "/sessions/1/coa")
            .replace("/sessions/{id}/disconnect", "/sessions/1/disconnect")
            .replace("{id}", &Uuid::new_v4().to_string())
            .replace("{table}", "departments")
    };
    let mut check = |what: String, status: u16, want_4xx: bool| {
        sent += 1;
        if status >= 500 || (want_4xx && !(400..500).contains(&status)) {
            failures.push(format!("{status} for {what}"));
        }
    };

    for (method, template, body, query) in operations(&doc) {
        if template.starts_with("/api/v1/auth/") && template != "/api/v1/auth/login" {
            continue; // logout and MFA change the caller's own sign-in, whatever the body
        }
        let path = concrete(&template);
        let auth = Some(token.as_str());
        if let Some(schema) = &body {
            for (what, ctype, b) in malformed_bodies() {
                let status = send(&api, method.clone(), &path, auth, ctype, b).await;
                check(format!("{method} {template}: {what}"), status, true);
            }
            // Every field in turn made invalid, the others valid.
            let schema = resolve(&doc, schema);
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let base: serde_json::Map<String, Value> = props
                .iter()
                .map(|(k, s)| (k.clone(), valid(&doc, s)))
                .collect();
            for (field, fs) in &props {
                for bad in invalid(&doc, fs) {
                    let mut b = base.clone();
                    b.insert(field.clone(), bad.clone());
                    let status = send(
                        &api,
                        method.clone(),
                        &path,
                        auth,
                        "application/json",
                        serde_json::to_vec(&b).unwrap(),
                    )
                    .await;
                    let shown: String = bad.to_string().chars().take(40).collect();
                    check(
                        format!("{method} {template}: {field} = {shown}"),
                        status,
                        true,
                    );
                }
            }
        }
        if method == Method::GET {
            for (name, schema) in &query {
                let numeric_or_flag = types(schema)
                    .iter()
                    .any(|t| t == "integer" || t == "boolean");
                // Free text (a code or a user name to search for) may be anything: an empty
                // page is a right answer. A UUID, a date, a number or a flag is not any text.
                let typed = numeric_or_flag || schema.get("format").is_some();
                let mut values: Vec<(String, bool)> = vec![
                    ("%00".into(), typed),
                    ("A".repeat(10_000), typed),
                    ("99999999999999999999999".into(), typed),
                ];
                if numeric_or_flag {
                    values.push(("abc".into(), true));
                    values.push(("-1".into(), false));
                }
                for v in metacharacters() {
                    let enc: String = url_encode(v);
                    values.push((enc, numeric_or_flag));
                }
                for (v, want_4xx) in values {
                    let url = format!("{path}?{name}={v}");
                    let status =
                        send(&api, Method::GET, &url, auth, "application/json", vec![]).await;
                    let shown: String = v.chars().take(40).collect();
                    // A UUID, date or number filter refuses text it cannot be; free-text
                    // filters may answer an empty page.
                    check(format!("GET {template}?{name}={shown}"), status, want_4xx);
                }
            }
        }
    }

    // The routers' endpoints, with a valid device token.
    let dev = Some(device_token.as_str());
    for path in [
        "/sync/v1/events",
        "/sync/v1/purchases",
        "/sync/v1/claim",
        "/sync/v1/rotate",
    ] {
        for (what, ctype, b) in malformed_bodies() {
            if path == "/sync/v1/rotate" {
                continue; // takes no body: a valid token rotates whatever is sent
            }
            let status = send(&api, Method::POST, path, dev, ctype, b).await;
            check(format!("POST {path}: {what}"), status, true);
        }
    }
    let push: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/sync/push_request.json"
    ))
    .unwrap();
    for (pointer, bad) in [
        ("/version", json!("1")),
        ("/sent/uptime_ms", json!(-1)),
        ("/events/0/data/voucher_code", json!("nul\u{0}byte")),
        ("/events/0/data/user_agent", json!("A".repeat(2000))),
        ("/events/0/data/mac", json!("'; DROP TABLE hotspots; --")),
        ("/events/0/data/session_type", json!("admin")),
        ("/events/2/data/bytes_up", json!(-1)),
        ("/events/1/data/voucher_code", json!("")),
        ("/events/4/data/dhcp_fingerprint", json!("1,3\u{0}")),
        ("/events/0/data/user_agent", json!("\u{0}")),
        ("/events/4/data/hostname", json!("h\u{0}st")),
        ("/events/5/data/date", json!("2026-02-30")),
        ("/events/6/data/version", json!("v\u{0}")),
    ] {
        // New event ids: a batch already received would be answered as duplicates unread.
        let mut b = push.clone();
        for e in b["events"].as_array_mut().unwrap() {
            e["id"] = json!(Uuid::new_v4());
        }
        *b.pointer_mut(pointer).unwrap() = bad;
        let status = send(
            &api,
            Method::POST,
            "/sync/v1/events",
            dev,
            "application/json",
            serde_json::to_vec(&b).unwrap(),
        )
        .await;
        check(
            format!("POST /sync/v1/events with {pointer} bad"),
            status,
            true,
        );
    }
    for q in [
        "cursor=c1.%00",
        "cursor=c1.1.2",
        "cursor='%20OR%201=1",
        "cursor=c1.99999999999999999999.0.0",
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999",
    ] {
        let status = send(
            &api,
            Method::GET,
            &format!("/sync/v1/changes?{q}"),
            dev,
            "",
            vec![],
        )
        .await;
        check(format!("GET /sync/v1/changes?{q}"), status, true);
    }
    for id in ["not-a-uuid", "%00", "'%20OR%201=1"] {
        let status = send(
            &api,
            Method::GET,
            &format!("/sync/v1/purchases/{id}"),
            dev,
            "",
            vec![],
        )
        .await;
        check(format!("GET /sync/v1/purchases/{id}"), status, true);
    }
    // Daraja's endpoints with a token that is no tenant's.
    for path in [
        "/mpesa/callback/not-a-token",
        "/mpesa/c2b/validation/not-a-token",
        "/mpesa/c2b/confirmation/not-a-token",
        "/pay/c2b/validation/%27%20OR%201=1",
        "/pay/c2b/confirmation/%00",
    ] {
        for (what, ctype, b) in malformed_bodies() {
            let status = send(&api, Method::POST, path, None, ctype, b).await;
            check(format!("POST {path}: {what}"), status, true);
        }
    }

    let after = footprint(&api.owner).await;
    let changed = differences(&before, &after);
    assert!(
        failures.is_empty() && changed.is_empty(),
        "{} of {sent} requests answered wrongly:\n{}\nchanged tables: {changed:#?}",
        failures.len(),
        failures.join("\n")
    );
    assert!(sent > 1000, "only {sent} requests");

    // Metacharacters and unicode in every body field, the others valid: never a 5xx.
    let mut failures = Vec::new();
    for (method, template, body, _) in operations(&doc) {
        let Some(schema) = body else { continue };
        if template.starts_with("/api/v1/auth/") {
            continue;
        }
        // A session that does not exist: a valid Disconnect or CoA would wait on its NAS.
        let path = concrete(&template).replace("/sessions/1/", "/sessions/999999/");
        let schema = resolve(&doc, &schema);
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let base: serde_json::Map<String, Value> = props
            .iter()
            .map(|(k, s)| (k.clone(), valid(&doc, s)))
            .collect();
        for field in props.keys() {
            for v in metacharacters() {
                let mut b = base.clone();
                b.insert(field.clone(), json!(v));
                let status = send(
                    &api,
                    method.clone(),
                    &path,
                    Some(&token),
                    "application/json",
                    serde_json::to_vec(&b).unwrap(),
                )
                .await;
                if status >= 500 {
                    failures.push(format!("{status} for {method} {template}: {field} = {v}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
