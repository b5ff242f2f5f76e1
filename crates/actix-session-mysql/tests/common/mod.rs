//! Shared helpers for the integration tests: row snapshots and SQL on the test database.

#![allow(clippy::unwrap_used)]

use actix_session::storage::SessionKey;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;
use sha2::{Digest, Sha256};

/// One row of the session table, every column as text, so two snapshots compare byte for
/// byte: `(hex(id), user_id, data, expires_at, created_at, last_seen_at)`.
pub type RowText = (String, Option<String>, String, String, String, String);

const SNAPSHOT_COLUMNS: &str = "HEX(id), user_id, data, \
     CAST(expires_at AS CHAR), CAST(created_at AS CHAR), CAST(last_seen_at AS CHAR)";

/// Every row of `table`, ordered by id.
pub async fn rows(pool: &Pool, table: &str) -> Vec<RowText> {
    let mut conn = pool.get_conn().await.unwrap();
    conn.query(format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM `{table}` ORDER BY id"
    ))
    .await
    .unwrap()
}

/// The row of the session named by `key`, if any.
pub async fn row_of(pool: &Pool, table: &str, key: &SessionKey) -> Option<RowText> {
    let mut conn = pool.get_conn().await.unwrap();
    conn.exec_first(
        format!("SELECT {SNAPSHOT_COLUMNS} FROM `{table}` WHERE id = ?"),
        (digest(key).to_vec(),),
    )
    .await
    .unwrap()
}

/// How many rows `table` holds.
pub async fn count(pool: &Pool, table: &str) -> u64 {
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .await
        .unwrap()
        .unwrap()
}

/// Run one statement with parameters; returns the affected rows.
pub async fn exec<P: Into<mysql_async::Params> + Send>(pool: &Pool, sql: &str, params: P) -> u64 {
    let mut conn = pool.get_conn().await.unwrap();
    conn.exec_drop(sql, params).await.unwrap();
    conn.affected_rows()
}

/// Run one SQL statement on the row of `key`: `sql` is the `SET …` part of an UPDATE.
pub async fn set_row(pool: &Pool, table: &str, key: &SessionKey, set: &str) {
    let affected = exec(
        pool,
        &format!("UPDATE `{table}` SET {set} WHERE id = ?"),
        (digest(key).to_vec(),),
    )
    .await;
    assert_eq!(affected, 1, "exactly one row should match `{set}`");
}

/// Make the row of `key` expired a second ago (cleanup has not seen it yet).
pub async fn expire(pool: &Pool, table: &str, key: &SessionKey) {
    set_row(
        pool,
        table,
        key,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    )
    .await;
}

/// SHA-256 of the key: what the store uses as the row id.
pub fn digest(key: &SessionKey) -> [u8; 32] {
    Sha256::digest(key.as_ref().as_bytes()).into()
}

/// Seconds from the server's `UTC_TIMESTAMP(6)` to the row's `expires_at` (negative: past).
pub async fn expires_in_secs(pool: &Pool, table: &str, key: &SessionKey) -> f64 {
    let mut conn = pool.get_conn().await.unwrap();
    let us: i64 = conn
        .exec_first(
            format!(
                "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) \
                 FROM `{table}` WHERE id = ?"
            ),
            (digest(key).to_vec(),),
        )
        .await
        .unwrap()
        .expect("the row exists");
    #[allow(clippy::cast_precision_loss)]
    let secs = us as f64 / 1e6;
    secs
}
