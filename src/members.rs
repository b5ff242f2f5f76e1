//! Members and their authors: every SQL statement about them lives here.

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, TxOpts};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::db::{self, DbError};
use crate::domain::{DisplayName, Username};

/// What a signed-in page needs about its member: one point read per request.
#[derive(Debug, Clone)]
pub struct Member {
    /// The username.
    pub id: String,
    /// The author's display name.
    pub name: String,
    /// The author's profile text, if any.
    pub profile: Option<String>,
    /// When the password last changed; sessions from before are dead.
    pub password_stamp: i64,
}

/// What sign-in needs.
#[derive(Debug)]
pub struct Credentials {
    /// The PHC string.
    pub password_hash: String,
    /// See [`Member::password_stamp`].
    pub password_stamp: i64,
}

/// Registration failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The username is taken.
    #[error("username taken")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The password-change time as microseconds since the epoch: compact in a session, exact.
fn stamp(at: PrimitiveDateTime) -> i64 {
    let nanos = at.assume_utc().unix_timestamp_nanos() / 1_000;
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// The member behind a session.
pub async fn find(pool: &Pool, id: &str) -> Result<Option<Member>, DbError> {
    const OP: &str = "find member";
    let row = db::first_row(
        pool,
        OP,
        "SELECT m.id, a.name, a.profile, m.password_changed_at
         FROM member m JOIN author a ON a.id = m.author_id WHERE m.id = ?",
        (id,),
    )
    .await?;
    row.map(|mut row| {
        Ok(Member {
            id: db::take(&mut row, 0, OP)?,
            name: db::take(&mut row, 1, OP)?,
            profile: db::take(&mut row, 2, OP)?,
            password_stamp: stamp(db::take(&mut row, 3, OP)?),
        })
    })
    .transpose()
}

/// The password hash of `username`, if such a member exists.
pub async fn credentials(pool: &Pool, username: &str) -> Result<Option<Credentials>, DbError> {
    const OP: &str = "find credentials";
    let row = db::first_row(
        pool,
        OP,
        "SELECT password_hash, password_changed_at FROM member WHERE id = ?",
        (username,),
    )
    .await?;
    row.map(|mut row| {
        Ok(Credentials {
            password_hash: db::take(&mut row, 0, OP)?,
            password_stamp: stamp(db::take(&mut row, 1, OP)?),
        })
    })
    .transpose()
}

/// Create an author and its member in one transaction. Returns the password stamp.
pub async fn create(
    pool: &Pool,
    username: &Username,
    name: &DisplayName,
    password_hash: &str,
) -> Result<i64, CreateError> {
    const OP: &str = "create member";
    let now = now_micros();
    // One transaction, run again from the start if a conflict rolled it back.
    let created = db::run(pool, OP, db::Replay::Write, |mut conn| async move {
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        tx.exec_drop("INSERT INTO author (name) VALUES (?)", (name.as_str(),))
            .await?;
        let author_id = tx.last_insert_id();
        tx.exec_drop(
            "INSERT INTO member (id, password_hash, author_id, created_at, password_changed_at)
             VALUES (?, ?, ?, ?, ?)",
            (username.as_str(), password_hash, author_id, now, now),
        )
        .await?;
        tx.commit().await
    })
    .await;
    match created {
        Ok(()) => Ok(stamp(now)),
        Err(e) if e.server_code() == Some(ER_DUP_ENTRY) => Err(CreateError::Taken),
        Err(e) => Err(e.into()),
    }
}

/// Store a rehashed (same) password: sessions stay valid.
pub async fn upgrade_hash(pool: &Pool, username: &str, hash: &str) -> Result<(), DbError> {
    const OP: &str = "upgrade password hash";
    db::exec(
        pool,
        OP,
        "UPDATE member SET password_hash = ? WHERE id = ?",
        (hash, username),
    )
    .await
    .map(drop)
}

/// Store a new password: every session from before it is dead. Returns the new stamp.
pub async fn change_password(pool: &Pool, username: &str, hash: &str) -> Result<i64, DbError> {
    const OP: &str = "change password";
    let now = now_micros();
    db::exec(
        pool,
        OP,
        "UPDATE member SET password_hash = ?, password_changed_at = ? WHERE id = ?",
        (hash, now, username),
    )
    .await?;
    Ok(stamp(now))
}

/// The current UTC time at the column's precision (written by the app, not the server, so the
/// app knows the stamp without reading it back).
fn now_micros() -> PrimitiveDateTime {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    PrimitiveDateTime::new(now.date(), now.time())
}

/// MySQL's and MariaDB's "Duplicate entry for key".
const ER_DUP_ENTRY: u16 = 1062;
