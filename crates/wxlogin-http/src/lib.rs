//! wxlogin's HTTP API: routes, the error registry, middleware and the server loop.
//!
//! Handlers are thin: they extract, call [`LoginService`], and convert its errors with the
//! `From` impls in `mapping.rs` — the one place statuses are decided. Error bodies are written
//! by [`render_errors`] so they all carry the request id. [`app`] builds the router (tests
//! drive it directly), [`serve`] runs it on a bound listener until a shutdown signal.

mod client_ip;
mod error;
mod error_codes;
mod extract;
mod mapping;
mod middleware;
pub mod openapi;
mod routes;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use wxlogin_clock::OffsetClock;
use wxlogin_domain::{JwtKeys, Limit, LoginService, OpenData, RateLimiter};

pub use axum::http::HeaderName;
pub use client_ip::TrustedProxies;
pub use error::{ApiError, ErrorCode, REQUEST_ID_HEADER, render_errors};
pub use extract::{ApiJson, Bearer};
pub use routes::auth::{
    APPID_HEADER, IDENTITY_HEADERS, OPENID_HEADER, SESSION_ID_HEADER, UNIONID_HEADER,
    USER_ID_HEADER,
};
pub use routes::oauth::{ServiceClient, ServiceClients};

/// The largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How the HTTP layer behaves; everything else lives in the [`LoginService`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub trusted_proxies: TrustedProxies,
    /// Failed logins per client IP (default 30 per minute).
    pub failed_login_limit: Limit,
    /// Logins per appid; off (`max = 0`) by default so one attacker cannot lock out an app.
    pub app_login_limit: Limit,
    /// One info line per request.
    pub access_log: bool,
    /// Every request must finish within this.
    pub request_timeout: Duration,
    /// Set with `--test-clock`: enables `POST /dev/clock`.
    pub test_clock: Option<Arc<OffsetClock>>,
    /// `GET /v1/auth` reads the token from this header when there is no `Authorization`
    /// (`forward_auth.token_header`, for legacy clients); off by default.
    pub forward_auth_token_header: Option<HeaderName>,
    /// Who may call `/oauth2/introspect` and `/oauth2/revoke`; nobody by default.
    pub service_clients: ServiceClients,
    /// JWT mode (`[jwt] enabled`): access JWTs beside rotating refresh tokens. Off by default.
    pub jwt: Option<JwtKeys>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: TrustedProxies::default(),
            failed_login_limit: Limit {
                max: 30,
                window: Duration::from_secs(60),
            },
            app_login_limit: Limit {
                max: 0,
                window: Duration::from_secs(60),
            },
            access_log: false,
            request_timeout: Duration::from_secs(30),
            test_clock: None,
            forward_auth_token_header: None,
            service_clients: ServiceClients::default(),
            jwt: None,
        }
    }
}

/// What every handler gets. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    service: LoginService,
    open_data: OpenData,
    settings: Arc<HttpSettings>,
    failed_logins: Arc<RateLimiter<IpAddr>>,
    app_logins: Arc<RateLimiter<String>>,
}

impl AppState {
    pub fn new(service: LoginService, open_data: OpenData, settings: HttpSettings) -> Self {
        Self {
            open_data,
            failed_logins: Arc::new(RateLimiter::new(
                "failed-logins",
                settings.failed_login_limit,
                service.coordinator(),
            )),
            app_logins: Arc::new(RateLimiter::new(
                "app-logins",
                settings.app_login_limit,
                service.coordinator(),
            )),
            settings: Arc::new(settings),
            service,
        }
    }

    fn now_ms(&self) -> i64 {
        (self.service.clock().now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Drops finished rate-limit windows; call periodically so memory stays bounded.
    pub fn forget_expired_limits(&self) {
        let now = self.now_ms();
        self.failed_logins.forget_expired(now);
        self.app_logins.forget_expired(now);
    }
}

/// The router with every route and the production middleware.
pub fn app(state: AppState) -> Router {
    let access_log = state.settings.access_log;
    let request_timeout = state.settings.request_timeout;
    let sensitive_headers: Vec<HeaderName> = std::iter::once(header::AUTHORIZATION)
        .chain(state.settings.forward_auth_token_header.clone())
        .collect();
    let router = Router::new()
        .route("/v1/login", post(routes::login::login))
        .route("/v1/session", get(routes::session::session))
        .route("/v1/logout", post(routes::session::logout))
        .route("/v1/me", delete(routes::session::delete_me))
        .route("/v1/decrypt", post(routes::open_data::decrypt))
        .route("/v1/phone", post(routes::open_data::phone))
        .route("/v1/session/check", get(routes::open_data::check))
        .route("/v1/auth", get(routes::auth::auth))
        .route("/oauth2/introspect", post(routes::oauth::introspect))
        .route("/oauth2/revoke", post(routes::oauth::revoke))
        .route(routes::jwt::TOKEN_PATH, post(routes::jwt::refresh))
        .route(routes::jwt::JWKS_PATH, get(routes::jwt::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(routes::jwt::openid_configuration),
        )
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/openapi.json", get(routes::ops::openapi))
        .route("/dev/clock", post(routes::ops::advance_clock))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .with_state(state)
        // Innermost first: limits and panics become bare statuses that render_errors dresses.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ));
    let router = if access_log {
        router.layer(axum::middleware::from_fn(middleware::access_log))
    } else {
        router
    };
    router
        .layer(axum::middleware::from_fn(render_errors))
        .layer(axum::middleware::from_fn(middleware::assign_request_id))
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive_headers))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish for at most `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            stopping.notify_one();
        }
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown grace period over; dropping remaining connections");
            Ok(())
        }
    }
}
