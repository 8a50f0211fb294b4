//! Bad form input gets a 4xx and changes nothing.

use crate::helpers::*;

fn snapshot(edge: &TestEdge) -> (i64, i64, i64, i64, usize) {
    (
        edge.count("SELECT count(*) FROM sessions"),
        edge.count("SELECT count(*) FROM voucher_redemptions"),
        edge.count("SELECT count(*) FROM outbox"),
        edge.count("SELECT count(*) FROM vouchers WHERE is_used = 1"),
        edge.firewall.calls().len(),
    )
}

#[tokio::test]
async fn bad_form_input_is_refused_and_changes_nothing() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let g = edge.guest(2);
    let token = g.token().await;
    let before = snapshot(&edge);
    let big = format!("code=GOOD234567&token={token}&pad={}", "A".repeat(5000));
    let overlong_code = format!("code={}&token={token}", "A".repeat(200));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("body over the limit", big.into_bytes(), 413),
        ("overlong code", overlong_code.into_bytes(), 400),
        (
            "raw non-UTF-8",
            [b"code=GOOD\xff\xfe4567&token=".as_slice(), token.as_bytes()].concat(),
            400,
        ),
        (
            "encoded non-UTF-8",
            format!("code=GOOD%FF4567&token={token}").into_bytes(),
            400,
        ),
        (
            "bad escape",
            format!("code=GOOD%2&token={token}").into_bytes(),
            400,
        ),
        ("missing code", format!("token={token}").into_bytes(), 400),
        ("missing token", b"code=GOOD234567".to_vec(), 400),
        (
            "wrong token",
            b"code=GOOD234567&token=00000000000000000000000000000000".to_vec(),
            403,
        ),
        (
            "repeated field",
            format!("code=GOOD234567&code=X&token={token}").into_bytes(),
            400,
        ),
        (
            "code with markup",
            format!("code=%3Cscript%3E&token={token}").into_bytes(),
            400,
        ),
    ];
    for (what, body, status) in cases {
        let r = g.post("/login", &body).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
    }
    // Wrong methods and content types.
    assert_eq!(g.get("/login", "10.0.0.1").await.status, 405);
    assert_eq!(g.get("/logout", "10.0.0.1").await.status, 405);
    let put =
        "PUT /login HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(g.raw(put.as_bytes()).await.status, 405);
    let json = "POST /login HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    assert_eq!(g.raw(json.as_bytes()).await.status, 415);
    // A token issued to another client is refused (CSRF).
    let other = edge.guest(3);
    let r = other
        .post(
            "/login",
            format!("code=GOOD234567&token={token}").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = other
        .post("/logout", format!("token={token}").as_bytes())
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(snapshot(&edge), before, "nothing changed");
    // And the right input still works afterwards.
    assert_eq!(g.login("GOOD234567").await.status, 303);
}
