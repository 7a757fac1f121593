//! Client for WeChat's server API (`api.weixin.qq.com`), as used by mini-program login.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wxlogin_wechat::{ClientOptions, SecretString, WeChatClient};
//!
//! let client = WeChatClient::new(ClientOptions::default())?;
//! let secret = SecretString::from("the app secret");
//! match client.jscode2session("wx4f4bc4dec97d474b", &secret, "0712cDoV0cfty22AeloV0daMoV02cDog").await {
//!     Ok(session) => println!("logged in: {session:?}"), // Debug masks the openid, hides the key
//!     Err(err) if err.errcode() == Some(40163) => println!("code already used"),
//!     Err(err) => println!("login failed: {err}"), // never contains the URL or the secret
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `client.rs`: [`ClientOptions`], validation of the base URL, and [`WeChatClient`] around the
//!   one shared `reqwest::Client` (rustls, extra CA, timeouts, no redirects, no retries, bounded
//!   bodies).
//! - `envelope.rs`: how every WeChat answer is decoded — `errcode` as a number or a numeric
//!   string, missing meaning success, JSON whatever the Content-Type, `rid` pulled out of
//!   `errmsg`. Every endpoint goes through it.
//! - `error.rs`: [`WeChatError`], one opaque, pointer-sized error with predicates, whose Display
//!   and Debug never contain the request URL, a secret, a session_key or a body.
//! - `api/`: one module per endpoint, each adding a method to [`WeChatClient`] and owning its
//!   wire and result types:
//!   - `jscode2session`: [`WeChatClient::jscode2session`] → [`CodeSession`];
//!   - `token` / `stable_token`: [`WeChatClient::access_token`],
//!     [`WeChatClient::stable_token`] → [`AccessToken`];
//!   - `getuserphonenumber`: [`WeChatClient::get_user_phone_number`] → [`PhoneInfo`];
//!   - `checksession`: [`WeChatClient::check_session_key`] → `bool` (87009 is `false`);
//!   - `resetusersessionkey`: [`WeChatClient::reset_user_session_key`] → [`ResetKey`].
//!
//! # Trusting a custom CA
//!
//! Set [`ClientOptions::ca_file`] to a PEM file of one or more CA certificates (e.g. the one
//! `wxlogin simulate` writes). They are trusted *in addition to* the system roots, through
//! reqwest's `tls_certs_merge` (rustls-platform-verifier with extra roots); hostname checks stay
//! on. The system root store must exist (Debian: `ca-certificates`), even for plain-http bases.
//!
//! This crate knows no storage and no HTTP server, and caches nothing (the access_token manager
//! lives above it). It does no retrying: whether a call may be repeated depends on the call (a
//! login or phone code is single-use), so that is the caller's decision, documented on each
//! method; [`WeChatError::is_retryable`] tells it whether a repeat could help and
//! [`WeChatError::is_token_error`] whether a new access_token could.
//!
//! The crate never installs a rustls crypto provider; the binary does (aws-lc-rs).

mod api;
mod client;
mod envelope;
mod error;

pub use api::getuserphonenumber::{PhoneInfo, Watermark};
pub use api::jscode2session::CodeSession;
pub use api::resetusersessionkey::ResetKey;
pub use api::token::AccessToken;
pub use client::{
    BuildError, ClientOptions, DEFAULT_API_BASE, DEFAULT_TIMEOUT, MAX_RESPONSE_BYTES, WeChatClient,
};
pub use error::{ErrorKind, WeChatError};
/// The secret type taken by calls (the same type `wxlogin-config` uses).
pub use secrecy::{ExposeSecret, SecretString};
