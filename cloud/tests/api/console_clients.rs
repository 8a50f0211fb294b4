//! The console's clients (subscribers) and support tickets: lists, searches, keyset paging, a
//! client's wallet credited and renewed through the API's functions, replies and status changes
//! of tickets through the API's generic resource functions, role refusals and bad input that
//! change nothing. Against a real PostgreSQL, through the browser without JavaScript of
//! `console.rs`.

use uuid::Uuid;

use crate::console::Browser;
use crate::operators::Api;

/// A digest of the tenant's clients, wallets and tickets (what these pages could change).
async fn digest(api: &Api, tenant: Uuid) -> String {
    api.owner
        .query_one(
            "SELECT md5(string_agg(j, '|' ORDER BY j)) FROM (
                 SELECT row_to_json(x)::text AS j FROM clients x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM wallet_transactions x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM support_tickets x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM ticket_comments x WHERE tenant_id = $1
             ) s",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

async fn client_of(api: &Api, tenant: Uuid) -> Uuid {
    api.owner
        .query_one(
            "SELECT id FROM clients WHERE tenant_id = $1 ORDER BY created_at LIMIT 1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

async fn ticket_of(api: &Api, tenant: Uuid) -> Uuid {
    api.owner
        .query_one(
            "SELECT id FROM support_tickets WHERE tenant_id = $1 AND ticket_number = 'TCK-1'",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

async fn balance(api: &Api, client: Uuid) -> String {
    api.owner
        .query_one(
            "SELECT wallet_balance::text FROM clients WHERE id = $1",
            &[&client],
        )
        .await
        .unwrap()
        .get(0)
}

async fn transactions(api: &Api, client: Uuid) -> i64 {
    api.owner
        .query_one(
            "SELECT count(*) FROM wallet_transactions WHERE client_id = $1",
            &[&client],
        )
        .await
        .unwrap()
        .get(0)
}

/// The `href` of the page's "next page" link, unescaped.
fn next_link(body: &str) -> Option<String> {
    if !body.contains("rel=\"next\"") {
        return None;
    }
    let before = body.split("\" rel=\"next\"").next().unwrap();
    Some(
        before
            .rsplit("href=\"")
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

#[tokio::test]
async fn clients_are_listed_searched_and_paged_for_their_tenant_only() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("tech@a.test").await;
    let dash = a.get("/console/").await;
    assert!(dash.body.contains("href=\"/console/clients\""));
    assert!(dash.body.contains("href=\"/console/tickets\""));
    let list = a.get("/console/clients").await;
    assert_eq!(list.status, 200);
    // Name, phone, account (the customer's number), status, package and expiry; the balance
    // only to the Finance roles.
    for shown in ["Client t1", "254711000001", "CUST-t1", "active", "Home 10"] {
        assert!(list.body.contains(shown), "{shown}: {}", list.body);
    }
    assert!(!list.body.contains("3000.00") && !list.body.contains("Wallet (KES)"));
    assert!(!list.body.contains("Client t2"), "another tenant's client");
    api.user(api.a, "money@a.test", &["support_agent"]).await;
    let mut m = Browser::new(&api);
    m.sign_in("money@a.test").await;
    let money = m.get("/console/clients").await;
    assert!(money.body.contains("Wallet (KES)") && money.body.contains("3000.00"));
    // Search by name (any case), phone in another spelling, account, e-mail-less miss.
    for q in [
        "client%20T1",
        "0711%20000%20001",
        "cust-t1",
        "%2B254711000001",
    ] {
        let found = a.get(&format!("/console/clients?q={q}")).await;
        assert_eq!(found.status, 200, "{q}");
        assert!(found.body.contains("Client t1"), "{q}");
    }
    let none = a.get("/console/clients?q=nobody").await;
    assert!(none.body.contains("No clients found") && !none.body.contains("Client t1"));
    // A wildcard typed is a character, not a pattern.
    let pct = a.get("/console/clients?q=%25").await;
    assert!(!pct.body.contains("Client t1"));
    let other = a.get("/console/clients?q=Client%20t2").await;
    assert!(
        other.body.contains("No clients found"),
        "another tenant's client"
    );
    let long = a
        .get(&format!("/console/clients?q={}", "x".repeat(101)))
        .await;
    assert_eq!(long.status, 422);
    assert!(!long.body.contains("Client t1"));
    assert_eq!(a.get("/console/clients?after=junk").await.status, 404);

    // 60 more clients: pages of 50 by name, none twice, none lost.
    api.owner
        .execute(
            "INSERT INTO clients (tenant_id, name, phone)
             SELECT $1, 'Paged ' || lpad(i::text, 3, '0'), '2547220' || lpad(i::text, 5, '0')
             FROM generate_series(1, 60) i",
            &[&api.a],
        )
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut path = Some("/console/clients?q=paged".to_owned());
    let mut pages = 0;
    while let Some(p) = path {
        let page = a.get(&p).await;
        assert_eq!(page.status, 200, "{p}");
        for piece in page.body.split(">Paged ").skip(1) {
            assert!(seen.insert(piece[..3].to_owned()), "a client twice: {p}");
        }
        path = next_link(&page.body);
        pages += 1;
    }
    assert_eq!((seen.len(), pages), (60, 2));
}

#[tokio::test]
async fn a_clients_wallet_is_credited_once_per_receipt_and_renewed_from_the_wallet() {
    let api = Api::new().await;
    api.user(api.a, "money@a.test", &["support_agent"]).await;
    let client = client_of(&api, api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("money@a.test").await;
    let path = format!("/console/clients/{client}");
    let page = a.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Client t1") && page.body.contains("3000.00"));
    assert!(page.body.contains("id=\"credit-form\"") && page.body.contains("id=\"renew-form\""));
    // The fixture's credit of 3000 and the client's ticket.
    assert!(page.body.contains("id=\"transactions\"") && page.body.contains("3000"));
    assert!(page.body.contains("TCK-1"));
    let csrf = page.csrf();
    let credit = format!("{path}/credit");
    let form = [
        ("csrf", csrf.as_str()),
        ("amount", "250"),
        ("receipt", "RCP0000001"),
        ("reference", "Counter 1"),
        ("description", "Cash at the desk"),
    ];
    let done = a.post(&credit, &form).await;
    assert_eq!(
        (done.status, done.location()),
        (303, format!("{path}?done=credited").as_str())
    );
    assert_eq!(balance(&api, client).await, "3250.00");
    let row = api
        .owner
        .query_one(
            "SELECT transaction_type::text, amount::text, reference_number::text,
                    mpesa_receipt_number::text, description
             FROM wallet_transactions WHERE client_id = $1 AND mpesa_receipt_number IS NOT NULL",
            &[&client],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "credit");
    assert_eq!(row.get::<_, String>(1), "250.00");
    assert_eq!(row.get::<_, String>(2), "Counter 1");
    assert_eq!(row.get::<_, String>(3), "RCP0000001");
    assert_eq!(row.get::<_, String>(4), "Cash at the desk");
    let shown = a.get(&format!("{path}?done=credited")).await;
    assert!(shown.body.contains("The wallet was credited") && shown.body.contains("RCP0000001"));

    // The same form again (a double click, the back button): the receipt is refused.
    let before = digest(&api, api.a).await;
    let again = a.post(&credit, &form).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already credited"));
    assert_eq!(balance(&api, client).await, "3250.00");
    assert_eq!(digest(&api, api.a).await, before, "credited once");

    // Bad amounts and fields: 422, the form kept, nothing changed.
    for (amount, receipt) in [
        ("", ""),
        ("abc", ""),
        ("-5", ""),
        ("0", ""),
        ("1.234", ""),
        ("NaN", ""),
        ("inf", ""),
        ("1e12", ""),
        ("10", &*"R".repeat(256)),
    ] {
        let bad = a
            .post(
                &credit,
                &[("csrf", &csrf), ("amount", amount), ("receipt", receipt)],
            )
            .await;
        assert_eq!(bad.status, 422, "{amount:?}");
        assert!(bad.body.contains("Nothing was credited"), "{amount:?}");
        assert_eq!(digest(&api, api.a).await, before, "{amount:?}");
    }
    // Without the token: 403, nothing.
    let forged = a.post(&credit, &[("amount", "10")]).await;
    assert_eq!(forged.status, 403);
    // An unknown client: 404.
    let unknown = a
        .post(
            &format!("/console/clients/{}/credit", Uuid::new_v4()),
            &[("csrf", &csrf), ("amount", "10")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(digest(&api, api.a).await, before);

    // A reference alone is not checked (as in the API): the same form credits twice.
    let by_reference = [
        ("csrf", csrf.as_str()),
        ("amount", "1.50"),
        ("reference", "R1"),
    ];
    assert_eq!(a.post(&credit, &by_reference).await.status, 303);
    assert_eq!(a.post(&credit, &by_reference).await.status, 303);
    assert_eq!(balance(&api, client).await, "3253.00");

    // Renewal: 1500 a month from 3253.00, twice, then the balance is short.
    let end = || {
        let api = &api;
        async move {
            api.owner
                .query_one(
                    "SELECT subscription_end_date FROM clients WHERE id = $1",
                    &[&client],
                )
                .await
                .unwrap()
                .get::<_, chrono::DateTime<chrono::Utc>>(0)
        }
    };
    let first_end = end().await;
    let renew = format!("{path}/renew");
    let done = a.post(&renew, &[("csrf", &csrf)]).await;
    assert_eq!(
        (done.status, done.location()),
        (303, format!("{path}?done=renewed").as_str())
    );
    assert_eq!(balance(&api, client).await, "1753.00");
    let second_end = end().await;
    assert!(second_end > first_end + chrono::Duration::days(27));
    assert_eq!(a.post(&renew, &[("csrf", &csrf)]).await.status, 303);
    assert_eq!(balance(&api, client).await, "253.00");
    let before = digest(&api, api.a).await;
    let short = a.post(&renew, &[("csrf", &csrf)]).await;
    assert_eq!(short.status, 409);
    assert!(short.body.contains("less than the renewal price"));
    assert_eq!(
        digest(&api, api.a).await,
        before,
        "a refused renewal changes nothing"
    );
    let debits: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM wallet_transactions
             WHERE client_id = $1 AND transaction_type = 'debit'",
            &[&client],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(debits, 2);
}

#[tokio::test]
async fn roles_outside_finance_see_no_wallet_actions_and_are_refused_them() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let client = client_of(&api, api.a).await;
    let before = digest(&api, api.a).await;
    let count_before = transactions(&api, client).await;
    for who in ["noc@a.test", "tech@a.test"] {
        let mut b = Browser::new(&api);
        b.sign_in(who).await;
        let page = b.get(&format!("/console/clients/{client}")).await;
        assert_eq!(page.status, 200, "{who}");
        assert!(page.body.contains("Client t1"));
        assert!(!page.body.contains("credit-form"), "{who} sees no credit");
        assert!(!page.body.contains("renew-form"), "{who} sees no renewal");
        assert!(!page.body.contains("id=\"transactions\""), "{who}");
        assert!(!page.body.contains("3000.00"), "{who} sees no balance");
        // No payments link either: these are not the Finance roles.
        assert!(!page.body.contains("/console/payments"));
        let csrf = page.csrf();
        let credit = b
            .post(
                &format!("/console/clients/{client}/credit"),
                &[
                    ("csrf", &csrf),
                    ("amount", "100"),
                    ("receipt", "RNOPE00001"),
                ],
            )
            .await;
        assert_eq!(credit.status, 403, "{who}");
        let renew = b
            .post(
                &format!("/console/clients/{client}/renew"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(renew.status, 403, "{who}");
    }
    assert_eq!(transactions(&api, client).await, count_before);
    assert_eq!(digest(&api, api.a).await, before);
}

#[tokio::test]
async fn tickets_are_listed_answered_closed_and_reopened_by_support() {
    let api = Api::new().await;
    let agent = api.user(api.a, "desk@a.test", &["support_agent"]).await;
    let ticket = ticket_of(&api, api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let list = a.get("/console/tickets").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("TCK-1") && list.body.contains("Slow"));
    assert!(list.body.contains("Client t1"));
    assert!(
        !a.get("/console/tickets?status=closed")
            .await
            .body
            .contains("TCK-1")
    );
    assert!(
        a.get("/console/tickets?status=open")
            .await
            .body
            .contains("TCK-1")
    );
    let bad = a.get("/console/tickets?status=lost").await;
    assert_eq!(bad.status, 422);
    assert!(!bad.body.contains("TCK-1"));
    assert_eq!(a.get("/console/tickets?after=junk").await.status, 404);

    let path = format!("/console/tickets/{ticket}");
    let page = a.get(&path).await;
    assert_eq!(page.status, 200);
    // The description and the fixture's reply, with its author.
    assert!(page.body.contains("Slow internet") && page.body.contains("Looking"));
    assert!(page.body.contains("Admin t1"));
    assert!(page.body.contains("id=\"reply-form\"") && page.body.contains("id=\"status-form\""));
    let csrf = page.csrf();

    // A reply, kept as typed (escaped when shown).
    let text = "Restarted the router <b>now</b>.\nPlease try again.";
    let done = a
        .post(
            &format!("{path}/reply"),
            &[("csrf", &csrf), ("content", text)],
        )
        .await;
    assert_eq!(
        (done.status, done.location()),
        (303, format!("{path}?done=replied").as_str())
    );
    let stored = api
        .owner
        .query_one(
            "SELECT author_id, content, is_internal, tenant_id FROM ticket_comments
             WHERE ticket_id = $1 ORDER BY created_at DESC LIMIT 1",
            &[&ticket],
        )
        .await
        .unwrap();
    assert_eq!(stored.get::<_, Uuid>(0), agent);
    assert_eq!(stored.get::<_, String>(1), text);
    assert!(!stored.get::<_, bool>(2));
    assert_eq!(stored.get::<_, Uuid>(3), api.a);
    let shown = a.get(&path).await;
    assert!(
        shown
            .body
            .contains("Restarted the router &#60;b&#62;now&#60;/b&#62;.")
    );
    assert!(!shown.body.contains("<b>now</b>"));
    // A staff note.
    let note = a
        .post(
            &format!("{path}/reply"),
            &[
                ("csrf", &csrf),
                ("content", "Called him"),
                ("internal", "1"),
            ],
        )
        .await;
    assert_eq!(note.status, 303);
    let internal: bool = api
        .owner
        .query_one(
            "SELECT is_internal FROM ticket_comments WHERE content = 'Called him'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(internal);
    assert!(a.get(&path).await.body.contains("staff note"));

    // Empty, blank or too long: 422, the text kept, nothing stored.
    let before = digest(&api, api.a).await;
    let long = "x".repeat(10_001);
    for content in ["", "   \n ", long.as_str()] {
        let bad = a
            .post(
                &format!("{path}/reply"),
                &[("csrf", &csrf), ("content", content)],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", content.len());
        assert!(bad.body.contains("Nothing was added"));
    }
    let forged = a
        .post(&format!("{path}/reply"), &[("content", "no token")])
        .await;
    assert_eq!(forged.status, 403);
    let unknown = a
        .post(
            &format!("/console/tickets/{}/reply", Uuid::new_v4()),
            &[("csrf", &csrf), ("content", "nobody")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(digest(&api, api.a).await, before);

    // Closed (resolved_at stamped), reopened (cleared); an unknown status changes nothing.
    let status = format!("{path}/status");
    let closed = a
        .post(&status, &[("csrf", &csrf), ("status", "closed")])
        .await;
    assert_eq!(
        (closed.status, closed.location()),
        (303, format!("{path}?done=status").as_str())
    );
    let state = || {
        let api = &api;
        async move {
            let r = api
                .owner
                .query_one(
                    "SELECT status::text, resolved_at IS NOT NULL, updated_by
                     FROM support_tickets WHERE id = $1",
                    &[&ticket],
                )
                .await
                .unwrap();
            (
                r.get::<_, String>(0),
                r.get::<_, bool>(1),
                r.get::<_, Option<Uuid>>(2),
            )
        }
    };
    assert_eq!(state().await, ("closed".into(), true, Some(agent)));
    let page = a.get(&path).await;
    assert!(page.body.contains("Reopen"));
    assert!(
        !a.get("/console/tickets?status=open")
            .await
            .body
            .contains("TCK-1")
    );
    let before = digest(&api, api.a).await;
    let bad = a
        .post(&status, &[("csrf", &csrf), ("status", "lost")])
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(digest(&api, api.a).await, before);
    let reopened = a
        .post(&status, &[("csrf", &csrf), ("status", "open")])
        .await;
    assert_eq!(reopened.status, 303);
    assert_eq!(state().await, ("open".into(), false, Some(agent)));
    assert!(a.get(&path).await.body.contains("Close the ticket"));
}

#[tokio::test]
async fn a_field_technician_reads_tickets_but_cannot_answer_or_close_them() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let ticket = ticket_of(&api, api.a).await;
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let path = format!("/console/tickets/{ticket}");
    let page = t.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Slow internet"));
    assert!(!page.body.contains("reply-form") && !page.body.contains("status-form"));
    assert!(!page.body.contains("Close the ticket"));
    let csrf = page.csrf();
    let before = digest(&api, api.a).await;
    let reply = t
        .post(
            &format!("{path}/reply"),
            &[("csrf", &csrf), ("content", "from the field")],
        )
        .await;
    assert_eq!(reply.status, 403);
    let status = t
        .post(
            &format!("{path}/status"),
            &[("csrf", &csrf), ("status", "closed")],
        )
        .await;
    assert_eq!(status.status, 403);
    assert_eq!(digest(&api, api.a).await, before);
}

#[tokio::test]
async fn tickets_are_paged_newest_first_by_keyset() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    // 60 tickets, some sharing a creation time (the id breaks the tie).
    api.owner
        .execute(
            "INSERT INTO support_tickets (tenant_id, ticket_number, title, description, created_at)
             SELECT $1, 'PG-' || lpad(i::text, 3, '0'), 'Paged', 'x',
                    now() - (i / 2) * interval '1 minute'
             FROM generate_series(1, 60) i",
            &[&api.a],
        )
        .await
        .unwrap();
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let mut seen = Vec::new();
    let mut path = Some("/console/tickets?status=open".to_owned());
    while let Some(p) = path {
        let page = a.get(&p).await;
        assert_eq!(page.status, 200, "{p}");
        for piece in page.body.split("\">PG-").skip(1) {
            seen.push(piece[..3].parse::<u32>().unwrap());
        }
        path = next_link(&page.body);
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (60, 60),
        "none twice, none lost"
    );
    // Newest first: the smaller numbers were made later.
    assert!(seen.first().unwrap() < seen.last().unwrap());
}

/// A client's row as these forms write it.
async fn client_row(api: &Api, id: Uuid) -> Vec<String> {
    let r = api
        .owner
        .query_one(
            "SELECT name::text, phone::text, coalesce(mpesa_number, '')::text,
                    coalesce(email, '')::text, client_type::text, connection_type::text,
                    status::text, coalesce(service_package_id::text, ''), coalesce(address, ''),
                    auto_renewal::text, tenant_id::text, coalesce(created_by::text, ''),
                    coalesce(updated_by::text, '')
             FROM clients WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (0..13).map(|i| r.get::<_, String>(i)).collect()
}

/// The id in a redirect to a page of `prefix`.
fn created_id(location: &str, prefix: &str) -> Uuid {
    let rest = location
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{location}"));
    Uuid::parse_str(rest.split('?').next().unwrap()).unwrap()
}

#[tokio::test]
async fn clients_are_created_and_edited_with_the_apis_checks() {
    let api = Api::new().await;
    let agent = api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let package = api
        .owner
        .query_one(
            "SELECT id FROM service_packages WHERE tenant_id = $1 AND name = 'Home 10'",
            &[&api.a],
        )
        .await
        .unwrap()
        .get::<_, Uuid>(0)
        .to_string();
    let b_package = api
        .owner
        .query_one(
            "SELECT id FROM service_packages WHERE tenant_id = $1 AND name = 'Home 10'",
            &[&api.b],
        )
        .await
        .unwrap()
        .get::<_, Uuid>(0)
        .to_string();
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let list = a.get("/console/clients").await;
    assert!(list.body.contains("href=\"/console/clients/new\""));
    let form = a.get("/console/clients/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("id=\"client-form\"") && form.body.contains("Home 10"));
    let csrf = form.csrf();
    let good: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("name", "Mama Njeri Shop"),
        ("phone", "0712 345 678"),
        ("mpesa_number", "+254 733 000 111"),
        ("email", "njeri@shop.test"),
        ("client_type", "business"),
        ("connection_type", "wireless"),
        ("status", "active"),
        ("service_package_id", &package),
        ("address", "Kibera, Nairobi"),
        ("auto_renewal", "on"),
    ];
    let with = |field: &str, value: &'static str| {
        good.iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect::<Vec<_>>()
    };
    // Every refusal: the form again with its reason and the text as typed, nothing stored.
    let before = digest(&api, api.a).await;
    for (field, value, reason) in [
        ("name", "  ", "A name is needed"),
        ("phone", "12345", "not a Kenyan mobile number"),
        ("mpesa_number", "0012", "The M-Pesa number is not"),
        ("email", "njeri at shop", "e-mail address does not read"),
        ("status", "closed", "not one of the list"),
        ("client_type", "alien", "not one of the list"),
        ("service_package_id", "nope", "not one of yours"),
    ] {
        let page = a.post("/console/clients", &with(field, value)).await;
        assert_eq!(page.status, 422, "{field}: {}", page.body);
        assert!(page.body.contains(reason), "{field}: {}", page.body);
        assert!(page.body.contains("Kibera, Nairobi"), "the form as typed");
    }
    let mut other = good.clone();
    other.retain(|(k, _)| *k != "service_package_id");
    other.push(("service_package_id", &b_package));
    let page = a.post("/console/clients", &other).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("not one of yours"));
    let no_token: Vec<(&str, &str)> = good[1..].to_vec();
    assert_eq!(a.post("/console/clients", &no_token).await.status, 403);
    assert_eq!(digest(&api, api.a).await, before, "nothing stored");

    let made = a.post("/console/clients", &good).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let id = created_id(made.location(), "/console/clients/");
    let row = client_row(&api, id).await;
    assert_eq!(
        row[..10],
        [
            "Mama Njeri Shop",
            "254712345678",
            "254733000111",
            "njeri@shop.test",
            "business",
            "wireless",
            "active",
            package.as_str(),
            "Kibera, Nairobi",
            "true"
        ]
    );
    assert_eq!(row[10], api.a.to_string());
    assert_eq!(row[11], agent.to_string(), "created by the signed-in user");
    let shown = a.get(made.location()).await;
    assert!(shown.body.contains("The client was added."));
    assert!(
        shown
            .body
            .contains(&format!("href=\"/console/clients/{id}/edit\""))
    );
    // Found by the search as any other client, by a phone in another spelling.
    assert!(
        a.get("/console/clients?q=0712345678")
            .await
            .body
            .contains("Mama Njeri Shop")
    );

    // The edit form, filled in; a change saved, a bad one refused with nothing changed.
    let edit_path = format!("/console/clients/{id}/edit");
    let edit = a.get(&edit_path).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"Mama Njeri Shop\"") && edit.body.contains("254712345678"));
    let saved_row = client_row(&api, id).await;
    let bad = a.post(&edit_path, &with("phone", "0800")).await;
    assert_eq!(bad.status, 422);
    assert_eq!(client_row(&api, id).await, saved_row);
    let mut change = with("status", "suspended");
    change.retain(|(k, _)| *k != "auto_renewal" && *k != "service_package_id" && *k != "email");
    change.push(("service_package_id", ""));
    change.push(("email", ""));
    let saved = a.post(&edit_path, &change).await;
    assert_eq!(
        (saved.status, saved.location()),
        (303, format!("/console/clients/{id}?done=saved").as_str())
    );
    let row = client_row(&api, id).await;
    assert_eq!(row[6], "suspended");
    assert_eq!(row[7], "", "the package taken off");
    assert_eq!(row[3], "", "the e-mail cleared");
    assert_eq!(row[9], "false", "unticked: no automatic renewal");
    assert_eq!(row[12], agent.to_string(), "updated by the signed-in user");
    assert!(
        a.get(saved.location())
            .await
            .body
            .contains("The changes were saved.")
    );

    // A field technician sees neither link and is refused the forms and the posts.
    let before = digest(&api, api.a).await;
    let mut tech = Browser::new(&api);
    tech.sign_in("tech@a.test").await;
    assert!(
        !tech
            .get("/console/clients")
            .await
            .body
            .contains("/console/clients/new")
    );
    let page = tech.get(&format!("/console/clients/{id}")).await;
    assert!(!page.body.contains("/edit\"") && !page.body.contains("/console/tickets/new"));
    let csrf = page.csrf();
    assert_eq!(tech.get("/console/clients/new").await.status, 403);
    assert_eq!(tech.get(&edit_path).await.status, 403);
    let mut as_tech = good.clone();
    as_tech[0] = ("csrf", &csrf);
    assert_eq!(tech.post("/console/clients", &as_tech).await.status, 403);
    assert_eq!(tech.post(&edit_path, &as_tech).await.status, 403);
    // Another tenant's client: 404 to read and to save.
    api.user(api.b, "desk@b.test", &["tenant_admin"]).await;
    let mut b = Browser::new(&api);
    b.sign_in("desk@b.test").await;
    assert_eq!(b.get(&edit_path).await.status, 404);
    let csrf = b.get("/console/clients").await.csrf();
    let mut as_b = good.clone();
    as_b[0] = ("csrf", &csrf);
    assert_eq!(b.post(&edit_path, &as_b).await.status, 404);
    assert_eq!(digest(&api, api.a).await, before, "nothing changed");
}

#[tokio::test]
async fn tickets_are_opened_for_a_client_found_by_phone() {
    let api = Api::new().await;
    let agent = api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let a_client = client_of(&api, api.a).await;
    // A client of B's with a number of its own: never found from A.
    api.owner
        .execute(
            "INSERT INTO clients (tenant_id, name, phone) VALUES ($1, 'Only B', '254799000002')",
            &[&api.b],
        )
        .await
        .unwrap();
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    assert!(
        a.get("/console/tickets")
            .await
            .body
            .contains("href=\"/console/tickets/new\"")
    );
    // From the client's page: the form with the client's number filled in.
    let client_page = a.get(&format!("/console/clients/{a_client}")).await;
    assert!(
        client_page
            .body
            .contains("href=\"/console/tickets/new?client=254711000001\"")
    );
    let form = a.get("/console/tickets/new?client=254711000001").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"client\" value=\"254711000001\""));
    let csrf = form.csrf();
    let good: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("client", "0711 000 001"),
        ("title", "No signal since the storm"),
        ("description", "The antenna was moved by the wind."),
        ("ticket_type", "technical"),
        ("priority", "high"),
        ("source", "walk_in"),
    ];
    let with = |field: &str, value: &'static str| {
        good.iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect::<Vec<_>>()
    };
    let before = digest(&api, api.a).await;
    for (field, value, reason) in [
        ("title", "", "A subject is needed"),
        ("description", " ", "Say what happened"),
        ("priority", "extreme", "not one of the list"),
        ("source", "pigeon", "not one of the list"),
        ("client", "0799 000 002", "No client has that phone number"),
        ("client", "12", "No client has that phone number"),
    ] {
        let page = a.post("/console/tickets", &with(field, value)).await;
        assert_eq!(page.status, 422, "{field}={value}: {}", page.body);
        assert!(page.body.contains(reason), "{field}={value}");
        assert!(page.body.contains("No signal since the storm") || field == "title");
    }
    assert_eq!(a.post("/console/tickets", &good[1..]).await.status, 403);
    assert_eq!(digest(&api, api.a).await, before, "nothing stored");

    let made = a.post("/console/tickets", &good).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let id = created_id(made.location(), "/console/tickets/");
    let r = api
        .owner
        .query_one(
            "SELECT ticket_number::text, client_id, created_by, ticket_type::text,
                    priority::text, source::text, status::text, tenant_id
             FROM support_tickets WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "TCK-2", "after the fixture's TCK-1");
    assert_eq!(r.get::<_, Option<Uuid>>(1), Some(a_client));
    assert_eq!(r.get::<_, Option<Uuid>>(2), Some(agent));
    assert_eq!(
        (1..7)
            .skip(2)
            .map(|i| r.get::<_, String>(i))
            .collect::<Vec<_>>(),
        ["technical", "high", "walk_in", "open"]
    );
    assert_eq!(r.get::<_, Uuid>(7), api.a);
    let page = a.get(made.location()).await;
    assert!(page.body.contains("The ticket was opened."));
    assert!(page.body.contains("TCK-2 · No signal since the storm"));
    assert!(page.body.contains("Client t1"));
    // Without a client.
    let none = a.post("/console/tickets", &with("client", "")).await;
    assert_eq!(none.status, 303);
    let id = created_id(none.location(), "/console/tickets/");
    let r = api
        .owner
        .query_one(
            "SELECT ticket_number::text, client_id FROM support_tickets WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "TCK-3");
    assert_eq!(r.get::<_, Option<Uuid>>(1), None);

    // A field technician: no link, the form and the post refused, nothing stored.
    let before = digest(&api, api.a).await;
    let mut tech = Browser::new(&api);
    tech.sign_in("tech@a.test").await;
    let list = tech.get("/console/tickets").await;
    assert!(!list.body.contains("/console/tickets/new"));
    assert_eq!(tech.get("/console/tickets/new").await.status, 403);
    let csrf = list.csrf();
    let mut as_tech = good.clone();
    as_tech[0] = ("csrf", &csrf);
    assert_eq!(tech.post("/console/tickets", &as_tech).await.status, 403);
    assert_eq!(digest(&api, api.a).await, before);
}

/// The devices this test registers for the client: MAC, whether blocked, and why.
async fn devices_of(api: &Api, client: Uuid) -> Vec<(String, bool, String)> {
    api.owner
        .query(
            "SELECT mac_address::text, is_blocked, coalesce(blocked_reason, '')
             FROM client_hotspot_access
             WHERE client_id = $1 AND mac_address::text LIKE 'aa:bb:cc:30:%'
             ORDER BY mac_address",
            &[&client],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// (status, suspended within the last minute, reason)
async fn suspension(api: &Api, client: Uuid) -> (String, Option<bool>, Option<String>) {
    let r = api
        .owner
        .query_one(
            "SELECT status::text, suspended_at > now() - interval '1 minute', suspension_reason
             FROM clients WHERE id = $1",
            &[&client],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

#[tokio::test]
async fn a_client_suspended_from_the_console_is_stamped_and_their_devices_blocked_until_it_ends() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    let id = client_of(&api, api.a).await;
    let site = crate::console::site_id(&api, api.a).await;
    for (mac, blocked, reason) in [
        ("aa:bb:cc:30:00:01", false, None),
        ("aa:bb:cc:30:00:02", true, Some("stolen phone")),
    ] {
        api.owner
            .execute(
                "INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address,
                     is_blocked, blocked_reason)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&api.a, &id, &site, &mac, &blocked, &reason],
            )
            .await
            .unwrap();
    }
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let edit_path = format!("/console/clients/{id}/edit");
    let edit = a.get(&edit_path).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("name=\"suspension_reason\""));
    let csrf = edit.csrf();
    let field = |name: &str| {
        let tail = edit
            .body
            .split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .unwrap_or_else(|| panic!("{name}"));
        tail.split('"').next().unwrap().to_owned()
    };
    let (name, phone) = (field("name"), field("phone"));
    let form = |status: &'static str, reason: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("name", &name),
            ("phone", &phone),
            ("client_type", "individual"),
            ("connection_type", "hotspot"),
            ("status", status),
            ("suspension_reason", reason),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };

    // A reason that is too long or not one line: refused, nothing changed.
    let before = (suspension(&api, id).await, devices_of(&api, id).await);
    for bad in ["x".repeat(501), "late\npayment".to_owned()] {
        let refused = post_pairs(&mut a, &edit_path, form("suspended", &bad)).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("at most 500 characters"));
    }
    assert_eq!(
        (suspension(&api, id).await, devices_of(&api, id).await),
        before
    );

    let saved = post_pairs(&mut a, &edit_path, form("suspended", "Unpaid since March")).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        suspension(&api, id).await,
        (
            "suspended".into(),
            Some(true),
            Some("Unpaid since March".into())
        )
    );
    assert_eq!(
        devices_of(&api, id).await,
        [
            (
                "aa:bb:cc:30:00:01".into(),
                true,
                "subscription suspended".into()
            ),
            ("aa:bb:cc:30:00:02".into(), true, "stolen phone".into()),
        ],
        "blocked for the suspension, the stolen one kept as it was"
    );
    let page = a.get(&format!("/console/clients/{id}")).await;
    assert!(page.body.contains("Suspended since"));
    assert!(page.body.contains(": Unpaid since March"));
    // The edit form shows the reason; a second save keeps the time of the suspension.
    let stamped: chrono::DateTime<chrono::Utc> = api
        .owner
        .query_one("SELECT suspended_at FROM clients WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(
        a.get(&edit_path)
            .await
            .body
            .contains("value=\"Unpaid since March\"")
    );
    let again = post_pairs(&mut a, &edit_path, form("suspended", "Unpaid since April")).await;
    assert_eq!(again.status, 303);
    let (still, reason): (chrono::DateTime<chrono::Utc>, String) = {
        let r = api
            .owner
            .query_one(
                "SELECT suspended_at, suspension_reason FROM clients WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((still, reason.as_str()), (stamped, "Unpaid since April"));

    // Active again: the stamp and reason cleared, the suspension's blocks lifted, the other kept.
    let active = post_pairs(&mut a, &edit_path, form("active", "ignored when active")).await;
    assert_eq!(active.status, 303);
    assert_eq!(suspension(&api, id).await, ("active".into(), None, None));
    assert_eq!(
        devices_of(&api, id).await,
        [
            ("aa:bb:cc:30:00:01".into(), false, String::new()),
            ("aa:bb:cc:30:00:02".into(), true, "stolen phone".into()),
        ]
    );

    // Any other path (here SQL, as the generic API and the renewal job write) is stamped too.
    api.owner
        .execute(
            "UPDATE clients SET status = 'suspended' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(suspension(&api, id).await.1, Some(true));
    assert!(devices_of(&api, id).await[0].1);
}

async fn post_pairs(
    a: &mut Browser,
    path: &str,
    form: Vec<(String, String)>,
) -> crate::console::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    a.post(path, &pairs).await
}

#[tokio::test]
async fn tickets_opened_at_the_same_moment_each_get_their_own_number() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    let mut desks = Vec::new();
    for _ in 0..6 {
        let mut b = Browser::new(&api);
        b.sign_in("desk@a.test").await;
        let csrf = b.get("/console/tickets/new").await.csrf();
        desks.push((b, csrf));
    }
    let before: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM support_tickets WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let sent =
        futures_util::future::join_all(desks.iter_mut().enumerate().map(|(i, (b, csrf))| {
            let title = format!("Outage report {i}");
            let csrf = csrf.clone();
            async move {
                b.post(
                    "/console/tickets",
                    &[
                        ("csrf", csrf.as_str()),
                        ("title", title.as_str()),
                        ("description", "Down since morning."),
                        ("ticket_type", "technical"),
                        ("priority", "high"),
                        ("source", "phone"),
                    ],
                )
                .await
                .status
            }
        }))
        .await;
    assert!(sent.iter().all(|s| *s == 303), "{sent:?}");
    let numbers: Vec<String> = api
        .owner
        .query(
            "SELECT ticket_number::text FROM support_tickets
             WHERE tenant_id = $1 AND title LIKE 'Outage report %'",
            &[&api.a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(numbers.len(), 6);
    let distinct: std::collections::HashSet<_> = numbers.iter().collect();
    assert_eq!(distinct.len(), 6, "{numbers:?}");
    let after: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM support_tickets WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, before + 6);
}
