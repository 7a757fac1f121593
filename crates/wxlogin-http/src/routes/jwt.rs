//! JWT mode: `POST /v1/token/refresh`, `GET /.well-known/jwks.json`,
//! `GET /.well-known/openid-configuration`, and the one place that decides which token a
//! Bearer route takes.
//!
//! With `[jwt] enabled`, the opaque `wxl_…` token of a login is the *refresh* token: only
//! refresh, `/v1/logout` and `/oauth2/revoke` take it. Every other Bearer route takes the access
//! JWT, verified here and then checked against the store by its `sid`, so a logout is seen at
//! once on our own routes. With JWT mode off, those routes take the opaque token as before and
//! the routes of this module answer 404.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;
use wxlogin_domain::{JwtError, JwtKeys, SessionError, VerifiedSession};
use wxlogin_store::{Rotation, SessionRecord};

use crate::routes::rfc3339;
use crate::{ApiError, AppState, Bearer, ErrorCode};

/// Where the discovery document says things are, relative to the issuer's base URL.
pub(crate) const TOKEN_PATH: &str = "/v1/token/refresh";
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The login and refresh answer in JWT mode.
#[derive(Debug, Serialize)]
pub(crate) struct TokenPair {
    /// The refresh token.
    token: String,
    token_type: &'static str,
    /// Until the refresh token (the session) expires without use.
    expires_in: i64,
    expires_at: String,
    access_token: String,
    access_expires_in: i64,
    user: PairUser,
}

#[derive(Debug, Serialize)]
struct PairUser {
    id: String,
    appid: String,
    /// Only in a login's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
}

impl AppState {
    /// The JWT mode keys, or 404 for the routes that exist only in JWT mode.
    fn jwt(&self) -> Result<&JwtKeys, ApiError> {
        self.settings
            .jwt
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
    }

    /// Who holds the token of a Bearer route other than refresh, logout and revoke: the
    /// opaque token (renewing the session, as always) or, in JWT mode, the access JWT whose
    /// `sid` is still a live session. With `expected_appid`, another app's token is refused.
    pub(crate) async fn verify_access(
        &self,
        token: &str,
        expected_appid: Option<&str>,
    ) -> Result<VerifiedSession, ApiError> {
        match &self.settings.jwt {
            None => Ok(self.service.verify(token, expected_appid).await?),
            Some(jwt) => self.verify_jwt(jwt, token, expected_appid).await,
        }
    }

    /// As [`verify_access`](Self::verify_access) for a service asking about a token
    /// (introspection): never renews.
    pub(crate) async fn inspect_access(&self, token: &str) -> Result<VerifiedSession, ApiError> {
        match &self.settings.jwt {
            None => Ok(self.service.inspect(token).await?),
            Some(jwt) => self.verify_jwt(jwt, token, None).await,
        }
    }

    async fn verify_jwt(
        &self,
        jwt: &JwtKeys,
        token: &str,
        expected_appid: Option<&str>,
    ) -> Result<VerifiedSession, ApiError> {
        let claims = jwt.verify(token).await?;
        let sid = Uuid::parse_str(&claims.sid).map_err(|_| SessionError::Malformed)?;
        let verified = self.service.session_by_id(sid, expected_appid).await?;
        // A signature of ours makes these true; checked anyway, it costs nothing.
        if verified.0.appid != claims.aud || verified.0.user_id.to_string() != claims.sub {
            return Err(SessionError::NotFound.into());
        }
        Ok(verified)
    }

    /// The JWT-mode answer for `session`, whose refresh token is `refresh`.
    pub(crate) async fn token_pair(
        &self,
        jwt: &JwtKeys,
        refresh: String,
        session: &SessionRecord,
        new_user: Option<bool>,
    ) -> Result<TokenPair, ApiError> {
        let access = jwt.issue(session).await?;
        let now = self.service.clock().now();
        Ok(TokenPair {
            token: refresh,
            token_type: "Bearer",
            expires_in: (session.expires_at() - now).whole_seconds().max(0),
            expires_at: rfc3339(session.expires_at()),
            access_token: access.jwt,
            access_expires_in: access.expires_in,
            user: PairUser {
                id: session.user_id.to_string(),
                appid: session.appid.clone(),
                new: new_user,
            },
        })
    }

    /// The login answer in JWT mode: the new session's refresh token and a first access JWT.
    pub(crate) async fn login_pair(
        &self,
        jwt: &JwtKeys,
        outcome: wxlogin_domain::LoginOutcome,
    ) -> Result<TokenPair, ApiError> {
        let VerifiedSession(session) = self.service.session_by_id(outcome.session_id, None).await?;
        self.token_pair(
            jwt,
            outcome.token.text().to_owned(),
            &session,
            Some(outcome.new_user),
        )
        .await
    }
}

/// `POST /v1/token/refresh` with the refresh token as Bearer: rotates it and answers the new
/// pair. A replay within the grace answers the same new refresh token (and a fresh access
/// JWT); any later replay has revoked the session and is a 401 like an unknown token.
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Bearer(presented): Bearer,
) -> Result<Response, ApiError> {
    let jwt = state.jwt()?;
    let successor = jwt.successor(&presented).await?;
    let rotation = state
        .service
        .rotate_refresh(&presented, successor.hash(), jwt.settings().refresh_grace)
        .await?;
    let session = match rotation {
        Rotation::Rotated(session) | Rotation::Replayed(session) => session,
        Rotation::FamilyRevoked { .. } | Rotation::Unknown => {
            return Err(ApiError::new(ErrorCode::InvalidToken));
        }
    };
    let pair = state
        .token_pair(jwt, successor.text().to_owned(), &session, None)
        .await?;
    Ok(no_store(Json(pair)))
}

/// `GET /.well-known/jwks.json`: the public keys that verify our access JWTs.
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.jwt()?.jwks().await?;
    let mut response = Json(json!({ "keys": keys })).into_response();
    // Verifiers may cache it briefly; a new key is published `access_ttl` before it signs.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

/// `GET /.well-known/openid-configuration`: where everything is, in OpenID Connect Discovery's
/// shape. URLs are built from the issuer when it is a URL, else from the request's `Host`.
pub(crate) async fn openid_configuration(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let jwt = state.jwt()?;
    let issuer = &jwt.settings().issuer;
    let base = if issuer.starts_with("https://") || issuer.starts_with("http://") {
        issuer.trim_end_matches('/').to_owned()
    } else {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost");
        let scheme = headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https")
            .unwrap_or("http");
        format!("{scheme}://{host}")
    };
    Ok(Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "grant_types_supported": ["refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "openid", "unionid"],
    })))
}

fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl From<JwtError> for ApiError {
    fn from(error: JwtError) -> Self {
        match error {
            JwtError::Invalid => {
                tracing::debug!("access token refused");
                ApiError::new(ErrorCode::InvalidToken)
            }
            JwtError::Store(error) => error.into(),
            JwtError::Secret { .. } => ApiError::internal(&error),
        }
    }
}
