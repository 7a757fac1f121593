//! `GET /sns/jscode2session?appid&secret&js_code&grant_type` (protocol §2, §13 items 2, 3, 7, 11).
//!
//! Checks, in this order; the first that fails answers:
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1 | `appid` present | 41002 |
//! | 2 | `appid` known | 40013 |
//! | 3 | `secret` present | 41004 |
//! | 4 | `secret` is the app's | 40125 |
//! | 5 | `grant_type` is `authorization_code` (missing counts as wrong) | 40002 |
//! | 6 | `js_code` present | 41008 |
//! | 7 | code known, younger than `code_lifetime`, issued for this appid | 40029 |
//! | - | *the attempt now resolves to a user and counts toward their minute* | |
//! | 8 | code not used before | 40163 |
//! | 9 | user not high-risk | 40226 |
//! | 10 | user's attempts this clock minute ≤ the limit | 45011 |
//!
//! Only a call passing all ten consumes the code. Success is
//! `{"session_key", "openid"}` plus `"unionid"` for an app bound to an Open Platform account,
//! with no `errcode`/`errmsg`.

use serde_json::json;
use time::OffsetDateTime;

use super::{Call, Reply};
use crate::world::{CodeLookup, World};

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Reply {
    match exchange(world, call, now) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn exchange(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, Reply> {
    let appid = call.param("appid").ok_or(Reply::Error(41002))?;
    let app = world.app(appid).ok_or(Reply::Error(40013))?;
    let secret = call.param("secret").ok_or(Reply::Error(41004))?;
    if !app.secret_matches(secret) {
        return Err(Reply::Error(40125));
    }
    if call.param("grant_type") != Some("authorization_code") {
        return Err(Reply::Error(40002));
    }
    let code = call.param("js_code").ok_or(Reply::Error(41008))?;
    let CodeLookup::Valid { user, used } = world.lookup_code(appid, code, now) else {
        return Err(Reply::Error(40029));
    };

    let attempts = world.count_exchange(appid, &user, now);
    if used {
        return Err(Reply::Error(40163));
    }
    if world.app(appid).is_some_and(|app| app.is_high_risk(&user)) {
        return Err(Reply::Error(40226));
    }
    if attempts > world.rules.exchanges_per_minute {
        return Err(Reply::Error(45011));
    }

    let identity = world.consume_code(code, now).ok_or(Reply::Error(-1))?;
    let mut body = json!({
        "session_key": identity.session_key,
        "openid": identity.openid,
    });
    if let Some(unionid) = identity.unionid {
        body["unionid"] = json!(unionid);
    }
    Ok(Reply::Success(body))
}
