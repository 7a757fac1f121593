//! wxlogin's domain: logging users in, their sessions and session_key rings.
//!
//! It knows WeChat only through `wxlogin-wechat`, storage only through `wxlogin-store`, and
//! nothing of HTTP: routes in `wxlogin-http` translate to and from it, once.

mod apps;
mod limiter;
mod policy;
mod token;

pub use apps::{App, Apps};
pub use limiter::{Limit, Verdict, WindowCounter};
pub use policy::SessionPolicy;
pub use token::{IssuedToken, TOKEN_PREFIX, TokenHash};

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("unknown appid")]
    UnknownApp,
    #[error("an appid is required when several apps are configured")]
    AppRequired,
}
