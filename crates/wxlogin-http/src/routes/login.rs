//! `POST /v1/login`: exchange a `wx.login()` code for our token (in JWT mode, a refresh token
//! and an access JWT: see `routes::jwt`).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wxlogin_domain::Verdict;

use crate::routes::rfc3339;
use crate::{ApiError, ApiJson, AppState, ErrorCode};

#[derive(Debug, Deserialize)]
pub(crate) struct LoginRequest {
    code: String,
    /// Optional only when exactly one app is configured.
    appid: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LoginResponse {
    token: String,
    token_type: &'static str,
    expires_in: i64,
    expires_at: String,
    user: LoginUser,
}

#[derive(Debug, Serialize)]
struct LoginUser {
    id: String,
    appid: String,
    new: bool,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<ApiJson<LoginRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let ip = state.settings.trusted_proxies.client_ip(peer, &headers);
    let now_ms = state.now_ms();
    if let Verdict::Limited { retry_after_secs } = state.failed_logins.check(&ip, now_ms).await {
        return Err(ApiError::new(ErrorCode::RateLimited)
            .with_message("Too many failed logins from this address; retry later.")
            .with_retry_after(retry_after_secs));
    }
    let outcome = match request {
        Ok(ApiJson(request)) => {
            state
                .login(request.appid.as_deref(), &request.code, now_ms)
                .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(error) => {
            if counts_as_failed_login(error.code()) {
                state.failed_logins.record(&ip, now_ms).await;
            }
            Err(error)
        }
    }
}

/// Failures the client caused: bad requests, bad or used codes. WeChat's and our own outages
/// never count against a client's address.
fn counts_as_failed_login(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidRequest
            | ErrorCode::UnknownAppid
            | ErrorCode::InvalidCode
            | ErrorCode::CodeUsed
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::PayloadTooLarge
    )
}

impl AppState {
    async fn login(
        &self,
        appid: Option<&str>,
        code: &str,
        now_ms: i64,
    ) -> Result<Response, ApiError> {
        if let Some(appid) = appid
            && let Verdict::Limited { retry_after_secs } =
                self.app_logins.charge(&appid.to_owned(), now_ms).await
        {
            return Err(ApiError::new(ErrorCode::RateLimited)
                .with_message("This app's login limit was reached; retry later.")
                .with_retry_after(retry_after_secs));
        }
        let outcome = self.service.login(appid, code).await?;
        if let Some(jwt) = &self.settings.jwt {
            return Ok(Json(self.login_pair(jwt, outcome).await?).into_response());
        }
        let now = self.service.clock().now();
        Ok(Json(LoginResponse {
            token: outcome.token.text().to_owned(),
            token_type: "Bearer",
            expires_in: (outcome.expires_at - now).whole_seconds().max(0),
            expires_at: rfc3339(outcome.expires_at),
            user: LoginUser {
                id: outcome.user_id.to_string(),
                appid: outcome.appid,
                new: outcome.new_user,
            },
        })
        .into_response())
    }
}
