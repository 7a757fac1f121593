//! The dev-only control API under `/sim/`: the phone's side of the protocol and the test knobs.
//!
//! One module per route, registered in [`routes`]. JSON in, JSON out; bodies are capped at
//! [`MAX_BODY`], and anything malformed is a 400 `{"error": "…"}`, never a panic.
//!
//! | route | body → reply |
//! |---|---|
//! | `POST /sim/login` | `{"appid","user"}` → `{"code","openid"}` (`wx.login`) |
//! | `POST /sim/user-info` | `{"appid","user"}` → `{"encryptedData","iv","rawData","signature"}` |
//! | `POST /sim/phone` | `{"appid","user","phone"?}` → `{"code","encryptedData","iv"}` |
//! | `POST /sim/check-session` | `{"appid","user"}` → `{"valid"}` (`wx.checkSession`) |
//! | `POST /sim/session-key/rotate` | `{"appid","user"}` → `{"openid"}` |
//! | `POST /sim/session-key/expire` | `{"appid","user"}` → `{"openid"}` |
//! | `POST /sim/tokens/revoke` | `{"appid"}` → `{"revoked"}` |
//! | `POST /sim/faults`, `DELETE /sim/faults` | a fault → `{"queued"}` |
//! | `POST /sim/clock` | `{"advance_secs"}` → `{"now"}` |
//! | `GET /sim/stats` | → `{"calls": {"<endpoint>": {"total","errcodes"}}}` |

mod check_session;
mod clock;
mod faults;
mod login;
mod phone;
mod session_key;
mod stats;
mod tokens;
mod user_info;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Simulator;
use crate::world::DeviceError;

/// Control requests are tiny; refuse anything bigger than this.
const MAX_BODY: usize = 16 * 1024;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/sim/login", post(login::handle))
        .route("/sim/user-info", post(user_info::handle))
        .route("/sim/phone", post(phone::handle))
        .route("/sim/check-session", post(check_session::handle))
        .route("/sim/session-key/rotate", post(session_key::rotate))
        .route("/sim/session-key/expire", post(session_key::expire))
        .route("/sim/tokens/revoke", post(tokens::revoke))
        .route("/sim/faults", post(faults::add).delete(faults::clear))
        .route("/sim/clock", post(clock::handle))
        .route("/sim/stats", get(stats::handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A control request that cannot be carried out.
#[derive(Debug)]
pub(crate) struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<DeviceError> for ControlError {
    fn from(err: DeviceError) -> Self {
        match err {
            DeviceError::UnknownApp => Self::bad_request("unknown appid"),
            DeviceError::NotLoggedIn => Self {
                status: StatusCode::CONFLICT,
                message: "the user has no live session_key in this app: call /sim/login first"
                    .into(),
            },
        }
    }
}

/// `{"appid", "user"}`: one simulated person in one mini-program, as most device routes take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserRequest {
    pub(crate) appid: String,
    pub(crate) user: String,
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read, so hyper cannot reuse this connection;
            // say so, or a pooling client may send its next request into the closing socket.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Like axum's `Json`, but its rejections are our `{"error": …}` shape, and it does not insist
/// on a `Content-Type` header (so a bare `curl -d` works).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ControlError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ControlError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ControlError {
                status: rejection.status(),
                message: rejection.body_text(),
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| ControlError::bad_request(format!("invalid request body: {err}")))
    }
}
