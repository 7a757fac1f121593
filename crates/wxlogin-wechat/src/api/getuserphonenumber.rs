//! `POST /wxa/business/getuserphonenumber`: the user's phone number from a phone-button code
//! (protocol reference §4).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::WeChatClient;
use crate::envelope::{parse_integer, required};
use crate::error::{BadResponse, WeChatError};

const PATH: &str = "/wxa/business/getuserphonenumber";

/// The user's phone number, as WeChat verified it. Personal data: `Debug` masks the numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// The number as the user sees it; includes the country code outside mainland China.
    pub phone_number: String,
    /// The number without its country code.
    pub pure_phone_number: String,
    /// The country calling code, e.g. `"86"`. WeChat sends a string or a bare number; this is
    /// always the decimal text.
    pub country_code: String,
    /// When and for which app the user released the number, if WeChat said so readably.
    pub watermark: Option<Watermark>,
}

/// `phone_info.watermark`: compare `appid` with your own before trusting the number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watermark {
    /// The mini-program the number was released to.
    pub appid: String,
    /// Unix seconds when the user released it.
    pub timestamp: i64,
}

impl fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneInfo")
            .field("phone_number", &mask_phone(&self.phone_number))
            .field("pure_phone_number", &mask_phone(&self.pure_phone_number))
            .field("country_code", &self.country_code)
            .field("watermark", &self.watermark)
            .finish()
    }
}

/// Keeps the last two digits — enough to tell two numbers apart in a log, no more.
fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = if chars.len() > 6 { 2 } else { 0 };
    let mut out = "*".repeat(chars.len() - keep);
    out.extend(&chars[chars.len() - keep..]);
    out
}

/// The JSON body. No `Debug`: the code is single-use but still a credential until used.
#[derive(Serialize)]
struct Request<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
}

/// `{"errcode":0,"errmsg":"ok","phone_info":{…}}`; unknown fields ignored at every level.
#[derive(Deserialize)]
struct Wire {
    phone_info: Option<PhoneWire>,
}

#[derive(Deserialize)]
struct PhoneWire {
    #[serde(rename = "phoneNumber")]
    phone_number: Option<String>,
    #[serde(rename = "purePhoneNumber")]
    pure_phone_number: Option<String>,
    /// A string per the field table, a number per the doc's own example and wechatpy's fixture.
    #[serde(rename = "countryCode")]
    country_code: Option<Value>,
    watermark: Option<Value>,
}

impl Wire {
    fn finish(self) -> Result<PhoneInfo, BadResponse> {
        let phone = self
            .phone_info
            .ok_or(BadResponse::MissingField("phone_info"))?;
        let country_code = match phone.country_code {
            None | Some(Value::Null) => {
                return Err(BadResponse::MissingField("phone_info.countryCode"));
            }
            Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
            Some(Value::Number(number)) if number.is_u64() => number.to_string(),
            Some(_) => return Err(BadResponse::InvalidField("phone_info.countryCode")),
        };
        Ok(PhoneInfo {
            phone_number: required(phone.phone_number, "phone_info.phoneNumber")?,
            pure_phone_number: required(phone.pure_phone_number, "phone_info.purePhoneNumber")?,
            country_code,
            watermark: phone.watermark.as_ref().and_then(watermark),
        })
    }
}

/// A watermark with a non-empty `appid` and an integer `timestamp` (number or numeric string);
/// anything less is `None`. Lenient on purpose: the number arrived over our own authenticated
/// call, and failing here would waste a single-use, billed phone code.
fn watermark(value: &Value) -> Option<Watermark> {
    let appid = value
        .get("appid")?
        .as_str()
        .filter(|appid| !appid.is_empty())?;
    let timestamp = parse_integer(value.get("timestamp")?)?;
    Some(Watermark {
        appid: appid.to_owned(),
        timestamp,
    })
}

