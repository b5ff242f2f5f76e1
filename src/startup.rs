//! Building and running the server: pools, the session store, the middleware stack, and the
//! background tasks. What the app serves is in `crate::web::routes`.

use std::net::TcpListener;

use std::time::Duration;

use actix_identity::IdentityMiddleware;
use actix_session_mysql::MySqlSessionStore;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use anyhow::Context as _;
use mysql_async::{Opts, Pool};

use crate::breaches::BreachedPasswords;
use crate::config::Settings;
use crate::data::{self, Outbox};
use crate::domain::{Hasher, MailSeal, PasswordPolicy};
use crate::mail::{Sender, Transport};
use crate::tasks::Tasks;
use crate::telemetry::{self, Metrics, StoreOp, TimedStore, SESSIONS_ACTIVE_EVERY};
use crate::web::{self, AccountGate, AppState, CsrfSigner, SignInIpLimit};

/// The session table's name.
pub const SESSION_TABLE: &str = "sessions";

/// How often expired sessions are deleted.
pub const SESSION_CLEANUP_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How often stale sign-in throttle rows are deleted.
const THROTTLE_PURGE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How often security events older than their retention are deleted.
const EVENTS_PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How often used and expired links, and failed mails older than a week, are deleted.
const MAIL_PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How often the per-IP limiter forgets addresses whose allowance is full again.
const IP_LIMIT_HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// Create the database if needed, run the migrations, create the session table.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<(Opts, MySqlSessionStore)> {
    let opts = data::pool_opts(&settings.database_url).context("DATABASE_URL")?;
    data::create_database(&opts).await?;
    let pool = Pool::new(opts.clone());
    let store = data::on_new_database(|| async {
        data::migrate(&pool).await?;
        MySqlSessionStore::builder(pool.clone())
            .table_name(SESSION_TABLE)
            .touch_interval(settings.touch_interval)
            .cleanup_interval(SESSION_CLEANUP_INTERVAL)
            .operation_timeout(data::OPERATION_TIMEOUT)
            // Row format 2. The release before this one already reads it, so this one, a
            // rollback to that one, and both side by side in a rolling upgrade all read every
            // row (docs/performance.md, cut 2).
            .compact_state(true)
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
    tasks: Tasks,
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
        let ip_limit = SignInIpLimit::new(settings.login_ip_limit);
        let outbox = outbox_for(&settings, port);
        let transport = Transport::from_setting(&settings.mail.transport)?;
        if transport.is_none() {
            tracing::warn!(
                "e-mail is off (SMTP_URL=off, or production without SMTP_URL): no address \
                 verification, no password reset by mail, no notices"
            );
        }
        // Counting live sessions costs an index scan: only when someone can read the result.
        let served_metrics = metrics_listener.is_some().then(|| metrics.clone());
        let mut tasks = background_tasks(&store, served_metrics, &ip_limit);
        if let Some(transport) = transport {
            let sender = Sender::new(
                store.pool().clone(),
                transport,
                outbox.seal().clone(),
                settings.mail.from.clone(),
                metrics.clone(),
                outbox.wake_signal(),
            );
            tasks.until_shutdown(|shutdown| sender.run(shutdown.wait()));
        }
        let metrics_server = metrics_listener
            .map(|l| telemetry::server(l, metrics.clone(), hasher.clone()))
            .transpose()?;
        let server = server(
            listener,
            settings,
            opts,
            store.clone(),
            metrics,
            hasher,
            ip_limit,
            outbox,
        )?;
        Ok(Self {
            port,
            server,
            metrics_port,
            metrics_server,
            tasks,
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

    /// Serve until SIGTERM or SIGINT; in-flight requests finish, then the background jobs
    /// stop and the pools close.
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
        self.tasks.shutdown().await;
        self.store.pool().clone().disconnect().await.ok();
        served.context("the HTTP server failed")
    }
}

/// The outbox of an instance listening on `port`: links start with `PUBLIC_ORIGIN`, or, in
/// development without it, with the listen address (never with a request's `Host`). The
/// command line queues its notices through one too (a running instance delivers them).
pub fn outbox_for(settings: &Settings, port: u16) -> Outbox {
    let origin = match &settings.frontend.public_origin {
        Some(origin) => origin.to_string(),
        None => {
            let ip = settings.bind.ip();
            let host = if ip.is_unspecified() {
                "localhost".to_owned()
            } else if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!("http://{host}:{port}")
        }
    };
    Outbox::new(
        MailSeal::from_session_key(settings.session_key.master()),
        origin,
        settings.mail.is_on(),
        settings.mail.reset_ttl,
        settings.mail.verify_ttl,
    )
}

/// Every background job of an instance, on the current runtime (the store's pool belongs to
/// it): expired-session cleanup (timed as `op="cleanup"`), the purges of stale throttle rows,
/// old events, old links and failed mails, the per-IP limiter's housekeeping, and, when
/// `metrics` are served, the live-session and outbox gauges. (The mail sender is started
/// beside them when e-mail is on.)
fn background_tasks(
    store: &MySqlSessionStore,
    metrics: Option<Metrics>,
    ip_limit: &SignInIpLimit,
) -> Tasks {
    let mut tasks = Tasks::new();
    let cleanup_metrics = metrics.clone();
    let cleanup = store.spawn_cleanup_with(move |took| {
        if let Some(metrics) = &cleanup_metrics {
            metrics.store_op(StoreOp::Cleanup, took);
        }
    });
    tasks.until_shutdown(|shutdown| async move {
        shutdown.wait().await;
        cleanup.stop().await;
    });
    let pool = store.pool().clone();
    tasks.every(THROTTLE_PURGE_INTERVAL, move || {
        let pool = pool.clone();
        async move {
            log_purge(
                "stale sign-in throttle rows",
                data::purge_stale_attempts(&pool).await,
            )
        }
    });
    let pool = store.pool().clone();
    tasks.every(EVENTS_PURGE_INTERVAL, move || {
        let pool = pool.clone();
        async move { log_purge("old security events", data::purge_old_events(&pool).await) }
    });
    let pool = store.pool().clone();
    tasks.every(MAIL_PURGE_INTERVAL, move || {
        let pool = pool.clone();
        async move {
            log_purge("used and expired links", data::purge_old_links(&pool).await);
            log_purge("failed mails", data::purge_failed_mail(&pool).await);
        }
    });
    let limit = ip_limit.clone();
    tasks.every(IP_LIMIT_HOUSEKEEPING_INTERVAL, move || {
        limit.forget_idle();
        std::future::ready(())
    });
    if let Some(metrics) = metrics {
        let store = store.clone();
        tasks.every(SESSIONS_ACTIVE_EVERY, move || {
            let (store, metrics) = (store.clone(), metrics.clone());
            async move {
                match store.count_live_sessions().await {
                    Ok(live) => metrics.set_sessions_active(live),
                    Err(error) => tracing::warn!(
                        error = %error,
                        "could not count live sessions; the gauge keeps its last value"
                    ),
                }
                match data::mail_status(store.pool()).await {
                    Ok(status) => metrics.set_mail_outbox(status.waiting, status.failed),
                    Err(error) => tracing::warn!(
                        error = ?error,
                        "could not count the mail outbox; the gauges keep their last values"
                    ),
                }
            }
        });
    }
    tasks
}

/// Descriptors kept back from connections: database pools, the metrics listener, log and
/// migration files, the hashing threads' and the runtime's own.
const RESERVED_DESCRIPTORS: u64 = 256;
/// actix-web's own per-worker default, the most we ever allow.
const MAX_CONNECTIONS_PER_WORKER: usize = 25_000;

/// Open connections each worker accepts: three quarters of the descriptors the process may
/// open (`RLIMIT_NOFILE`, less [`RESERVED_DESCRIPTORS`]), shared by the workers. Beyond it a
/// worker stops accepting until a connection closes, so a flood of idle or stalled clients
/// queues in the kernel's backlog instead of running the process out of descriptors (where
/// every new database connection, and so every page, would fail).
fn connections_per_worker(workers: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let usable = limit.saturating_sub(RESERVED_DESCRIPTORS) / 4 * 3;
    let per_worker = usable / u64::try_from(workers.max(1)).unwrap_or(1);
    usize::try_from(per_worker)
        .unwrap_or(usize::MAX)
        .clamp(16, MAX_CONNECTIONS_PER_WORKER)
}

/// Log a purge's outcome: how many `what` were deleted, or why it failed (it runs again at
/// the next tick).
fn log_purge(what: &'static str, result: Result<u64, data::DbError>) {
    match result {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "{what} deleted"),
        Err(error) => tracing::warn!(error = ?error, "purging {what} failed"),
    }
}

#[allow(clippy::too_many_arguments)] // the parts `Application::build` made, each handed over once
fn server(
    listener: TcpListener,
    settings: Settings,
    opts: Opts,
    store: MySqlSessionStore,
    metrics: Metrics,
    hasher: Hasher,
    ip_limit: SignInIpLimit,
    outbox: Outbox,
) -> anyhow::Result<Server> {
    let signer = actix_web::web::Data::new(CsrfSigner::new(
        &settings.session_key,
        settings.secure_cookies(),
    ));
    let frontend = actix_web::web::Data::new(settings.frontend.clone());
    let account_gate = AccountGate::default();
    let breaches = settings
        .pwned_passwords_url
        .as_deref()
        .map(BreachedPasswords::new)
        .transpose()?;
    if let Some(url) = &settings.pwned_passwords_url {
        tracing::info!(service = %url, "new passwords are looked up in a breached-password list");
    }
    let reset_lookups = std::sync::Arc::new(tokio::sync::Semaphore::new(web::RESET_LOOKUPS));
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let per_worker = connections_per_worker(workers);
    tracing::info!(
        workers,
        connections = workers * per_worker,
        "accepting at most this many open connections"
    );
    let server = HttpServer::new(move || {
        // mysql_async pools must not cross tokio runtimes: each worker gets its own.
        let pool = Pool::new(opts.clone());
        let state = actix_web::web::Data::new(AppState {
            store: store.with_pool(pool.clone()),
            pool,
            hasher: hasher.clone(),
            key: settings.session_key.clone(),
            member_recheck: settings.touch_interval,
            ip_limit: ip_limit.clone(),
            account_gate: account_gate.clone(),
            password_policy: PasswordPolicy::new(settings.password_min_score),
            breaches: breaches.clone(),
            max_sessions: settings.max_sessions_per_member,
            metrics: metrics.clone(),
            absolute_timeout: settings.absolute_timeout,
            remember_for: settings.remember_for,
            totp_keys: settings.totp_keys.clone(),
            totp_key_ephemeral: settings.totp_key_ephemeral,
            secure_cookies: settings.secure_cookies(),
            outbox: outbox.clone(),
            reset_lookups: reset_lookups.clone(),
        });
        let timed_store = TimedStore::new(state.store.clone(), metrics.clone());
        let sessions = web::session_middleware(
            timed_store,
            settings.session_key.clone(),
            settings.secure_cookies(),
            settings.idle_timeout,
        );
        // actix-identity's deadline is one for all sessions: the longest one any session may
        // have, a backstop. Each session's own (absolute timeout, or REMEMBER_FOR for a
        // remembered one) is kept in the session and checked by `require_member`.
        let longest = settings
            .remember_for
            .map_or(settings.absolute_timeout, |r| {
                r.max(settings.absolute_timeout)
            });
        let identity = IdentityMiddleware::builder()
            .login_deadline(Some(longest))
            .visit_deadline(None)
            .build();
        let mut app = App::new()
            .app_data(state)
            .app_data(signer.clone())
            .app_data(frontend.clone())
            .app_data(web::payload_config());
        // Timing requests costs a route lookup and a histogram update per request: only when
        // someone can read the result (`time_requests` passes requests through without it).
        if settings.metrics_bind.is_some() {
            app = app.app_data(metrics.clone());
        }
        app.wrap(from_fn(web::mark_session_lifetime))
            .wrap(identity)
            .wrap(sessions)
            .wrap(from_fn(web::session_cookie_max_age))
            .wrap(from_fn(web::cap_sessions))
            .wrap(from_fn(web::error_pages))
            .wrap(web::security_headers())
            .wrap(from_fn(telemetry::time_requests))
            .configure(web::configure)
    })
    .workers(workers)
    .max_connections(per_worker)
    // The request head must arrive within 5 s (a body has `BODY_TIMEOUT` after it).
    .client_request_timeout(std::time::Duration::from_secs(5))
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
