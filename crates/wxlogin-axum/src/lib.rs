//! Know the wxlogin user in an axum backend, with no WeChat code of your own.
//!
//! A mini-program logs in at wxlogin and sends its token to your backend as
//! `Authorization: Bearer <token>`. This crate turns that header into a [`WxUser`] (user id,
//! appid, openid, unionid), in one of two modes:
//!
//! | mode | how | cost per request | a logout is seen |
//! |---|---|---|---|
//! | [local](Verifier::local) | the access JWT (wxlogin's JWT mode) verified against the cached JWKS | one EdDSA verification, no I/O | when the JWT expires: ≤ `access_ttl` + leeway |
//! | [introspection](Verifier::introspection) | `POST /oauth2/introspect` with service credentials | one HTTP call, or none within the cache TTL | at once, or ≤ the cache TTL (5 s by default) |
//!
//! Local mode accepts only EdDSA (so `alg: none` and HMAC tricks fail), the configured issuer,
//! an `aud` among the configured appids, and an unexpired `exp` (at most 60 s of leeway).
//! Keys come from `GET /.well-known/jwks.json`; an unknown `kid` refetches them, at most once
//! every 30 s. Introspection keeps positive answers only, bounded in number and age.
//!
//! A refused token answers **401** with `WWW-Authenticate: Bearer error="invalid_token"` and
//! wxlogin's error body `{"error": {"code": "invalid_token", "message": …}}` (`missing_token`
//! without a token); when wxlogin cannot be reached, **503** `unavailable` with `Retry-After`.
//!
//! # Usage
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use wxlogin_axum::{LocalConfig, Verifier, WxLoginLayer, WxUser};
//!
//! async fn hello(user: WxUser) -> String {
//!     format!("hello, user {} of {}", user.user_id, user.appid)
//! }
//!
//! async fn maybe(user: Option<WxUser>) -> &'static str {
//!     if user.is_some() { "welcome back" } else { "hello, stranger" }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::local(
//!     LocalConfig::new("https://login.internal", ["wx1234567890abcdef"])
//!         .issuer("https://login.example.com"),
//! )?;
//! let app = Router::new()
//!     .route("/hello", get(hello))
//!     .route("/maybe", get(maybe))
//!     // Or `WxLoginLayer::require(verifier)`: every route then needs a valid token.
//!     .layer(WxLoginLayer::optional(verifier));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! An app that keeps the verifier in its own state instead implements [`VerifierState`].
//! `examples/backend.rs` is a complete backend configured by environment variables.
//!
//! # Layout
//!
//! - `user`: [`WxUser`] and its extractor; `layer`: [`WxLoginLayer`];
//! - `verifier`: [`Verifier`] and the two configs; `local` and `introspect`: the two modes;
//! - `error`: [`VerifyError`] and its responses; `clock`: the injectable [`Clock`].

mod clock;
mod error;
mod introspect;
mod layer;
mod local;
mod user;
mod verifier;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ConfigError, VerifyError};
pub use layer::{WxLogin, WxLoginLayer};
pub use local::REFETCH_INTERVAL;
pub use user::{VerifierState, WxUser};
pub use verifier::{IntrospectionConfig, LocalConfig, MAX_LEEWAY, Verifier};
