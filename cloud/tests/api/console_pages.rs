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
    assert_eq!(row.get::<_, Option<i32>>(4), None, "emptied: no time limit");
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

#[tokio::test]
async fn mpesa_secrets_are_saved_write_only_from_the_settings_page() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    // A tenant without M-Pesa settings yet (the first save answers the callback token).
    api.owner
        .execute("DELETE FROM mpesa_settings WHERE tenant_id = $1", &[&api.a])
        .await
        .unwrap();
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get("/console/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("href=\"/console/settings\""),
        "in the navigation"
    );
    assert!(page.body.contains("id=\"passkey-state\">(not set)"));
    let csrf = page.csrf();
    let (passkey, ckey, csecret) = ("pk-Secret-1", "ck-Secret-2", "cs-Secret-3");
    let saved = a
        .post(
            "/console/settings/mpesa",
            &[
                ("csrf", &csrf),
                ("paybill_number", "600100"),
                ("shortcode", ""),
                ("environment", "sandbox"),
                ("passkey", passkey),
                ("consumer_key", ckey),
                ("consumer_secret", csecret),
                ("is_active", "on"),
            ],
        )
        .await;
    // The first save shows the callback token once, never a secret.
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("id=\"shown-once\""));
    let row = stored(&api).await;
    assert_eq!(row.get::<_, String>(0), "600100");
    for (i, plain) in [(1, passkey), (2, ckey), (3, csecret)] {
        let sealed: String = row.get(i);
        assert!(!sealed.contains(plain), "sealed at rest");
    }
    let page = a.get("/console/settings").await;
    for secret in [passkey, ckey, csecret] {
        assert!(!saved.body.contains(secret) && !page.body.contains(secret));
    }
    for name in ["passkey", "consumer_key", "consumer_secret"] {
        assert!(
            page.body.contains(&format!("id=\"{name}-state\">(set)")),
            "{name}"
        );
    }
    assert!(
        !page.body.contains("id=\"shown-once\""),
        "the token only once"
    );
    assert!(page.body.contains("value=\"600100\""));

    // Empty secrets keep the stored ones; a change of paybill is saved.
    let kept = a
        .post(
            "/console/settings/mpesa",
            &[
                ("csrf", &csrf),
                ("paybill_number", "600200"),
                ("environment", "production"),
                ("passkey", ""),
                ("consumer_key", ""),
                ("consumer_secret", ""),
            ],
        )
        .await;
    assert_eq!((kept.status, kept.location()), (303, "/console/settings"));
    let again = stored(&api).await;
    assert_eq!(again.get::<_, String>(0), "600200");
    for i in 1..=3 {
        assert_eq!(again.get::<_, String>(i), row.get::<_, String>(i), "kept");
    }
    assert_eq!(
        again.get::<_, Vec<u8>>(4),
        row.get::<_, Vec<u8>>(4),
        "the callback token stays"
    );

    // Bad input changes nothing.
    for (field, value) in [
        ("paybill_number", "12ab"),
        ("environment", "live"),
        ("shortcode", "x"),
    ] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("paybill_number", "600300"),
            ("passkey", "Zq9-never-shown"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let refused = a.post("/console/settings/mpesa", &form).await;
        assert_eq!(refused.status, 422, "{field}");
        assert!(refused.body.contains(field));
        assert!(!refused.body.contains("Zq9-never-shown"));
    }
    let last = stored(&api).await;
    assert_eq!(last.get::<_, String>(0), "600200");
    assert_eq!(last.get::<_, String>(1), row.get::<_, String>(1));
}

