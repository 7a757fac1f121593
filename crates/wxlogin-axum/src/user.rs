//! [`WxUser`]: who sent the request, as an axum extractor.

use std::fmt;
use std::time::SystemTime;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::{Verifier, VerifyError};

/// The wxlogin user behind a request's Bearer token.
///
/// As an extractor it verifies the token with the [`Verifier`] the [`WxLoginLayer`] put in
/// the request (or the one [`VerifierState`] finds in the app state), once per request:
/// `Option<WxUser>` is `None` for a request without any `Authorization` header, and still a
/// 401 for a bad token, so a client with a stale token learns it must log in again.
///
/// `Debug` hides `openid` and `unionid`: they identify a person and must stay out of logs.
///
/// [`WxLoginLayer`]: crate::WxLoginLayer
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WxUser {
    /// wxlogin's user id (a UUID), stable across the user's sessions: the key for the
    /// backend's own data.
    pub user_id: String,
    /// The mini-program the token was issued for; always one of the configured appids.
    pub appid: String,
    /// The user's openid in `appid`.
    pub openid: String,
    /// The user's unionid, when WeChat gave one (app bound to an Open Platform account).
    pub unionid: Option<String>,
    /// The session's id: the JWT's `sid` in local mode, the introspection answer's `sid` in
    /// remote mode (`None` only from an introspection server that does not send it).
    pub session_id: Option<String>,
    /// Until when this proof holds: the access JWT's `exp` in local mode, the session's
    /// current deadline in introspection mode.
    pub expires_at: SystemTime,
}

impl fmt::Debug for WxUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WxUser")
            .field("user_id", &self.user_id)
            .field("appid", &self.appid)
            .field("openid", &"[REDACTED]")
            .field("unionid", &self.unionid.as_ref().map(|_| "[REDACTED]"))
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How the [`WxUser`] extractor finds a [`Verifier`] in the app state, for apps that keep it
/// there rather than adding a [`WxLoginLayer`](crate::WxLoginLayer).
///
/// A verifier put in the request by the layer always wins. `()` and [`Verifier`] itself
/// implement this; an app with a state of its own adds one line — an empty
/// `impl VerifierState for AppState {}` when it uses the layer, or
/// `fn verifier(&self) -> Option<&Verifier> { Some(&self.verifier) }` when it does not.
#[diagnostic::on_unimplemented(
    message = "`WxUser` needs `{Self}: wxlogin_axum::VerifierState`",
    note = "add `impl wxlogin_axum::VerifierState for {Self} {{}}` (it may return the state's Verifier)"
)]
pub trait VerifierState {
    fn verifier(&self) -> Option<&Verifier> {
        None
    }
}

impl VerifierState for () {}

impl VerifierState for Verifier {
    fn verifier(&self) -> Option<&Verifier> {
        Some(self)
    }
}

impl<S: VerifierState + Send + Sync> FromRequestParts<S> for WxUser {
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Verified already: by `WxLoginLayer::require`, or by an earlier extractor.
        if let Some(user) = parts.extensions.get::<WxUser>() {
            return Ok(user.clone());
        }
        let verifier = parts
            .extensions
            .get::<Verifier>()
            .or_else(|| state.verifier())
            .ok_or(VerifyError::NoVerifier)?
            .clone();
        let user = verifier.verify(bearer_token(&parts.headers)?).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl<S: VerifierState + Send + Sync> OptionalFromRequestParts<S> for WxUser {
    type Rejection = VerifyError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 §2.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, VerifyError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(VerifyError::MissingToken)?;
    let text = value
        .to_str()
        .map_err(|_| VerifyError::InvalidToken("authorization header is not ASCII"))?;
    let text = text.trim();
    if text.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::MissingToken);
    }
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                Err(VerifyError::MissingToken)
            } else {
                Ok(token)
            }
        }
        _ => Err(VerifyError::InvalidToken("not a bearer token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer_token(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&headers("bearer  abc ")).unwrap(), "abc");
        assert!(matches!(
            bearer_token(&HeaderMap::new()),
            Err(VerifyError::MissingToken)
        ));
        assert!(matches!(
            bearer_token(&headers("Bearer ")),
            Err(VerifyError::MissingToken)
        ));
        for other in ["Basic YTpi", "abc", "Bearerabc"] {
            assert!(
                matches!(
                    bearer_token(&headers(other)),
                    Err(VerifyError::InvalidToken(_))
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn debug_hides_openid_and_unionid() {
        let user = WxUser {
            user_id: "0199-user".into(),
            appid: "wx00000000000000a1".into(),
            openid: "oSECRETopenid".into(),
            unionid: Some("uSECRETunionid".into()),
            session_id: Some("0199-session".into()),
            expires_at: SystemTime::UNIX_EPOCH,
        };
        let debug = format!("{user:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("0199-user"), "{debug}");
    }
}
