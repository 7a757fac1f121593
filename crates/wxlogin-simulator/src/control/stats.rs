//! `GET /sim/stats` → `{"calls": {"<endpoint>": {"total", "errcodes": {"0": N, …}}}}`.

use axum::extract::State;
use axum::response::Json;
use serde_json::{Value, json};

use crate::Simulator;

pub(super) async fn handle(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "calls": &sim.lock().stats }))
}
