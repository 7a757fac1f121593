//! wxlogin's domain: logging users in, their sessions and session_key rings.
//!
//! It knows WeChat only through `wxlogin-wechat`, storage only through `wxlogin-store`, and
//! nothing of HTTP: routes in `wxlogin-http` translate to and from it, once.
//!
//! - [`LoginService`]: the code exchange, token verification (with the in-process cache of
//!   `cache.rs`) and every path that ends a session.
//! - [`token`]: minting and hashing our opaque bearer tokens.
//! - [`WindowCounter`]: fixed-window counters for abuse limits.
//! - [`AccessTokens`]: the app's WeChat access_token, shared through the store.
//! - [`OpenData`]: encryptedData with the session_key ring, phone numbers, session_key checks.

pub mod access_token;
mod apps;
mod cache;
mod error;
mod limiter;
pub mod open_data;
mod policy;
mod service;
pub mod token;

pub use access_token::{AccessTokenError, AccessTokens, TokenSource};
pub use apps::{App, Apps};
pub use error::{AdminError, LoginError, SessionError, UpstreamError};
pub use limiter::{Limit, Verdict, WindowCounter};
pub use open_data::{
    EncryptedPayload, KeyGeneration, OpenData, OpenDataError, OpenDataLimits, OpenDataParts,
    VerifiedPhone,
};
pub use policy::SessionPolicy;
pub use service::{LoginOutcome, LoginService, LoginServiceParts, VerifiedSession};
pub use token::{IssuedToken, TOKEN_PREFIX};
