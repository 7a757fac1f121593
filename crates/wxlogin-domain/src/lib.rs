//! wxlogin's domain: logging users in, their sessions and session_key rings.
//!
//! It knows WeChat only through `wxlogin-wechat`, storage only through `wxlogin-store`, and
//! nothing of HTTP: routes in `wxlogin-http` translate to and from it, once.
//!
//! - [`LoginService`]: the code exchange, token verification (with the in-process cache of
//!   `cache.rs`) and every path that ends a session.
//! - [`token`]: minting and hashing our opaque bearer tokens.
//! - [`WindowCounter`]: fixed-window counters for abuse limits; [`RateLimiter`] counts them
//!   across the cluster through a [`Coordinator`] when there is one.
//! - [`AccessTokens`]: the app's WeChat access_token, shared through the store.
//! - [`JwtKeys`]: JWT mode's access JWTs, signing keys, JWKS and refresh successors.
//! - [`OpenData`]: encryptedData with the session_key ring, phone numbers, session_key checks.

pub mod access_token;
mod apps;
mod cache;
pub mod coordination;
mod error;
pub mod jwt;
mod key_rings;
mod limiter;
pub mod open_data;
mod policy;
mod service;
pub mod token;

pub use access_token::{AccessTokenError, AccessTokens, TokenSource};
pub use apps::{App, Apps};
pub use coordination::{
    ClusterEvent, CoordinationError, Coordinator, RateLimiter, SharedCoordinator,
};
pub use error::{AdminError, LoginError, SessionError, UpstreamError};
pub use jwt::{AccessClaims, AccessToken, JwtError, JwtKeys, JwtParts, JwtSettings, PublicJwk};
pub use key_rings::{KEY_RING_TTL, KeyRingCache};
pub use limiter::{Limit, Verdict, WindowCounter};
pub use open_data::{
    EncryptedPayload, KeyGeneration, OpenData, OpenDataError, OpenDataLimits, OpenDataParts,
    VerifiedPhone,
};
pub use policy::SessionPolicy;
pub use service::{LoginOutcome, LoginService, LoginServiceParts, VerifiedSession};
pub use token::{IssuedToken, TOKEN_PREFIX};
