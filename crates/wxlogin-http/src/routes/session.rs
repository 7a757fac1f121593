//! Bearer routes: who am I, logout, delete me.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use wxlogin_domain::VerifiedSession;

use crate::routes::rfc3339;
use crate::{ApiError, AppState, Bearer};

/// The header a gateway (or a backend) sets to insist on one app.
pub(crate) const EXPECTED_APP_HEADER: &str = "x-wxlogin-appid";

#[derive(Debug, Deserialize)]
pub(crate) struct ExpectedApp {
    appid: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionResponse {
    user_id: String,
    session_id: String,
    appid: String,
    openid: String,
    unionid: Option<String>,
    issued_at: String,
    expires_at: String,
    /// Only when phone storage is on: the verified number, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<serde_json::Value>,
}

impl From<VerifiedSession> for SessionResponse {
    fn from(VerifiedSession(s): VerifiedSession) -> Self {
        Self {
            user_id: s.user_id.to_string(),
            session_id: s.session_id.to_string(),
            expires_at: rfc3339(s.expires_at()),
            issued_at: rfc3339(s.created_at),
            appid: s.appid,
            openid: s.openid,
            unionid: s.unionid,
            phone: None,
        }
    }
}

/// `GET /v1/session`: the hot path for business backends.
pub(crate) async fn session(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Query(query): Query<ExpectedApp>,
    headers: HeaderMap,
) -> Result<Json<SessionResponse>, ApiError> {
    let expected = query.appid.or_else(|| {
        headers
            .get(EXPECTED_APP_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let verified = state.service.verify(&token, expected.as_deref()).await?;
    let user_id = verified.0.user_id;
    let mut response = SessionResponse::from(verified);
    if state.open_data.stores_phone_numbers() {
        let phone = state.open_data.stored_phone(user_id).await?;
        response.phone = Some(match phone {
            Some(p) => serde_json::json!({
                "phone_number": p.phone_number,
                "pure_phone_number": p.pure_phone_number,
                "country_code": p.country_code,
            }),
            None => serde_json::Value::Null,
        });
    }
    Ok(Json(response))
}

/// `POST /v1/logout`.
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
    state.service.delete_me(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}