impl WeChatClient {
    /// Exchanges a phone code (`e.detail.code` of `<button open-type="getPhoneNumber">`, not a
    /// `wx.login` code) for the user's phone number: `POST
    /// /wxa/business/getuserphonenumber?access_token=…` with the JSON body `{"code"[,
    /// "openid"]}`. The code goes in the body — WeChat answers 40029 when it is in the query.
    /// With `openid`, WeChat also checks that the code belongs to that user.
    ///
    /// **Never retried on -1, a timeout or a connection failure**, whatever
    /// [`WeChatError::is_retryable`] says: a phone code is single-use (and each success is
    /// billed), so the outcome of a lost call is unknown and a repeat reads as 40029. The one
    /// repeat that is safe is after [`WeChatError::is_token_error`] (40001 / 40014 / 42001):
    /// WeChat refused the token before looking at the code.
    ///
    /// Typical errcodes: 40029 invalid, used or expired code, 45011 rate limited, 47001 body
    /// not JSON, 48001 app not entitled, token errors, -1 busy.
    #[tracing::instrument(name = "wechat.getuserphonenumber", skip_all)]
    pub async fn get_user_phone_number(
        &self,
        access_token: &SecretString,
        code: &str,
        openid: Option<&str>,
    ) -> Result<PhoneInfo, WeChatError> {
        let query = [("access_token", access_token.expose_secret())];
        let body = Request { code, openid };
        let secrets = [access_token.expose_secret(), code, openid.unwrap_or("")];
        self.post_json(PATH, &query, &body, &secrets, Wire::finish)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    fn phone(body: &str) -> Result<PhoneInfo, WeChatError> {
        decode(200, body.as_bytes(), Wire::finish)
    }

    const DOCUMENTED: &str = r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13123456789","purePhoneNumber":"13123456789","countryCode":"86","watermark":{"timestamp":1637744274,"appid":"wx4f4bc4dec97d474b"}}}"#;

    #[test]
    fn documented_success_with_country_code_as_string() {
        let info = phone(DOCUMENTED).unwrap();
        assert_eq!(
            info,
            PhoneInfo {
                phone_number: "13123456789".into(),
                pure_phone_number: "13123456789".into(),
                country_code: "86".into(),
                watermark: Some(Watermark {
                    appid: "wx4f4bc4dec97d474b".into(),
                    timestamp: 1_637_744_274,
                }),
            }
        );
    }

    #[test]
    fn country_code_as_number_and_extra_fields() {
        let info = phone(
            r#"{"errcode":0,"errmsg":"ok","new_top_level":1,"phone_info":{"phoneNumber":"+85261234567","purePhoneNumber":"61234567","countryCode":852,"extra":{"a":[1]},"watermark":{"timestamp":"1637744274","appid":"wxabc","more":true}}}"#,
        )
        .unwrap();
        assert_eq!(info.country_code, "852");
        assert_eq!(info.phone_number, "+85261234567");
        assert_eq!(info.pure_phone_number, "61234567");
        assert_eq!(info.watermark.unwrap().timestamp, 1_637_744_274);
    }

    #[test]
    fn a_missing_or_unreadable_watermark_is_none() {
        for watermark in [
            "",
            r#","watermark":null"#,
            r#","watermark":{}"#,
            r#","watermark":{"appid":"wxabc"}"#,
            r#","watermark":{"appid":"","timestamp":1}"#,
            r#","watermark":{"appid":"wxabc","timestamp":"later"}"#,
            r#","watermark":"wxabc""#,
        ] {
            let info = phone(&format!(
                r#"{{"errcode":0,"phone_info":{{"phoneNumber":"1","purePhoneNumber":"1","countryCode":"86"{watermark}}}}}"#
            ))
            .unwrap_or_else(|err| panic!("{watermark}: {err}"));
            assert_eq!(info.watermark, None, "{watermark}");
        }
    }

    #[test]
    fn missing_or_odd_fields_are_bad_responses() {
        let err = phone(r#"{"errcode":0,"errmsg":"ok"}"#).unwrap_err();
        assert!(err.to_string().contains("`phone_info`"), "{err}");
        let err =
            phone(r#"{"phone_info":{"purePhoneNumber":"1","countryCode":"86"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("`phone_info.phoneNumber`"),
            "{err}"
        );
        let err = phone(r#"{"phone_info":{"phoneNumber":"1","countryCode":"86"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("`phone_info.purePhoneNumber`"),
            "{err}"
        );
        let err = phone(r#"{"phone_info":{"phoneNumber":"1","purePhoneNumber":"1"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("without `phone_info.countryCode`"),
            "{err}"
        );
        for country_code in ["\"\"", "-86", "86.5", "true", "[86]"] {
            let err = phone(&format!(
                r#"{{"phone_info":{{"phoneNumber":"1","purePhoneNumber":"1","countryCode":{country_code}}}}}"#
            ))
            .unwrap_err();
            assert!(
                err.to_string().contains("invalid `phone_info.countryCode`"),
                "{country_code}: {err}"
            );
        }
        assert!(
            phone(r#"{"phone_info":"13123456789"}"#)
                .unwrap_err()
                .is_bad_response()
        );
    }

    #[test]
    fn errors_are_decoded() {
        let err =
            phone(r#"{"errcode":40029,"errmsg":"invalid code, rid: 652d44d0-1d0af18b-5b069232"}"#)
                .unwrap_err();
        assert_eq!(err.errcode(), Some(40029));
        assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));
        assert!(!err.is_token_error());
        let err = phone(r#"{"errcode":42001,"errmsg":"access_token expired"}"#).unwrap_err();
        assert!(err.is_token_error());
    }

    #[test]
    fn body_is_json_with_the_code_and_an_optional_openid() {
        let body = Request {
            code: "c0de",
            openid: None,
        };
        assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"code":"c0de"}"#);
        let body = Request {
            code: "c0de",
            openid: Some("o1"),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"c0de","openid":"o1"}"#
        );
    }

    #[test]
    fn debug_masks_the_numbers() {
        let info = phone(DOCUMENTED).unwrap();
        for text in [format!("{info:?}"), format!("{info:#?}")] {
            assert!(!text.contains("13123456789"), "{text}");
            assert!(!text.contains("1312345"), "{text}");
            assert!(text.contains("*********89"), "{text}");
            assert!(
                text.contains("\"86\"") && text.contains("wx4f4bc4dec97d474b"),
                "{text}"
            );
        }
        assert_eq!(mask_phone("123456"), "******");
        assert_eq!(mask_phone(""), "");
    }
}
