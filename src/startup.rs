//! Assembling the app: pools, the session store, middleware, routes, and the server.

use std::net::TcpListener;

use actix_identity::{Identity, IdentityMiddleware};
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::{Session, SessionMiddleware};
use actix_session_mysql::{CleanupTask, MySqlSessionStore};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use mysql_async::{Opts, Pool};

use crate::auth::{self, require_member};
use crate::config::Settings;
use crate::csrf::{self, CsrfSigner};
use crate::db;
use crate::errors::error_page;
use crate::password::Hasher;
use crate::routes::{account, assets, health, home, login, logout, register, sessions};
use crate::templates::{render, ErrorPage, Layout};
use crate::throttle;

/// The session table's name.
pub const SESSION_TABLE: &str = "sessions";

/// What handlers share. One per worker: `pool` and `store` belong to the worker's runtime.
pub struct AppState {
    /// The worker's pool.
    pub pool: Pool,
    /// The session store on the worker's pool (for per-user session operations).
    pub store: MySqlSessionStore,
    /// Password hashing, shared by all workers.
    pub hasher: Hasher,
    /// The session key (to read this request's session id from its cookie).
    pub key: Key,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Create the database if needed, run the migrations, create the session table.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<(Opts, MySqlSessionStore)> {
    let opts = db::pool_opts(&settings.database_url).context("DATABASE_URL")?;
    db::create_database(&opts).await?;
    let pool = Pool::new(opts.clone());
    db::migrate(&pool).await?;
    let store = MySqlSessionStore::builder(pool)
        .table_name(SESSION_TABLE)
        .touch_interval(settings.touch_interval)
        .operation_timeout(db::OPERATION_TIMEOUT)
        .build()
        .await
        .context("could not prepare the session table")?;
    Ok((opts, store))
}

/// A built server, bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    cleanup: CleanupTask,
    throttle_purge: tokio::task::JoinHandle<()>,
    store: MySqlSessionStore,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
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
        let cleanup = store.spawn_cleanup();
        let throttle_purge = throttle::spawn_purge(
            store.pool().clone(),
            std::time::Duration::from_secs(15 * 60),
        );
        let server = server(listener, settings, opts, store.clone())?;
        Ok(Self {
            port,
            server,
            cleanup,
            throttle_purge,
            store,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGTERM or SIGINT; in-flight requests finish, then the pools close.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.cleanup.stop().await;
        self.throttle_purge.abort();
        self.store.pool().clone().disconnect().await.ok();
        served.context("the HTTP server failed")
    }
}

fn server(
    listener: TcpListener,
    settings: Settings,
    opts: Opts,
    store: MySqlSessionStore,
) -> anyhow::Result<Server> {
    let hasher = Hasher::new();
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
        });
        let sessions =
            SessionMiddleware::builder(state.store.clone(), settings.session_key.clone())
                .cookie_name(auth::SESSION_COOKIE.to_owned())
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
        App::new()
            .app_data(state)
            .app_data(signer.clone())
            .app_data(frontend.clone())
            .app_data(csrf::payload_config())
            .wrap(identity)
            .wrap(sessions)
            .wrap(from_fn(error_pages))
            .wrap(security_headers())
            .wrap(tracing_actix_web::TracingLogger::default())
            .configure(routes)
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

fn cookie_duration(d: std::time::Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::check))
        .route("/static/style.css", web::get().to(assets::style))
        .service(web::resource("/login").get(login::form).post(login::submit))
        .service(
            web::resource("/register")
                .get(register::form)
                .post(register::submit),
        )
        .service(web::resource("/logout").post(logout::submit))
        .service(
            web::resource("/")
                .wrap(from_fn(require_member))
                .get(home::page),
        )
        .service(
            web::resource("/account/password")
                .wrap(from_fn(require_member))
                .get(account::form)
                .post(account::submit),
        )
        .service(
            web::resource("/sessions")
                .wrap(from_fn(require_member))
                .get(sessions::list),
        )
        .service(
            web::resource("/sessions/revoke")
                .wrap(from_fn(require_member))
                .post(sessions::revoke),
        )
        .service(
            web::resource("/sessions/revoke-others")
                .wrap(from_fn(require_member))
                .post(sessions::revoke_others),
        )
        .default_service(web::to(not_found));
}

/// Headers on every response: no inline anything, no framing, no caching of pages that carry
/// session content (only the stylesheet sets its own caching, which these do not override).
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// The 404 page, with the signed-in header (and its "Sign out") for a signed-in visitor. Reads
/// only the session that the middleware has already loaded.
async fn not_found(identity: Option<Identity>, session: Session) -> HttpResponse {
    let mut page = ErrorPage::for_status(StatusCode::NOT_FOUND);
    let csrf: Option<String> = session.get(csrf::SESSION_KEY).ok().flatten();
    if let (Some(_), Some(csrf)) = (identity, csrf) {
        page.layout = Layout::member(&csrf);
    }
    render(StatusCode::NOT_FOUND, &page)
}

fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, &pair| headers.add(pair))
}

/// Turns every error into an HTML page: errors raised by middleware (actix-session answers a
/// store failure with an empty 500) become a 503 page with `Retry-After`, and bare error
/// responses from actix itself (404, 405, extractor errors) get the page for their status.
async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match next.call(req).await {
        Ok(response) => {
            let status = response.status();
            let is_html = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
            if !(status.is_client_error() || status.is_server_error()) || is_html {
                return Ok(response.map_into_boxed_body());
            }
            let (http, original) = response.into_parts();
            let mut page = error_page(status);
            for (name, value) in original.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    page.headers_mut().append(name.clone(), value.clone());
                }
            }
            Ok(ServiceResponse::new(http, page))
        }
        Err(error) => {
            // The request is gone with the error, so the page travels inside the error; the
            // outer header middleware does not see it, hence the headers here.
            tracing::warn!(error = %error, cause = ?error, "middleware failed");
            let status = error.as_response_error().status_code();
            let status = if status.is_server_error() {
                // The only middleware that fails with a 5xx is the session store's.
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                status
            };
            let mut page = error_page(status);
            for (name, value) in SECURITY_HEADERS {
                page.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                );
            }
            Err(actix_web::error::InternalError::from_response(error.to_string(), page).into())
        }
    }
}
