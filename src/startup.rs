//! Building and running the server: pools, the session store, the middleware stack, and the
//! background tasks. What the app serves is in [`crate::routes`].

use std::net::TcpListener;

use actix_identity::IdentityMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_session_mysql::MySqlSessionStore;
use actix_web::cookie::{time::Duration as CookieDuration, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use mysql_async::{Opts, Pool};

use crate::config::Settings;
use crate::csrf::{self, CsrfSigner};
use crate::db;
use crate::events;
use crate::ip_limit::SignInIpLimit;
use crate::metrics::{self, Metrics, StoreUpkeep, TimedStore};
use crate::middleware::{error_pages, security_headers};
use crate::password::Hasher;
use crate::routes;
use crate::session::SESSION_COOKIE;
use crate::state::AppState;
use crate::throttle;

/// The session table's name.
pub const SESSION_TABLE: &str = "sessions";

/// How often expired sessions are deleted.
pub const SESSION_CLEANUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Create the database if needed, run the migrations, create the session table.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<(Opts, MySqlSessionStore)> {
    let opts = db::pool_opts(&settings.database_url).context("DATABASE_URL")?;
    db::create_database(&opts).await?;
    let pool = Pool::new(opts.clone());
    let store = db::on_new_database(|| async {
        db::migrate(&pool).await?;
        MySqlSessionStore::builder(pool.clone())
            .table_name(SESSION_TABLE)
            .touch_interval(settings.touch_interval)
            .operation_timeout(db::OPERATION_TIMEOUT)
            .build()
            .await
            .context("could not prepare the session table")
    })
    .await?;
    Ok((opts, store))
}

/// A built server, bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    metrics_port: Option<u16>,
    metrics_server: Option<Server>,
    upkeep: StoreUpkeep,
    throttle_purge: tokio::task::JoinHandle<()>,
    events_purge: tokio::task::JoinHandle<()>,
    ip_limit_housekeeping: tokio::task::JoinHandle<()>,
    store: MySqlSessionStore,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("metrics_port", &self.metrics_port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Prepare the database and bind `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (opts, store) = prepare_database(&settings).await?;
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("could not listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = settings
            .metrics_bind
            .map(|addr| {
                TcpListener::bind(addr)
                    .with_context(|| format!("METRICS_BIND: could not listen on {addr}"))
            })
            .transpose()?;
        let metrics_port = metrics_listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?;
        let metrics = Metrics::new();
        let hasher = Hasher::new();
        // Counting live sessions costs an index scan: only when someone can read the result.
        let upkeep = StoreUpkeep::spawn(
            store.clone(),
            metrics_listener.is_some().then(|| metrics.clone()),
            SESSION_CLEANUP_INTERVAL,
        );
        let throttle_purge = throttle::spawn_purge(
            store.pool().clone(),
            std::time::Duration::from_secs(15 * 60),
        );
        let events_purge = events::spawn_purge(
            store.pool().clone(),
            std::time::Duration::from_secs(60 * 60),
        );
        let ip_limit = SignInIpLimit::new(settings.login_ip_limit);
        let ip_limit_housekeeping = ip_limit.spawn_housekeeping();
        let metrics_server = metrics_listener
            .map(|l| metrics::server(l, metrics.clone(), hasher.clone()))
            .transpose()?;
        let server = server(
            listener,
            settings,
            opts,
            store.clone(),
            metrics,
            hasher,
            ip_limit,
        )?;
        Ok(Self {
            port,
            server,
            metrics_port,
            metrics_server,
            upkeep,
            throttle_purge,
            events_purge,
            ip_limit_housekeeping,
            store,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, if `METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Serve until SIGTERM or SIGINT; in-flight requests finish, then the pools close.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let metrics_server = self.metrics_server.map(|server| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        if let Some((handle, task)) = metrics_server {
            handle.stop(true).await;
            let _ = task.await;
        }
        self.upkeep.stop().await;
        self.throttle_purge.abort();
        self.events_purge.abort();
        self.ip_limit_housekeeping.abort();
        self.store.pool().clone().disconnect().await.ok();
        served.context("the HTTP server failed")
    }
}

fn server(
    listener: TcpListener,
    settings: Settings,
    opts: Opts,
    store: MySqlSessionStore,
    metrics: Metrics,
    hasher: Hasher,
    ip_limit: SignInIpLimit,
) -> anyhow::Result<Server> {
    let signer = web::Data::new(CsrfSigner::new(
        &settings.session_key,
        settings.secure_cookies(),
    ));
    let frontend = web::Data::new(settings.frontend.clone());
    let server = HttpServer::new(move || {
        // mysql_async pools must not cross tokio runtimes: each worker gets its own.
        let pool = Pool::new(opts.clone());
        let state = web::Data::new(AppState {
            store: store.with_pool(pool.clone()),
            pool,
            hasher: hasher.clone(),
            key: settings.session_key.clone(),
            member_recheck: settings.touch_interval,
            ip_limit: ip_limit.clone(),
            max_sessions: settings.max_sessions_per_member,
            metrics: metrics.clone(),
        });
        let timed_store = TimedStore::new(state.store.clone(), metrics.clone());
        let sessions = SessionMiddleware::builder(timed_store, settings.session_key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_path("/".to_owned())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_secure(settings.secure_cookies())
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(cookie_duration(settings.idle_timeout))
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build();
        let identity = IdentityMiddleware::builder()
            .login_deadline(Some(settings.absolute_timeout))
            .visit_deadline(None)
            .build();
        let mut app = App::new()
            .app_data(state)
            .app_data(signer.clone())
            .app_data(frontend.clone())
            .app_data(csrf::payload_config());
        // Timing requests costs a route lookup and a histogram update per request: only when
        // someone can read the result (`time_requests` passes requests through without it).
        if settings.metrics_bind.is_some() {
            app = app.app_data(metrics.clone());
        }
        app.wrap(identity)
            .wrap(sessions)
            .wrap(from_fn(error_pages))
            .wrap(security_headers())
            .wrap(from_fn(metrics::time_requests))
            .configure(routes::configure)
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

fn cookie_duration(d: std::time::Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
