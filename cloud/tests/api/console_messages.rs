//! The console's staff messages (`internal_messages`): the list of the signed-in user's
//! messages (received and sent, never others'), a message's thread marked read when opened, new
//! messages and replies in the signed-in user's name through the API's generic insert, the
//! sender's deletion, and bad input, forged forms and other people's messages that change
//! nothing. Against a real PostgreSQL, through the browser without JavaScript of `console.rs`.

use uuid::Uuid;

use crate::console::Browser;
use crate::operators::Api;

/// A digest of the tenant's messages and notifications (what these pages could change).
async fn digest(api: &Api, tenant: Uuid) -> String {
    api.owner
        .query_one(
            "SELECT coalesce(md5(string_agg(j, '|' ORDER BY j)), '') FROM (
                 SELECT row_to_json(x)::text AS j FROM internal_messages x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM notifications x WHERE tenant_id = $1
             ) s",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

/// A staff member of `tenant` named `name`.
async fn staff(api: &Api, tenant: Uuid, email: &str, role: &str, name: &str) -> Uuid {
    let id = api.user(tenant, email, &[role]).await;
    api.owner
        .execute(
            "UPDATE users SET full_name = $2 WHERE id = $1",
            &[&id, &name],
        )
        .await
        .unwrap();
    id
}

/// A message stored as the database's owner, a minute apart from the others by `minutes_ago`.
async fn message(api: &Api, from: Uuid, to: Uuid, subject: &str, minutes_ago: i32) -> Uuid {
    api.owner
        .query_one(
            "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
                 sent_at)
             SELECT tenant_id, $1, $2, $3, 'Text of ' || $3, now() - make_interval(mins => $4)
             FROM users WHERE id = $1 RETURNING id",
            &[&from, &to, &subject, &minutes_ago],
        )
        .await
        .unwrap()
        .get(0)
}

/// The user's list with the filter `show`.
async fn only(a: &mut Browser, show: &str) -> String {
    a.get(&format!("/console/messages?show={show}")).await.body
}

#[tokio::test]
async fn a_user_sees_their_messages_received_and_sent_and_no_others() {
    let api = Api::new().await;
    let desk = staff(&api, api.a, "desk@a.test", "support_agent", "Desk Amina").await;
    let noc = staff(&api, api.a, "noc@a.test", "noc_engineer", "Noc Baraka").await;
    let tech = staff(&api, api.a, "tech@a.test", "field_tech", "Tech Chege").await;
    let received = message(&api, noc, desk, "Router keys", 3).await;
    let sent = message(&api, desk, tech, "Ladder needed", 2).await;
    let others = message(&api, noc, tech, "Secret plan", 1).await;
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;

    let list = a.get("/console/messages").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Router keys") && list.body.contains("Ladder needed"));
    assert!(list.body.contains("Noc Baraka") && list.body.contains("Tech Chege"));
    assert!(!list.body.contains("Secret plan"));
    // Newest first; the received one unread.
    assert!(list.body.find("Ladder needed").unwrap() < list.body.find("Router keys").unwrap());
    assert!(list.body.contains("class=\"unread\""));
    assert!(list.body.contains("Unread: 1"));
    let sent_only = only(&mut a, "sent").await;
    assert!(sent_only.contains("Ladder needed") && !sent_only.contains("Router keys"));
    let received_only = only(&mut a, "received").await;
    assert!(received_only.contains("Router keys") && !received_only.contains("Ladder needed"));
    let unread = only(&mut a, "unread").await;
    assert!(unread.contains("Router keys") && !unread.contains("Ladder needed"));
    let bad = a.get("/console/messages?show=everyone").await;
    assert_eq!(bad.status, 422);
    assert!(!bad.body.contains("Router keys"));
    assert_eq!(a.get("/console/messages?after=junk").await.status, 404);

    // A message between two others is not there, even by its address.
    let before = digest(&api, api.a).await;
    let hidden = a.get(&format!("/console/messages/{others}")).await;
    assert_eq!(hidden.status, 404);
    assert!(!hidden.body.contains("Secret plan"));
    assert_eq!(digest(&api, api.a).await, before, "nothing marked read");

    // Opening a received message marks it read; opening a sent one leaves it unread.
    let page = a.get(&format!("/console/messages/{received}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Text of Router keys") && page.body.contains("Noc Baraka"));
    assert!(page.body.contains("id=\"reply-form\""));
    // The recipient does not get the sender's delete button.
    assert!(!page.body.contains("/delete\""));
    let read = |id: Uuid| {
        let api = &api;
        async move {
            let r = api
                .owner
                .query_one(
                    "SELECT is_read, read_at IS NOT NULL FROM internal_messages WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            (r.get::<_, bool>(0), r.get::<_, bool>(1))
        }
    };
    assert_eq!(read(received).await, (true, true));
    assert!(!only(&mut a, "unread").await.contains("Router keys"));
    assert!(a.get("/console/messages").await.body.contains("Unread: 0"));
    let mine = a.get(&format!("/console/messages/{sent}")).await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.contains("/delete\""));
    assert_eq!(read(sent).await, (false, false));
    assert_eq!(read(others).await, (false, false));

    // Another tenant's staff: the list is empty of A's, the address 404s.
    staff(&api, api.b, "boss@b.test", "tenant_admin", "Boss of B").await;
    let mut b = Browser::new(&api);
    b.sign_in("boss@b.test").await;
    let theirs = b.get("/console/messages").await;
    assert_eq!(theirs.status, 200);
    assert!(!theirs.body.contains("Router keys") && !theirs.body.contains("Ladder needed"));
    assert_eq!(
        b.get(&format!("/console/messages/{received}")).await.status,
        404
    );
    let new = b.get("/console/messages/new").await;
    assert!(!new.body.contains("desk@a.test") && !new.body.contains("Noc Baraka"));
}

