//! `GET /wxa/checksession?access_token&openid&signature&sig_method` (protocol §5.2, §13 item 4).
//!
//! Checks, in this order:
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1 | `access_token` | 41001, 40014, 40001, 42001 |
//! | 2 | `sig_method` is `hmac_sha256` (missing counts as wrong) | 87008 |
//! | 3 | `openid` present and a user of the token's app | 40003 |
//! | 4 | `signature` is hex HMAC-SHA256 over "" keyed with the user's live session_key text, compared ignoring case; a missing signature or an expired / superseded / reset key fails | 87009 |
//!
//! Success is `{"errcode":0,"errmsg":"ok"}`.

use serde_json::json;
use time::OffsetDateTime;

use super::{Call, Reply};
use crate::world::World;

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, i64> {
    let (appid, openid) = signed_call(world, call, now)?;
    world.check_signature(&appid, openid, call.param("signature"), now)?;
    Ok(Reply::Success(json!({"errcode": 0, "errmsg": "ok"})))
}

/// Rows 1–3, shared with `resetusersessionkey`: the token's appid and the openid.
pub(super) fn signed_call<'a>(
    world: &World,
    call: &'a Call,
    now: OffsetDateTime,
) -> Result<(String, &'a str), i64> {
    let appid = call.token_app(world, now)?;
    if call.param("sig_method") != Some("hmac_sha256") {
        return Err(87008);
    }
    let openid = call.param("openid").ok_or(40003)?;
    Ok((appid, openid))
}
