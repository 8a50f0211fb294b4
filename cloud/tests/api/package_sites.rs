//! Which sites sell a package: set through the API and the console with the same checks, kept to
//! the tenant, and obeyed by the routers' pull (a site that stops selling a package has it
//! withdrawn on its next pull).

use hotspot_shared::sync::{Change, PullResponse};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Browser;
use crate::helpers::begin_as;
use crate::operators::{Api, assert_problem};
use crate::sync::claim_router;

/// A second site of tenant `t`.
async fn another_site(api: &Api, t: Uuid, name: &str) -> Uuid {
    api.owner
        .query_one(
            "INSERT INTO hotspots (tenant_id, name, location, ssid)
             VALUES ($1, $2, 'Kisumu', $2) RETURNING id",
            &[&t, &name],
        )
        .await
        .unwrap()
        .get(0)
}

async fn sites_of(api: &Api, package: Uuid) -> Vec<Uuid> {
    api.owner
        .query(
            "SELECT hotspot_id FROM service_package_hotspots
             WHERE service_package_id = $1 ORDER BY hotspot_id",
            &[&package],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn ids(v: &Value) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = v["site_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no site_ids in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<Uuid>) -> Vec<Uuid> {
    v.sort();
    v
}

#[tokio::test]
async fn a_packages_sites_are_set_checked_and_kept_to_the_tenant() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let other = api.token(api.b, &["tenant_admin"]).await;
    let a1 = api.id_of("hotspots", api.a).await;
    let a2 = another_site(&api, api.a, "Market").await;
    let b1 = api.id_of("hotspots", api.b).await;
    let body = |sites: Vec<Uuid>| {
        json!({"name": "1 hour", "package_type": "hotspot", "download_mbps": 5,
               "upload_mbps": 2, "price": 20, "duration_minutes": 60, "site_ids": sites})
    };

    // Another tenant's site, or one that does not exist: 422 naming the field, nothing made.
    let packages = "SELECT count(*) FROM service_packages";
    let before = api.count(packages).await;
    for bad in [vec![a1, b1], vec![Uuid::new_v4()]] {
        let (status, v) = api.post("/api/v1/packages", &noc, body(bad)).await;
        assert_problem(status, &v, 422);
        assert_eq!(v["errors"][0]["field"], "site_ids", "{v}");
    }
    assert_eq!(api.count(packages).await, before);

    // One site: sold there only; the list and the package show it.
    let (status, p) = api.post("/api/v1/packages", &noc, body(vec![a1, a1])).await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(ids(&p), vec![a1]);
    let id: Uuid = p["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(sites_of(&api, id).await, vec![a1]);
    let (_, list) = api.get("/api/v1/packages", &noc).await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.to_string())
        .unwrap();
    assert_eq!(ids(listed), vec![a1]);

    let path = format!("/api/v1/packages/{id}");
    // A change naming B's site is refused whole: the price stays, so do the sites.
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"price": 99, "site_ids": [a2, b1]})),
        )
        .await;
    assert_problem(status, &v, 422);
    let (_, now) = api.get(&path, &noc).await;
    assert_eq!(now["price"], p["price"]);
    assert_eq!(sites_of(&api, id).await, vec![a1]);

    // Moved to the other site; a change without site_ids keeps them; an empty list: every site.
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"site_ids": [a2]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(ids(&v), vec![a2]);
    let (_, v) = api
        .call(Method::PATCH, &path, Some(&noc), Some(json!({"price": 25})))
        .await;
    assert_eq!(ids(&v), vec![a2]);
    assert_eq!(sites_of(&api, id).await, vec![a2]);

    // Tenant B can neither see nor change them.
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&other),
            Some(json!({"site_ids": [b1]})),
        )
        .await;
    assert_problem(status, &v, 404);
    assert_eq!(sites_of(&api, id).await, vec![a2]);
    let mut app = api.app._db.connect().await;
    let b_text = api.b.to_string();
    let tx = begin_as(&mut app, "hotspot_app", Some(&b_text), None).await;
    let seen: i64 = tx
        .query_one(
            "SELECT count(*) FROM service_package_hotspots WHERE service_package_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0, "tenant B reads A's package sites");
    let refused = tx
        .execute(
            "INSERT INTO service_package_hotspots (tenant_id, service_package_id, hotspot_id)
             VALUES ($1, $2, $3)",
            &[&api.a, &id, &a1],
        )
        .await;
    assert!(refused.is_err(), "tenant B linked A's package");
    drop(tx);

    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"site_ids": []})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(ids(&v), Vec::<Uuid>::new());
    assert!(sites_of(&api, id).await.is_empty());
}

