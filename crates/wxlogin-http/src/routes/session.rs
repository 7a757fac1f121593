//! Bearer routes: who am I, logout, delete me.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wxlogin_domain::VerifiedSession;
use wxlogin_store::SessionRecord;

use crate::routes::rfc3339;
use crate::{ApiError, AppState, Bearer};

/// The header a gateway (or a backend) sets to insist on one app.
pub(crate) const EXPECTED_APP_HEADER: &str = "x-wxlogin-appid";

#[derive(Debug, Deserialize)]
pub(crate) struct ExpectedApp {
    appid: Option<String>,
}

/// Borrowed from the verified session: the hot path copies no strings.
#[derive(Debug, Serialize)]
pub(crate) struct SessionResponse<'a> {
    user_id: String,
    session_id: String,
    appid: &'a str,
    openid: &'a str,
    unionid: Option<&'a str>,
    issued_at: String,
    expires_at: String,
    /// Only when phone storage is on: the verified number, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<serde_json::Value>,
}

impl<'a> SessionResponse<'a> {
    fn of(s: &'a SessionRecord) -> Self {
        Self {
            user_id: s.user_id.to_string(),
            session_id: s.session_id.to_string(),
            appid: &s.appid,
            openid: &s.openid,
            unionid: s.unionid.as_deref(),
            issued_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at()),
            phone: None,
        }
    }
}

/// `GET /v1/session`: the hot path for business backends.
pub(crate) async fn session(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Query(query): Query<ExpectedApp>,
    expected_header: ExpectedAppHeader,
) -> Result<Response, ApiError> {
    let expected = query.appid.or(expected_header.0);
    let VerifiedSession(session) = state.verify_access(&token, expected.as_deref()).await?;
    let mut response = SessionResponse::of(&session);
    if state.open_data.stores_phone_numbers() {
        let phone = state.open_data.stored_phone(session.user_id).await?;
        response.phone = Some(match phone {
            Some(p) => serde_json::json!({
                "phone_number": p.phone_number,
                "pure_phone_number": p.pure_phone_number,
                "country_code": p.country_code,
            }),
            None => serde_json::Value::Null,
        });
    }
    Ok(Json(response).into_response())
}

/// The `X-WXLOGIN-APPID` header alone (extracting the whole `HeaderMap` would copy it).
pub(crate) struct ExpectedAppHeader(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ExpectedAppHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(EXPECTED_APP_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// `POST /v1/logout`. Takes the opaque token: in JWT mode, the refresh token.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<StatusCode, ApiError> {
    state.service.logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/me`: the user, their sessions and keys are deleted.
pub(crate) async fn delete_me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<StatusCode, ApiError> {
    let VerifiedSession(session) = state.verify_access(&token, None).await?;
    state.service.delete_session_user(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}
