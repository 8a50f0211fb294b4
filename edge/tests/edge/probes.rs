//! OS captive-portal checks, the portal page and the RFC 8908 API, before and after login.

use crate::helpers::*;

const PROBES: &[(&str, &str)] = &[
    ("/hotspot-detect.html", "captive.apple.com"),
    ("/", "captive.apple.com"),
    ("/generate_204", "connectivitycheck.gstatic.com"),
    ("/connecttest.txt", "www.msftconnecttest.com"),
    ("/ncsi.txt", "www.msftncsi.com"),
    ("/canonical.html", "detectportal.firefox.com"),
    ("/success.txt", "detectportal.firefox.com"),
];

#[tokio::test]
async fn before_login_every_probe_and_foreign_page_goes_to_the_portal() {
    let edge = spawn_edge("").await;
    let guest = edge.guest(2);
    let stranger = Guest::new(edge.addr, 3); // not even in the neighbour table
    for who in [guest, stranger] {
        for (path, host) in PROBES.iter().chain(&[("/some/page?q=1", "example.com")]) {
            let r = who.get(path, host).await;
            assert_eq!(r.status, 302, "{host}{path}: {r:?}");
            assert_eq!(
                r.header("location"),
                Some("http://10.0.0.1:2050/"),
                "{path}"
            );
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
    // Unknown paths on the portal itself also land on the portal page.
    let r = guest.get("/nope", "10.0.0.1:2050").await;
    assert_eq!(r.status, 302);
}

#[tokio::test]
async fn after_login_each_probe_gets_its_exact_success_answer() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nABCDE-FGH23,time,60\n");
    let guest = edge.guest(2);
    assert_eq!(guest.login("abcde fgh23").await.status, 303);
    let apple = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>";
    let firefox = "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>";
    for (path, host, status, body) in [
        ("/hotspot-detect.html", "captive.apple.com", 200, apple),
        ("/", "captive.apple.com", 200, apple),
        ("/generate_204", "connectivitycheck.gstatic.com", 204, ""),
        (
            "/connecttest.txt",
            "www.msftconnecttest.com",
            200,
            "Microsoft Connect Test",
        ),
        ("/ncsi.txt", "www.msftncsi.com", 200, "Microsoft NCSI"),
        ("/canonical.html", "detectportal.firefox.com", 200, firefox),
        ("/success.txt", "detectportal.firefox.com", 200, "success\n"),
    ] {
        let r = guest.get(path, host).await;
        assert_eq!((r.status, r.body.as_str()), (status, body), "{host}{path}");
    }
    // Another device is still captive.
    let other = edge.guest(3);
    assert_eq!(
        other
            .get("/generate_204", "connectivitycheck.gstatic.com")
            .await
            .status,
        302
    );
    // A foreign page reaching the portal after login goes to the status page.
    let r = guest.get("/x", "example.com").await;
    assert_eq!(r.header("location"), Some("http://10.0.0.1:2050/status"));
}

#[tokio::test]
async fn captive_api_reports_state_and_what_is_left() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes,data_limit_mb\nABCDEFGH23,time,60,100\n");
    let guest = edge.guest(2);
    let r = guest.get("/api/captive", "10.0.0.1:2050").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/captive+json"));
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["captive"], true);
    assert_eq!(doc["user-portal-url"], "http://10.0.0.1:2050/");
    assert!(doc.get("seconds-remaining").is_none());
    guest.login("ABCDEFGH23").await;
    edge.clock.advance(600);
    let doc: serde_json::Value =
        serde_json::from_str(&guest.get("/api/captive", "10.0.0.1:2050").await.body).unwrap();
    assert_eq!(doc["captive"], false);
    assert_eq!(doc["seconds-remaining"], 3000);
    assert_eq!(doc["bytes-remaining"], 100 * 1_048_576);
    // Another voucher on the status page can extend it.
    assert_eq!(doc["can-extend-session"], true);
}

#[tokio::test]
async fn portal_page_is_branded_small_and_speaks_swahili_on_request() {
    let edge = spawn_edge(
        "[branding]\ntitle = \"Mama Mboga <WiFi>\"\nsupport_phone = \"+254 700 000000\"\n",
    )
    .await;
    let guest = edge.guest(2);
    let r = guest.get("/", "10.0.0.1:2050").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.body.contains("Mama Mboga &lt;WiFi&gt;"),
        "escaped: {}",
        r.body
    );
    assert!(!r.body.contains("<WiFi>"));
    assert!(r.body.contains("+254 700 000000"));
    assert!(r.body.contains("name=\"viewport\""));
    assert!(!r.body.contains("<script"), "works without JavaScript");
    assert!(
        !r.body.contains("src=") && !r.body.contains("http://") && !r.body.contains("https://"),
        "no outside assets"
    );
    assert!(r.body.len() < 4096, "small: {} bytes", r.body.len());
    assert!(r.body.contains("Voucher code"));
    assert!(r.body.contains("href=\"?lang=sw\""));

    let sw = guest
        .get_with("/", "10.0.0.1:2050", "Accept-Language: sw-KE, en;q=0.5\r\n")
        .await;
    assert!(sw.body.contains("Nambari ya vocha"), "{}", sw.body);
    assert!(sw.body.contains("<html lang=\"sw\""));
    let prefers_en = guest
        .get_with(
            "/",
            "10.0.0.1:2050",
            "Accept-Language: sw;q=0.3, en;q=0.9\r\n",
        )
        .await;
    assert!(prefers_en.body.contains("Voucher code"));

    // The switch link remembers the choice in a cookie.
    let switched = guest.get("/?lang=sw", "10.0.0.1:2050").await;
    assert!(switched.body.contains("Unganisha"));
    let cookie = switched.header("set-cookie").unwrap();
    assert!(cookie.starts_with("lang=sw"), "{cookie}");
    let again = guest
        .get_with("/", "10.0.0.1:2050", "Cookie: lang=sw\r\n")
        .await;
    assert!(again.body.contains("Unganisha"));
}

#[tokio::test]
async fn health_reports_the_store_and_shutdown_is_graceful() {
    let mut edge = spawn_edge("").await;
    let r = Guest::new(edge.addr, 1).get("/healthz", "10.0.0.1").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    edge.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(edge.addr).await.is_err(),
        "listener closed"
    );
}
