//! The domain's failures. `wxlogin-http` maps each variant to a status and registry code.

use wxlogin_store::StoreError;
use wxlogin_wechat::WeChatError;

/// A failed WeChat call, classified once for every endpoint (protocol reference §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The code (login or phone) is invalid or expired (40029 / 42003).
    #[error("WeChat rejected the code ({errcode})")]
    InvalidCode { errcode: i64 },
    /// The login code was already used (40163).
    #[error("WeChat says the code was already used")]
    CodeUsed,
    /// WeChat's per-minute limit (45011).
    #[error("WeChat's rate limit was reached")]
    RateLimited,
    /// WeChat's daily quota for the app is exhausted (45009): an operator problem.
    #[error("WeChat's daily quota is exhausted")]
    QuotaExhausted,
    /// WeChat is busy (-1).
    #[error("WeChat is busy")]
    Busy,
    /// WeChat's risk control blocked the user (40226).
    #[error("WeChat blocked this user")]
    UserBlocked,
    /// WeChat rejected our appid / secret / IP / permissions: an operator must act.
    #[error("WeChat rejected the app's configuration ({errcode})")]
    Misconfigured { errcode: i64 },
    /// Any other WeChat errcode.
    #[error("WeChat returned error {errcode}")]
    Rejected { errcode: i64 },
    /// WeChat did not answer in time.
    #[error("WeChat did not answer in time")]
    Timeout,
    /// WeChat could not be reached or sent something unreadable.
    #[error("WeChat could not be reached or sent an unreadable answer")]
    BadResponse,
}

impl UpstreamError {
    /// Classifies a failed call, logging WeChat's rid (what WeChat support asks for).
    pub fn from_wechat(error: &WeChatError) -> Self {
        let classified = match error.errcode() {
            Some(errcode @ (40029 | 42003)) => Self::InvalidCode { errcode },
            Some(40163) => Self::CodeUsed,
            Some(45011) => Self::RateLimited,
            Some(45009) => Self::QuotaExhausted,
            Some(-1) => Self::Busy,
            Some(40226) => Self::UserBlocked,
            Some(errcode @ (40002 | 40013 | 40125 | 40164 | 40243 | 48001 | 50004)) => {
                Self::Misconfigured { errcode }
            }
            Some(errcode) => Self::Rejected { errcode },
            None if error.is_timeout() => Self::Timeout,
            None => Self::BadResponse,
        };
        tracing::warn!(errcode = ?error.errcode(), rid = ?error.rid(), %error, "WeChat call failed");
        classified
    }

    /// The WeChat errcode behind this failure, if WeChat gave one.
    pub fn wechat_errcode(&self) -> Option<i64> {
        match self {
            Self::InvalidCode { errcode }
            | Self::Misconfigured { errcode }
            | Self::Rejected { errcode } => Some(*errcode),
            Self::CodeUsed => Some(40163),
            Self::RateLimited => Some(45011),
            Self::QuotaExhausted => Some(45009),
            Self::Busy => Some(-1),
            Self::UserBlocked => Some(40226),
            Self::Timeout | Self::BadResponse => None,
        }
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The request named an appid we do not serve.
    #[error("unknown appid")]
    UnknownApp,
    /// No appid was given and several apps are configured.
    #[error("an appid is required when several apps are configured")]
    AppRequired,
    /// The code is empty or absurdly long: not worth asking WeChat.
    #[error("the login code is malformed")]
    MalformedCode,
    /// Our store has seen this code before: it never reaches WeChat again.
    #[error("the login code was already used")]
    CodeUsed,
    /// WeChat refused or failed the exchange. Never retried: the code may be consumed.
    #[error(transparent)]
    Upstream(UpstreamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our own failure (sealing the key, …).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a token did not verify. Every variant but `Store` is the same 401 to clients; the
/// variants exist for logs and metrics.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown, expired or revoked token")]
    NotFound,
    #[error("token of another app")]
    OtherApp,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    NoSuchUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}