async fn pull(api: &Api, token: &str, cursor: Option<&str>) -> PullResponse {
    let mut url = format!("{}?limit=500", api.app.url("/sync/v1/changes"));
    if let Some(c) = cursor {
        url.push_str(&format!("&cursor={c}"));
    }
    let resp = api.http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// What a pull said last of plan `id`: Some(true) upsert, Some(false) delete, None nothing.
fn plan_said(r: &PullResponse, id: Uuid) -> Option<bool> {
    r.changes.iter().rev().find_map(|c| match c {
        Change::PlanUpsert(p) if p.id == id => Some(true),
        Change::PlanDelete { id: d } if *d == id => Some(false),
        _ => None,
    })
}

/// Pulls from `cursor` until plan `id` is mentioned (a pull reads only transactions finished
/// cluster-wide, and other tests run beside this one; bounded: 10 s): whether it was an upsert,
/// and the cursor after it.
async fn until_plan(api: &Api, token: &str, cursor: Option<&str>, id: Uuid) -> (bool, String) {
    let mut cursor = cursor.map(str::to_owned);
    for _ in 0..400 {
        let page = pull(api, token, cursor.as_deref()).await;
        cursor = Some(page.cursor.clone());
        if let Some(said) = plan_said(&page, id) {
            if page
                .changes
                .iter()
                .any(|c| matches!(c, Change::PlanUpsert(p) if p.id == id))
                && !said
            {
                panic!(
                    "plan {id} both sent and withdrawn in one page: {:?}",
                    page.changes
                );
            }
            return (said, page.cursor);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("plan {id} never mentioned");
}

#[tokio::test]
async fn a_router_pulls_only_the_packages_its_site_sells_and_loses_one_it_stops_selling() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let s1 = api.id_of("hotspots", api.a).await;
    let s2 = another_site(&api, api.a, "Market").await;
    let r1 = claim_router(&api.app, api.a, s1).await;
    let r2 = claim_router(&api.app, api.a, s2).await;
    let (status, p) = api
        .post(
            "/api/v1/packages",
            &noc,
            json!({"name": "Market hour", "package_type": "hotspot", "download_mbps": 5,
                   "upload_mbps": 2, "price": 20, "duration_minutes": 60, "site_ids": [s2]}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let id: Uuid = p["id"].as_str().unwrap().parse().unwrap();

    // From the beginning: the site that sells it gets it, the other is told it is not there.
    let (said1, c1) = until_plan(&api, &r1, None, id).await;
    let (said2, c2) = until_plan(&api, &r2, None, id).await;
    assert!(!said1, "a site that does not sell it got it");
    assert!(said2);

    // Moved to the first site: withdrawn from the second on its next pull, added to the first.
    let path = format!("/api/v1/packages/{id}");
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"site_ids": [s1]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (said1, c1) = until_plan(&api, &r1, Some(&c1), id).await;
    let (said2, c2) = until_plan(&api, &r2, Some(&c2), id).await;
    assert!(said1);
    assert!(
        !said2,
        "not withdrawn from the site that stopped selling it"
    );

    // Every site again (no sites ticked): both have it.
    let (status, _) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"site_ids": []})),
        )
        .await;
    assert_eq!(status, 200);
    let (said1, c1) = until_plan(&api, &r1, Some(&c1), id).await;
    let (said2, c2) = until_plan(&api, &r2, Some(&c2), id).await;
    assert!(said1 && said2);

    // A package with no sites set is still sold everywhere (what every package did before).
    let legacy = crate::operators::hotspot_package(&api, api.a).await;
    assert!(until_plan(&api, &r1, Some(&c1), legacy).await.0);
    assert!(until_plan(&api, &r2, Some(&c2), legacy).await.0);
}

