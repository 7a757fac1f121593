//! `POST /cgi-bin/stable_token` with a JSON body `{"grant_type","appid","secret",
//! "force_refresh"?}` — the stable access_token (protocol §3.2, §13 items 6 and 7).
//!
//! Checks, in this order:
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1 | method is POST | 43002 |
//! | 2 | body present / a JSON object | 44002 / 47001 |
//! | 3 | `grant_type`, `appid`, `secret` strings and `force_refresh` a boolean, where present | 47001 |
//! | 4 | credentials, as rows 1–5 of `cgi-bin/token` (query parameters are not read) | 41002, 40013, 41004, 40001/40125, 40002 |
//! | 5 | the app's calls today ≤ `stable_token_daily_quota` | 45009 |
//! | 6 | the app's calls this clock minute ≤ `stable_token_per_minute` | 45011 |
//! | 7 | an effective forced refresh within `stable_token_force_refresh_daily` today | 45009 |
//!
//! Every call passing row 4 counts toward rows 5 and 6. Then (all unconfirmed details are our
//! choices):
//! - **normal mode** returns the current token with its remaining `expires_in` while at least
//!   300 s remain; otherwise (none yet, less left, expired or revoked) it mints a new one and
//!   the old one stays valid until its own expiry.
//! - **`force_refresh: true`** mints a new token and kills every earlier stable token of the app
//!   at once (no grace). Within 30 s of the last *effective* forced refresh it is ignored and
//!   the call behaves as normal mode, without counting toward the daily 20. Past the daily cap
//!   it is 45009, and the current token is left alone.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::token::{credentials, success};
use super::{Call, Reply};
use crate::world::World;

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, i64> {
    call.require_post()?;
    let body = call.json_body()?;
    let text = |name| string_field(&body, name);
    let (grant_type, appid, secret) = (text("grant_type")?, text("appid")?, text("secret")?);
    let force_refresh = match body.get("force_refresh") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return Err(47001),
    };
    let appid = credentials(world, appid, secret, grant_type)?;
    let rules = world.rules.tokens.clone();
    let issued = world.tokens.stable(
        &appid,
        force_refresh,
        &rules,
        &mut world.rng,
        call.bad_token,
        now,
    )?;
    Ok(success(issued))
}

/// A string field: `Ok(None)` when absent, null or empty; 47001 when of another type.
fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, i64> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str()).filter(|t| !t.is_empty())),
        Some(_) => Err(47001),
    }
}
