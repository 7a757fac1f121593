//! Health, readiness, the OpenAPI document and the test clock.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::routes::rfc3339;
use crate::{ApiError, ApiJson, AppState, ErrorCode};

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: every dependency answers: the store, and Redis when configured. Each check
/// is bounded by the dependency's own timeout, so a frozen dependency answers 503, not a hang.
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Err(error) = state.service.ready().await {
        tracing::warn!(%error, "not ready: store");
        return Err(ApiError::new(ErrorCode::StoreUnavailable).with_retry_after(1));
    }
    let mut checks = json!({"store": "ok"});
    if let Some(coordinator) = state.service.coordinator() {
        if let Err(error) = coordinator.ping().await {
            tracing::warn!(%error, "not ready: redis");
            return Err(ApiError::new(ErrorCode::RedisUnavailable).with_retry_after(1));
        }
        checks["redis"] = json!("ok");
    }
    Ok(Json(json!({"status": "ready", "checks": checks})))
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

#[derive(Debug, Deserialize)]
pub(crate) struct AdvanceClock {
    advance_secs: u64,
}

/// `POST /dev/clock`: moves the server's clock forward (only with `--test-clock`).
pub(crate) async fn advance_clock(
    State(state): State<AppState>,
    request: Result<ApiJson<AdvanceClock>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Some(clock) = &state.settings.test_clock else {
        return Err(ApiError::new(ErrorCode::NotFound));
    };
    let ApiJson(request) = request?;
    // Ten years is more than any lifetime worth testing, and keeps the clock far from overflow.
    const MAX_ADVANCE_SECS: u64 = 10 * 366 * 86_400;
    if request.advance_secs > MAX_ADVANCE_SECS {
        return Err(ApiError::new(ErrorCode::InvalidRequest)
            .with_message("`advance_secs` may be at most ten years."));
    }
    let now = clock.advance(Duration::from_secs(request.advance_secs));
    Ok(Json(json!({"now": rfc3339(now)})))
}
