//! Connections: pool options, creating the database, migrations, the bounded wait that
//! turns an unreachable MySQL into a quick "unavailable" instead of a hung request, and the
//! retries that keep a database failover (a Galera node dying behind HAProxy, a certification
//! conflict between nodes) from reaching the user.

use std::future::Future;
use std::time::Duration;

use actix_session_mysql::retry::{self, Replay};
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{
    Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, Row, Transaction, TxOpts,
};

/// Connections per worker pool unless the URL says otherwise. There is one worker per core, so
/// this allows 4 statements per core in flight: measured on 2 cores, 16 per worker cost 17 %
/// of the throughput and quadrupled p99 latency (README, "Performance").
pub const DEFAULT_POOL_MAX: usize = 4;

/// The longest a request waits for the database, pool wait included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

mod embedded {
    refinery::embed_migrations!("sql");
}

/// A database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or did not answer in time.
    #[error("database unavailable during {op}")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The driver's error, if any (none for a timeout).
        #[source]
        source: Option<mysql_async::Error>,
    },
    /// The database answered with an error.
    #[error("database error during {op}")]
    Query {
        /// What was being done.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },
}

impl DbError {
    /// Wrap a driver error, telling an outage from a rejected statement
    /// ([`retry::unavailable`]). A server that refuses us (too many connections, a locked or
    /// denied user, shutting down: [`retry::REFUSED`]) and the transient errors that prove
    /// nothing was committed (deadlocks, certification conflicts) count as an outage: a user
    /// should try again, not see a bug.
    pub fn from_driver(op: &'static str) -> impl FnOnce(mysql_async::Error) -> Self {
        move |source| {
            if retry::unavailable(&source) {
                Self::Unavailable {
                    op,
                    source: Some(source),
                }
            } else {
                Self::Query { op, source }
            }
        }
    }

    /// Wrap a session store error met inside one of the app's transactions.
    pub fn from_store(op: &'static str) -> impl FnOnce(actix_session_mysql::StoreError) -> Self {
        use actix_session_mysql::StoreError;
        move |error| match error {
            StoreError::Database { source, .. } => Self::from_driver(op)(source),
            StoreError::Timeout { .. } => Self::Unavailable { op, source: None },
            other => Self::Query {
                op,
                source: mysql_async::Error::Other(other.to_string().into()),
            },
        }
    }

    /// The driver's error inside, if any (none for a timeout).
    pub fn driver_error(&self) -> Option<&mysql_async::Error> {
        match self {
            Self::Query { source, .. } => Some(source),
            Self::Unavailable { source, .. } => source.as_ref(),
        }
    }

    /// The server's error code, if the server rejected the statement.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Self::Query {
                source: mysql_async::Error::Server(e),
                ..
            } => Some(e.code),
            _ => None,
        }
    }
}

/// Pool options for the app: matched-row counts, and no reset on every return to the pool
/// (the app keeps no per-connection state, and a reset costs a round trip). Pool sizes given
/// in the URL (`?pool_min=..&pool_max=..`) are kept; otherwise each worker's pool holds up to
/// [`DEFAULT_POOL_MAX`] connections.
pub fn pool_opts(url: &str) -> Result<Opts, mysql_async::UrlError> {
    let opts = Opts::from_url(url)?;
    let mut pool = opts
        .pool_opts()
        .clone()
        .with_reset_connection(false)
        .with_inactive_connection_ttl(Duration::from_secs(60));
    if pool.constraints() == PoolConstraints::default() {
        pool = pool.with_constraints(
            PoolConstraints::new(0, DEFAULT_POOL_MAX).expect("0 <= DEFAULT_POOL_MAX"),
        );
    }
    Ok(OptsBuilder::from_opts(opts)
        .client_found_rows(true)
        .pool_opts(pool)
        .into())
}

/// Run `fut` against the database under [`OPERATION_TIMEOUT`].
pub async fn bounded<T>(
    op: &'static str,
    fut: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    tokio::time::timeout(OPERATION_TIMEOUT, fut)
        .await
        .unwrap_or(Err(DbError::Unavailable { op, source: None }))
}

