//! Helpers for tests that need a real database (feature `test-support`).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// The server the tests use: `IRONRACK_TEST_PG` or the local one (trust auth).
pub fn postgres_admin_url() -> String {
    std::env::var("IRONRACK_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates an empty database with a unique name and returns its URL.
/// Databases are named `ironrack_test_*`;
pub async fn fresh_postgres_url() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = postgres_admin_url();
    let name = format!(
        "ironrack_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        crate::now_ms() % 1_000_000
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed by this test: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A fresh SQLite file in a new temporary directory.
pub fn fresh_sqlite_url() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ironrack-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}/ironrack.db", dir.display())
}
