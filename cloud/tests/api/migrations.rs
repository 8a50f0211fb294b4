use hotspot_cloud::db::{self, DbError, MIGRATIONS};

use crate::helpers::{TestDb, get, spawn_app};

#[tokio::test]
async fn migrations_apply_to_an_empty_database_then_are_a_no_op() {
    let test_db = TestDb::new().await;
    let pool = test_db.pool();
    let first = db::migrate(&pool).await.unwrap();
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    assert_eq!(first.already, 0);
    let second = db::migrate(&pool).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.already, MIGRATIONS.len());
    let client = pool.get().await.unwrap();
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded as usize, MIGRATIONS.len());
}

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let test_db = TestDb::new().await;
    let (a, b) = (test_db.pool(), test_db.pool());
    let (ra, rb) = tokio::join!(db::migrate(&a), db::migrate(&b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        MIGRATIONS.len(),
        "{ra:?} {rb:?}"
    );
}

#[tokio::test]
async fn an_edited_shipped_migration_is_refused() {
    let test_db = TestDb::new().await;
    let pool = test_db.pool();
    db::migrate(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE name = $1",
            &[&MIGRATIONS[0].0],
        )
        .await
        .unwrap();
    let err = db::migrate(&pool).await.unwrap_err();
    assert!(
        matches!(err, DbError::Checksum { ref name } if name == MIGRATIONS[0].0),
        "{err}"
    );
}

#[tokio::test]
async fn the_service_role_cannot_bypass_row_level_security() {
    let test_db = TestDb::new().await;
    db::migrate(&test_db.pool()).await.unwrap();
    let client = test_db.pool().get().await.unwrap();
    let row = client
        .query_one(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'hotspot_app'",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0) && !row.get::<_, bool>(1) && !row.get::<_, bool>(2));
}

#[tokio::test]
async fn health_endpoints_answer_over_http() {
    let app = spawn_app().await;
    assert_eq!(
        get(&app.url("/health/live")).await,
        (200, "ok\n".to_owned())
    );
    let (status, body) = get(&app.url("/health/ready")).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(get(&app.url("/nope")).await.0, 404);
    // With the database gone, readiness says so instead of hanging or crashing.
    app.pool.close();
    assert_eq!(get(&app.url("/health/ready")).await.0, 503);
}