/// Run `work` on a pooled connection, again when `replay` allows it, all attempts and the
/// waits for connections sharing one [`OPERATION_TIMEOUT`].
///
/// `work` may run a whole transaction: a certification conflict reported at `COMMIT` rolled
/// all of it back, and it runs again from the start. (The pool checks an idle connection
/// before handing it out, so the connection after a broken one is a live one.)
pub async fn run<T, Fut>(
    pool: &Pool,
    op: &'static str,
    replay: Replay,
    work: impl Fn(Conn) -> Fut,
) -> Result<T, DbError>
where
    Fut: Future<Output = Result<T, mysql_async::Error>>,
{
    bounded(op, async {
        retry::run(pool, op, replay, work)
            .await
            .map_err(DbError::from_driver(op))
    })
    .await
}

/// Run one statement and return the affected-row count. Every write counts as
/// [`Replay::NotTwice`]: after a broken connection it is not repeated.
pub async fn exec(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<u64, DbError> {
    exec_with(pool, op, sql, params, |conn| conn.affected_rows()).await
}

/// Run one statement and return the OK packet's insert id (0 if none): the row's
/// `AUTO_INCREMENT` value, or the value a `LAST_INSERT_ID(expr)` in the statement chose (a
/// [`Replay::NotTwice`]).
pub async fn exec_insert_id(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<u64, DbError> {
    exec_with(pool, op, sql, params, |conn| {
        conn.last_insert_id().unwrap_or(0)
    })
    .await
}

async fn exec_with<T>(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
    outcome: impl Fn(&Conn) -> T,
) -> Result<T, DbError> {
    let (params, outcome) = (&params.into(), &outcome);
    run(pool, op, Replay::NotTwice, |mut conn| async move {
        conn.exec_drop(sql, params.clone()).await?;
        Ok(outcome(&conn))
    })
    .await
}

/// Run `work` in a transaction on a pooled connection and commit it if `work` succeeds (an
/// error rolls it back). A transaction the server rolled back (a deadlock, a certification
/// conflict at `COMMIT`) runs again from the start, as [`retry::run`] decides for a
/// [`Replay::NotTwice`]; after a broken connection it is not repeated, since it may have
/// committed. The waits for connections, every run and every commit share one
/// [`OPERATION_TIMEOUT`].
pub async fn transaction<T>(
    pool: &Pool,
    op: &'static str,
    work: impl AsyncFn(&mut Transaction<'_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let work = &work;
    bounded(op, async {
        retry::run(pool, op, Replay::NotTwice, |mut conn| async move {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let value = work(&mut tx).await.map_err(TxFailure::Work)?;
            tx.commit().await?;
            Ok(value)
        })
        .await
        .map_err(|failure| match failure {
            TxFailure::Driver(error) => DbError::from_driver(op)(error),
            TxFailure::Work(error) => error,
        })
    })
    .await
}

/// How one run of a [`transaction`] failed: in a statement of its own (wrapped with the
/// operation afterwards), or in the caller's work, already wrapped.
#[derive(Debug)]
enum TxFailure {
    Driver(mysql_async::Error),
    Work(DbError),
}

impl From<mysql_async::Error> for TxFailure {
    fn from(error: mysql_async::Error) -> Self {
        Self::Driver(error)
    }
}

impl std::fmt::Display for TxFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Driver(error) => error.fmt(f),
            Self::Work(error) => match error.driver_error() {
                Some(driver) => write!(f, "{error}: {driver}"),
                None => error.fmt(f),
            },
        }
    }
}

impl retry::Retryable for TxFailure {
    fn driver_error(&self) -> Option<&mysql_async::Error> {
        match self {
            Self::Driver(error) => Some(error),
            Self::Work(error) => error.driver_error(),
        }
    }
}

