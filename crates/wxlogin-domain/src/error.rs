//! The domain's failures. `wxlogin-http` maps each variant to a status and registry code.

use wxlogin_store::StoreError;
use wxlogin_wechat::WeChatError;

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
    /// WeChat said the code is invalid or expired (40029 / 42003).
    #[error("WeChat rejected the login code ({errcode})")]
    InvalidCode { errcode: i64 },
    /// The code was already used: seen by our store, or WeChat said 40163.
    #[error("the login code was already used")]
    CodeUsed { errcode: Option<i64> },
    /// WeChat's per-user rate limit (45011).
    #[error("WeChat rate-limited this user")]
    RateLimited,
    /// WeChat is busy (-1). Never retried: the code may be consumed.
    #[error("WeChat is busy")]
    WeChatBusy,
    /// WeChat's risk control blocked the user (40226).
    #[error("WeChat blocked this user's login")]
    UserBlocked,
    /// WeChat rejected our appid/secret/IP or the account is barred: an operator must act.
    #[error("WeChat rejected the app's configuration ({errcode})")]
    WeChatMisconfigured { errcode: i64 },
    /// Any other WeChat errcode.
    #[error("WeChat returned error {errcode}")]
    WeChatRejected { errcode: i64 },
    /// WeChat did not answer in time; the code's fate is unknown.
    #[error("WeChat did not answer in time")]
    UpstreamTimeout,
    /// WeChat could not be reached or sent something unreadable.
    #[error("WeChat could not be reached or sent an unreadable answer")]
    UpstreamBadResponse,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our own failure (sealing the key, …).
    #[error("internal error: {0}")]
    Internal(String),
}

impl LoginError {
    /// Maps a failed `jscode2session` call (protocol reference §14).
    pub(crate) fn from_wechat(error: &WeChatError) -> Self {
        match error.errcode() {
            Some(errcode @ (40029 | 42003)) => Self::InvalidCode { errcode },
            Some(40163) => Self::CodeUsed {
                errcode: Some(40163),
            },
            Some(45011) => Self::RateLimited,
            Some(-1) => Self::WeChatBusy,
            Some(40226) => Self::UserBlocked,
            Some(errcode @ (40002 | 40013 | 40125 | 40164 | 40243 | 48001 | 50004)) => {
                Self::WeChatMisconfigured { errcode }
            }
            Some(errcode) => Self::WeChatRejected { errcode },
            None if error.is_timeout() => Self::UpstreamTimeout,
            None => Self::UpstreamBadResponse,
        }
    }

    /// The WeChat errcode behind this failure, if WeChat gave one.
    pub fn wechat_errcode(&self) -> Option<i64> {
        match self {
            Self::InvalidCode { errcode }
            | Self::WeChatMisconfigured { errcode }
            | Self::WeChatRejected { errcode } => Some(*errcode),
            Self::CodeUsed { errcode } => *errcode,
            Self::RateLimited => Some(45011),
            Self::WeChatBusy => Some(-1),
            Self::UserBlocked => Some(40226),
            _ => None,
        }
    }

    /// Whether the client is to blame, for the per-IP limit on failed logins.
    pub fn is_client_failure(&self) -> bool {
        matches!(
            self,
            Self::UnknownApp
                | Self::AppRequired
                | Self::MalformedCode
                | Self::InvalidCode { .. }
                | Self::CodeUsed { .. }
        )
    }
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
