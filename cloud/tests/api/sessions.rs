//! Extending a live session over the API: the session row counts it, the extension waits for
//! the site's router, which pulls it once it asks for extensions; bad amounts, other tenants'
//! sessions and sessions not extendable are refused and change nothing.

use hotspot_shared::sync::PullResponse;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::operators::{Api, assert_problem};
use crate::sync::claim_router;

/// Tenant A's live fixture session.
async fn live_session(api: &Api) -> Uuid {
    api.owner
        .query_one(
            "SELECT id FROM hotspot_sessions
             WHERE tenant_id = $1 AND session_status = 'active' AND mac_address = 'AA:BB:CC:00:00:01'",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0)
}

/// (added_minutes, added_data_mb, queued extensions) of a session, as the owner sees them.
async fn footprint(api: &Api, session: Uuid) -> (i32, i32, i64) {
    let r = api
        .owner
        .query_one(
            "SELECT s.added_minutes, s.added_data_mb,
                    (SELECT count(*) FROM hotspot_session_extensions e WHERE e.session_id = s.id)
             FROM hotspot_sessions s WHERE s.id = $1",
            &[&session],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// A router's pull from the start; `extensions`: whether it asks for them.
async fn pull_all(api: &Api, token: &str, extensions: bool) -> (Value, PullResponse) {
    let mut url = api.app.url("/sync/v1/changes?limit=1000");
    if extensions {
        url.push_str("&extensions=1");
    }
    let resp = api.http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    (v.clone(), serde_json::from_value(v).unwrap())
}

#[tokio::test]
async fn sessions_are_extended_and_the_extension_reaches_the_router_that_asks() {
    let api = Api::new().await;
    let support = api.token(api.a, &["support_agent"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let hotspot = api.id_of("hotspots", api.a).await;
    let router = claim_router(&api.app, api.a, hotspot).await;
    let sid = live_session(&api).await;
    let path = format!("/api/v1/sessions/{sid}/extend");

    // Refused, each with a clear problem, and nothing changes.
    for bad in [
        json!({}),
        json!({"minutes": 0}),
        json!({"minutes": -30}),
        json!({"minutes": 10_081}),
        json!({"data_mb": 102_401}),
        json!({"minutes": 30, "data_mb": 0}),
        json!({"minutes": "thirty"}),
        json!({"minutes": 1.5}),
        json!({"hours": 1}),
    ] {
        let (status, v) = api.post(&path, &support, bad.clone()).await;
        assert_problem(status, &v, 422);
        assert!(
            v.to_string().contains("minutes")
                || v.to_string().contains("data_mb")
                || v.to_string().contains("hours"),
            "{bad}: {v}"
        );
    }
    let (status, _, body) = api.raw(Method::POST, &path, Some(&support), None).await;
    assert!(matches!(status, 400 | 415), "no body: {status} {body}");
    let (status, v) = api.post(&path, &field, json!({"minutes": 30})).await;
    assert_problem(status, &v, 403);
    let (status, v) = api.post(&path, &other, json!({"minutes": 30})).await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .post(
            &format!("/api/v1/sessions/{}/extend", Uuid::new_v4()),
            &support,
            json!({"minutes": 30}),
        )
        .await;
    assert_problem(status, &v, 404);
    assert_eq!(footprint(&api, sid).await, (0, 0, 0));

    // Extended twice: the row counts both, each waits for the router.
    let (status, s) = api
        .post(&path, &support, json!({"minutes": 30, "data_mb": 100}))
        .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["session_status"], "active");
    assert_eq!(
        (s["added_minutes"].as_i64(), s["added_data_mb"].as_i64()),
        (Some(30), Some(100))
    );
    assert_eq!(s["extension"]["minutes"], 30);
    assert_eq!(s["extension"]["data_mb"], 100);
    assert!(s["extension"]["delivered_at"].is_null());
    let (status, s) = api.post(&path, &support, json!({"data_mb": 50})).await;
    assert_eq!(status, 200, "{s}");
    assert!(s["extension"]["minutes"].is_null());
    assert_eq!(footprint(&api, sid).await, (30, 150, 2));
    let row = api
        .owner
        .query_one(
            "SELECT hotspot_id, mac_address, count(*) FILTER (WHERE delivered_at IS NULL)
             FROM hotspot_session_extensions WHERE session_id = $1
             GROUP BY hotspot_id, mac_address",
            &[&sid],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), hotspot);
    assert_eq!(row.get::<_, String>(1), "AA:BB:CC:00:00:01");
    assert_eq!(row.get::<_, i64>(2), 2);
    // Tenant B sees nothing of them.
    let (_, page) = api.get("/api/v1/sessions?status=active", &other).await;
    assert!(!page.to_string().contains(&sid.to_string()));

    // The router that asks gets both, in order, once they are past the pull's horizon (a
    // transaction of another test may hold it back: bounded wait, 10 s).
    let mut pulled = Vec::new();
    for _ in 0..400 {
        pulled = pull_all(&api, &router, true).await.1.extensions;
        if pulled.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(pulled.len(), 2, "{pulled:?}");
    assert!(pulled.iter().all(|e| e.session_id == sid));
    assert_eq!(
        pulled
            .iter()
            .map(|e| (e.minutes, e.data_mb))
            .collect::<Vec<_>>(),
        [(Some(30), Some(100)), (None, Some(50))]
    );
    assert_eq!(
        pulled[0].mac.to_string().to_uppercase(),
        "AA:BB:CC:00:00:01"
    );
    let undelivered = api
        .count(&format!(
            "SELECT count(*) FROM hotspot_session_extensions
             WHERE session_id = '{sid}' AND delivered_at IS NULL"
        ))
        .await;
    assert_eq!(undelivered, 0, "marked delivered when pulled");
    // Pulled again from the same cursor: carried again (the router applies each id once).
    assert_eq!(pull_all(&api, &router, true).await.1.extensions, pulled);
    // A router that does not ask (it predates them) is never sent the field.
    let (raw, page) = pull_all(&api, &router, false).await;
    assert!(raw.get("extensions").is_none(), "{raw}");
    assert!(page.extensions.is_empty());

    // A session on the operator's own NAS that its NAS no longer reports live (no open
    // accounting): refused with a reason, nothing queued (radius_dynauth.rs extends live ones).
    api.owner
        .execute(
            "UPDATE hotspot_sessions SET radius_session = 'acct-1' WHERE id = $1",
            &[&sid],
        )
        .await
        .unwrap();
    let (status, v) = api.post(&path, &support, json!({"minutes": 30})).await;
    assert_problem(status, &v, 409);
    assert!(v["detail"].as_str().unwrap().contains("RADIUS"), "{v}");
    api.owner
        .execute(
            "UPDATE hotspot_sessions SET radius_session = NULL WHERE id = $1",
            &[&sid],
        )
        .await
        .unwrap();
    // Kicked: over, so no longer extendable.
    let (status, _) = api
        .post(&format!("/api/v1/sessions/{sid}/kick"), &support, json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, v) = api.post(&path, &support, json!({"minutes": 30})).await;
    assert_problem(status, &v, 409);
    assert_eq!(footprint(&api, sid).await, (30, 150, 2));
}
