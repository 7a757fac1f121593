//! Admin controls over one user's session_key (protocol §13 item 12), both
//! `{"appid", "user"}` → `{"openid"}`; 409 for a user who never logged in.
//!
//! - `POST /sim/session-key/rotate`: WeChat mints the user a new key with a fresh lifetime, as
//!   a `wx.login` whose code never reached the server would; the old key dies at once. The
//!   device follows (`wx.checkSession` stays true), so open data is now sealed with a key the
//!   server does not have.
//! - `POST /sim/session-key/expire`: the key expires now, pinned keys included;
//!   `checksession` answers 87009, `wx.checkSession` false, and the next login mints a new key.

use axum::extract::State;
use axum::response::Json;
use serde_json::{Value, json};

use super::{ControlError, JsonBody, UserRequest};
use crate::Simulator;

pub(super) async fn rotate(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<UserRequest>,
) -> Result<Json<Value>, ControlError> {
    let now = sim.now();
    let openid = {
        let mut state = sim.lock();
        state.world.rotate_key(&request.appid, &request.user, now)?;
        state
            .world
            .live_user(&request.appid, &request.user, now)?
            .openid
    };
    tracing::info!(appid = %request.appid, "session_key rotated by admin");
    Ok(Json(json!({ "openid": openid })))
}

pub(super) async fn expire(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<UserRequest>,
) -> Result<Json<Value>, ControlError> {
    let now = sim.now();
    let openid = {
        let mut state = sim.lock();
        state.world.expire_key(&request.appid, &request.user, now)?;
        state.world.openid_of(&request.appid, &request.user)?
    };
    tracing::info!(appid = %request.appid, "session_key expired by admin");
    Ok(Json(json!({ "openid": openid })))
}
