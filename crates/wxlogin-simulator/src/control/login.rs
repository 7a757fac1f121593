//! `POST /sim/login {"appid", "user"}` → `{"code", "openid"}`: what `wx.login()` gives a user.

use axum::extract::State;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, JsonBody};
use crate::Simulator;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    appid: String,
    /// Any non-empty handle; the same handle is always the same person.
    user: String,
}

pub(super) async fn handle(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Json<Value>, ControlError> {
    if request.user.is_empty() {
        return Err(ControlError::bad_request("`user` must not be empty"));
    }
    let now = sim.now();
    let issued = sim.lock().world.login(&request.appid, &request.user, now);
    let Some((code, openid)) = issued else {
        return Err(ControlError::bad_request(format!(
            "unknown appid `{}`",
            request.appid
        )));
    };
    tracing::debug!(appid = %request.appid, user = %request.user, "simulated wx.login");
    Ok(Json(json!({ "code": code, "openid": openid })))
}
