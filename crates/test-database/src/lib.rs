//! A fresh database per test on the server at `TEST_DATABASE_URL`
//! (default `mysql://root@127.0.0.1:3306`), dropped when the [`TestDatabase`] is dropped.
//!
//! If no server answers, [`TestDatabase::create`] panics with one line saying how to start
//! one: tests fail loudly, they never skip.

#![allow(clippy::unwrap_used)] // test support: a failure here should fail the test

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints};
use rand::distr::{Alphanumeric, SampleString};

/// The server tests run against when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306";

/// The most connections a [`TestDatabase::pool`] opens. mysql_async's default is 100, and
/// the tests of a binary run in parallel against one server: two tests with a hundred tasks
/// each went past MariaDB's default `max_connections` (151) and failed with error 1040.
pub const POOL_MAX: usize = 16;

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    server: Opts,
}

impl TestDatabase {
    /// Create an empty database with a random name.
    pub async fn create() -> Self {
        let server = server_opts();
        let name = format!(
            "test_{}",
            Alphanumeric
                .sample_string(&mut rand::rng(), 16)
                .to_lowercase()
        );
        let mut conn = match mysql_async::Conn::new(server.clone()).await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "no MySQL/MariaDB server at TEST_DATABASE_URL ({}): {e}. Start one, e.g. \
                 `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql`, \
                 or point TEST_DATABASE_URL at a server where the user may create databases",
                describe(&server)
            ),
        };
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await
        .unwrap();
        conn.disconnect().await.unwrap();
        Self { name, server }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection options for this database.
    pub fn opts(&self) -> Opts {
        OptsBuilder::from_opts(self.server.clone())
            .db_name(Some(&self.name))
            .into()
    }

    /// A `mysql://` URL for this database.
    pub fn url(&self) -> String {
        let o = &self.server;
        let auth = match (o.user(), o.pass()) {
            (Some(u), Some(p)) => format!("{u}:{p}@"),
            (Some(u), None) => format!("{u}@"),
            _ => String::new(),
        };
        format!(
            "mysql://{auth}{}:{}/{}",
            o.ip_or_hostname(),
            o.tcp_port(),
            self.name
        )
    }

    /// A new pool on this database (on the current runtime), of at most [`POOL_MAX`]
    /// connections unless `TEST_DATABASE_URL` sizes pools itself (`?pool_max=`).
    pub fn pool(&self) -> Pool {
        let opts = self.opts();
        if opts.pool_opts().constraints() != PoolConstraints::default() {
            return Pool::new(opts);
        }
        let constraints = PoolConstraints::new(0, POOL_MAX).expect("0 <= POOL_MAX");
        let pool_opts = opts.pool_opts().clone().with_constraints(constraints);
        Pool::new(OptsBuilder::from_opts(opts).pool_opts(pool_opts))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context we could borrow, so the DROP gets a tiny
        // runtime of its own on a plain thread.
        let server = self.server.clone();
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut conn = mysql_async::Conn::new(server).await?;
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
                conn.disconnect().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// The server's options from `TEST_DATABASE_URL`.
pub fn server_opts() -> Opts {
    let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    Opts::from_url(&url).unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not a mysql:// URL: {e}"))
}

fn describe(o: &Opts) -> String {
    format!("{}:{}", o.ip_or_hostname(), o.tcp_port())
}
