//! `POST /sim/check-session {"appid", "user"}` → `{"valid"}`: what `wx.checkSession` says on
//! the device (protocol §8.2): `true` while the key of the device's last `wx.login` is the
//! user's live key; `false` once it expired or was reset server-side (until the next login),
//! and for a user who never logged in.

use axum::extract::State;
use axum::response::Json;
use serde_json::{Value, json};

use super::{ControlError, JsonBody, UserRequest};
use crate::Simulator;

pub(super) async fn handle(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<UserRequest>,
) -> Result<Json<Value>, ControlError> {
    let now = sim.now();
    let valid = sim
        .lock()
        .world
        .device_session_valid(&request.appid, &request.user, now)?;
    Ok(Json(json!({ "valid": valid })))
}
