//! Connections: pool options, creating the database, migrations, and the bounded wait that
//! turns an unreachable MySQL into a quick "unavailable" instead of a hung request.

use std::future::Future;
use std::time::Duration;

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
    /// Wrap a driver error, telling an outage from a rejected statement.
    pub fn from_driver(op: &'static str) -> impl FnOnce(mysql_async::Error) -> Self {
        move |source| match source {
            mysql_async::Error::Server(_) => Self::Query { op, source },
            source => Self::Unavailable {
                op,
                source: Some(source),
            },
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

/// Run one statement and return the affected-row count. The wait for a pooled connection and
/// the statement share one [`OPERATION_TIMEOUT`].
pub async fn exec(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<u64, DbError> {
    exec_with(pool, op, sql, params, |conn| conn.affected_rows()).await
}

/// Run one statement and return the OK packet's insert id (0 if none): the row's
/// `AUTO_INCREMENT` value, or the value a `LAST_INSERT_ID(expr)` in the statement chose.
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
    outcome: impl FnOnce(&Conn) -> T,
) -> Result<T, DbError> {
    bounded(op, async {
        let mut conn = pool.get_conn().await.map_err(DbError::from_driver(op))?;
        conn.exec_drop(sql, params)
            .await
            .map_err(DbError::from_driver(op))?;
        Ok(outcome(&conn))
    })
    .await
}

/// Run `work` in a transaction on a pooled connection and commit it if `work` succeeds (an
/// error rolls it back). The wait for the connection, `work` and the commit share one
/// [`OPERATION_TIMEOUT`].
pub async fn transaction<T>(
    pool: &Pool,
    op: &'static str,
    work: impl AsyncFnOnce(&mut Transaction<'_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    bounded(op, async {
        let mut conn = pool.get_conn().await.map_err(DbError::from_driver(op))?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(DbError::from_driver(op))?;
        let value = work(&mut tx).await?;
        tx.commit().await.map_err(DbError::from_driver(op))?;
        Ok(value)
    })
    .await
}

/// Run one query and return its first row, if any, under one [`OPERATION_TIMEOUT`]. Columns
/// are read with [`take`], which never panics on an unexpected type.
pub async fn first_row(
    pool: &Pool,
    op: &'static str,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Option<Row>, DbError> {
    bounded(op, async {
        let mut conn = pool.get_conn().await.map_err(DbError::from_driver(op))?;
        conn.exec_first(sql, params)
            .await
            .map_err(DbError::from_driver(op))
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
    let mut conn = Conn::new(server)
        .await
        .context("could not connect to MySQL (is it running? check DATABASE_URL)")?;
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .await
    .with_context(|| format!("could not create database {name}"))?;
    conn.disconnect().await.ok();
    Ok(())
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