#[tokio::test]
async fn messages_are_sent_and_answered_in_the_signed_in_users_name_only() {
    let api = Api::new().await;
    let desk = staff(&api, api.a, "desk@a.test", "support_agent", "Desk Amina").await;
    let noc = staff(&api, api.a, "noc@a.test", "noc_engineer", "Noc Baraka").await;
    let tech = staff(&api, api.a, "tech@a.test", "field_tech", "Tech Chege").await;
    let gone = staff(&api, api.a, "gone@a.test", "support_agent", "Gone Dede").await;
    api.owner
        .execute("UPDATE users SET is_active = false WHERE id = $1", &[&gone])
        .await
        .unwrap();
    let other_tenant = staff(&api, api.b, "boss@b.test", "tenant_admin", "Boss of B").await;
    let received = message(&api, noc, desk, "Router keys", 3).await;
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;

    // The form offers the tenant's other active staff.
    let form = a.get("/console/messages/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(&noc.to_string()) && form.body.contains("noc@a.test"));
    assert!(form.body.contains(&tech.to_string()));
    assert!(!form.body.contains(&desk.to_string()), "not oneself");
    assert!(
        !form.body.contains(&gone.to_string()),
        "not a deactivated user"
    );
    assert!(!form.body.contains(&other_tenant.to_string()));
    let csrf = form.csrf();

    // A new message: the sender is the signed-in user whatever the form says.
    let noc_s = noc.to_string();
    let made = a
        .post(
            "/console/messages",
            &[
                ("csrf", &csrf),
                ("recipient", &noc_s),
                ("subject", "Tower <b>visit</b>"),
                ("content", "Can you come on Monday?"),
                ("sender_id", &noc_s),
            ],
        )
        .await;
    assert_eq!(made.status, 303);
    let location = made.location().to_owned();
    assert!(
        location.starts_with("/console/messages/") && location.ends_with("?done=sent"),
        "{location}"
    );
    let stored = api
        .owner
        .query_one(
            "SELECT id, sender_id, recipient_id, content, tenant_id FROM internal_messages
             WHERE subject = 'Tower <b>visit</b>'",
            &[],
        )
        .await
        .unwrap();
    let new_id: Uuid = stored.get(0);
    assert_eq!(stored.get::<_, Uuid>(1), desk);
    assert_eq!(stored.get::<_, Uuid>(2), noc);
    assert_eq!(stored.get::<_, String>(3), "Can you come on Monday?");
    assert_eq!(stored.get::<_, Uuid>(4), api.a);
    let shown = a.get(&location).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Tower &#60;b&#62;visit&#60;/b&#62;"));
    assert!(!shown.body.contains("<b>visit</b>"));
    // The recipient is notified (the database's trigger).
    let notified: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND related_entity_id = $2",
            &[&noc, &new_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(notified, 1);

    // A reply goes to the other party in the same thread, again in the user's name.
    let path = format!("/console/messages/{received}");
    let replied = a
        .post(
            &format!("{path}/reply"),
            &[
                ("csrf", &csrf),
                ("content", "They are in the drawer."),
                ("sender_id", &noc_s),
            ],
        )
        .await;
    assert_eq!(
        (replied.status, replied.location()),
        (303, format!("{path}?done=replied").as_str())
    );
    let reply = api
        .owner
        .query_one(
            "SELECT r.sender_id, r.recipient_id, r.subject, r.reply_to_id,
                    r.thread_id = m.thread_id
             FROM internal_messages r JOIN internal_messages m ON m.id = r.reply_to_id
             WHERE r.content = 'They are in the drawer.'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(reply.get::<_, Uuid>(0), desk);
    assert_eq!(reply.get::<_, Uuid>(1), noc);
    assert_eq!(reply.get::<_, String>(2), "Re: Router keys");
    assert_eq!(reply.get::<_, Option<Uuid>>(3), Some(received));
    assert!(reply.get::<_, bool>(4), "same thread");
    // The thread shows both, oldest first.
    let thread = a.get(&path).await.body;
    let first = thread.find("Text of Router keys").unwrap();
    let second = thread.find("They are in the drawer.").unwrap();
    assert!(first < second);

    // The other party sees the reply unread, opens it (read) and answers in the same thread.
    let mut n = Browser::new(&api);
    n.sign_in("noc@a.test").await;
    let unread = n.get("/console/messages?show=unread").await.body;
    assert!(unread.contains("Re: Router keys") && unread.contains("Tower"));
    assert!(n.get(&path).await.body.contains("They are in the drawer."));
    assert!(
        !n.get("/console/messages?show=unread")
            .await
            .body
            .contains("Re: Router keys")
    );

    // Bad input: 422, the form as typed, nothing stored.
    let before = digest(&api, api.a).await;
    let long_subject = "s".repeat(201);
    let long_content = "c".repeat(5_001);
    let desk_s = desk.to_string();
    let gone_s = gone.to_string();
    let b_s = other_tenant.to_string();
    let tech_s = tech.to_string();
    let cases: [(&str, &str, &str, &str); 9] = [
        ("", "Lunch", "At noon", "Choose an active colleague"),
        ("nobody", "Lunch", "At noon", "Choose an active colleague"),
        (
            desk_s.as_str(),
            "Lunch",
            "At noon",
            "Choose an active colleague",
        ),
        (
            gone_s.as_str(),
            "Lunch",
            "At noon",
            "Choose an active colleague",
        ),
        (
            b_s.as_str(),
            "Lunch",
            "At noon",
            "Choose an active colleague",
        ),
        (tech_s.as_str(), "  ", "At noon", "The subject must be"),
        (
            tech_s.as_str(),
            long_subject.as_str(),
            "At noon",
            "The subject must be",
        ),
        (tech_s.as_str(), "Lunch", " \n ", "The message must be"),
        (
            tech_s.as_str(),
            "Lunch",
            long_content.as_str(),
            "The message must be",
        ),
    ];
    for (recipient, subject, content, says) in cases {
        let bad = a
            .post(
                "/console/messages",
                &[
                    ("csrf", &csrf),
                    ("recipient", recipient),
                    ("subject", subject),
                    ("content", content),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{recipient} {}", subject.len());
        assert!(bad.body.contains(says), "{says}");
        if subject == "Lunch" {
            assert!(bad.body.contains("value=\"Lunch\""), "the form as typed");
        }
    }
    for content in ["", "   ", long_content.as_str()] {
        let bad = a
            .post(
                &format!("{path}/reply"),
                &[("csrf", &csrf), ("content", content)],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("The message must be"));
    }
    // No token: 403; an unknown message or one of others: 404.
    let forged = a
        .post(
            "/console/messages",
            &[
                ("recipient", &tech_s),
                ("subject", "Lunch"),
                ("content", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let forged = a
        .post(&format!("{path}/reply"), &[("content", "no token")])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(digest(&api, api.a).await, before);
    let others = message(&api, noc, tech, "Secret plan", 1).await;
    let before = digest(&api, api.a).await;
    for target in [others, Uuid::new_v4()] {
        let lost = a
            .post(
                &format!("/console/messages/{target}/reply"),
                &[("csrf", &csrf), ("content", "hello")],
            )
            .await;
        assert_eq!(lost.status, 404);
        let lost = a
            .post(
                &format!("/console/messages/{target}/delete"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(lost.status, 404);
    }
    // The recipient cannot delete the sender's message.
    let not_mine = a.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(not_mine.status, 403);
    assert_eq!(digest(&api, api.a).await, before);

    // The sender deletes their own: gone from both lists.
    let deleted = a
        .post(
            &format!("/console/messages/{new_id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (deleted.status, deleted.location()),
        (303, "/console/messages?done=deleted")
    );
    let row = api
        .owner
        .query_one(
            "SELECT is_deleted, sender_id FROM internal_messages WHERE id = $1",
            &[&new_id],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, Uuid>(1), desk);
    assert!(!a.get("/console/messages").await.body.contains("Tower"));
    assert!(!n.get("/console/messages").await.body.contains("Tower"));
    assert_eq!(
        n.get(&format!("/console/messages/{new_id}")).await.status,
        404
    );

    // Every staff role writes messages: a field technician too.
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let page = t.get("/console/messages/new").await;
    let tcsrf = page.csrf();
    let sent = t
        .post(
            "/console/messages",
            &[
                ("csrf", &tcsrf),
                ("recipient", &desk_s),
                ("subject", "Ladder"),
                ("content", "Where is the ladder?"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303);
    assert!(a.get("/console/messages").await.body.contains("Ladder"));
}

/// The link to the next page in a list's body.
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
async fn messages_are_paged_newest_first_by_keyset() {
    let api = Api::new().await;
    let desk = staff(&api, api.a, "desk@a.test", "support_agent", "Desk Amina").await;
    let noc = staff(&api, api.a, "noc@a.test", "noc_engineer", "Noc Baraka").await;
    // 60 sent messages, some sharing a time (the id breaks the tie).
    api.owner
        .execute(
            "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
                 sent_at)
             SELECT $1, $2, $3, 'PG-' || lpad(i::text, 3, '0'), 'x',
                    now() - (i / 2) * interval '1 minute'
             FROM generate_series(1, 60) i",
            &[&api.a, &desk, &noc],
        )
        .await
        .unwrap();
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let mut seen = Vec::new();
    let mut path = Some("/console/messages?show=sent".to_owned());
    let mut pages = 0;
    while let Some(p) = path {
        let page = a.get(&p).await;
        assert_eq!(page.status, 200, "{p}");
        pages += 1;
        for piece in page.body.split("\">PG-").skip(1) {
            seen.push(piece[..3].parse::<u32>().unwrap());
        }
        path = next_link(&page.body);
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len(), pages),
        (60, 60, 2),
        "none twice, none lost"
    );
    // Newest first: the smaller numbers were sent later.
    assert!(seen.first().unwrap() < seen.last().unwrap());
}
