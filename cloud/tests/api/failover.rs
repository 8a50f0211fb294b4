//! The service and a PostgreSQL that is not (or no longer) the writable primary: readiness
//! says so, and a multi-host DATABASE_URL connects to the host that takes writes.

use hotspot_cloud::db;
use tokio_postgres::config::Host;

use crate::helpers::{get, spawn_app};

/// Readiness, asked until it answers `want` (a closed connection is noticed within moments);
/// what it last answered.
async fn ready_until(url: &str, want: &str) -> (u16, String) {
    let mut last = (0, String::new());
    for _ in 0..50 {
        last = get(url).await;
        if last.1 == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

/// Closes the connections the service holds (as a failover does), so new ones see the
/// database's current settings.
async fn drop_connections(owner: &tokio_postgres::Client) {
    owner
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn readiness_needs_a_database_that_takes_writes() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    assert_eq!(get(&app.url("/health/ready")).await.0, 200);
    // The database turns read-only, as a demoted primary or a standby is.
    let name = &app._db.name;
    owner
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await
        .unwrap();
    drop_connections(&owner).await;
    let (status, body) = ready_until(&app.url("/health/ready"), "database read-only\n").await;
    assert_eq!((status, body.as_str()), (503, "database read-only\n"));
    owner
        .batch_execute(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .await
        .unwrap();
    drop_connections(&owner).await;
    assert_eq!(
        ready_until(&app.url("/health/ready"), "ready\n").await,
        (200, "ready\n".to_owned())
    );
}

#[tokio::test]
async fn a_url_with_several_hosts_reaches_the_writable_one() {
    let app = spawn_app().await;
    let config: tokio_postgres::Config = app._db.url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        other => panic!("the test database is reached over TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let name = &app._db.name;
    // The first host answers nothing (port 1): the pool goes on to the second.
    let url = |attrs: &str| {
        format!(
            "host=127.0.0.1,{host} port=1,{port} user={user} dbname={name} \
             connect_timeout=5 target_session_attrs={attrs}"
        )
    };
    let pool = db::pool(&url("read-write"), 2).unwrap();
    let client = pool.get().await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop(client);

    // With the database read-only, read-write finds no host; `any` still connects.
    let owner = app.owner().await;
    owner
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await
        .unwrap();
    let refused = db::pool(&url("read-write"), 2).unwrap().get().await;
    assert!(refused.is_err(), "no writable host");
    assert!(db::pool(&url("any"), 2).unwrap().get().await.is_ok());
    owner
        .batch_execute(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .await
        .unwrap();
}
