//! `POST /sim/user-info {"appid", "user"}` → `{"encryptedData", "iv", "rawData", "signature"}`:
//! what `wx.getUserInfo` / `wx.getUserProfile` give the mini-program (protocol §6.3 a, §7).
//!
//! Sealed with the user's key current *at this moment* and a fresh random IV, so a later
//! `wx.login` that rotates the key reproduces the decryption race of §8.3. A user without a
//! live key (never logged in, or expired) is a 409: the device must `wx.login` first.

use axum::extract::State;
use axum::response::Json;
use rand::Rng;
use serde_json::{Value, json};

use super::{ControlError, JsonBody, UserRequest};
use crate::Simulator;
use crate::device::{self, Seal};

pub(super) async fn handle(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<UserRequest>,
) -> Result<Json<Value>, ControlError> {
    let now = sim.now();
    let output = {
        let mut state = sim.lock();
        let user = state.world.live_user(&request.appid, &request.user, now)?;
        let seal = Seal {
            appid: &request.appid,
            session_key: &user.session_key,
            iv: state.world.rng.random(),
            timestamp: now.unix_timestamp(),
        };
        device::user_info(&seal, &user.openid, user.unionid.as_deref())
    };
    tracing::debug!(appid = %request.appid, user = %request.user, "simulated wx.getUserInfo");
    Ok(Json(json!({
        "encryptedData": output.encrypted_data,
        "iv": output.iv,
        "rawData": output.raw_data,
        "signature": output.signature,
    })))
}
