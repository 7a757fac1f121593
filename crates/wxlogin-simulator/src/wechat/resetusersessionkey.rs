//! `GET /wxa/resetusersessionkey?access_token&openid&signature&sig_method` (protocol §5.3,
//! §13 items 4 and 7).
//!
//! Checks, in this order:
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1–3 | as `checksession` | 41001, 40014, 40001, 42001, 87008, 40003 |
//! | 4 | the app's calls this clock minute ≤ `resetusersessionkey_per_minute` | 45011 |
//! | 5 | signature over "" with the user's live key, as `checksession` | 87009 |
//! | 6 | the user's successful resets this clock minute < `resetusersessionkey_per_user_per_minute` | 45011 |
//!
//! Success is `{"errcode":0,"errmsg":"ok","openid","session_key"}`: a fresh key that keeps the
//! old key's expiry; the old key is invalid at once, and the device's `wx.checkSession` fails
//! until its next `wx.login` (it still holds the old login state).

use serde_json::json;
use time::OffsetDateTime;

use super::checksession::signed_call;
use super::{Call, Reply};
use crate::world::World;

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, i64> {
    let (appid, openid) = signed_call(world, call, now)?;
    let limit = world.rules.resets_per_minute;
    if !world
        .app_mut(&appid)
        .is_some_and(|app| app.count_reset(limit, now))
    {
        return Err(45011);
    }
    world.check_signature(&appid, openid, call.param("signature"), now)?;
    let session_key = world.reset_key(&appid, openid, now)?;
    Ok(Reply::Success(json!({
        "errcode": 0,
        "errmsg": "ok",
        "openid": openid,
        "session_key": session_key,
    })))
}