async fn stored(api: &Api) -> tokio_postgres::Row {
    api.owner
        .query_one(
            "SELECT paybill_number, passkey, consumer_key, consumer_secret, callback_token_hash
             FROM mpesa_settings WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap()
}

/// A digest of the tenant's NAS, M-Pesa settings and accounts.
async fn settings_digest(api: &Api) -> String {
    api.owner
        .query_one(
            "SELECT md5(coalesce(string_agg(j, '|' ORDER BY j), '')) FROM (
                 SELECT row_to_json(x)::text AS j FROM nas x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM mpesa_settings x WHERE tenant_id = $1
                 UNION ALL SELECT concat_ws(',', id, email, roles, is_active, password_hash)
                           FROM users WHERE tenant_id = $1) s",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0)
}

async fn account(api: &Api, email: &str) -> Option<(Uuid, serde_json::Value, bool)> {
    api.owner
        .query_opt(
            "SELECT tenant_id, roles, is_active FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

#[tokio::test]
async fn staff_accounts_are_made_given_roles_and_disabled_by_an_administrator() {
    let api = Api::new().await;
    let me = api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let b_user = api.user(api.b, "staff@b.test", &["support_agent"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get("/console/settings").await;
    let csrf = page.csrf();
    // No role change or disabling of oneself is offered.
    assert!(
        !page
            .body
            .contains(&format!("/console/settings/users/{me}/"))
    );

    let made = a
        .post(
            "/console/settings/users",
            &[
                ("csrf", &csrf),
                ("email", "Clerk@A.test"),
                ("full_name", "Clerk"),
                ("password", "a long enough password"),
                ("role", "support_agent"),
            ],
        )
        .await;
    assert_eq!((made.status, made.location()), (303, "/console/settings"));
    let (tenant, roles, active) = account(&api, "clerk@a.test").await.expect("made");
    assert_eq!(tenant, api.a);
    assert_eq!(roles, serde_json::json!(["support_agent"]));
    assert!(active);
    // The new account signs in to the console with its role.
    let mut clerk = Browser::new(&api);
    let form = clerk.get("/console/signin").await.csrf();
    let signed = clerk
        .post(
            "/console/signin",
            &[
                ("csrf", &form),
                ("email", "clerk@a.test"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303);
    assert_eq!(clerk.get("/console/settings").await.status, 403);

    for (email, password, role, why) in [
        ("nobody", "a long enough password", "field_tech", "email"),
        ("short@a.test", "short", "field_tech", "password"),
        (
            "root@a.test",
            "a long enough password",
            "platform_admin",
            "role",
        ),
        (
            "clerk@a.test",
            "a long enough password",
            "field_tech",
            "already exists",
        ),
    ] {
        let refused = a
            .post(
                "/console/settings/users",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", password),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{why}: {}", refused.body);
        assert!(refused.body.contains(why), "{why}");
        assert!(!refused.body.contains(password) || password.len() < 6);
    }
    assert!(account(&api, "short@a.test").await.is_none());
    assert!(account(&api, "root@a.test").await.is_none());

    let clerk_id: Uuid = api
        .owner
        .query_one("SELECT id FROM users WHERE email = 'clerk@a.test'", &[])
        .await
        .unwrap()
        .get(0);
    let changed = a
        .post(
            &format!("/console/settings/users/{clerk_id}/role"),
            &[("csrf", &csrf), ("role", "noc_engineer")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        account(&api, "clerk@a.test").await.unwrap().1,
        serde_json::json!(["noc_engineer"])
    );
    // Oneself: no dropping one's own administration, no disabling oneself.
    let refused = a
        .post(
            &format!("/console/settings/users/{me}/role"),
            &[("csrf", &csrf), ("role", "field_tech")],
        )
        .await;
    assert_eq!(refused.status, 422);
    let refused = a
        .post(
            &format!("/console/settings/users/{me}/deactivate"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        account(&api, "boss@a.test").await.unwrap(),
        (api.a, serde_json::json!(["tenant_admin"]), true)
    );

    let disabled = a
        .post(
            &format!("/console/settings/users/{clerk_id}/deactivate"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(disabled.status, 303);
    assert!(!account(&api, "clerk@a.test").await.unwrap().2);
    // Its console session ends with it, its row gone.
    assert_eq!(clerk.get("/console/").await.status, 303);
    let left: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM console_sessions WHERE user_id = $1",
            &[&clerk_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "a disabled account's console sessions are deleted");

    // Another tenant's account: 404, unchanged.
    for path in ["role", "deactivate"] {
        let refused = a
            .post(
                &format!("/console/settings/users/{b_user}/{path}"),
                &[("csrf", &csrf), ("role", "field_tech")],
            )
            .await;
        assert_eq!(refused.status, 404, "{path}");
    }
    assert_eq!(
        account(&api, "staff@b.test").await.unwrap(),
        (api.b, serde_json::json!(["support_agent"]), true)
    );
    assert!(
        !a.get("/console/settings")
            .await
            .body
            .contains("staff@b.test")
    );
}

/// The text of the first cell of each row of table `id` in `body`.
fn first_cells(body: &str, id: &str) -> Vec<String> {
    let Some(start) = body.find(&format!("id=\"{id}\"")) else {
        return Vec::new();
    };
    let table = &body[start..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            let cell = &row[row.find("<td").unwrap()..];
            let cell = &cell[cell.find('>').unwrap() + 1..];
            cell[..cell.find('<').unwrap()].to_owned()
        })
        .collect()
}

/// The address of the link `id` of a page, unescaped.
fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let href = &body[..at];
    let href = &href[href.rfind("href=\"").unwrap() + 6..];
    Some(href[..href.find('"').unwrap()].replace("&amp;", "&"))
}

/// The roles stored for an account.
async fn roles(api: &Api, id: Uuid) -> serde_json::Value {
    api.owner
        .query_one("SELECT roles FROM users WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_administrator_ticks_several_roles_for_an_account_and_refusals_change_nothing() {
    let api = Api::new().await;
    let me = api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get("/console/settings").await;
    let csrf = page.csrf();
    // One labelled box per role of the organisation, and no single-role select any more.
    for role in [
        "tenant_admin",
        "noc_engineer",
        "support_agent",
        "field_tech",
    ] {
        assert!(
            page.body.contains(&format!(
                "<input type=\"checkbox\" name=\"role\" value=\"{role}\">"
            )),
            "{role}"
        );
    }
    assert!(page.body.contains("Network engineer (NOC)"));
    assert!(!page.body.contains("<select name=\"role\">"));

    // Made with two roles.
    let made = a
        .post(
            "/console/settings/users",
            &[
                ("csrf", &csrf),
                ("email", "multi@a.test"),
                ("password", "a long enough password"),
                ("role", "noc_engineer"),
                ("role", "support_agent"),
            ],
        )
        .await;
    assert_eq!((made.status, made.location()), (303, "/console/settings"));
    let (tenant, stored, _) = account(&api, "multi@a.test").await.expect("made");
    assert_eq!(tenant, api.a);
    assert_eq!(stored, serde_json::json!(["noc_engineer", "support_agent"]));
    let id: Uuid = api
        .owner
        .query_one("SELECT id FROM users WHERE email = 'multi@a.test'", &[])
        .await
        .unwrap()
        .get(0);
    // The list shows both, and its form has both ticked.
    let list = a.get("/console/settings").await.body;
    assert!(list.contains("<td class=\"roles\">noc_engineer, support_agent</td>"));
    let form = &list[list
        .find(&format!("/console/settings/users/{id}/role"))
        .unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains("value=\"noc_engineer\" checked"));
    assert!(form.contains("value=\"support_agent\" checked"));
    assert!(form.contains("value=\"field_tech\">"));

    // Changed to two others (stored in the roles' own order, each once).
    let path = format!("/console/settings/users/{id}/role");
    let changed = a
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("role", "field_tech"),
                ("role", "tenant_admin"),
                ("role", "field_tech"),
            ],
        )
        .await;
    assert_eq!(
        (changed.status, changed.location()),
        (303, "/console/settings")
    );
    let want = serde_json::json!(["tenant_admin", "field_tech"]);
    assert_eq!(roles(&api, id).await, want);

    // Without the token, or with another, refused before anything is read: 403, unchanged.
    for form in [
        vec![("role", "support_agent")],
        vec![("csrf", "forged"), ("role", "support_agent")],
        vec![
            ("role", "support_agent"),
            ("csrf", "forged"),
            ("csrf", csrf.as_str()),
        ],
    ] {
        let refused = a.post(&path, &form).await;
        assert_eq!(refused.status, 403, "{form:?}");
    }
    assert_eq!(roles(&api, id).await, want);
    let refused = a
        .post(
            "/console/settings/users",
            &[
                ("email", "notoken@a.test"),
                ("password", "a long enough password"),
                ("role", "field_tech"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(account(&api, "notoken@a.test").await.is_none());

    // An unknown role among known ones, the platform's role, or none: 422 with the reason.
    for (form, why) in [
        (
            vec![("role", "support_agent"), ("role", "root")],
            "one of the organisation",
        ),
        (
            vec![("role", "noc_engineer"), ("role", "platform_admin")],
            "one of the organisation",
        ),
        (vec![], "at least one role"),
    ] {
        let mut form = form;
        form.insert(0, ("csrf", csrf.as_str()));
        let refused = a.post(&path, &form).await;
        assert_eq!(refused.status, 422, "{form:?}");
        assert!(refused.body.contains(why), "{why}");
        assert_eq!(roles(&api, id).await, want, "{form:?}");
        let mut new = form.clone();
        new.extend([
            ("email", "refused@a.test"),
            ("password", "a long enough password"),
        ]);
        let refused = a.post("/console/settings/users", &new).await;
        assert_eq!(refused.status, 422, "{new:?}");
        assert!(refused.body.contains(why), "{why}");
        assert!(account(&api, "refused@a.test").await.is_none());
    }

    // The API's own checks: no dropping one's own administration, even among several roles;
    // keeping it while adding others is allowed.
    let own = format!("/console/settings/users/{me}/role");
    let refused = a
        .post(
            &own,
            &[
                ("csrf", &csrf),
                ("role", "noc_engineer"),
                ("role", "field_tech"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("your own tenant_admin"));
    assert_eq!(roles(&api, me).await, serde_json::json!(["tenant_admin"]));
    let kept = a
        .post(
            &own,
            &[
                ("csrf", &csrf),
                ("role", "noc_engineer"),
                ("role", "tenant_admin"),
            ],
        )
        .await;
    assert_eq!(kept.status, 303);
    assert_eq!(
        roles(&api, me).await,
        serde_json::json!(["tenant_admin", "noc_engineer"])
    );
    // The platform's role, held, is kept by a change of the tenant's roles.
    api.owner
        .execute(
            "UPDATE users SET roles = roles || '[\"platform_admin\"]' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let changed = a
        .post(&path, &[("csrf", &csrf), ("role", "support_agent")])
        .await;
    assert_eq!(changed.status, 303);
    assert_eq!(
        roles(&api, id).await,
        serde_json::json!(["support_agent", "platform_admin"])
    );
}

#[tokio::test]
async fn staff_accounts_and_nas_are_paged_by_keyset_and_searched() {
    use hotspot_cloud::console::settings::PAGE;
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.b, "p000@b.test", &["field_tech"]).await;
    let many = 2 * PAGE + 3;
    api.owner
        .execute(
            "INSERT INTO users (tenant_id, email, password_hash, full_name, roles)
             SELECT $1, 'p' || lpad(n::text, 3, '0') || '@a.test', 'x', 'Person ' || n,
                    '[\"field_tech\"]'
             FROM generate_series(1, $2::int) n",
            &[&api.a, &(many as i32)],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             SELECT $1, '198.51.100.' || n, 'nas-' || n, 'secret-' || n
             FROM generate_series(1, $2::int) n",
            &[&api.a, &(2 * PAGE as i32 + 1)],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             VALUES ($1, '203.0.113.1', 'nas-of-b', 'secret-of-b')",
            &[&api.b],
        )
        .await
        .unwrap();
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;

    // Every account of A exactly once, in e-mail order, over three pages; a first-page link
    // from the second on.
    let mut seen = Vec::new();
    let mut path = "/console/settings".to_owned();
    let mut pages = 0;
    loop {
        let page = a.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(link(&page.body, "users-first").is_some(), pages > 0);
        let rows = first_cells(&page.body, "user-list");
        assert!(rows.len() as i64 <= PAGE);
        seen.extend(rows);
        pages += 1;
        match link(&page.body, "users-next") {
            Some(next) => path = next,
            None => break,
        }
    }
    // (The fixture's own accounts of A among them.)
    let want: Vec<String> = api
        .owner
        .query(
            "SELECT email::text FROM users WHERE tenant_id = $1 AND deleted_at IS NULL
             ORDER BY email::text, id",
            &[&api.a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(want.len() as i64 > 2 * PAGE);
    assert_eq!(pages, want.len().div_ceil(PAGE as usize));
    assert_eq!(seen, want);

    // Searched by e-mail or name, whatever the case; the pattern's own characters are text.
    let found = |body: &str| first_cells(body, "user-list");
    let page = a.get("/console/settings?uq=P05").await;
    assert_eq!(
        found(&page.body),
        (50..60)
            .map(|n| format!("p{n:03}@a.test"))
            .collect::<Vec<_>>()
    );
    assert!(link(&page.body, "users-next").is_none());
    let page = a.get("/console/settings?uq=person%2010").await;
    assert_eq!(
        found(&page.body),
        [
            "p010@a.test",
            "p100@a.test",
            "p101@a.test",
            "p102@a.test",
            "p103@a.test"
        ]
    );
    let page = a.get("/console/settings?uq=%25").await;
    assert!(found(&page.body).is_empty());
    assert!(page.body.contains("No accounts found."));
    assert!(found(&a.get("/console/settings?uq=b.test").await.body).is_empty());
    // A search too long: 422, said so; a cursor not given by the page: 404.
    let long = "x".repeat(101);
    let page = a.get(&format!("/console/settings?uq={long}")).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("The search is too long"));
    assert_eq!(a.get("/console/settings?uafter=bogus").await.status, 404);
    assert_eq!(a.get("/console/settings?nafter=bogus").await.status, 404);

    // Every NAS of A exactly once, in id order, over three pages, B's never.
    let ids: Vec<String> = api
        .owner
        .query(
            "SELECT nasname::text FROM nas WHERE tenant_id = $1 ORDER BY id",
            &[&api.a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ids.len() as i64 > 2 * PAGE);
    let mut seen = Vec::new();
    let mut path = "/console/settings?nq=".to_owned();
    let mut pages = 0;
    loop {
        let page = a.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(link(&page.body, "nas-first").is_some(), pages > 0);
        assert!(!page.body.contains("nas-of-b"));
        seen.extend(first_cells(&page.body, "nas-list"));
        pages += 1;
        match link(&page.body, "nas-next") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, ids.len().div_ceil(PAGE as usize));
    assert_eq!(seen, ids);
    // Searched by address or short name.
    let found = |body: &str| first_cells(body, "nas-list");
    let page = a.get("/console/settings?nq=198.51.100.10").await;
    assert_eq!(
        found(&page.body),
        ["198.51.100.10", "198.51.100.100", "198.51.100.101"]
    );
    let page = a.get("/console/settings?nq=NAS-7").await;
    assert_eq!(found(&page.body).len(), 11);
    let page = a.get("/console/settings?nq=nas-of-b").await;
    assert!(found(&page.body).is_empty());
    assert!(page.body.contains("No NAS found."));
    // Paging one list keeps the other's search.
    let page = a.get("/console/settings?uq=p0&nq=nas-5").await;
    assert_eq!(found(&page.body).len(), 11);
    let next = link(&page.body, "users-next").expect("a second page of accounts");
    assert!(next.contains("nq=nas-5"), "{next}");
    assert_eq!(found(&a.get(&next).await.body).len(), 11);
}

#[tokio::test]
async fn nas_are_registered_with_a_secret_shown_once_and_removed() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let b_nas: i32 = api
        .owner
        .query_one(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             VALUES ($1, '192.0.2.200', 'nas-of-b', 'secret-of-b') RETURNING id",
            &[&api.b],
        )
        .await
        .unwrap()
        .get(0);
    let site = crate::console::site_id(&api, api.a).await;
    let nas_of_a = "SELECT count(*) FROM nas WHERE tenant_id = $1";
    let before = count(&api, nas_of_a, api.a).await;
    let b_before = count(&api, nas_of_a, api.b).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get("/console/settings").await;
    assert!(!page.body.contains("nas-of-b"));
    let csrf = page.csrf();
    let made = a
        .post(
            "/console/settings/nas",
            &[
                ("csrf", &csrf),
                ("nasname", "192.0.2.10"),
                ("shortname", "tower-1"),
                ("type", "mikrotik"),
                ("description", "the tower"),
                ("hotspot_id", &site.to_string()),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let row = api
        .owner
        .query_one(
            "SELECT id, tenant_id, secret, type, hotspot_id FROM nas WHERE nasname = '192.0.2.10'",
            &[],
        )
        .await
        .unwrap();
    let (id, tenant, secret): (i32, Uuid, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(tenant, api.a);
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("mikrotik"));
    assert_eq!(row.get::<_, Option<Uuid>>(4), Some(site));
    assert_eq!(secret.len(), 32);
    assert!(made.body.contains(&secret), "shown once");
    let page = a.get("/console/settings").await;
    assert!(page.body.contains("tower-1") && page.body.contains("Cafe t1"));
    assert!(!page.body.contains(&secret), "never again");

    for (nasname, hotspot, why) in [
        ("not an address", String::new(), "nasname"),
        ("192.0.2.10", String::new(), "already exists"),
        ("192.0.2.11", Uuid::new_v4().to_string(), "hotspot_id"),
        (
            "192.0.2.12",
            crate::console::site_id(&api, api.b).await.to_string(),
            "hotspot_id",
        ),
    ] {
        let refused = a
            .post(
                "/console/settings/nas",
                &[
                    ("csrf", &csrf),
                    ("nasname", nasname),
                    ("shortname", "bad"),
                    ("hotspot_id", &hotspot),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{why}: {}", refused.body);
        assert!(refused.body.contains(why), "{why}");
    }
    let n = count(&api, nas_of_a, api.a).await;
    assert_eq!(n, before + 1, "nothing more made");

    let refused = a
        .post(
            &format!("/console/settings/nas/{b_nas}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 404);
    let removed = a
        .post(
            &format!("/console/settings/nas/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (removed.status, removed.location()),
        (303, "/console/settings")
    );
    assert_eq!(count(&api, nas_of_a, api.a).await, before);
    assert_eq!(count(&api, nas_of_a, api.b).await, b_before, "B's kept");
}

#[tokio::test]
async fn a_nas_is_edited_linked_to_a_claimed_router_and_given_a_new_secret() {
    use crate::radius_dynauth::claimed_router;
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let site = crate::console::site_id(&api, api.a).await;
    let router = claimed_router(&api, api.a, "tower-router").await;
    let b_router = claimed_router(&api, api.b, "router-of-b").await;
    api.owner
        .execute(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, hostname)
             VALUES ($1, $2, 'unclaimed-router')",
            &[&api.a, &site],
        )
        .await
        .unwrap();
    let id: i32 = api
        .owner
        .query_one(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret, type)
             VALUES ($1, '192.0.2.40', 'edge-1', 'old-secret-of-a', 'routeros') RETURNING id",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let stored = async || {
        api.owner
            .query_one(
                "SELECT nasname, shortname, type, description, coa_port, require_ma,
                        limit_proxy_state, hotspot_id, device_id, secret
                 FROM nas WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap()
    };
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let path = format!("/console/settings/nas/{id}");
    let list = a.get("/console/settings").await;
    assert!(
        list.body.contains(&format!("href=\"{path}\"")),
        "an edit link"
    );
    let page = a.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("value=\"192.0.2.40\"") && page.body.contains("edge-1"));
    assert!(page.body.contains(&router.to_string()) && page.body.contains("tower-router"));
    assert!(
        !page.body.contains("unclaimed-router"),
        "claimed routers only"
    );
    assert!(!page.body.contains("router-of-b"), "A's routers only");
    assert!(
        !page.body.contains("old-secret-of-a"),
        "the secret is never shown"
    );
    let csrf = page.csrf();
    let (site_s, router_s) = (site.to_string(), router.to_string());
    let form = |changes: &[(&'static str, String)]| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("nasname", "192.0.2.41".into()),
            ("shortname", "edge-2".into()),
            ("type", "openwrt".into()),
            ("description", "the mast".into()),
            ("coa_port", "1700".into()),
            ("require_ma", "auto".into()),
            ("limit_proxy_state", "no".into()),
            ("hotspot_id", site_s.clone()),
            ("device_id", router_s.clone()),
            ("tls_fingerprint", String::new()),
        ];
        for (k, v) in changes {
            form.iter_mut().find(|(f, _)| f == k).unwrap().1 = v.clone();
        }
        form
    };
    let post = async |a: &mut Browser, form: Vec<(&str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        a.post(&path, &form).await
    };

    let saved = post(&mut a, form(&[])).await;
    assert_eq!((saved.status, saved.location()), (303, "/console/settings"));
    let row = stored().await;
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, Option<String>>(2),
            row.get::<_, Option<String>>(3),
            row.get::<_, Option<i32>>(4),
        ),
        (
            "192.0.2.41".into(),
            "edge-2".into(),
            Some("openwrt".into()),
            Some("the mast".into()),
            Some(1700)
        )
    );
    assert_eq!(
        (
            row.get::<_, Option<String>>(5).as_deref(),
            row.get::<_, Option<String>>(6).as_deref()
        ),
        (Some("auto"), Some("no"))
    );
    assert_eq!(row.get::<_, Option<Uuid>>(7), Some(site));
    assert_eq!(row.get::<_, Option<Uuid>>(8), Some(router));
    assert!(
        a.get("/console/settings")
            .await
            .body
            .contains("tower-router")
    );

    // Refused with the reasons on the form again; nothing changes.
    let before = settings_digest(&api).await;
    for (field, value, why) in [
        ("device_id", b_router.to_string(), "device_id"),
        ("device_id", Uuid::new_v4().to_string(), "device_id"),
        ("device_id", "not-a-router".to_owned(), "device_id"),
        (
            "hotspot_id",
            crate::console::site_id(&api, api.b).await.to_string(),
            "hotspot_id",
        ),
        ("coa_port", "70000".to_owned(), "coa_port"),
        ("nasname", "not an address".to_owned(), "nasname"),
        ("type", "cisco-ish".to_owned(), "type"),
    ] {
        let refused = post(&mut a, form(&[(field, value.clone())])).await;
        assert_eq!(refused.status, 422, "{field} {value}: {}", refused.body);
        assert!(
            refused.body.contains(&format!("{why}: ")),
            "{field}: {}",
            refused.body
        );
        assert!(refused.body.contains("id=\"edit-nas\""), "the form again");
        if ["nasname", "coa_port"].contains(&field) {
            assert!(refused.body.contains(&value), "as typed");
        }
    }
    let refused = a.post(&path, &[("nasname", "192.0.2.42")]).await;
    assert_eq!(refused.status, 403, "no CSRF token");
    assert_eq!(settings_digest(&api).await, before, "nothing changed");

    // The empty choices remove the site and unlink the router.
    let saved = post(
        &mut a,
        form(&[("hotspot_id", String::new()), ("device_id", String::new())]),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let row = stored().await;
    assert_eq!(
        (row.get::<_, Option<Uuid>>(7), row.get::<_, Option<Uuid>>(8)),
        (None, None)
    );

    // A new secret: stored, shown on the answer only; the old one is gone.
    let secret = format!("{path}/secret");
    assert_eq!(a.post(&secret, &[]).await.status, 403, "no CSRF token");
    assert_eq!(stored().await.get::<_, String>(9), "old-secret-of-a");
    let replaced = a.post(&secret, &[("csrf", &csrf)]).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let new: String = stored().await.get(9);
    assert_ne!(new, "old-secret-of-a");
    assert_eq!(new.len(), 32);
    assert!(replaced.body.contains("id=\"shown-once\"") && replaced.body.contains(&new));
    assert!(!a.get("/console/settings").await.body.contains(&new));
    assert!(!a.get(&path).await.body.contains(&new), "never again");
}

#[tokio::test]
async fn settings_are_for_administrators_only() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let other = api.user(api.a, "other@a.test", &["support_agent"]).await;
    let nas: i32 = api
        .owner
        .query_one(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             VALUES ($1, '192.0.2.5', 'n', 's') RETURNING id",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let before = settings_digest(&api).await;
    for email in ["noc@a.test", "tech@a.test"] {
        let mut b = Browser::new(&api);
        b.sign_in(email).await;
        let dash = b.get("/console/").await;
        assert!(!dash.body.contains("/console/settings"), "{email}: no link");
        let csrf = dash.csrf();
        assert_eq!(b.get("/console/settings").await.status, 403);
        let edit = b.get(&format!("/console/settings/nas/{nas}")).await;
        assert_eq!(edit.status, 403, "{email}");
        assert!(!edit.body.contains("edit-nas") && !edit.body.contains("replace-secret"));
        for path in [
            "/console/settings/mpesa".to_owned(),
            "/console/settings/users".to_owned(),
            format!("/console/settings/users/{other}/role"),
            format!("/console/settings/users/{other}/deactivate"),
            "/console/settings/nas".to_owned(),
            format!("/console/settings/nas/{nas}"),
            format!("/console/settings/nas/{nas}/secret"),
            format!("/console/settings/nas/{nas}/delete"),
        ] {
            let refused = b
                .post(
                    &path,
                    &[
                        ("csrf", &csrf),
                        ("paybill_number", "600100"),
                        ("email", "new@a.test"),
                        ("password", "a long enough password"),
                        ("role", "tenant_admin"),
                        ("nasname", "192.0.2.6"),
                        ("shortname", "x"),
                    ],
                )
                .await;
            assert_eq!(refused.status, 403, "{email} {path}");
        }
    }
    assert!(account(&api, "new@a.test").await.is_none());
    assert_eq!(settings_digest(&api).await, before, "nothing changed");
}

/// A router of `site` (a `hotspot_devices` row) and health samples of it, `minutes_ago` each.
async fn health_samples(api: &Api, tenant: Uuid, site: Uuid, samples: &[(i32, i32)]) {
    api.owner
        .execute(
            "DELETE FROM hotspot_device_health WHERE hotspot_id = $1",
            &[&site],
        )
        .await
        .unwrap();
    let device: Uuid = api
        .owner
        .query_one(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, hostname, last_seen_at,
                                          software_version)
             VALUES ($1, $2, 'router', now(), '0.9.1') RETURNING id",
            &[&tenant, &site],
        )
        .await
        .unwrap()
        .get(0);
    for (minutes_ago, online) in samples {
        api.owner
            .execute(
                "INSERT INTO hotspot_device_health (tenant_id, device_id, hotspot_id, recorded_at,
                     uptime_s, clients_online, outbox_len)
                 VALUES ($1, $2, $3, now() - make_interval(mins => $4), 93784, $5, 3)",
                &[&tenant, &device, &site, minutes_ago, online],
            )
            .await
            .unwrap();
    }
}

async fn portal_of(api: &Api, site: Uuid) -> Option<String> {
    api.owner
        .query_one("SELECT portal_url FROM hotspots WHERE id = $1", &[&site])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_sites_page_shows_its_guests_devices_packages_and_router_health() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    let site = crate::console::site_id(&api, api.a).await;
    hotspot_package(&api, api.a).await;
    health_samples(&api, api.a, site, &[(5, 9), (50, 4), (200, 2), (3000, 99)]).await;
    let live = count(
        &api,
        "SELECT count(*) FROM hotspot_sessions WHERE hotspot_id = $1 AND session_status = 'active'",
        site,
    )
    .await;
    assert!(live > 0, "the fixture has guests online");
    let mac: String = api
        .owner
        .query_one(
            "SELECT mac_address::text FROM hotspot_sessions
             WHERE hotspot_id = $1 AND session_status = 'active' LIMIT 1",
            &[&site],
        )
        .await
        .unwrap()
        .get(0);
    let mut a = Browser::new(&api);
    a.sign_in("noc@a.test").await;
    assert!(
        a.get("/console/sites")
            .await
            .body
            .contains(&format!("href=\"/console/sites/{site}\""))
    );
    let page = a.get(&format!("/console/sites/{site}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Cafe t1"));
    assert!(page.body.contains(&mac), "its guests");
    assert!(page.body.contains("id=\"site-devices\""));
    assert!(page.body.contains("One hour"), "its packages");
    assert!(page.body.contains("0.9.1"), "the router's version");
    assert!(page.body.contains("1 d 2 h"), "the latest uptime");
    // The graph: one bar per hour with samples in the last 24 hours (not the older one).
    let svg = page
        .body
        .split("<svg class=\"chart\"")
        .nth(1)
        .expect("a health chart")
        .split("</svg>")
        .next()
        .unwrap();
    let bars = svg.matches("<rect").count();
    assert!((2..=3).contains(&bars), "{bars} bars: {svg}");
    assert!(svg.contains(": 9</title>") && !svg.contains(": 99</title>"));
    assert!(!page.body.contains("Cafe t2"));

    // The portal address: bad ones refused with nothing changed, a good one saved.
    let csrf = page.csrf();
    for bad in ["ftp://x", "http://a b/", "javascript:alert(1)"] {
        let refused = a
            .post(
                &format!("/console/sites/{site}/portal"),
                &[("csrf", &csrf), ("portal_url", bad)],
            )
            .await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(refused.body.contains("portal_url"));
    }
    assert_eq!(portal_of(&api, site).await, None);
    let saved = a
        .post(
            &format!("/console/sites/{site}/portal"),
            &[("csrf", &csrf), ("portal_url", "https://wifi.cafe.test/")],
        )
        .await;
    assert_eq!(
        (saved.status, saved.location()),
        (303, format!("/console/sites/{site}").as_str())
    );
    assert_eq!(
        portal_of(&api, site).await.as_deref(),
        Some("https://wifi.cafe.test/")
    );
    let cleared = a
        .post(
            &format!("/console/sites/{site}/portal"),
            &[("csrf", &csrf), ("portal_url", "")],
        )
        .await;
    assert_eq!(cleared.status, 303);
    assert_eq!(portal_of(&api, site).await, None);

    // Another tenant's site: 404 to read and to change.
    let b_site = crate::console::site_id(&api, api.b).await;
    assert_eq!(a.get(&format!("/console/sites/{b_site}")).await.status, 404);
    let refused = a
        .post(
            &format!("/console/sites/{b_site}/portal"),
            &[("csrf", &csrf), ("portal_url", "http://evil.test/")],
        )
        .await;
    assert_eq!(refused.status, 404);
    let b_portal: Option<String> = api
        .owner
        .query_one("SELECT portal_url FROM hotspots WHERE id = $1", &[&b_site])
        .await
        .unwrap()
        .get(0);
    assert_eq!(b_portal, None);
}

#[tokio::test]
async fn a_read_only_role_sees_a_site_without_actions_and_is_refused_them() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let site = crate::console::site_id(&api, api.a).await;
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let page = t.get(&format!("/console/sites/{site}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Cafe t1"));
    assert!(
        !page.body.contains("/kick")
            && !page.body.contains("/extend")
            && !page.body.contains("id=\"portal-form\"")
    );
    assert!(page.body.contains("id=\"chart-health\""));
    let refused = t
        .post(
            &format!("/console/sites/{site}/portal"),
            &[("csrf", &page.csrf()), ("portal_url", "http://x.test/")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let n = count(
        &api,
        "SELECT count(*) FROM hotspots WHERE id = $1 AND portal_url IS NOT NULL",
        site,
    )
    .await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_sites_page_kicks_and_extends_its_guests_and_returns_only_to_a_sites_page() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    let site = crate::console::site_id(&api, api.a).await;
    let session: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspot_sessions WHERE hotspot_id = $1 AND session_status = 'active'
             ORDER BY start_time DESC, id DESC LIMIT 1",
            &[&site],
        )
        .await
        .unwrap()
        .get(0);
    let added = || async {
        count(
            &api,
            "SELECT added_minutes::int8 FROM hotspot_sessions WHERE id = $1",
            session,
        )
        .await
    };
    let site_path = format!("/console/sites/{site}");
    let extend = format!("/console/sessions/{session}/extend");
    let kick = format!("/console/sessions/{session}/kick");

    // The page's forms: kick and extend for each guest, each naming the page to return to.
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let page = a.get(&site_path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("action=\"{kick}\"")));
    assert!(page.body.contains(&format!("action=\"{extend}\"")));
    assert!(page.body.contains("name=\"minutes\"") && page.body.contains("name=\"megabytes\""));
    assert!(
        page.body
            .contains(&format!("name=\"back\" value=\"{site_path}\""))
    );
    let csrf = page.csrf();

    // Extended from the site's page: back to it.
    let extended = a
        .post(
            &extend,
            &[("csrf", &csrf), ("minutes", "15"), ("back", &site_path)],
        )
        .await;
    assert_eq!(
        (extended.status, extended.location()),
        (303, site_path.as_str())
    );
    assert_eq!(added().await, 15);
    // A refusal is shown on the site's page, with the reason.
    let refused = a
        .post(
            &extend,
            &[("csrf", &csrf), ("minutes", "abc"), ("back", &site_path)],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Cafe t1") && refused.body.contains("id=\"site-sessions\""));
    assert!(
        refused.body.contains("Give minutes (1 to 10080)"),
        "{}",
        refused.body
    );
    assert_eq!(added().await, 15);

    // Anything but a site's page as `back` is ignored: the guests' list, never elsewhere.
    for foreign in [
        "https://evil.test/".to_owned(),
        format!("https://evil.test{site_path}"),
        format!("//evil.test{site_path}"),
        format!("/\\evil.test{site_path}"),
        format!("{site_path}/../../../x"),
        format!("{site_path}?next=https://evil.test/"),
        format!("{site_path}#x"),
        format!("{site_path}/portal"),
        format!(" {site_path}"),
        format!("/console/sites/{{{site}}}"),
        format!("/console/sites/{}", site.simple()),
        "/console/sites/not-a-site".to_owned(),
        "/console/settings".to_owned(),
        "javascript:alert(1)".to_owned(),
        String::new(),
    ] {
        let ignored = a
            .post(
                &extend,
                &[("csrf", &csrf), ("minutes", "1"), ("back", &foreign)],
            )
            .await;
        assert_eq!(
            (ignored.status, ignored.location()),
            (303, "/console/sessions"),
            "extend, back {foreign:?}"
        );
        let refused = a
            .post(
                &extend,
                &[("csrf", &csrf), ("minutes", "0"), ("back", &foreign)],
            )
            .await;
        assert_eq!(refused.status, 422, "{foreign:?}");
        assert!(
            !refused.body.contains("id=\"site-sessions\""),
            "{foreign:?}"
        );
        assert!(refused.body.contains("id=\"sessions\""), "{foreign:?}");
    }
    assert_eq!(added().await, 15 + 15);

    // Kicked from the site's page: back to it, the guest gone from it.
    let kicked = a
        .post(&kick, &[("csrf", &csrf), ("back", &site_path)])
        .await;
    assert_eq!(
        (kicked.status, kicked.location()),
        (303, site_path.as_str())
    );
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspot_sessions WHERE id = $1 AND session_status = 'terminated'",
            session,
        )
        .await,
        1
    );
    assert!(!a.get(&site_path).await.body.contains(&kick));
    // An extension of the ended session is refused on the site's page.
    let over = a
        .post(
            &extend,
            &[("csrf", &csrf), ("minutes", "5"), ("back", &site_path)],
        )
        .await;
    assert_eq!(over.status, 409);
    assert!(over.body.contains("id=\"site-status\"") && over.body.contains("cannot be extended"));
    // A foreign `back` on a kick is ignored too (the session is over: nothing more to do).
    for foreign in ["https://evil.test/", "//evil.test/console/sites/x"] {
        let ignored = a.post(&kick, &[("csrf", &csrf), ("back", foreign)]).await;
        assert_eq!(
            (ignored.status, ignored.location()),
            (303, "/console/sessions"),
            "kick, back {foreign:?}"
        );
    }
    // Without the token, nothing: 403 whatever the field says.
    let no_token = a
        .post(&extend, &[("minutes", "5"), ("back", &site_path)])
        .await;
    assert_eq!(no_token.status, 403);
}

#[tokio::test]
async fn payments_are_exported_as_csv_with_the_lists_filters() {
    let api = Api::new().await;
    api.user(api.a, "cash@a.test", &["support_agent"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    crate::console::paid_purchase(&api, api.a, "RAA0000001", None).await;
    crate::console::paid_purchase(&api, api.a, "RAA0000002", Some("=cmd|' /C calc'!A0")).await;
    crate::console::paid_purchase(&api, api.b, "RBB0000001", None).await;
    let mut a = Browser::new(&api);
    a.sign_in("cash@a.test").await;
    let list = a.get("/console/payments").await;
    assert!(list.body.contains("href=\"/console/payments/export.csv?"));
    let all = a.get("/console/payments/export.csv").await;
    assert_eq!(all.status, 200);
    assert!(
        all.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = all.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    // A header, A's two, and the fixture's failed purchase of A's.
    assert_eq!(lines.len(), 4, "{}", all.body);
    assert!(all.body.contains("RAA0000001") && all.body.contains("RAA0000002"));
    assert!(!all.body.contains("RBB0000001"), "not another tenant's");
    assert!(
        all.body.contains(",'=cmd|' /C calc'!A0,"),
        "formula defused"
    );
    let review = a.get("/console/payments/export.csv?review=1").await;
    assert!(review.body.contains("RAA0000002") && !review.body.contains("RAA0000001"));
    let failed = a.get("/console/payments/export.csv?status=failed").await;
    assert_eq!(
        failed.body.split("\r\n").filter(|l| !l.is_empty()).count(),
        2,
        "a header and the fixture's failed purchase"
    );
    assert!(failed.body.contains(",failed,") && !failed.body.contains("RAA0000001"));
    let b_site = crate::console::site_id(&api, api.b).await;
    let other = a
        .get(&format!("/console/payments/export.csv?hotspot_id={b_site}"))
        .await;
    assert!(!other.body.contains("RBB0000001"));
    assert_eq!(
        a.get("/console/payments/export.csv?from=1/3/2026")
            .await
            .status,
        422
    );
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    let refused = noc.get("/console/payments/export.csv").await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("RAA0000001"));
}

#[tokio::test]
async fn session_history_is_filtered_by_site_mac_status_and_dates() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let site = crate::console::site_id(&api, api.a).await;
    for (mac, status, days_ago) in [
        ("aa:bb:cc:10:00:01", "ended", 3),
        ("aa:bb:cc:10:00:02", "expired", 1),
    ] {
        api.owner
            .execute(
                "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, session_status,
                     start_time, end_time)
                 VALUES ($1, $2, $3, $4, now() - make_interval(days => $5),
                         now() - make_interval(days => $5) + interval '1 hour')",
                &[&api.a, &site, &mac, &status, &days_ago],
            )
            .await
            .unwrap();
    }
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    assert!(
        t.get("/console/sessions")
            .await
            .body
            .contains("href=\"/console/sessions/history\"")
    );
    let all = t.get("/console/sessions/history").await;
    assert_eq!(all.status, 200);
    assert!(all.body.contains("aa:bb:cc:10:00:01") && all.body.contains("aa:bb:cc:10:00:02"));
    assert!(!all.body.contains("Cafe t2"), "not another tenant's");
    let by_mac = t
        .get("/console/sessions/history?mac=AA-BB-CC-10-00-01")
        .await;
    assert_eq!(by_mac.status, 200, "{}", by_mac.body);
    assert!(
        by_mac.body.contains("aa:bb:cc:10:00:01") && !by_mac.body.contains("aa:bb:cc:10:00:02")
    );
    let by_status = t.get("/console/sessions/history?status=expired").await;
    assert!(
        by_status.body.contains("aa:bb:cc:10:00:02")
            && !by_status.body.contains("aa:bb:cc:10:00:01")
    );
    let day = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let recent = t
        .get(&format!("/console/sessions/history?from={}", day(2)))
        .await;
    assert!(
        recent.body.contains("aa:bb:cc:10:00:02") && !recent.body.contains("aa:bb:cc:10:00:01")
    );
    let b_site = crate::console::site_id(&api, api.b).await;
    let other = t
        .get(&format!("/console/sessions/history?hotspot_id={b_site}"))
        .await;
    assert!(
        !other.body.contains("aa:bb:cc:"),
        "another tenant's site: none"
    );
    for bad in [
        "mac=zz",
        "status=stolen",
        "from=1/3/2026",
        "hotspot_id=x",
        "after=garbage",
    ] {
        let refused = t.get(&format!("/console/sessions/history?{bad}")).await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(!refused.body.contains("aa:bb:cc:10:00:01"));
    }
}

#[tokio::test]
async fn c2b_payments_are_listed_paged_and_exported_for_their_tenant() {
    let api = Api::new().await;
    api.user(api.a, "cash@a.test", &["support_agent"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    // A confirmation as the C2B handler stores it, with the payer's number, unmatched.
    api.owner
        .execute(
            "INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                 applied_to)
             VALUES ($1, 'RCU0000001', 55, '=HYPERLINK(1)', 'unmatched')",
            &[&api.a],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO mpesa_callbacks (tenant_id, kind, reference, body)
             VALUES ($1, 'c2b_confirmation', 'RCU0000001', '{\"MSISDN\": \"254722333444\"}')",
            &[&api.a],
        )
        .await
        .unwrap();
    for i in 0..55 {
        api.owner
            .execute(
                "INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                     applied_to, created_at)
                 VALUES ($1, $2, 10, 'ACC', 'unmatched', now() - interval '1 day')",
                &[&api.a, &format!("RPG{i:07}")],
            )
            .await
            .unwrap();
    }
    let mut a = Browser::new(&api);
    a.sign_in("cash@a.test").await;
    assert!(
        a.get("/console/payments")
            .await
            .body
            .contains("href=\"/console/payments/c2b\"")
    );
    let list = a.get("/console/payments/c2b").await;
    assert_eq!(list.status, 200);
    // Newest first: the unmatched one with its payer, then the fixture's wallet credit of A's
    // client (linked), not B's.
    assert!(list.body.contains("RCU0000001") && list.body.contains("254722333444"));
    assert!(list.body.contains("unmatched: settle by hand"));
    let fixture = list
        .body
        .split("C2Bt1")
        .nth(1)
        .expect("the fixture's payment");
    let row = fixture.split("</tr>").next().unwrap();
    assert!(
        row.contains("ACC-t1") && row.contains("wallet credited"),
        "{row}"
    );
    assert!(row.contains("href=\"/console/clients/") && row.contains("Client t1"));
    assert!(!list.body.contains("C2Bt2"), "not another tenant's");
    // Paged by keyset: every payment once over the pages.
    let mut seen = std::collections::HashSet::new();
    let mut path = "/console/payments/c2b".to_owned();
    for _ in 0..5 {
        let page = a.get(&path).await;
        assert_eq!(page.status, 200);
        for piece in page.body.split("<td class=\"mono\">R").skip(1) {
            assert!(seen.insert(piece[..10].to_owned()), "a row shown twice");
        }
        if !page.body.contains("rel=\"next\"") {
            break;
        }
        let before = page.body.split("\" rel=\"next\"").next().unwrap();
        path = before
            .rsplit("href=\"")
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#38;", "&");
    }
    assert_eq!(seen.len(), 56);
    assert_eq!(a.get("/console/payments/c2b?after=junk").await.status, 404);
    // The export: a header, 57 payments of A's, the bill reference's formula defused.
    let csv = a.get("/console/payments/c2b/export.csv").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 58, "{}", csv.body);
    assert!(lines[0].starts_with("created_at,trans_id,amount,phone,bill_ref_number"));
    assert!(
        csv.body
            .contains("RCU0000001,55.00,254722333444,'=HYPERLINK(1),unmatched")
    );
    assert!(!csv.body.contains("C2Bt2"));
    // Not for the roles that do not see money.
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    for path in ["/console/payments/c2b", "/console/payments/c2b/export.csv"] {
        let refused = noc.get(path).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(!refused.body.contains("RCU0000001"));
    }
}
