//! `GET /v1/auth`: forward-auth for gateways (nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`).
//!
//! The gateway sends us the user's request headers; we verify the token exactly as
//! `GET /v1/session` does (same verify path, same sliding renewal: the user is acting) and
//! answer 200 with an empty body and the identity in headers, or our usual error (401 with
//! `WWW-Authenticate`, 503 with `Retry-After`). The header names are WeChat Cloud Run's, so a
//! backend written for Cloud Run reads them unchanged, plus two of our own.
//!
//! The expected app comes from `X-WXLOGIN-APPID`, which the gateway's configuration sets: with
//! it, a token of another app is a 401; without it, a token of any app served here is accepted
//! (one gateway in front of several mini-programs that share a backend).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wxlogin_domain::VerifiedSession;

use crate::routes::session::EXPECTED_APP_HEADER;
use crate::{ApiError, AppState, Bearer, ErrorCode};

/// The user's openid in the token's app (Cloud Run's name).
pub const OPENID_HEADER: HeaderName = HeaderName::from_static("x-wx-openid");
/// The token's app (Cloud Run's name).
pub const APPID_HEADER: HeaderName = HeaderName::from_static("x-wx-appid");
/// The user's unionid, only when WeChat gave us one (Cloud Run's name).
pub const UNIONID_HEADER: HeaderName = HeaderName::from_static("x-wx-unionid");
/// Our user id: stable across the user's sessions, unlike the token.
pub const USER_ID_HEADER: HeaderName = HeaderName::from_static("x-wxlogin-user-id");
/// The session the token belongs to.
pub const SESSION_ID_HEADER: HeaderName = HeaderName::from_static("x-wxlogin-session-id");

/// Every identity header `GET /v1/auth` can emit: a gateway must overwrite each of them on the
/// upstream hop, or a client could send its own.
pub const IDENTITY_HEADERS: [HeaderName; 5] = [
    OPENID_HEADER,
    APPID_HEADER,
    UNIONID_HEADER,
    USER_ID_HEADER,
    SESSION_ID_HEADER,
];

/// `GET /v1/auth`.
pub(crate) async fn auth(
    State(state): State<AppState>,
    presented: Presented,
) -> Result<Response, ApiError> {
    let VerifiedSession(session) = state
        .verify_access(&presented.token, presented.expected_appid.as_deref())
        .await?;
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let mut uuid_buf = uuid::Uuid::encode_buffer();
    insert(headers, OPENID_HEADER, &session.openid)?;
    insert(headers, APPID_HEADER, &session.appid)?;
    if let Some(unionid) = &session.unionid {
        insert(headers, UNIONID_HEADER, unionid)?;
    }
    let user_id = session.user_id.hyphenated().encode_lower(&mut uuid_buf);
    insert(headers, USER_ID_HEADER, user_id)?;
    let session_id = session.session_id.hyphenated().encode_lower(&mut uuid_buf);
    insert(headers, SESSION_ID_HEADER, session_id)?;
    // An identity must never be served from a cache to someone else.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) -> Result<(), ApiError> {
    // WeChat's ids are URL-safe text; anything else in the store is our bug, and the value is
    // not echoed into the log (it may be an openid).
    let value = HeaderValue::from_str(value)
        .map_err(|_| ApiError::internal(&format_args!("{name} is not a valid header value")))?;
    headers.insert(name, value);
    Ok(())
}

/// The token and expected app of a forward-auth request.
///
/// The token is the `Authorization: Bearer` one (refused as the [`Bearer`] extractor refuses
/// it); only when there is no `Authorization` header at all is the configured legacy header
/// (`forward_auth.token_header`) read.
pub(crate) struct Presented {
    token: String,
    expected_appid: Option<String>,
}

impl FromRequestParts<AppState> for Presented {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let expected_appid = parts
            .headers
            .get(EXPECTED_APP_HEADER)
            .map(|v| v.to_str().map(str::to_owned))
            .transpose()
            // Not text cannot name one of our apps.
            .map_err(|_| ApiError::new(ErrorCode::InvalidToken))?;
        let legacy = state.settings.forward_auth_token_header.as_ref();
        let token = match legacy {
            Some(name) if !parts.headers.contains_key(header::AUTHORIZATION) => {
                let value = parts
                    .headers
                    .get(name)
                    .ok_or_else(|| ApiError::new(ErrorCode::MissingToken))?;
                let token = value
                    .to_str()
                    .map_err(|_| ApiError::new(ErrorCode::InvalidToken))?
                    .trim();
                if token.is_empty() {
                    return Err(ApiError::new(ErrorCode::InvalidToken));
                }
                token.to_owned()
            }
            _ => Bearer::from_request_parts(parts, state).await?.0,
        };
        Ok(Self {
            token,
            expected_appid,
        })
    }
}
