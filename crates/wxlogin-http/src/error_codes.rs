//! The registry of every error code the HTTP API can answer with.
//!
//! Clients (and our JavaScript SDK, whose error types are generated from `/openapi.json`) key
//! on these strings, so they are a contract: add codes, never rename or repurpose one. The
//! OpenAPI document's error schema is generated from [`ErrorCode::ALL`], so the two cannot drift.

use axum::http::StatusCode;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:ident, $summary:literal), )*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in registry order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears in `{"error": {"code": …}}`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status this code is always sent with.
            pub const fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// The default human message.
            pub const fn summary(self) -> &'static str {
                match self { $(ErrorCode::$variant => $summary,)* }
            }
        }
    };
}

error_codes! {
    /// The request body is not valid JSON, has wrong types or misses a field.
    InvalidRequest = ("invalid_request", BAD_REQUEST, "The request is malformed."),
    /// The appid is not one this server serves.
    UnknownAppid = ("unknown_appid", BAD_REQUEST, "This server does not serve that appid."),
    /// WeChat did not accept the login code (40029 / 42003): call wx.login() again.
    InvalidCode = ("invalid_code", BAD_REQUEST, "The login code is invalid or expired; call wx.login() again."),
    /// The login code was already exchanged (by us or, per WeChat's 40163, by someone).
    CodeUsed = ("code_used", BAD_REQUEST, "The login code has already been used; call wx.login() again."),
    /// The encrypted data cannot be decrypted with the user's session_key: padding, text,
    /// JSON or watermark — deliberately one answer (no padding oracle). Log in again
    /// (`wx.login`) and fetch the data again.
    DecryptFailed = ("decrypt_failed", BAD_REQUEST, "The data cannot be decrypted with this user's session_key; log in again and fetch the data again."),
    /// `encrypted_data` or `iv` is not base64 (-41004).
    InvalidBase64 = ("invalid_base64", BAD_REQUEST, "A field is not valid base64."),
    /// `iv` does not decode to 16 bytes (-41002).
    InvalidIv = ("invalid_iv", BAD_REQUEST, "The iv must decode to 16 bytes."),
    /// `raw_data` does not match its `signature`.
    InvalidSignature = ("invalid_signature", BAD_REQUEST, "rawData does not match its signature."),
    /// The decrypted data names another user than the session's.
    IdentityMismatch = ("identity_mismatch", BAD_REQUEST, "The data belongs to another user."),
    /// No bearer token was sent.
    MissingToken = ("missing_token", UNAUTHORIZED, "A bearer token is required."),
    /// The token is malformed, unknown, expired, revoked, or of another app. In JWT mode also:
    /// the refresh token where an access JWT is expected (and the reverse), and a refresh token
    /// replayed after its grace (which has ended the session).
    InvalidToken = ("invalid_token", UNAUTHORIZED, "The token is invalid or has expired; log in again."),
    /// A service client's HTTP Basic credentials (introspection, revocation) are missing or
    /// wrong. Sent with `WWW-Authenticate: Basic realm="wxlogin"`.
    InvalidClient = ("invalid_client", UNAUTHORIZED, "Service client authentication failed."),
    /// WeChat's risk control refused this user's login (40226).
    UserBlocked = ("user_blocked", FORBIDDEN, "WeChat refused this user's login."),
    /// Unknown route.
    NotFound = ("not_found", NOT_FOUND, "No such endpoint."),
    /// Known route, wrong method.
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED, "This endpoint does not accept that method."),
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE, "The request body is too large."),
    /// The body is not `application/json`.
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json."),
    /// The request took longer than the server allows.
    RequestTimeout = ("request_timeout", REQUEST_TIMEOUT, "The request took too long."),
    /// Too many requests (ours, or WeChat's 45011); see `Retry-After`.
    RateLimited = ("rate_limited", TOO_MANY_REQUESTS, "Too many requests; retry later."),
    /// Our own failure; details are in the server log under the request id.
    Internal = ("internal", INTERNAL_SERVER_ERROR, "Internal error."),
    /// WeChat answered with an error we have no specific mapping for.
    WechatError = ("wechat_error", BAD_GATEWAY, "WeChat returned an error."),
    /// WeChat rejected our credentials or configuration: an operator must act.
    WechatMisconfigured = ("wechat_misconfigured", BAD_GATEWAY, "The server's WeChat configuration was rejected by WeChat."),
    /// WeChat's answer could not be understood, or WeChat could not be reached.
    UpstreamBadResponse = ("upstream_bad_response", BAD_GATEWAY, "WeChat could not be reached or sent an unreadable answer."),
    /// WeChat is busy (-1); see `Retry-After`.
    WechatBusy = ("wechat_busy", SERVICE_UNAVAILABLE, "WeChat is busy; retry later."),
    /// WeChat's daily API quota for the app is used up (45009): an operator problem.
    WechatQuotaExhausted = ("wechat_quota_exhausted", SERVICE_UNAVAILABLE, "WeChat's daily quota for this app is exhausted."),
    /// A dependency (the store) is unavailable.
    Unavailable = ("unavailable", SERVICE_UNAVAILABLE, "The service is temporarily unavailable."),
    /// `/readyz`: the store does not answer.
    StoreUnavailable = ("store_unavailable", SERVICE_UNAVAILABLE, "The store is not reachable."),
    /// `/readyz`: the configured Redis does not answer (requests still work, with per-instance
    /// limits and locks, until it is back).
    RedisUnavailable = ("redis_unavailable", SERVICE_UNAVAILABLE, "Redis is not reachable."),
    /// WeChat did not answer in time. For a login the code's fate is unknown: log in again.
    UpstreamTimeout = ("upstream_timeout", GATEWAY_TIMEOUT, "WeChat did not answer in time."),
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                code.as_str()
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}
