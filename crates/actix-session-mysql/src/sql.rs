//! Every SQL statement the store sends, built once per table name.
//!
//! Portability rules (MySQL 8.0+ and MariaDB 10.6+, any server `time_zone`):
//! - all times are `DATETIME(6)` in UTC, computed by the server with `UTC_TIMESTAMP(6)`, which
//!   ignores the connection's `time_zone` (unlike `NOW()`), so app instances with skewed
//!   clocks still agree on what has expired;
//! - no `RETURNING`, no `VALUES()` in upserts, no JSON column type (MySQL rewrites JSON and
//!   MariaDB aliases it to `LONGTEXT`): the state is stored as text, byte for byte;
//! - the collation is named explicitly (`utf8mb4_bin`) because the servers' defaults differ;
//! - `user_id` is `VARBINARY`: it compares byte for byte, where every `utf8mb4` collation the
//!   two servers share pads with spaces (`'alice' = 'alice  '`), which would let one user id
//!   reach another's sessions.

use mysql_async::Row;

use crate::batch::BATCH_SIZES;
use crate::error::StoreError;

/// Column `index` of `row` (named `column` in errors), decoded as `T`.
pub(crate) fn take<T: mysql_async::prelude::FromValue>(
    row: &mut Row,
    index: usize,
    op: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    row.take_opt(index)
        .and_then(Result::ok)
        .ok_or(StoreError::Decode { op, column })
}

/// Width of the `user_id` column, in bytes.
pub(crate) const USER_ID_MAX: usize = 255;

/// The `ttl_seconds` column: a session's own TTL, `NULL` for the one actix-session passes. One
/// definition for the table and for adding it to a table created before it existed.
pub(crate) const TTL_COLUMN: &str = "ttl_seconds INT UNSIGNED NULL";

/// MySQL's and MariaDB's "Duplicate column name": another instance added it first.
pub(crate) const ER_DUP_FIELDNAME: u16 = 1060;

#[derive(Debug)]
pub(crate) struct Queries {
    pub(crate) create_table: String,
    pub(crate) has_ttl_column: String,
    pub(crate) add_ttl_column: String,
    /// One per [`BATCH_SIZES`] entry.
    pub(crate) load: [String; BATCH_SIZES.len()],
    /// One per [`BATCH_SIZES`] entry.
    pub(crate) load_causal: [String; BATCH_SIZES.len()],
    pub(crate) insert: String,
    pub(crate) update: String,
    pub(crate) touch: String,
    pub(crate) delete: String,
    pub(crate) delete_expired: String,
    pub(crate) count_live: String,
    pub(crate) list_user: String,
    pub(crate) revoke_one: String,
    pub(crate) revoke_others: String,
    pub(crate) revoke_all: String,
    pub(crate) trim_user: String,
}

