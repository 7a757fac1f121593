//! `POST /sim/faults` queues a fault; `DELETE /sim/faults` clears them all.
//!
//! See [`crate::faults`] for how queued faults take turns.

use std::time::Duration;

use axum::extract::State;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, JsonBody};
use crate::Simulator;
use crate::faults::{Action, Fault};
use crate::wechat::Endpoint;

/// Ten minutes: longer than any client timeout worth testing.
const MAX_DELAY_MS: u64 = 600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultRequest {
    endpoint: String,
    errcode: Option<i64>,
    delay_ms: Option<u64>,
    body: Option<BodyFault>,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    bad_token: bool,
    count: Option<u32>,
    probability: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BodyFault {
    Malformed,
    Html,
}

impl FaultRequest {
    fn into_fault(self) -> Result<Fault, String> {
        let endpoint = Endpoint::from_name(&self.endpoint).ok_or_else(|| {
            let known: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            format!(
                "unknown endpoint `{}`; known: {}",
                self.endpoint,
                known.join(", ")
            )
        })?;
        let mut actions = Vec::new();
        if let Some(code) = self.errcode {
            if code == 0 {
                return Err("errcode 0 is success, not a fault".into());
            }
            actions.push(Action::Errcode(code));
        }
        match self.body {
            Some(BodyFault::Malformed) => actions.push(Action::Malformed),
            Some(BodyFault::Html) => actions.push(Action::Html),
            None => {}
        }
        if self.drop {
            actions.push(Action::Drop);
        }
        if self.bad_token {
            if !endpoint.issues_tokens() {
                return Err("`bad_token` only applies to `token` and `stable_token`".into());
            }
            actions.push(Action::BadToken);
        }
        let action = match (actions.as_slice(), self.delay_ms) {
            ([], None) => {
                return Err(
                    "a fault needs `errcode`, `body`, `drop`, `bad_token` or `delay_ms`".into(),
                );
            }
            ([], Some(_)) => Action::Proceed,
            ([one], _) => *one,
            _ => {
                return Err("`errcode`, `body`, `drop` and `bad_token` exclude one another".into());
            }
        };
        if self.delay_ms.is_some_and(|ms| ms > MAX_DELAY_MS) {
            return Err(format!("`delay_ms` must be at most {MAX_DELAY_MS}"));
        }
        if self.count == Some(0) {
            return Err("`count` must be at least 1".into());
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err("`probability` must be between 0 and 1".into());
        }
        Ok(Fault {
            endpoint,
            delay: self.delay_ms.map(Duration::from_millis),
            action,
            // Neither given: the next call only.
            remaining: self.count.or(self.probability.is_none().then_some(1)),
            probability: self.probability,
        })
    }
}

pub(super) async fn add(
    State(sim): State<Simulator>,
    JsonBody(request): JsonBody<FaultRequest>,
) -> Result<Json<Value>, ControlError> {
    let fault = request.into_fault().map_err(ControlError::bad_request)?;
    tracing::info!(endpoint = fault.endpoint.name(), action = ?fault.action, "fault queued");
    let queued = sim.lock().faults.add(fault);
    Ok(Json(json!({ "queued": queued })))
}

pub(super) async fn clear(State(sim): State<Simulator>) -> Json<Value> {
    sim.lock().faults.clear();
    tracing::info!("faults cleared");
    Json(json!({ "queued": 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Fault, String> {
        serde_json::from_value::<FaultRequest>(body)
            .map_err(|e| e.to_string())?
            .into_fault()
    }

    #[test]
    fn defaults_and_combinations() {
        let fault = parse(json!({"endpoint": "jscode2session", "errcode": -1})).unwrap();
        assert_eq!(fault.action, Action::Errcode(-1));
        assert_eq!(
            fault.remaining,
            Some(1),
            "neither count nor probability: once"
        );

        let fault =
            parse(json!({"endpoint": "jscode2session", "drop": true, "probability": 0.5})).unwrap();
        assert_eq!((fault.remaining, fault.probability), (None, Some(0.5)));

        let fault =
            parse(json!({"endpoint": "jscode2session", "delay_ms": 50, "count": 3})).unwrap();
        assert_eq!(fault.action, Action::Proceed);
        assert_eq!(fault.delay, Some(Duration::from_millis(50)));
        assert_eq!(fault.remaining, Some(3));

        let fault =
            parse(json!({"endpoint": "jscode2session", "delay_ms": 50, "body": "html"})).unwrap();
        assert_eq!(fault.action, Action::Html);

        let fault = parse(json!({"endpoint": "stable_token", "bad_token": true})).unwrap();
        assert_eq!(fault.action, Action::BadToken);
        assert_eq!(fault.remaining, Some(1));
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for (body, expected) in [
            (
                json!({"endpoint": "nope", "errcode": -1}),
                "unknown endpoint",
            ),
            (json!({"endpoint": "jscode2session"}), "needs"),
            (
                json!({"endpoint": "jscode2session", "errcode": -1, "drop": true}),
                "exclude",
            ),
            (
                json!({"endpoint": "jscode2session", "errcode": 0}),
                "success",
            ),
            (
                json!({"endpoint": "jscode2session", "drop": true, "count": 0}),
                "count",
            ),
            (
                json!({"endpoint": "jscode2session", "drop": true, "probability": 1.5}),
                "probability",
            ),
            (
                json!({"endpoint": "jscode2session", "body": "xml"}),
                "variant",
            ),
            (
                json!({"endpoint": "jscode2session", "drop": true, "cnt": 2}),
                "unknown field",
            ),
            (
                json!({"endpoint": "checksession", "bad_token": true}),
                "only applies",
            ),
            (
                json!({"endpoint": "token", "bad_token": true, "errcode": -1}),
                "exclude",
            ),
        ] {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }
}
