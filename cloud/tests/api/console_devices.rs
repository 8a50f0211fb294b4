//! Registered devices added and edited in the console, through the API's checks (MAC normalised,
//! duplicates refused), kept to their tenant and to the roles that may change them.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::console::Browser;
use crate::operators::{Api, assert_problem};

/// Tenant `t`'s registered devices: (site, MAC, name, auto-connect, bandwidth), sorted.
async fn devices(api: &Api, t: Uuid) -> Vec<(Uuid, String, Option<String>, bool, Option<i32>)> {
    api.owner
        .query(
            "SELECT hotspot_id, mac_address::text, device_name::text, auto_connect,
                    bandwidth_allocation
             FROM client_hotspot_access WHERE tenant_id = $1
             ORDER BY mac_address, hotspot_id",
            &[&t],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// A form's fields as typed.
type Form = Vec<(&'static str, String)>;

fn refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn devices_are_added_and_edited_with_the_apis_checks_for_their_tenant_only() {
    let api = Api::new().await;
    api.user(api.a, "help@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    api.user(api.b, "boss@b.test", &["tenant_admin"]).await;
    let s1 = api.id_of("hotspots", api.a).await;
    let s2: Uuid = api
        .owner
        .query_one(
            "INSERT INTO hotspots (tenant_id, name, location, ssid)
             VALUES ($1, 'Market', 'Kisumu', 'Market') RETURNING id",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let client = api.id_of("clients", api.a).await;
    let b_client = api.id_of("clients", api.b).await;
    let (client_s, s1_s, b_client_s) = (client.to_string(), s1.to_string(), b_client.to_string());

    let mut help = Browser::new(&api);
    help.sign_in("help@a.test").await;
    let list = help.get("/console/devices").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"add-device\""));
    assert!(list.body.contains("Client t1") && !list.body.contains("Client t2"));
    let csrf = list.csrf();
    let start = devices(&api, api.a).await;
    // The add form's fields (with the token): every site when `site` is empty.
    let add = |site: &str, mac: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("client_id", client_s.clone()),
            ("hotspot_id", site.to_owned()),
            ("mac_address", mac.to_owned()),
            ("device_name", "Phone".to_owned()),
            ("auto_connect", "on".to_owned()),
            ("bandwidth", "8".to_owned()),
        ]
    };
    let with = |mut f: Vec<(&'static str, String)>, key: &str, value: &str| {
        for (k, v) in f.iter_mut() {
            if *k == key {
                *v = value.to_owned();
            }
        }
        f
    };

    // At one site: the MAC normalised, the fields stored.
    let made = help
        .post("/console/devices", &refs(&add(&s1_s, "aa-bb-cc-dd-ee-01")))
        .await;
    assert_eq!(
        (made.status, made.location()),
        (303, "/console/devices"),
        "{}",
        made.body
    );
    let now = devices(&api, api.a).await;
    assert_eq!(now.len(), start.len() + 1);
    assert!(now.contains(&(
        s1,
        "AA:BB:CC:DD:EE:01".to_owned(),
        Some("Phone".to_owned()),
        true,
        Some(8)
    )));

    // Refused, with the reason and nothing stored: the same MAC again at that site (written
    // otherwise), a bad MAC, a bad bandwidth, another tenant's client, and at every site a MAC
    // one site already has (all or none).
    let cases: Vec<(Form, u16, &str)> = vec![
        (add(&s1_s, "AA:BB:CC:DD:EE:01"), 409, "already registered"),
        (add(&s1_s, "AA:BB:CC:DD:EE"), 422, "mac_address"),
        (add("", "zz:bb:cc:dd:ee:ff"), 422, "mac_address"),
        (
            with(add(&s1_s, "AA:BB:CC:DD:EE:05"), "bandwidth", "fast"),
            422,
            "bandwidth",
        ),
        (
            with(add(&s1_s, "AA:BB:CC:DD:EE:06"), "client_id", &b_client_s),
            422,
            "client_id",
        ),
        (add("", "aa:bb:cc:dd:ee:01"), 409, "already registered"),
    ];
    for (form, status, why) in cases {
        let page = help.post("/console/devices", &refs(&form)).await;
        assert_eq!(page.status, status, "{form:?}: {}", page.body);
        assert!(page.body.contains(why), "{form:?}: {}", page.body);
        assert_eq!(devices(&api, api.a).await, now, "{form:?} stored something");
    }

    // At every site: one registration each.
    let made = help
        .post("/console/devices", &refs(&add("", "AA:BB:CC:DD:EE:03")))
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let every: Vec<Uuid> = devices(&api, api.a)
        .await
        .into_iter()
        .filter(|d| d.1 == "AA:BB:CC:DD:EE:03")
        .map(|d| d.0)
        .collect();
    assert_eq!(every.len(), 2);
    assert!(every.contains(&s1) && every.contains(&s2));

    // Edit: the form filled in; saved through the API's update.
    let id: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM client_hotspot_access WHERE mac_address = 'AA:BB:CC:DD:EE:01'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let list = help.get("/console/devices").await;
    assert!(
        list.body
            .contains(&format!("href=\"/console/devices/{id}\""))
    );
    let edit = help.get(&format!("/console/devices/{id}")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"AA:BB:CC:DD:EE:01\"") && edit.body.contains("value=\"8\""));
    let path = format!("/console/devices/{id}");
    let before = devices(&api, api.a).await;
    for (mac, bw, status, why) in [
        ("AA:BB:CC:00:00:02", "8", 409, "already registered"),
        ("not a mac", "8", 422, "mac_address"),
        ("AA:BB:CC:DD:EE:09", "0", 422, "bandwidth_allocation"),
    ] {
        let page = help
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("mac_address", mac),
                    ("device_name", "Tablet"),
                    ("bandwidth", bw),
                ],
            )
            .await;
        assert_eq!(page.status, status, "{mac} {bw}: {}", page.body);
        assert!(page.body.contains(why), "{}", page.body);
        assert!(page.body.contains("id=\"edit-device\""));
        assert_eq!(devices(&api, api.a).await, before);
    }
    let saved = help
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("mac_address", "aa:bb:cc:dd:ee:09"),
                ("device_name", "Tablet"),
                ("bandwidth", "12"),
            ],
        )
        .await;
    assert_eq!((saved.status, saved.location()), (303, "/console/devices"));
    assert!(devices(&api, api.a).await.contains(&(
        s1,
        "AA:BB:CC:DD:EE:09".to_owned(),
        Some("Tablet".to_owned()),
        false,
        Some(12)
    )));

    // The API's PATCH is the same function: the same refusals, another tenant's device 404.
    let token = api.token(api.a, &["support_agent"]).await;
    let b_token = api.token(api.b, &["tenant_admin"]).await;
    let api_path = format!("/api/v1/access/{id}");
    let (status, v) = api
        .call(
            Method::PATCH,
            &api_path,
            Some(&token),
            Some(json!({"mac_address": "AA:BB:CC:00:00:02"})),
        )
        .await;
    assert_problem(status, &v, 409);
    let (status, v) = api
        .call(
            Method::PATCH,
            &api_path,
            Some(&b_token),
            Some(json!({"device_name": "B's"})),
        )
        .await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .call(
            Method::PATCH,
            &api_path,
            Some(&token),
            Some(json!({"device_name": "Laptop", "auto_connect": true})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["device_name"].as_str(), v["auto_connect"].as_bool()),
        (Some("Laptop"), Some(true))
    );
    assert_eq!(v["mac_address"], "AA:BB:CC:DD:EE:09");

    // Tenant B, by URL: A's device is not found and does not change.
    let mut boss = Browser::new(&api);
    boss.sign_in("boss@b.test").await;
    let before = devices(&api, api.a).await;
    assert_eq!(boss.get(&path).await.status, 404);
    let b_csrf = boss.get("/console/devices").await.csrf();
    let page = boss
        .post(
            &path,
            &[
                ("csrf", &b_csrf),
                ("mac_address", "AA:BB:CC:DD:EE:77"),
                ("device_name", "B"),
            ],
        )
        .await;
    assert_eq!(page.status, 404);
    assert_eq!(devices(&api, api.a).await, before);

    // A read-only role sees no add form and no edit link, and is refused both.
    let mut tech = Browser::new(&api);
    tech.sign_in("tech@a.test").await;
    let list = tech.get("/console/devices").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("id=\"add-device\""));
    assert!(
        !list
            .body
            .contains(&format!("href=\"/console/devices/{id}\""))
    );
    assert_eq!(tech.get(&path).await.status, 403);
    let t_csrf = list.csrf();
    let page = tech
        .post(
            "/console/devices",
            &[
                ("csrf", t_csrf.as_str()),
                ("client_id", client_s.as_str()),
                ("hotspot_id", s1_s.as_str()),
                ("mac_address", "AA:BB:CC:DD:EE:55"),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(devices(&api, api.a).await, before);
}
