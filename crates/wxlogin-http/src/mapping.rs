//! Domain and store failures → registry errors. The only place that decides statuses.

use wxlogin_domain::{LoginError, SessionError, UpstreamError};
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
