//! Bearer routes over the user's WeChat data: decrypt, phone number, session_key check.
//!
//! The appid and the keys come from the session: clients never send a key. A business backend
//! can call these itself with the user's token (server to server) and so receive verified
//! data; what the mini-program forwards to it is only client input.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wxlogin_crypto::PayloadKind;
use wxlogin_domain::{EncryptedPayload, VerifiedSession};

use crate::{ApiError, ApiJson, AppState, Bearer, ErrorCode};

#[derive(Debug, Deserialize)]
pub(crate) struct DecryptRequest {
    kind: String,
    encrypted_data: String,
    iv: String,
    raw_data: Option<String>,
    signature: Option<String>,
}

/// `POST /v1/decrypt` → `{"data": …, "key": "current" | "previous"}`.
///
/// The token is checked before the body (here and in `phone`): a client whose session died must
/// be told to log in again (401), whatever else is wrong with its request.
pub(crate) async fn decrypt(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    request: Result<ApiJson<DecryptRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let VerifiedSession(session) = state.verify_access(&token, None).await?;
    let ApiJson(request) = request?;
    let kind: PayloadKind = request.kind.parse().map_err(|_| {
        ApiError::new(ErrorCode::InvalidRequest)
            .with_message("`kind` must be one of user_info, phone, share, group_enter, werun.")
    })?;
    let payload = EncryptedPayload {
        kind,
        encrypted_data: &request.encrypted_data,
        iv: &request.iv,
        raw_data: request.raw_data.as_deref(),
        signature: request.signature.as_deref(),
    };
    let (data, generation) = state.open_data.decrypt(&session, &payload).await?;
    // `to_json` writes the payload exactly as WeChat named its fields, without the watermark;
    // splice it in as raw JSON rather than parsing it again.
    let body = format!(
        r#"{{"data":{},"key":"{}"}}"#,
        data.to_json(),
        generation.as_str()
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhoneRequest {
    code: String,
}

/// `POST /v1/phone` → `{"phone_number", "pure_phone_number", "country_code"}`.
pub(crate) async fn phone(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    request: Result<ApiJson<PhoneRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let VerifiedSession(session) = state.verify_access(&token, None).await?;
    let ApiJson(request) = request?;
    if request.code.is_empty() || request.code.len() > 256 {
        return Err(ApiError::new(ErrorCode::InvalidRequest)
            .with_message("`code` must be the phone code from the getPhoneNumber button."));
    }
    let phone = state.open_data.phone(&session, &request.code).await?;
    Ok(Json(json!({
        "phone_number": phone.phone_number,
        "pure_phone_number": phone.pure_phone_number,
        "country_code": phone.country_code,
    })))
}

/// `GET /v1/session/check` → `{"session_key_valid": bool}` (WeChat's 87009 is `false`).
pub(crate) async fn check(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<Json<Value>, ApiError> {
    let VerifiedSession(session) = state.verify_access(&token, None).await?;
    let valid = state.open_data.check_session_key(&session).await?;
    Ok(Json(json!({ "session_key_valid": valid })))
}
