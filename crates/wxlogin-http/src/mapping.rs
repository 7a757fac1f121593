//! Domain and store failures → registry errors. The only place that decides statuses.

use wxlogin_crypto::DecryptError;
use wxlogin_domain::{AccessTokenError, LoginError, OpenDataError, SessionError, UpstreamError};
use wxlogin_store::StoreError;

use crate::{ApiError, ErrorCode};

/// WeChat's minute quota (45011) resets within a minute.
const WECHAT_RATE_LIMIT_RETRY_SECS: u64 = 60;
/// WeChat's -1 "system busy" is usually momentary; the client needs a fresh code anyway.
const WECHAT_BUSY_RETRY_SECS: u64 = 2;
/// WeChat's daily quotas reset at midnight Beijing time; an hour is a sane first retry.
const WECHAT_QUOTA_RETRY_SECS: u64 = 3600;
/// A store hiccup (pool exhausted, failover).
const UNAVAILABLE_RETRY_SECS: u64 = 1;

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::UnknownApp => ApiError::new(ErrorCode::UnknownAppid),
            LoginError::AppRequired => ApiError::new(ErrorCode::InvalidRequest)
                .with_message("`appid` is required: this server serves several apps."),
            LoginError::MalformedCode => ApiError::new(ErrorCode::InvalidRequest)
                .with_message("`code` must be the non-empty code from wx.login()."),
            LoginError::CodeUsed => ApiError::new(ErrorCode::CodeUsed),
            LoginError::Upstream(upstream) => upstream.into(),
            LoginError::Store(error) => error.into(),
            LoginError::Internal(detail) => ApiError::internal(&detail),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(error: UpstreamError) -> Self {
        let api = match error {
            UpstreamError::InvalidCode { .. } => ApiError::new(ErrorCode::InvalidCode),
            UpstreamError::CodeUsed => ApiError::new(ErrorCode::CodeUsed),
            UpstreamError::RateLimited => ApiError::new(ErrorCode::RateLimited)
                .with_message("WeChat's per-user limit was reached; retry in a minute.")
                .with_retry_after(WECHAT_RATE_LIMIT_RETRY_SECS),
            UpstreamError::QuotaExhausted => ApiError::new(ErrorCode::WechatQuotaExhausted)
                .with_retry_after(WECHAT_QUOTA_RETRY_SECS),
            UpstreamError::Busy => {
                ApiError::new(ErrorCode::WechatBusy).with_retry_after(WECHAT_BUSY_RETRY_SECS)
            }
            UpstreamError::UserBlocked => ApiError::new(ErrorCode::UserBlocked),
            UpstreamError::Misconfigured { .. } => ApiError::new(ErrorCode::WechatMisconfigured),
            UpstreamError::Rejected { .. } => ApiError::new(ErrorCode::WechatError),
            UpstreamError::Timeout => ApiError::new(ErrorCode::UpstreamTimeout),
            UpstreamError::BadResponse => ApiError::new(ErrorCode::UpstreamBadResponse),
        };
        match error.wechat_errcode() {
            Some(errcode) => api.with_wechat_errcode(errcode),
            None => api,
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Malformed | SessionError::NotFound | SessionError::OtherApp => {
                tracing::debug!(reason = %error, "token refused");
                ApiError::new(ErrorCode::InvalidToken)
            }
            SessionError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "store unavailable");
            ApiError::new(ErrorCode::Unavailable).with_retry_after(UNAVAILABLE_RETRY_SECS)
        } else {
            ApiError::internal(&error)
        }
    }
}

impl From<OpenDataError> for ApiError {
    fn from(error: OpenDataError) -> Self {
        match error {
            OpenDataError::Decrypt(DecryptError::DecryptFailed) => {
                ApiError::new(ErrorCode::DecryptFailed)
            }
            OpenDataError::Decrypt(DecryptError::InvalidBase64 { field }) => {
                ApiError::new(ErrorCode::InvalidBase64)
                    .with_message(format!("`{}` is not valid base64.", field.as_str()))
            }
            OpenDataError::Decrypt(DecryptError::InvalidIv) => ApiError::new(ErrorCode::InvalidIv),
            // Our stored key is broken: not the client's fault.
            OpenDataError::Decrypt(error @ DecryptError::InvalidKey) => ApiError::internal(&error),
            OpenDataError::SignatureMismatch => ApiError::new(ErrorCode::InvalidSignature),
            OpenDataError::SignatureIncomplete => ApiError::new(ErrorCode::InvalidRequest)
                .with_message("`raw_data` and `signature` must be sent together."),
            OpenDataError::IdentityMismatch => ApiError::new(ErrorCode::IdentityMismatch),
            OpenDataError::RateLimited { retry_after_secs } => {
                ApiError::new(ErrorCode::RateLimited).with_retry_after(retry_after_secs)
            }
            OpenDataError::WatermarkMismatch => ApiError::new(ErrorCode::UpstreamBadResponse),
            OpenDataError::NoSuchUser | OpenDataError::NoSessionKey => {
                ApiError::new(ErrorCode::InvalidToken)
            }
            OpenDataError::Upstream(upstream) => upstream.into(),
            OpenDataError::AccessToken(error) => error.into(),
            OpenDataError::Store(error) => error.into(),
            OpenDataError::Internal(detail) => ApiError::internal(&detail),
        }
    }
}

impl From<AccessTokenError> for ApiError {
    fn from(error: AccessTokenError) -> Self {
        match error {
            AccessTokenError::WeChat(error) => UpstreamError::from_wechat(&error).into(),
            // A token WeChat keeps rejecting means the secret was reset or the app barred.
            AccessTokenError::RefreshBudgetSpent => ApiError::new(ErrorCode::WechatMisconfigured)
                .with_message("WeChat keeps rejecting the app's access_token."),
            AccessTokenError::Store(error) => error.into(),
            AccessTokenError::AtRest(detail) => ApiError::internal(&detail),
        }
    }
}
