//! `POST /sim/phone {"appid", "user", "phone"?}` → `{"code", "encryptedData", "iv"}`: what the
//! `open-type="getPhoneNumber"` button gives the mini-program (protocol §4, §6.3 b, §8.5).
//!
//! `code` is a phone code for `wxa/business/getuserphonenumber` (bound to this app and user,
//! single use, `phone_code_lifetime`); `encryptedData` / `iv` are the old-style payload for the
//! same number, sealed with the user's key current at this moment. `phone` is a mainland number
//! of 5–20 digits (`countryCode` is always `"86"`); without it, a number derived from the user
//! handle (the same in every app). A user without a live key is a 409, as for `/sim/user-info`.

use axum::extract::State;
use axum::response::Json;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, JsonBody};
use crate::device::{self, Seal};
use crate::{Simulator, ids};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhoneRequest {
    appid: String,
    user: String,
    phone: Option<String>,
}

pub(super) async fn handle(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<PhoneRequest>,
) -> Result<Json<Value>, ControlError> {
    let number = match request.phone {
        Some(number) if is_number(&number) => number,
        Some(_) => {
            return Err(ControlError::bad_request("`phone` must be 5 to 20 digits"));
        }
        None => ids::phone_number(&request.user),
    };
    let now = sim.now();
    let (code, (encrypted_data, iv)) = {
        let mut state = sim.lock();
        let world = &mut state.world;
        let user = world.live_user(&request.appid, &request.user, now)?;
        let seal = Seal {
            appid: &request.appid,
            session_key: &user.session_key,
            iv: world.rng.random(),
            timestamp: now.unix_timestamp(),
        };
        let sealed = device::phone(&seal, &number);
        let code = world.issue_phone_code(&request.appid, &request.user, number, now);
        (code, sealed)
    };
    tracing::debug!(appid = %request.appid, user = %request.user, "simulated phone button");
    Ok(Json(json!({
        "code": code,
        "encryptedData": encrypted_data,
        "iv": iv,
    })))
}

fn is_number(text: &str) -> bool {
    (5..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}
