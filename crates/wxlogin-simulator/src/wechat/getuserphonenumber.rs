//! `POST /wxa/business/getuserphonenumber?access_token=` with a JSON body `{"code","openid"?}`
//! (protocol §4, §13 item 8).
//!
//! Checks, in this order:
//!
//! | # | check | errcode |
//! |---|---|---|
//! | 1 | method is POST | 43002 |
//! | 2 | `access_token` (query string) | 41001, 40014, 40001, 42001 |
//! | 3 | body present / a JSON object | 44002 / 47001 |
//! | 4 | `code` and `openid` strings, where present | 47001 |
//! | 5 | `code` present (a code in the query string does not count), known, this app's, younger than `phone_code_lifetime`, unused | 40029 |
//! | 6 | `openid`, if given, is the code's user (our choice of code: the mismatch code is unpublished) | 40029 |
//!
//! Only success consumes the code. Success is `{"errcode":0,"errmsg":"ok","phone_info":
//! {"phoneNumber","purePhoneNumber","countryCode":"86","watermark":{"timestamp","appid"}}}`,
//! the watermark timestamp being when the user tapped the button (the code's issue time).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Call, Reply};
use crate::world::World;

pub(super) fn apply(world: &mut World, call: &Call, now: OffsetDateTime) -> Result<Reply, i64> {
    call.require_post()?;
    let appid = call.token_app(world, now)?;
    let body = call.json_body()?;
    let field = |name| match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(47001),
    };
    let (code, openid) = (field("code")?, field("openid")?);
    let code = code.ok_or(40029)?;
    let grant = world.redeem_phone_code(&appid, code, openid, now)?;
    Ok(Reply::Success(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": grant.number,
            "purePhoneNumber": grant.number,
            "countryCode": "86",
            "watermark": {"timestamp": grant.issued_at, "appid": appid},
        },
    })))
}
