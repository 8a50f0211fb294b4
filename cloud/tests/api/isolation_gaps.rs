//! Two gaps closed by migration 0046: a wallet credit's receipt is unique within a tenant, not
//! across tenants (so one tenant neither learns of nor blocks another's credit), and a ticket
//! comment is written only in the name of the user who writes it.

use serde_json::json;
use uuid::Uuid;

use crate::operators::Api;

#[tokio::test]
async fn a_receipt_credited_by_one_tenant_is_no_conflict_for_another() {
    let api = Api::new().await;
    let a_admin = api.token(api.a, &["tenant_admin"]).await;
    let b_admin = api.token(api.b, &["tenant_admin"]).await;
    let a_client = api.id_of("clients", api.a).await;
    let b_client = api.id_of("clients", api.b).await;
    let receipt = "SHARED0001";
    let (status, body) = api
        .post(
            "/api/v1/wallet/credit",
            &a_admin,
            json!({"client_id": a_client, "amount": 100, "mpesa_receipt_number": receipt}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .post(
            "/api/v1/wallet/credit",
            &b_admin,
            json!({"client_id": b_client, "amount": 40, "mpesa_receipt_number": receipt}),
        )
        .await;
    assert_eq!(
        status, 200,
        "another tenant's receipt tells nothing: {body}"
    );
    // Within a tenant it is still once.
    let (status, _) = api
        .post(
            "/api/v1/wallet/credit",
            &b_admin,
            json!({"client_id": b_client, "amount": 40, "mpesa_receipt_number": receipt}),
        )
        .await;
    assert_eq!(status, 409);
    let credits = api
        .count(&format!(
            "SELECT count(*) FROM wallet_transactions WHERE mpesa_receipt_number = '{receipt}'"
        ))
        .await;
    assert_eq!(credits, 2);
}

async fn user_id(api: &Api, email: &str) -> Uuid {
    api.owner
        .query_one("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_ticket_comment_is_written_only_in_its_writers_name() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let desk = api.login("desk@a.test").await;
    let boss = api.login("boss@a.test").await;
    let (desk_id, boss_id) = (
        user_id(&api, "desk@a.test").await,
        user_id(&api, "boss@a.test").await,
    );
    let ticket = api.id_of("support_tickets", api.a).await;
    let path = "/api/v1/resources/ticket_comments";
    let comments = || async {
        api.count(&format!(
            "SELECT count(*) FROM ticket_comments WHERE ticket_id = '{ticket}'"
        ))
        .await
    };
    let before = comments().await;
    // In the administrator's name: refused, nothing written.
    let (status, body) = api
        .post(
            path,
            &desk,
            json!({"ticket_id": ticket, "author_id": boss_id, "content": "Refund approved"}),
        )
        .await;
    assert!(
        status == 403 || status == 422,
        "a comment in another's name: {status} {body}"
    );
    assert_eq!(comments().await, before);
    // In one's own name: written.
    let (status, made) = api
        .post(
            path,
            &desk,
            json!({"ticket_id": ticket, "author_id": desk_id, "content": "Called the client"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(comments().await, before + 1);
    // Someone else may not rewrite it, nor take it over.
    let id = made["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            Some(&boss),
            Some(json!({"content": "Never called"})),
        )
        .await;
    assert!(status == 404 || status == 403, "{status}");
    let (status, _) = api
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            Some(&desk),
            Some(json!({"author_id": boss_id})),
        )
        .await;
    assert!(status == 403 || status == 422 || status == 404, "{status}");
    let row = api
        .owner
        .query_one(
            "SELECT author_id, content FROM ticket_comments WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), desk_id);
    assert_eq!(row.get::<_, String>(1), "Called the client");
    // Its author may correct it.
    let (status, body) = api
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            Some(&desk),
            Some(json!({"content": "Called the client twice"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_recipient_of_a_message_only_marks_it_read() {
    let api = Api::new().await;
    api.user(api.a, "from@a.test", &["support_agent"]).await;
    api.user(api.a, "to@a.test", &["noc_engineer"]).await;
    let from = api.login("from@a.test").await;
    let to = api.login("to@a.test").await;
    let to_id = user_id(&api, "to@a.test").await;
    let from_id = user_id(&api, "from@a.test").await;
    let path = "/api/v1/resources/internal_messages";
    let (status, made) = api
        .post(
            path,
            &from,
            json!({"sender_id": from_id, "recipient_id": to_id,
                   "subject": "Tower 3", "content": "Please check the tower."}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let row = || async {
        let r = api
            .owner
            .query_one(
                "SELECT subject, content, is_read FROM internal_messages WHERE id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap();
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, bool>(2),
        )
    };
    for change in [
        json!({"content": "Never mind."}),
        json!({"subject": "Nothing", "is_read": true}),
    ] {
        let (status, body) = api
            .call(
                reqwest::Method::PATCH,
                &format!("{path}/{id}"),
                Some(&to),
                Some(change.clone()),
            )
            .await;
        assert_eq!(status, 422, "{change}: {body}");
    }
    assert_eq!(
        row().await,
        ("Tower 3".into(), "Please check the tower.".into(), false)
    );
    let (status, body) = api
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            Some(&to),
            Some(json!({"is_read": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(row().await.2);
    // Its sender may still correct it.
    let (status, body) = api
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            Some(&from),
            Some(json!({"content": "Please check tower 3 today."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
