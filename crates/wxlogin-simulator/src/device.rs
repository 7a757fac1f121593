//! What WeChat hands the mini-program itself: the encrypted open-data payloads of §6.3 and the
//! rawData + signature of §7. Pure functions; the control routes feed them the user's key
//! *current at that moment*, a random IV and the time.
//!
//! The JSON is written from structs, so the field order is the documented one (vector A's):
//! `openId, nickName, gender, language, city, province, country, avatarUrl, unionId, watermark`
//! with `watermark` = `{timestamp, appid}`.

use serde::Serialize;

use crate::crypto;

/// The nickname every new app version gets since the 2022 change (§6.3 a).
const NICKNAME: &str = "微信用户";
/// WeChat's grey default avatar, served at size 132 (the last path segment).
const DEFAULT_AVATAR: &str = "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132";

#[derive(Debug, Serialize)]
struct Watermark<'a> {
    timestamp: i64,
    appid: &'a str,
}

/// The non-sensitive profile: exactly what rawData carries, in this order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    nick_name: &'static str,
    gender: u8,
    language: &'static str,
    city: &'static str,
    province: &'static str,
    country: &'static str,
    avatar_url: &'static str,
}

/// Post-2022 values: gender 0, empty places, `zh_CN` (§6.3 a, §8.4).
const PROFILE: Profile = Profile {
    nick_name: NICKNAME,
    gender: 0,
    language: "zh_CN",
    city: "",
    province: "",
    country: "",
    avatar_url: DEFAULT_AVATAR,
};

/// The encrypted user-info payload: the profile plus identity and watermark.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserInfo<'a> {
    open_id: &'a str,
    #[serde(flatten)]
    profile: &'a Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    union_id: Option<&'a str>,
    watermark: Watermark<'a>,
}

/// The old-style phone payload (§6.3 b); `countryCode` is a string.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Phone<'a> {
    phone_number: &'a str,
    pure_phone_number: &'a str,
    country_code: &'a str,
    watermark: Watermark<'a>,
}

/// Who the payload is for and how it is sealed.
#[derive(Debug)]
pub(crate) struct Seal<'a> {
    pub(crate) appid: &'a str,
    pub(crate) session_key: &'a str,
    pub(crate) iv: [u8; 16],
    /// Unix seconds for the watermark.
    pub(crate) timestamp: i64,
}

/// `wx.getUserInfo` / `wx.getUserProfile` output.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UserInfoOutput {
    pub(crate) encrypted_data: String,
    pub(crate) iv: String,
    pub(crate) raw_data: String,
    pub(crate) signature: String,
}

/// The user-info payload for `openid` (and `unionid`, when bound), sealed under `seal`.
/// `openId` / `unionId` go only into encryptedData, never into rawData.
pub(crate) fn user_info(seal: &Seal<'_>, openid: &str, unionid: Option<&str>) -> UserInfoOutput {
    let raw_data = serde_json::to_string(&PROFILE).expect("plain struct serialises");
    let payload = UserInfo {
        open_id: openid,
        profile: &PROFILE,
        union_id: unionid,
        watermark: Watermark {
            timestamp: seal.timestamp,
            appid: seal.appid,
        },
    };
    let plaintext = serde_json::to_vec(&payload).expect("plain struct serialises");
    UserInfoOutput {
        encrypted_data: encrypt(seal, &plaintext),
        iv: base64_iv(seal),
        signature: crypto::raw_data_signature(&raw_data, seal.session_key),
        raw_data,
    }
}

/// The old phone button's `{encryptedData, iv}` for a mainland number.
pub(crate) fn phone(seal: &Seal<'_>, number: &str) -> (String, String) {
    let payload = Phone {
        phone_number: number,
        pure_phone_number: number,
        country_code: "86",
        watermark: Watermark {
            timestamp: seal.timestamp,
            appid: seal.appid,
        },
    };
    let plaintext = serde_json::to_vec(&payload).expect("plain struct serialises");
    (encrypt(seal, &plaintext), base64_iv(seal))
}

fn encrypt(seal: &Seal<'_>, plaintext: &[u8]) -> String {
    // Every key the world holds is base64 of 16 bytes: generated so, or checked at start-up.
    crypto::encrypt(seal.session_key, &seal.iv, plaintext)
        .expect("session_keys are always base64 of 16 bytes")
}

fn base64_iv(seal: &Seal<'_>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(seal.iv)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

    fn seal() -> Seal<'static> {
        Seal {
            appid: "wx0123456789abcdef",
            session_key: KEY,
            iv: *b"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
            timestamp: 1_700_000_000,
        }
    }

    #[test]
    fn the_phone_payload_of_vector_c_is_reproduced_exactly() {
        let (data, iv) = phone(&seal(), "13800138000");
        assert_eq!(iv, "EBESExQVFhcYGRobHB0eHw==");
        assert_eq!(
            data,
            "aLhedzo+Z6es5zW+YHo9susiHnaEYeAkbZXA6vB3xXwsEHApbzM53NsvIVPS8sbzE9Tu3cKoosCIaJ9ReH9c7q8xI4AFlJ8HTHrrdVC0WzSFVEG+Q/SUBzVOfvRAiCzg9pRwA0o1X/SBOShf2kiL8wNfdlkWY+I9rsvJLhx38KPligMy/5ajh2WA9GMad7QPJ4mOrRhNln1eQPztHyRiSA=="
        );
    }

    #[test]
    fn user_info_keeps_identity_out_of_raw_data_and_signs_it() {
        let out = user_info(&seal(), "oOPENID", Some("oUNIONID"));
        assert_eq!(
            out.raw_data,
            format!(
                r#"{{"nickName":"微信用户","gender":0,"language":"zh_CN","city":"","province":"","country":"","avatarUrl":"{DEFAULT_AVATAR}"}}"#
            )
        );
        assert!(!out.raw_data.contains("oOPENID") && !out.raw_data.contains("oUNIONID"));
        assert_eq!(
            out.signature,
            crypto::raw_data_signature(&out.raw_data, KEY)
        );

        let plain = crypto::decrypt(KEY, &out.iv, &out.encrypted_data).unwrap();
        let text = String::from_utf8(plain).unwrap();
        assert!(
            text.starts_with(r#"{"openId":"oOPENID","nickName":"微信用户","gender":0,"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#","unionId":"oUNIONID","watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#),
            "{text}"
        );

        let unbound = user_info(&seal(), "oOPENID", None);
        let plain = crypto::decrypt(KEY, &unbound.iv, &unbound.encrypted_data).unwrap();
        let value: Value = serde_json::from_slice(&plain).unwrap();
        assert!(value.get("unionId").is_none(), "{value}");
        assert_eq!(
            value["watermark"],
            json!({"timestamp": 1_700_000_000, "appid": "wx0123456789abcdef"})
        );
    }
}
