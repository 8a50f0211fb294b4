//! Guests online show what their voucher has left, time and data, on the guests page and a
//! site's page: from the voucher's first use, with what operators added to a router's session
//! (a RADIUS session's extensions are on its voucher), as of the router's last report.

use uuid::Uuid;

use crate::console::{Browser, site_id};
use crate::operators::Api;

/// A voucher of `site` first used `used_min_ago`, and an active session on it.
#[allow(clippy::too_many_arguments)]
async fn on_voucher(
    api: &Api,
    site: Uuid,
    code: &str,
    minutes: Option<i32>,
    megabytes: Option<i32>,
    used_min_ago: i32,
    mac: &str,
    used_mb: f64,
    added: (i32, i32),
    radius: bool,
) {
    api.owner
        .execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes,
                 data_limit_mb, voucher_type, used_at)
             VALUES ((SELECT tenant_id FROM hotspots WHERE id = $1), $1, $2, $3, $4,
                     CASE WHEN $3::int IS NULL THEN 'data_based' ELSE 'time_based' END,
                     now() - make_interval(mins => $5))",
            &[&site, &code, &minutes, &megabytes, &used_min_ago],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, session_type,
                 voucher_code, data_used_mb, added_minutes, added_data_mb, radius_session,
                 start_time)
             VALUES ((SELECT tenant_id FROM hotspots WHERE id = $1), $1, $2, 'voucher', $3,
                     $4::float8::numeric, $5, $6, CASE WHEN $7 THEN 'a1b2c3' END,
                     now() - make_interval(mins => $8))",
            &[
                &site,
                &mac,
                &code,
                &used_mb,
                &added.0,
                &added.1,
                &radius,
                &used_min_ago,
            ],
        )
        .await
        .unwrap();
}

/// The "left" cell of the row of `mac` in the table of a page.
fn left_of(body: &str, mac: &str) -> String {
    let row = body
        .split(mac)
        .nth(1)
        .unwrap_or_else(|| panic!("{mac} not on the page"))
        .split("</tr>")
        .next()
        .unwrap();
    row.split("<td class=\"left\">")
        .nth(1)
        .unwrap()
        .split("</td>")
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn guests_online_show_the_time_and_data_their_voucher_has_left() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    let site = site_id(&api, api.a).await;
    // 60 min used 20 min ago, 30 min added at the router: 70 min; 500 MB less 120 used: 380 MB.
    let edge = "aa:bb:cc:40:00:01";
    on_voucher(
        &api,
        site,
        "LEFTA1",
        Some(60),
        Some(500),
        20,
        edge,
        120.0,
        (30, 0),
        false,
    )
    .await;
    // On a RADIUS NAS the extension is already in the voucher: 60 less 20.
    let nas = "aa:bb:cc:40:00:02";
    on_voucher(
        &api,
        site,
        "LEFTA2",
        Some(60),
        None,
        20,
        nas,
        5.0,
        (30, 0),
        true,
    )
    .await;
    // Data only, 2 GB and 100 MB added, 48 MB used: 2,100 MB.
    let data = "aa:bb:cc:40:00:03";
    on_voucher(
        &api,
        site,
        "LEFTA3",
        None,
        Some(2048),
        5,
        data,
        48.0,
        (0, 100),
        false,
    )
    .await;
    // Over its time: none left, not a negative figure.
    let over = "aa:bb:cc:40:00:04";
    on_voucher(
        &api,
        site,
        "LEFTA4",
        Some(10),
        None,
        30,
        over,
        0.0,
        (0, 0),
        false,
    )
    .await;

    let mut b = Browser::new(&api);
    b.sign_in("noc@a.test").await;
    for path in [
        "/console/sessions".to_owned(),
        format!("/console/sites/{site}"),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains("Left (time · data)"), "{path}");
        assert_eq!(left_of(&page.body, edge), "1 h 10 min · 380 MB", "{path}");
        assert_eq!(left_of(&page.body, nas), "40 min", "{path}");
        assert_eq!(left_of(&page.body, data), "2.1 GB", "{path}");
        assert_eq!(left_of(&page.body, over), "0 min", "{path}");
    }
}
