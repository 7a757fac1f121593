//! `GET /cgi-bin/token?grant_type=client_credential&appid&secret` — the classic access_token
//! (protocol §3.1, §3.3, §13 items 5 and 7).
//!
//! Checks, in this order (the same as `jscode2session`'s, and shared with `stable_token`):
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1 | `appid` present | 41002 |
//! | 2 | `appid` known | 40013 |
//! | 3 | `secret` present | 41004 |
//! | 4 | `secret` is the app's | 40001 if the wrong secret has an AppSecret's shape (32 hex digits), else 40125 |
//! | 5 | `grant_type` is `client_credential` (missing counts as wrong) | 40002 |
//! | 6 | the app's calls today ≤ `token_daily_quota` | 45009 |
//!
//! Row 4 is our reading of §3.3, where both codes are real: WeChat documents 40001 for "the
//! AppSecret is wrong or not this app's", and users report 40125 `invalid appsecret`; we answer
//! 40001 for a well-formed wrong secret and 40125 for one that cannot be an AppSecret at all.
//! Every call passing rows 1–5 counts toward the quota. Success mints a new token
//! (`{"access_token","expires_in"}`, no errcode); the previous one dies 300 s later.

use serde_json::json;
use time::OffsetDateTime;

use super::{Call, Reply};
use crate::world::{Issued, World};

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, i64> {
    let appid = credentials(
        world,
        call.param("appid"),
        call.param("secret"),
        call.param("grant_type"),
    )?;
    let rules = world.rules.tokens.clone();
    let issued = world
        .tokens
        .classic(&appid, &rules, &mut world.rng, call.bad_token, now)?;
    Ok(success(issued))
}

/// Rows 1–5 above, for both token endpoints; returns the appid.
pub(super) fn credentials(
    world: &World,
    appid: Option<&str>,
    secret: Option<&str>,
    grant_type: Option<&str>,
) -> Result<String, i64> {
    let appid = appid.ok_or(41002)?;
    let app = world.app(appid).ok_or(40013)?;
    let secret = secret.ok_or(41004)?;
    if !app.secret_matches(secret) {
        let shaped = secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit());
        return Err(if shaped { 40001 } else { 40125 });
    }
    if grant_type != Some("client_credential") {
        return Err(40002);
    }
    Ok(appid.to_owned())
}

/// `{"access_token": "…", "expires_in": N}`, exactly as §3.1 shows it.
pub(super) fn success(issued: Issued) -> Reply {
    Reply::Success(json!({
        "access_token": issued.token,
        "expires_in": issued.expires_in,
    }))
}
