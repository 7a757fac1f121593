//! `POST /sim/tokens/revoke {"appid"}` → `{"revoked"}`: every access_token of the app, classic
//! and stable, stops working at once (40001), as after an AppSecret reset; `revoked` counts the
//! tokens that were still working. The next fetch of either kind mints a new token.

use axum::extract::State;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, JsonBody};
use crate::Simulator;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeRequest {
    appid: String,
}

pub(super) async fn revoke(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> Result<Json<Value>, ControlError> {
    let now = sim.now();
    let revoked = {
        let mut state = sim.lock();
        if state.world.app(&request.appid).is_none() {
            return Err(ControlError::bad_request(format!(
                "unknown appid `{}`",
                request.appid
            )));
        }
        state.world.tokens.revoke(&request.appid, now)
    };
    tracing::info!(appid = %request.appid, revoked, "access_tokens revoked");
    Ok(Json(json!({ "revoked": revoked })))
}