#[tokio::test]
async fn the_console_form_ticks_the_sites_that_sell_a_package() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.user(api.a, "help@a.test", &["support_agent"]).await;
    let s1 = api.id_of("hotspots", api.a).await;
    let s2 = another_site(&api, api.a, "Market").await;
    let b1 = api.id_of("hotspots", api.b).await;
    let mut a = Browser::new(&api);
    a.sign_in("noc@a.test").await;
    let list = a.get("/console/packages").await;
    assert!(list.body.contains(&format!("name=\"site\" value=\"{s2}\"")));
    assert!(!list.body.contains(&b1.to_string()), "B's site offered");
    let csrf = list.csrf();
    let (s1s, s2s, b1s) = (s1.to_string(), s2.to_string(), b1.to_string());
    let form = || {
        vec![
            ("name", "Market day"),
            ("price", "50"),
            ("download_mbps", "10"),
            ("upload_mbps", "3"),
            ("validity_days", "7"),
            ("max_devices", "1"),
            ("is_active", "on"),
        ]
    };
    let packages = "SELECT count(*) FROM service_packages";
    let before = api.count(packages).await;

    // B's site or garbage among the ticked: refused with the reason, nothing made.
    for bad in [b1s.as_str(), "not-a-site"] {
        let mut f = vec![
            ("csrf", csrf.as_str()),
            ("site", s1s.as_str()),
            ("site", bad),
        ];
        f.extend(form());
        let page = a.post("/console/packages", &f).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("site"), "{}", page.body);
    }
    assert_eq!(api.count(packages).await, before);

    // Two sites ticked: sold at both; the list names them.
    let mut f = vec![
        ("csrf", csrf.as_str()),
        ("site", s1s.as_str()),
        ("site", s2s.as_str()),
    ];
    f.extend(form());
    let made = a.post("/console/packages", &f).await;
    assert_eq!(
        (made.status, made.location()),
        (303, "/console/packages"),
        "{}",
        made.body
    );
    let id: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM service_packages WHERE name = 'Market day'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sites_of(&api, id).await, sorted(vec![s1, s2]));
    let list = a.get("/console/packages").await;
    assert!(list.body.contains("Cafe t1, Market") || list.body.contains("Market, Cafe t1"));

    // The edit form has them ticked; saved with one: sold there only; with none: everywhere.
    let edit = a.get(&format!("/console/packages/{id}")).await;
    assert!(
        edit.body.contains(&format!("value=\"{s2}\" checked")),
        "{}",
        edit.body
    );
    let mut f = vec![("csrf", csrf.as_str()), ("site", s2s.as_str())];
    f.extend(form());
    let saved = a.post(&format!("/console/packages/{id}"), &f).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(sites_of(&api, id).await, vec![s2]);
    // A site's page lists the packages on sale there only.
    assert!(
        a.get(&format!("/console/sites/{s2}"))
            .await
            .body
            .contains("Market day")
    );
    assert!(
        !a.get(&format!("/console/sites/{s1}"))
            .await
            .body
            .contains("Market day")
    );
    let edit = a.get(&format!("/console/packages/{id}")).await;
    assert!(edit.body.contains(&format!("value=\"{s2}\" checked")));
    assert!(!edit.body.contains(&format!("value=\"{s1}\" checked")));
    let mut f = vec![("csrf", csrf.as_str())];
    f.extend(form());
    let saved = a.post(&format!("/console/packages/{id}"), &f).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(sites_of(&api, id).await.is_empty());
    assert!(a.get("/console/packages").await.body.contains("every site"));

    // A read-only role sees where packages are sold, and no form.
    let mut help = Browser::new(&api);
    help.sign_in("help@a.test").await;
    let list = help.get("/console/packages").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("name=\"site\""));
    assert!(!list.body.contains("id=\"new-package\""));
}