impl Queries {
    /// `table` must already be a validated identifier (see [`valid_table_name`]).
    pub(crate) fn new(table: &str) -> Self {
        let t = format!("`{table}`");
        Self {
            // The one definition of the table. `id` is SHA-256(key); `user_id` is the plain
            // user id lifted out of the state so per-user operations use an index.
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    id BINARY(32) NOT NULL,
                    user_id VARBINARY({USER_ID_MAX}) NULL,
                    data MEDIUMTEXT NOT NULL,
                    expires_at DATETIME(6) NOT NULL,
                    created_at DATETIME(6) NOT NULL,
                    last_seen_at DATETIME(6) NOT NULL,
                    {TTL_COLUMN},
                    PRIMARY KEY (id),
                    KEY {idx_user} (user_id),
                    KEY {idx_expires} (expires_at)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                idx_user = format_args!("`{table}_user_id`"),
                idx_expires = format_args!("`{table}_expires_at`"),
            ),
            // A table created before sessions had TTLs of their own lacks the column; it is
            // added last, which both servers do in place without copying the table.
            has_ttl_column: "SELECT COUNT(*) FROM information_schema.COLUMNS
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
                   AND COLUMN_NAME = 'ttl_seconds'"
                .to_owned(),
            add_ttl_column: format!("ALTER TABLE {t} ADD COLUMN {TTL_COLUMN}"),
            // A batch of sessions (see `crate::batch`), each row with its id. The age of
            // `last_seen_at` lets `update_ttl` skip writes without asking again.
            load: BATCH_SIZES.map(|n| load(&t, n)),
            // Galera only (MariaDB's statement prefix; never sent elsewhere): the read waits
            // until this node has applied every write committed in the cluster before it.
            load_causal: BATCH_SIZES
                .map(|n| format!("SET STATEMENT wsrep_sync_wait = 1 FOR {}", load(&t, n))),
            insert: format!(
                "INSERT INTO {t}
                    (id, user_id, data, expires_at, created_at, last_seen_at, ttl_seconds)
                 VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? SECOND,
                         UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?)"
            ),
            // Only a live row is updated: a deleted or expired session stays dead.
            update: format!(
                "UPDATE {t} SET user_id = ?, data = ?, ttl_seconds = ?,
                    expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND,
                    last_seen_at = UTC_TIMESTAMP(6)
                 WHERE id = ? AND expires_at > UTC_TIMESTAMP(6)"
            ),
            // The `last_seen_at` guard keeps the throttle correct across app instances, whose
            // in-memory caches know nothing of each other. A session with a TTL of its own
            // keeps it: the TTL actix-session passes is only the default.
            touch: format!(
                "UPDATE {t} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL COALESCE(ttl_seconds, ?) SECOND,
                    last_seen_at = UTC_TIMESTAMP(6)
                 WHERE id = ? AND expires_at > UTC_TIMESTAMP(6)
                   AND last_seen_at <= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND"
            ),
            delete: format!("DELETE FROM {t} WHERE id = ?"),
            // Small ordered batches on the `expires_at` index: short locks, and several
            // instances running it at once just share the work.
            delete_expired: format!(
                "DELETE FROM {t} WHERE expires_at <= UTC_TIMESTAMP(6) ORDER BY expires_at LIMIT ?"
            ),
            count_live: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > UTC_TIMESTAMP(6)"),
            list_user: format!(
                "SELECT id, data, created_at, last_seen_at, expires_at, ttl_seconds FROM {t}
                 WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6)
                 ORDER BY last_seen_at DESC"
            ),
            revoke_one: format!("DELETE FROM {t} WHERE user_id = ? AND id = ?"),
            revoke_others: format!("DELETE FROM {t} WHERE user_id = ? AND id <> ?"),
            revoke_all: format!("DELETE FROM {t} WHERE user_id = ?"),
            // Everything of the user past the first `?` rows in "keep" order: live before
            // expired, then those created within the last `?` µs (a touch interval) before
            // older ones, then most recently seen. The surplus is picked in a derived table with
            // a LIMIT, which both servers materialise first: MySQL refuses a DELETE whose own
            // subquery reads the same table (error 1093), and neither takes LIMIT inside IN.
            // The huge row count is MySQL's documented "to the end" for LIMIT with an offset.
            trim_user: format!(
                "DELETE s FROM {t} s
                 JOIN (SELECT id FROM {t} WHERE user_id = ?
                       ORDER BY expires_at > UTC_TIMESTAMP(6) DESC,
                                created_at > UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND DESC,
                                last_seen_at DESC, id
                       LIMIT ?, 18446744073709551615) surplus ON surplus.id = s.id"
            ),
        }
    }
}

/// The live rows among `n` ids. On one line without padding: the driver scans and hashes
/// the text on every call (its named parameters, its statement cache), so each byte costs.
fn load(table: &str, n: usize) -> String {
    let ids = vec!["?"; n].join(",");
    format!(
        "SELECT id,data,TIMESTAMPDIFF(MICROSECOND,last_seen_at,UTC_TIMESTAMP(6)),ttl_seconds \
         FROM {table} WHERE id IN({ids}) AND expires_at>UTC_TIMESTAMP(6)"
    )
}

/// 1–64 characters of `[A-Za-z0-9_]`, not starting with a digit: always safe to quote with
/// backticks, and within MySQL's identifier length limit.
pub(crate) fn valid_table_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::valid_table_name;

    #[test]
    fn table_names() {
        for ok in ["sessions", "app_sessions", "_s", "S2"] {
            assert!(valid_table_name(ok), "{ok}");
        }
        let long = "x".repeat(65);
        for bad in [
            "",
            "1abc",
            "a-b",
            "a`b",
            "a b",
            "db.sessions",
            "sessions;",
            &long,
        ] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }
}
