//! The generic resource API. One test walks every registered table: the fixture's rows of
//! tenant A are readable by A and not found for B, a copy created through the API by A is A's
//! alone, and B can neither change nor delete A's rows. Others cover filters, sorting, paging,
//! column rules and bad input.

use reqwest::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use hotspot_cloud::api::registry::TABLES;

use crate::operators::{Api, PASSWORD};

/// Text columns of `table` that are in a unique index (a copy of a row must change them).
async fn unique_columns(api: &Api, table: &str) -> Vec<(String, String)> {
    api.owner
        .query(
            "SELECT DISTINCT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = $1::text::regclass AND i.indisunique AND NOT i.indisprimary
               AND a.attname <> 'tenant_id'",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A body for a new row like `row`: its writable, non-null columns, with unique values changed
/// and the user-scoped columns set to the caller (so the row is the caller's to see).
async fn copy_body(
    api: &Api,
    table: &str,
    row: &Value,
    writable: &[String],
    me: Uuid,
    n: usize,
) -> Map<String, Value> {
    let mut body = Map::new();
    for c in writable {
        if let Some(v) = row.get(c)
            && !v.is_null()
        {
            body.insert(c.clone(), v.clone());
        }
    }
    for (col, ty) in unique_columns(api, table).await {
        let Some(v) = body.get(&col).cloned() else {
            continue;
        };
        let new = match (ty.as_str(), v) {
            ("inet", _) => json!(format!("198.51.100.{}", 10 + n)),
            // References: the copy points at the same rows.
            ("uuid", v) => v,
            (_, Value::String(s)) => {
                let suffix = format!("-{n}");
                let keep = s.len().min(8);
                json!(format!("{}{suffix}", &s[..keep]))
            }
            (_, Value::Number(x)) => json!(x.as_i64().unwrap_or(0) + 1000 + n as i64),
            (_, other) => other,
        };
        body.insert(col, new);
    }
    for col in ["user_id", "sender_id", "author_id"] {
        if body.contains_key(col)
            && [
                "notifications",
                "notification_preferences",
                "internal_messages",
                "ticket_comments",
            ]
            .contains(&table)
        {
            body.insert(col.into(), json!(me));
        }
    }
    // Only a message's sender attaches to it: the message this test created earlier.
    if table == "message_attachments" {
        let m: Uuid = api
            .owner
            .query_one(
                "SELECT id FROM internal_messages WHERE sender_id = $1 LIMIT 1",
                &[&me],
            )
            .await
            .unwrap()
            .get(0);
        body.insert("message_id".into(), json!(m));
    }
    // One assignment per client and item: another item of the same tenant.
    if table == "client_equipment" {
        let eq: Uuid = api
            .owner
            .query_one(
                "INSERT INTO equipment (tenant_id, type, serial_number)
                 SELECT tenant_id, type, serial_number || '-spare' FROM equipment
                 WHERE id = $1 RETURNING id",
                &[&Uuid::parse_str(body["equipment_id"].as_str().unwrap()).unwrap()],
            )
            .await
            .unwrap()
            .get(0);
        body.insert("equipment_id".into(), json!(eq));
    }
    if table == "notification_preferences" {
        // One row of preferences per user: make room for the caller's new one.
        api.owner
            .execute(
                "DELETE FROM notification_preferences WHERE user_id = $1",
                &[&me],
            )
            .await
            .unwrap();
        body.insert("user_id".into(), json!(me));
    }
    body
}

#[tokio::test]
async fn every_registered_table_is_isolated_between_tenants() {
    let api = Api::new().await;
    // The fixture's staff user: recipient of its message, owner of its notification and
    // preferences (the user-scoped tables), made an administrator to reach every table.
    let email = "staff@t1.test";
    let hash = hotspot_cloud::db::demo::hash_password(PASSWORD).unwrap();
    let me: Uuid = api
        .owner
        .query_one(
            "UPDATE users SET password_hash = $2, roles = '[\"tenant_admin\"]'
             WHERE tenant_id = $1 AND email = $3 RETURNING id",
            &[&api.a, &hash, &email],
        )
        .await
        .unwrap()
        .get(0);
    let a = api.login(email).await;
    let b = api.token(api.b, &["tenant_admin"]).await;
    let (status, index) = api.get("/api/v1/resources", &a).await;
    assert_eq!(status, 200, "{index}");
    let index = index.as_array().unwrap();
    assert_eq!(
        index.len(),
        TABLES.len(),
        "a tenant admin reads every resource"
    );

    let mut failures = Vec::new();
    for (n, res) in index.iter().enumerate() {
        let table = res["name"].as_str().unwrap();
        let key = res["key"].as_str().unwrap();
        let base = format!("/api/v1/resources/{table}");
        // A reads its fixture rows; B's list has none of them.
        let (status, page) = api.get(&format!("{base}?limit=500"), &a).await;
        assert_eq!(status, 200, "{table}: {page}");
        let mine = page["items"].as_array().unwrap().clone();
        if mine.is_empty() {
            failures.push(format!("{table}: tenant A sees none of its rows"));
            continue;
        }
        assert!(
            mine.iter()
                .all(|r| r.get("tenant_id").is_none_or(|t| t == &json!(api.a))),
            "{table}"
        );
        let (_, theirs) = api.get(&format!("{base}?limit=500"), &b).await;
        let their_keys: Vec<&Value> = theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r[key])
            .collect();
        assert!(
            mine.iter().all(|r| !their_keys.contains(&&r[key])),
            "{table}: B lists A's rows"
        );
        // B cannot read, change or delete A's row by its id.
        let id = super::operators::key_text(&mine[0][key]);
        let (status, _) = api.get(&format!("{base}/{id}"), &a).await;
        assert_eq!(status, 200, "{table}: A cannot get its row");
        let (status, _) = api.get(&format!("{base}/{id}"), &b).await;
        assert_eq!(status, 404, "{table}: B gets A's row");
        if res["writable"] == true {
            let some_col = res["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["writable"] == true)
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .unwrap();
            let (status, v) = api
                .call(
                    Method::PATCH,
                    &format!("{base}/{id}"),
                    Some(&b),
                    Some(json!({ some_col.clone(): mine[0][&some_col] })),
                )
                .await;
            assert_eq!(status, 404, "{table}: B patches A's row: {v}");
            let (status, _) = api
                .call(Method::DELETE, &format!("{base}/{id}"), Some(&b), None)
                .await;
            assert_eq!(status, 404, "{table}: B deletes A's row");

            // A creates a copy; B does not see it.
            let writable: Vec<String> = res["columns"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["writable"] == true)
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect();
            let body = copy_body(&api, table, &mine[0], &writable, me, n).await;
            let (status, created) = api.post(&base, &a, Value::Object(body.clone())).await;
            if status != 201 {
                failures.push(format!(
                    "{table}: create {status} {created} from {}",
                    Value::Object(body)
                ));
                continue;
            }
            let new_id = super::operators::key_text(&created[key]);
            assert_eq!(
                created.get("tenant_id").unwrap_or(&json!(api.a)),
                &json!(api.a)
            );
            let (status, _) = api.get(&format!("{base}/{new_id}"), &a).await;
            assert_eq!(status, 200, "{table}: A cannot get what it created");
            let (status, _) = api.get(&format!("{base}/{new_id}"), &b).await;
            assert_eq!(status, 404, "{table}: B sees A's new row");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn lists_filter_sort_and_page_and_refuse_what_is_not_a_column() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    for i in 0..7 {
        let (status, v) = api
            .post(
                "/api/v1/resources/departments",
                &api.token(api.a, &["tenant_admin"]).await,
                json!({"name": format!("Dept {i}"), "description": if i % 2 == 0 { "even" } else { "odd" }}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, page) = api
        .get(
            "/api/v1/resources/departments?description=even&sort=-name",
            &noc,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Dept 6", "Dept 4", "Dept 2", "Dept 0"]);
    let (_, page) = api
        .get(
            "/api/v1/resources/departments?name.like=Dept%25&sort=name&limit=3",
            &noc,
        )
        .await;
    let mut all: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (status, page) = api
            .get(
                &format!(
                    "/api/v1/resources/departments?name.like=Dept%25&sort=name&limit=3&cursor={c}"
                ),
                &noc,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        all.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_owned()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(all, (0..7).map(|i| format!("Dept {i}")).collect::<Vec<_>>());

    for bad in [
        "colour=red",
        "sort=nonsense",
        "limit=0",
        "cursor=garbage",
        "name.gte=1;DROP",
    ] {
        let (status, v) = api
            .get(&format!("/api/v1/resources/departments?{bad}"), &noc)
            .await;
        if bad == "name.gte=1;DROP" {
            // A value is only ever a parameter: a harmless comparison.
            assert_eq!(status, 200, "{bad}: {v}");
        } else {
            assert_eq!(status, 422, "{bad}: {v}");
        }
    }
    let (status, _) = api.get("/api/v1/resources/schema_migrations", &noc).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .get("/api/v1/resources/departments/not-a-uuid", &noc)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn column_and_role_rules_hold_and_bad_input_writes_nothing() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let field = api.token(api.a, &["field_tech"]).await;
    let support = api.token(api.a, &["support_agent"]).await;

    // nas: NOC reads; the secret is never read back (the RADIUS API shows it once, when it
    // makes it), and the community string is for administrators only; only they write.
    let (_, page) = api.get("/api/v1/resources/nas", &noc).await;
    let nas = &page["items"][0];
    assert!(nas.get("secret").is_none(), "{nas}");
    assert!(nas.get("community").is_none(), "{nas}");
    assert!(nas.get("nasname").is_some());
    let (_, page) = api.get("/api/v1/resources/nas", &admin).await;
    assert!(page["items"][0].get("secret").is_none());
    assert!(page["items"][0].get("community").is_some());
    let (status, _) = api.get("/api/v1/resources/nas", &field).await;
    assert_eq!(status, 403);
    let (status, _) = api
        .post(
            "/api/v1/resources/nas",
            &noc,
            json!({"nasname": "198.51.100.9", "shortname": "x", "secret": "s"}),
        )
        .await;
    assert_eq!(status, 403);
    // clients: money (the wallet and the balance) only to the Finance roles, as the console
    // and the typed endpoints show it; the others can neither read, filter nor sort by it.
    for (token, sees) in [
        (&admin, true),
        (&support, true),
        (&noc, false),
        (&field, false),
    ] {
        let (status, page) = api.get("/api/v1/resources/clients", token).await;
        assert_eq!(status, 200, "{page}");
        let client = &page["items"][0];
        assert!(client.get("name").is_some(), "{client}");
        for money in ["wallet_balance", "balance"] {
            assert_eq!(client.get(money).is_some(), sees, "{money}: {client}");
        }
        if !sees {
            for q in [
                "wallet_balance=3000",
                "wallet_balance.gte=1",
                "sort=-wallet_balance",
            ] {
                let (status, _) = api
                    .get(&format!("/api/v1/resources/clients?{q}"), token)
                    .await;
                assert_eq!(status, 422, "{q}");
            }
        }
    }
    // Hidden and automatic columns cannot be written.
    let before = api.count("SELECT count(*) FROM onus").await;
    let (status, v) = api
        .post(
            "/api/v1/resources/onus",
            &admin,
            json!({"wifi_password_vault_path": "x"}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = api
        .post(
            "/api/v1/resources/departments",
            &admin,
            json!({"name": "X", "tenant_id": api.b}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "tenant_id");
    // Wallet balances change only through transactions.
    let client = api.id_of("clients", api.a).await;
    let (status, v) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/resources/clients/{client}"),
            Some(&support),
            Some(json!({"wallet_balance": 1000000})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    // Type errors, check violations and missing required columns are 422 naming the field.
    let (status, v) = api
        .post(
            "/api/v1/resources/support_tickets",
            &support,
            json!({"priority": "whenever"}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = api
        .post(
            "/api/v1/resources/departments",
            &admin,
            json!({"name": "X", "is_active": "perhaps"}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = api
        .post("/api/v1/resources/departments", &admin, json!({}))
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "name");
    assert_eq!(api.count("SELECT count(*) FROM onus").await, before);
    // No token at all.
    let (status, _) = api
        .call(Method::GET, "/api/v1/resources/nas", None, None)
        .await;
    assert_eq!(status, 401);

    // Soft delete: gone from lists and gets, still in the table.
    let olt = api.id_of("olts", api.a).await;
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/resources/olts/{olt}"),
            Some(&noc),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .get(&format!("/api/v1/resources/olts/{olt}"), &noc)
        .await;
    assert_eq!(status, 404);
    let (_, page) = api.get("/api/v1/resources/olts?deleted=true", &noc).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == json!(olt))
    );
    assert_eq!(
        api.count(&format!(
            "SELECT count(*) FROM olts WHERE id = '{olt}' AND deleted_at IS NOT NULL"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn every_column_the_registry_names_exists_and_every_table_is_tenant_scoped() {
    // A misspelt hidden or administrator-only column would silently expose what it should hide.
    let db = crate::helpers::migrated_db().await;
    let pool = db.pool();
    let client = pool.get().await.unwrap();
    let catalog = hotspot_cloud::api::registry::Catalog::load(&client)
        .await
        .unwrap();
    let mut names = std::collections::BTreeSet::new();
    for t in TABLES {
        assert!(names.insert(t.name), "{} registered twice", t.name);
        let cols = catalog.columns(t.name);
        assert!(!cols.is_empty(), "{}: no such table", t.name);
        let has = |c: &str| cols.iter().any(|col| col.name == c);
        for c in t
            .hidden
            .iter()
            .chain(t.admin_only)
            .chain(t.finance_only)
            .chain(t.readonly)
        {
            assert!(
                has(c),
                "{}.{c} is named in the registry but does not exist",
                t.name
            );
        }
        assert!(has(t.key), "{}: no key column {}", t.name, t.key);
        assert!(has("tenant_id"), "{}: not tenant-scoped", t.name);
    }
}
