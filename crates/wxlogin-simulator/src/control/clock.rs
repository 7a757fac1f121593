//! `POST /sim/clock {"advance_secs"}` → `{"now"}`: moves the simulator's clock forward.

use std::time::Duration;

use axum::extract::State;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};
use wxlogin_clock::Clock as _;

use super::{ControlError, JsonBody};
use crate::Simulator;

/// A hundred years: far beyond any lifetime, far below any overflow.
const MAX_ADVANCE_SECS: u64 = 100 * 365 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockRequest {
    advance_secs: u64,
}

pub(super) async fn handle(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<ClockRequest>,
) -> Result<Json<Value>, ControlError> {
    if request.advance_secs > MAX_ADVANCE_SECS {
        return Err(ControlError::bad_request(format!(
            "`advance_secs` must be at most {MAX_ADVANCE_SECS}"
        )));
    }
    let clock = sim.clock();
    if request.advance_secs > 0 {
        clock.advance(Duration::from_secs(request.advance_secs));
        tracing::info!(by_secs = request.advance_secs, "clock advanced");
    }
    Ok(Json(json!({ "now": clock.unix_seconds() })))
}