/// Run one query and return its first row, if any (a [`Replay::Idempotent`]). Columns are read
/// with [`take`], which never panics on an unexpected type.
pub async fn first_row(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Option<Row>, DbError> {
    let params = &params.into();
    run(pool, op, Replay::Idempotent, |mut conn| async move {
        conn.exec_first(sql, params.clone()).await
    })
    .await
}

/// Column `index` of `row` as a `T`, or an error naming `op` if it is missing or of another
/// type.
pub fn take<T: FromValue>(row: &mut Row, index: usize, op: &'static str) -> Result<T, DbError> {
    row.take_opt(index)
        .and_then(Result::ok)
        .ok_or(DbError::Query {
            op,
            source: mysql_async::Error::Other("unexpected column type".into()),
        })
}

/// Whether the database answers.
pub async fn ping(pool: &Pool) -> bool {
    bounded("ping", async {
        let mut conn = pool
            .get_conn()
            .await
            .map_err(DbError::from_driver("ping"))?;
        conn.ping().await.map_err(DbError::from_driver("ping"))
    })
    .await
    .is_ok()
}

/// Create the database named in `opts` if it does not exist.
pub async fn create_database(opts: &Opts) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let name = opts.db_name().context("DATABASE_URL names no database")?;
    anyhow::ensure!(
        !name.contains('`'),
        "the database name in DATABASE_URL contains a backtick"
    );
    let server = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let mut conn = Conn::new(server).await.map_err(|error| {
        let hint = connect_hint(&error, opts);
        anyhow::Error::new(error).context(hint)
    })?;
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .await
    .with_context(|| format!("could not create database {name}"))?;
    conn.disconnect().await.ok();
    Ok(())
}

/// What to do when the first connection fails, in one sentence.
fn connect_hint(error: &mysql_async::Error, opts: &Opts) -> String {
    let code = match error {
        mysql_async::Error::Server(e) => Some(e.code),
        _ => None,
    };
    let user = opts.user().unwrap_or("");
    match code {
        // Debian's and Ubuntu's MariaDB let root in through the unix socket only.
        Some(1698 | 1045 | 1130) if user == "root" && opts.pass().is_none() => format!(
            "MySQL refused user root without a password over TCP. On Debian and Ubuntu root \
             signs in through the unix socket only; on a development machine, let it in over \
             TCP too: {FIRST_START_COMMAND} (or set DATABASE_URL to a user of your own)"
        ),
        Some(code) if retry::REFUSED.contains(&code) => format!(
            "MySQL refused the connection as user {user:?} (check DATABASE_URL's user, \
             password and host, and that the user may connect)"
        ),
        Some(_) => "MySQL refused the connection (check DATABASE_URL)".to_owned(),
        None => "could not connect to MySQL (is it running? check DATABASE_URL)".to_owned(),
    }
}

/// The one command that makes the default `DATABASE_URL` (`root` without a password on
/// `127.0.0.1`) work on a fresh Debian or Ubuntu MariaDB, for development.
pub const FIRST_START_COMMAND: &str = "sudo mariadb -e \"ALTER USER root@localhost IDENTIFIED \
     VIA unix_socket OR mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS \
     root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT \
     OPTION\"";

/// How long a database created at start may take to reach every node of a cluster. On Galera,
/// `CREATE DATABASE` returns once its own node has run it; a connection the proxy sends to
/// another node can be told "unknown database" for a moment after.
const NEW_DATABASE_GRACE: Duration = Duration::from_secs(10);

/// MySQL's and MariaDB's "Unknown database".
const ER_BAD_DB: u16 = 1049;

/// Run `prepare` (migrations, the session table) on the database [`create_database`] has just
/// made sure of, again while it fails with "unknown database" during the first 10 s:
/// the node that answered has not run the `CREATE DATABASE` yet.
pub async fn on_new_database<T, Fut>(prepare: impl Fn() -> Fut) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let since = std::time::Instant::now();
    let mut said = false;
    loop {
        match prepare().await {
            Err(error) if unknown_database(&error) && since.elapsed() < NEW_DATABASE_GRACE => {
                if !said {
                    tracing::info!("the new database has not reached this node yet; waiting");
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// Whether the server said, anywhere in `error`'s chain, that the database does not exist.
fn unknown_database(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<mysql_async::Error>(),
            Some(mysql_async::Error::Server(e)) if e.code == ER_BAD_DB
        )
    })
}

/// Apply the app's migrations from `sql/`.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut pool = pool.clone();
    let report = embedded::migrations::runner()
        .run_async(&mut pool)
        .await
        .context("database migration failed")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "migration applied");
    }
    Ok(())
}
