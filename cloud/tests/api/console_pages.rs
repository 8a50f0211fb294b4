//! The console's pages beyond the first ones: packages, settings, a site's own page, payments'
//! export, session history, TOTP enrolment. Each against a real PostgreSQL, through the same
//! browser without JavaScript as `console.rs`.

use uuid::Uuid;

use crate::console::{Browser, count};
use crate::operators::{Api, hotspot_package};

async fn package_row(api: &Api, name: &str) -> Option<tokio_postgres::Row> {
    api.owner
        .query_opt(
            "SELECT tenant_id, price::text, download_mbps, upload_mbps, duration_minutes,
                    data_limit_mb, validity_days, max_devices, is_active, package_type::text, id
             FROM service_packages WHERE name = $1 AND deleted_at IS NULL",
            &[&name],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn packages_are_listed_created_and_edited_with_the_apis_checks() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("noc@a.test").await;
    let list = a.get("/console/packages").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"new-package\""));
    let csrf = list.csrf();
    let plans_before = count(
        &api,
        "SELECT count(*) FROM sync_changes WHERE tenant_id = $1 AND entity = 'plan'",
        api.a,
    )
    .await;

    let made = a
        .post(
            "/console/packages",
            &[
                ("csrf", &csrf),
                ("name", "Day pass"),
                ("description", "All day"),
                ("price", "49.50"),
                ("download_mbps", "10"),
                ("upload_mbps", "3"),
                ("duration_minutes", "1440"),
                ("data_limit_mb", ""),
                ("validity_days", "7"),
                ("max_devices", "2"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!((made.status, made.location()), (303, "/console/packages"));
    let row = package_row(&api, "Day pass").await.expect("made");
    assert_eq!(row.get::<_, Uuid>(0), api.a);
    assert_eq!(row.get::<_, String>(1), "49.50");
    assert_eq!((row.get::<_, i32>(2), row.get::<_, i32>(3)), (10, 3));
    assert_eq!(row.get::<_, Option<i32>>(4), Some(1440));
    assert_eq!(row.get::<_, Option<i32>>(5), None);
    assert_eq!((row.get::<_, i32>(6), row.get::<_, i32>(7)), (7, 2));
    assert!(row.get::<_, bool>(8));
    assert_eq!(row.get::<_, String>(9), "hotspot");
    let id: Uuid = row.get(10);
    // The routers hear of it through the change log, as with the API.
    let plans_after = count(
        &api,
        "SELECT count(*) FROM sync_changes WHERE tenant_id = $1 AND entity = 'plan'",
        api.a,
    )
    .await;
    assert_eq!(plans_after, plans_before + 1);
    let list = a.get("/console/packages").await;
    assert!(list.body.contains("Day pass") && list.body.contains("49.50"));
    assert!(list.body.contains(&format!("/console/packages/{id}")));

    // The edit form is filled in; a change is saved.
    let edit = a.get(&format!("/console/packages/{id}")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"49.50\"") && edit.body.contains("value=\"1440\""));
    let saved = a
        .post(
            &format!("/console/packages/{id}"),
            &[
                ("csrf", &csrf),
                ("name", "Day pass"),
                ("price", "60"),
                ("download_mbps", "12"),
                ("upload_mbps", "4"),
                ("duration_minutes", ""),
                ("data_limit_mb", "2048"),
                ("validity_days", "7"),
                ("max_devices", "2"),
            ],
        )
        .await;
    assert_eq!((saved.status, saved.location()), (303, "/console/packages"));
    let row = package_row(&api, "Day pass").await.unwrap();
    assert_eq!(row.get::<_, String>(1), "60.00");
    assert_eq!((row.get::<_, i32>(2), row.get::<_, i32>(3)), (12, 4));
    assert_eq!(row.get::<_, Option<i32>>(4), Some(1440), "empty keeps");
    assert_eq!(row.get::<_, Option<i32>>(5), Some(2048));
    assert!(!row.get::<_, bool>(8), "unticked: off sale");

    // Bad input: refused with the reason, nothing made or changed.
    let before = format!("{:?}", package_row(&api, "Day pass").await.unwrap());
    for (form, why) in [
        (
            vec![
                ("price", "20 bob"),
                ("download_mbps", "5"),
                ("upload_mbps", "1"),
            ],
            "price",
        ),
        (
            vec![
                ("price", "20"),
                ("download_mbps", "0"),
                ("upload_mbps", "1"),
            ],
            "download_mbps",
        ),
        (
            vec![
                ("price", "20"),
                ("download_mbps", "fast"),
                ("upload_mbps", "1"),
            ],
            "download_mbps",
        ),
        (
            vec![
                ("price", "20"),
                ("download_mbps", "5"),
                ("upload_mbps", "1"),
                ("validity_days", "-1"),
            ],
            "validity_days",
        ),
    ] {
        let mut fields = vec![("csrf", csrf.as_str()), ("name", "Bad plan")];
        fields.extend(form.iter().copied());
        let refused = a.post("/console/packages", &fields).await;
        assert_eq!(refused.status, 422, "{why}: {}", refused.body);
        assert!(refused.body.contains(why), "{why}");
        assert!(refused.body.contains("value=\"Bad plan\""), "the form kept");
        let mut fields = vec![("csrf", csrf.as_str()), ("name", "Day pass")];
        fields.extend(form.iter().copied());
        let refused = a.post(&format!("/console/packages/{id}"), &fields).await;
        assert_eq!(refused.status, 422, "{why}: {}", refused.body);
    }
    // A rate is required of a new package (an edit left empty keeps the present one).
    let refused = a
        .post(
            "/console/packages",
            &[
                ("csrf", &csrf),
                ("name", "Bad plan"),
                ("price", "20"),
                ("upload_mbps", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("download_mbps: is required"));
    assert!(package_row(&api, "Bad plan").await.is_none());
    let dup = a
        .post(
            "/console/packages",
            &[
                ("csrf", &csrf),
                ("name", "Day pass"),
                ("price", "1"),
                ("download_mbps", "1"),
                ("upload_mbps", "1"),
            ],
        )
        .await;
    assert_eq!(dup.status, 422, "{}", dup.body);
    assert!(dup.body.contains("another package has this name"));
    assert_eq!(
        format!("{:?}", package_row(&api, "Day pass").await.unwrap()),
        before
    );

    // Another tenant's package: not found by URL, unchanged.
    let b_package = hotspot_package(&api, api.b).await;
    assert_eq!(
        a.get(&format!("/console/packages/{b_package}"))
            .await
            .status,
        404
    );
    let refused = a
        .post(
            &format!("/console/packages/{b_package}"),
            &[("csrf", &csrf), ("name", "Taken"), ("price", "1")],
        )
        .await;
    assert_eq!(refused.status, 404);
    assert!(package_row(&api, "Taken").await.is_none());
    assert!(
        !a.get("/console/packages")
            .await
            .body
            .contains(&b_package.to_string())
    );
}

#[tokio::test]
async fn a_read_only_role_sees_packages_without_actions_and_is_refused_them() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let package = hotspot_package(&api, api.a).await;
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let list = t.get("/console/packages").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("One hour"));
    assert!(!list.body.contains("id=\"new-package\""));
    assert!(!list.body.contains(&format!("/console/packages/{package}")));
    let csrf = list.csrf();
    assert_eq!(
        t.get(&format!("/console/packages/{package}")).await.status,
        403
    );
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "Tech plan"),
        ("price", "5"),
        ("download_mbps", "1"),
        ("upload_mbps", "1"),
    ];
    assert_eq!(t.post("/console/packages", &fields).await.status, 403);
    assert_eq!(
        t.post(&format!("/console/packages/{package}"), &fields)
            .await
            .status,
        403
    );
    assert!(package_row(&api, "Tech plan").await.is_none());
    assert!(package_row(&api, "One hour").await.is_some());
}
