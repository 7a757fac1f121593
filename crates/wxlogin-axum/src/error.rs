//! Why a request is refused, and how each reason looks on the wire.
//!
//! The bodies have wxlogin's own error shape, `{"error": {"code", "message"}}`, so a
//! mini-program sees the same 401 from a business backend as from wxlogin itself and reacts
//! the same way (log in again). The message is generic on purpose: *why* a token was refused
//! (expired, wrong app, bad signature) is logged at debug, never told to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The request has no `Authorization: Bearer` token.
    #[error("no bearer token")]
    MissingToken,
    /// The token is malformed, forged, expired, revoked, of another issuer, or of an app
    /// outside the configured appids. The reason is for logs; it never names the token.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// wxlogin (its JWKS or its introspection endpoint) could not be reached or answered
    /// nonsense: the token may well be good, so this is a 503, not a 401.
    #[error("wxlogin unavailable: {0}")]
    Unavailable(String),
    /// The handler asked for a [`WxUser`](crate::WxUser) but no [`Verifier`](crate::Verifier)
    /// was installed: a bug in the app's wiring, answered 500.
    #[error("no wxlogin Verifier: add WxLoginLayer or implement VerifierState for the state")]
    NoVerifier,
}

impl VerifyError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoVerifier => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code in the body, as wxlogin's own API spells it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::Unavailable(_) => "unavailable",
            Self::NoVerifier => "internal",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::MissingToken => "Send the token as Authorization: Bearer <token>.",
            Self::InvalidToken(_) => "The token is invalid or has expired: log in again.",
            Self::Unavailable(_) => "The login service cannot be reached; retry shortly.",
            Self::NoVerifier => "Internal error.",
        }
    }
}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        match &self {
            Self::MissingToken | Self::InvalidToken(_) => {
                tracing::debug!(error = %self, "request refused")
            }
            Self::Unavailable(_) => tracing::warn!(error = %self, "cannot verify token"),
            Self::NoVerifier => tracing::error!(error = %self),
        }
        let body = json!({"error": {"code": self.code(), "message": self.message()}});
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            // RFC 6750 §3; wxlogin sends the same challenge for a missing token, so clients
            // need one rule only.
            Self::MissingToken | Self::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::NoVerifier => {}
        }
        response
    }
}

/// A [`Verifier`](crate::Verifier) that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse, is not http(s), or carries a user name or password (put
    /// service credentials in the configuration's own fields, never in a URL that may be
    /// logged).
    #[error("{what}: {reason}")]
    Url {
        what: &'static str,
        reason: &'static str,
    },
    #[error("no appids configured: a verifier must know which apps' tokens it accepts")]
    NoAppids,
    #[error("clock leeway {0:?} is above the 60 s maximum")]
    Leeway(std::time::Duration),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_refused_token_answers_401_with_the_bearer_challenge() {
        let response = VerifyError::InvalidToken("bad signature").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "invalid_token");
        // The reason stays in the logs.
        assert!(!body.to_string().contains("signature"), "{body}");
    }

    #[tokio::test]
    async fn an_unreachable_wxlogin_answers_503_with_retry_after() {
        let response = VerifyError::Unavailable("timeout".into()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_of(response).await["error"]["code"], "unavailable");
    }
}
