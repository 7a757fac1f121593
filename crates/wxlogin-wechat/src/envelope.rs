//! WeChat's response envelope, decoded the same way for every endpoint (protocol reference §1).
//!
//! WeChat reports failures as HTTP 200 with `{"errcode": N, "errmsg": "…, rid: …"}` and successes
//! either without an errcode (jscode2session, token) or with `"errcode": 0` (phone, checksession,
//! reset). [`decode`] therefore:
//!
//! 1. parses the body as JSON whatever the Content-Type says (WeChat has sent several);
//! 2. requires a JSON object — HTML error pages from a proxy, truncated bodies, arrays and empty
//!    bodies are bad responses (a non-2xx status is recorded, never trusted on its own);
//! 3. reads `errcode` as a number or a numeric string, missing meaning 0; any non-zero errcode is an
//!    error even when success fields are present too;
//! 4. otherwise hands the object to the endpoint's own type, unknown fields ignored.
//!
//! The body is never echoed into an error: it may hold a session_key. Serde's messages are dropped
//! for the same reason (they quote offending values).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{BadResponse, WeChatError};

/// Decodes a WeChat response body: the envelope first, then the endpoint's wire type `R`, which
/// `finish` checks and turns into the public result (e.g. rejecting a missing `session_key`).
#[cfg(test)]
pub(crate) fn decode<R, T>(
    status: u16,
    body: &[u8],
    finish: impl FnOnce(R) -> Result<T, BadResponse>,
) -> Result<T, WeChatError>
where
    R: DeserializeOwned,
{
    decode_scrubbed(status, body, &[], finish)
}

/// [`decode`], and every non-empty value of `secrets` that WeChat echoes in an `errmsg` is
/// replaced by `[REDACTED]` — on the whole message, before it is capped, so no prefix survives.
pub(crate) fn decode_scrubbed<R, T>(
    status: u16,
    body: &[u8],
    secrets: &[&str],
    finish: impl FnOnce(R) -> Result<T, BadResponse>,
) -> Result<T, WeChatError>
where
    R: DeserializeOwned,
{
    let bad = |reason| WeChatError::bad_response(reason, Some(status));
    let object = decode_envelope(status, body, secrets)?;
    let raw = serde_json::from_value(Value::Object(object))
        .map_err(|_| bad(BadResponse::UnexpectedShape))?;
    finish(raw).map_err(bad)
}

/// Steps 1–3: the JSON object of a successful answer, or the error it reports.
fn decode_envelope(
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<Map<String, Value>, WeChatError> {
    let bad = |reason| WeChatError::bad_response(reason, Some(status));
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(bad(BadResponse::NotAnObject)),
        Err(_) => return Err(bad(classify_non_json(body))),
    };
    let errcode = match object.get("errcode") {
        None | Some(Value::Null) => 0,
        Some(value) => parse_integer(value).ok_or_else(|| bad(BadResponse::InvalidErrcode))?,
    };
    if errcode != 0 {
        let errmsg = object
            .get("errmsg")
            .and_then(Value::as_str)
            .map(|errmsg| scrub(errmsg, secrets));
        return Err(WeChatError::api(errcode, errmsg.as_deref(), Some(status)));
    }
    if !(200..300).contains(&status) {
        // JSON, but neither an error nor a plausible success: not WeChat (e.g. a gateway's JSON).
        return Err(bad(BadResponse::UnexpectedStatus));
    }
    Ok(object)
}

/// `text` with every occurrence of each non-empty secret replaced by `[REDACTED]`.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, "[REDACTED]");
        }
    }
    out
}

/// An integer, or a string holding one (some WeChat APIs have sent `"errcode": "40001"`).
pub(crate) fn parse_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn classify_non_json(body: &[u8]) -> BadResponse {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        BadResponse::Empty
    } else if trimmed.starts_with(b"<") {
        BadResponse::Html
    } else {
        BadResponse::NotJson
    }
}

/// Reads a non-empty string field of a success response; empty counts as missing.
pub(crate) fn required(value: Option<String>, field: &'static str) -> Result<String, BadResponse> {
    value
        .filter(|text| !text.is_empty())
        .ok_or(BadResponse::MissingField(field))
}

/// Finds WeChat's request id in an `errmsg`.
///
/// Styles seen (§1.5): `"invalid code, rid: 652d44d0-1d0af18b-5b069232"`, the same without the
/// comma, `"invalid code, hints: [ req_id: N37KMa0605th21 ]"` and `"invalid appid hint:
/// [vJOTwa0300ha57]"`. The id is taken as a run of ASCII letters, digits and `-`, so trailing
/// punctuation or a closing bracket is not part of it.
pub(crate) fn extract_rid(errmsg: &str) -> Option<&str> {
    ["rid:", "req_id:", "hints: [", "hint: ["]
        .iter()
        .find_map(|marker| token_after(errmsg, marker))
}

fn token_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(marker) {
        let start = search_from + found;
        search_from = start + marker.len();
        // `rid:` must start a word: not the tail of e.g. `grid:` or `req_id:`.
        let starts_word = text[..start]
            .chars()
            .next_back()
            .is_none_or(|before| !before.is_ascii_alphanumeric() && before != '_');
        if !starts_word {
            continue;
        }
        let rest = text[search_from..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        if end > 0 {
            return Some(&rest[..end]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::error::ErrorKind;

    /// A stand-in success type shaped like jscode2session's.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Session {
        openid: String,
        session_key: String,
        #[serde(default)]
        unionid: Option<String>,
    }

    const OK: &[u8] =
        br#"{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}"#;

    fn session(status: u16, body: &[u8]) -> Result<Session, WeChatError> {
        decode(status, body, Ok)
    }

    #[track_caller]
    fn bad_response(status: u16, body: &[u8]) -> String {
        let err = session(status, body).expect_err("should be a bad response");
        assert!(err.is_bad_response(), "{err:?}");
        assert_eq!(err.errcode(), None);
        assert_eq!(err.http_status(), Some(status));
        err.to_string()
    }

    #[test]
    fn missing_errcode_is_success() {
        let session = session(200, OK).unwrap();
        assert_eq!(session.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(session.session_key, "tiihtNczf5v6AKRyjwEUhQ==");
        assert_eq!(session.unionid, None);
    }

    #[test]
    fn errcode_zero_with_success_fields_is_success() {
        let body =
            br#"{"errcode":0,"errmsg":"ok","openid":"o1","session_key":"k1","unionid":"u1"}"#;
        let decoded = session(200, body).unwrap();
        assert_eq!(decoded.unionid.as_deref(), Some("u1"));
        // Also as a string, and as null.
        assert!(session(200, br#"{"errcode":"0","openid":"o","session_key":"k"}"#).is_ok());
        assert!(session(200, br#"{"errcode":null,"openid":"o","session_key":"k"}"#).is_ok());
    }

    #[test]
    fn errcode_as_number() {
        let body = br#"{"errcode":40029,"errmsg":"invalid code, rid: 652d44d0-1d0af18b-5b069232"}"#;
        let err = session(200, body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api);
        assert_eq!(err.errcode(), Some(40029));
        assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));
        assert_eq!(
            err.errmsg(),
            Some("invalid code, rid: 652d44d0-1d0af18b-5b069232")
        );
        assert_eq!(err.http_status(), Some(200));
    }

    #[test]
    fn errcode_as_numeric_string() {
        let err = session(200, br#"{"errcode":"40163","errmsg":"code been used"}"#).unwrap_err();
        assert_eq!(err.errcode(), Some(40163));
        let err = session(200, br#"{"errcode":" 45011 "}"#).unwrap_err();
        assert_eq!(err.errcode(), Some(45011));
        assert_eq!(err.errmsg(), None);
    }

    #[test]
    fn negative_errcode_is_an_error() {
        let err = session(200, br#"{"errcode":-1,"errmsg":"system error"}"#).unwrap_err();
        assert_eq!(err.errcode(), Some(-1));
        assert_eq!(err.rid(), None);
        assert!(err.is_retryable());
    }

    #[test]
    fn non_zero_errcode_wins_over_success_fields() {
        let body = br#"{"errcode":40226,"errmsg":"code blocked","openid":"o","session_key":"k"}"#;
        assert_eq!(session(200, body).unwrap_err().errcode(), Some(40226));
    }

    #[test]
    fn an_errcode_that_is_not_an_integer_is_a_bad_response() {
        let text = bad_response(200, br#"{"errcode":"abc","openid":"o","session_key":"k"}"#);
        assert!(text.contains("errcode"), "{text}");
        bad_response(200, br#"{"errcode":1.5}"#);
        bad_response(200, br#"{"errcode":true}"#);
        bad_response(200, br#"{"errcode":{"code":1}}"#);
    }

    #[test]
    fn unknown_fields_and_expires_in_are_ignored() {
        let body = r#"{"openid":"o","session_key":"k","expires_in":7200,"新字段":[1,{"x":null}]}"#;
        let session = session(200, body.as_bytes()).unwrap();
        assert_eq!(
            (session.openid.as_str(), session.session_key.as_str()),
            ("o", "k")
        );
    }

    #[test]
    fn content_type_is_irrelevant_the_body_decides() {
        // decode never sees a Content-Type: it gets the body whatever the header said. The
        // loopback tests send both WeChat content types and text/plain to prove the client too.
        assert!(session(200, OK).is_ok());
    }

    #[test]
    fn html_page_is_a_bad_response() {
        let text = bad_response(
            502,
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body></body></html>",
        );
        assert_eq!(
            text,
            "WeChat API sent an HTML page instead of JSON (HTTP 502)"
        );
        bad_response(200, b"  \n<!DOCTYPE html><html></html>");
    }

    #[test]
    fn truncated_json_is_a_bad_response() {
        let text = bad_response(200, br#"{"openid":"o","session_key":"tiihtNczf5v6"#);
        assert_eq!(
            text,
            "WeChat API sent a response that is not JSON (HTTP 200)"
        );
    }

    #[test]
    fn json_that_is_not_an_object_is_a_bad_response() {
        for body in [
            &br#"[{"openid":"o","session_key":"k"}]"#[..],
            b"42",
            b"\"ok\"",
            b"null",
        ] {
            let text = bad_response(200, body);
            assert_eq!(
                text,
                "WeChat API sent JSON that is not an object (HTTP 200)"
            );
        }
    }

    #[test]
    fn empty_body_is_a_bad_response() {
        assert_eq!(
            bad_response(200, b""),
            "WeChat API sent an empty response (HTTP 200)"
        );
        bad_response(200, b" \r\n ");
    }

    #[test]
    fn missing_success_fields_are_a_bad_response() {
        // The generic decoder rejects a type mismatch; the endpoint's own check names the field
        // (see api::jscode2session).
        bad_response(200, br#"{"openid":"o"}"#);
        bad_response(200, br#"{"openid":"o","session_key":123}"#);
        bad_response(200, b"{}");
    }

    #[test]
    fn a_type_mismatch_does_not_echo_the_value() {
        let err =
            session(200, br#"{"openid":"o","session_key":["SECRET-KEY-VALUE"]}"#).unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("SECRET-KEY-VALUE"), "{text}");
        }
    }

    #[test]
    fn non_2xx_with_non_json_body_is_a_bad_response() {
        assert_eq!(
            bad_response(503, b"Service Unavailable"),
            "WeChat API sent a response that is not JSON (HTTP 503)"
        );
    }

    #[test]
    fn non_2xx_json_without_errcode_is_a_bad_response() {
        let text = bad_response(500, OK);
        assert_eq!(
            text,
            "WeChat API answered with an unexpected HTTP status (HTTP 500)"
        );
    }

    #[test]
    fn non_2xx_with_an_errcode_is_an_api_error_that_keeps_the_status() {
        let err = session(503, br#"{"errcode":-1,"errmsg":"system error"}"#).unwrap_err();
        assert_eq!(err.errcode(), Some(-1));
        assert_eq!(err.http_status(), Some(503));
    }

    #[test]
    fn required_fields_missing_or_empty_are_a_bad_response_naming_the_field() {
        #[derive(Deserialize)]
        struct Raw {
            openid: Option<String>,
            session_key: Option<String>,
        }
        let finish = |raw: Raw| {
            Ok((
                required(raw.openid, "openid")?,
                required(raw.session_key, "session_key")?,
            ))
        };
        assert_eq!(
            decode(200, OK, finish).unwrap().1,
            "tiihtNczf5v6AKRyjwEUhQ==".to_owned()
        );
        let err = decode(201, br#"{"openid":"o"}"#, finish).unwrap_err();
        assert_eq!(
            err.to_string(),
            "WeChat API sent a success response without `session_key` (HTTP 201)"
        );
        let err = decode(200, br#"{"openid":"","session_key":"k"}"#, finish).unwrap_err();
        assert!(err.to_string().contains("`openid`"), "{err}");
    }

    #[test]
    fn secrets_echoed_in_errmsg_are_scrubbed_before_the_cap() {
        let token = "66_TOKEN".repeat(40); // 320 chars: longer than the errmsg cap
        let body =
            format!(r#"{{"errcode":40001,"errmsg":"bad {token} for S3CR3T, rid: {token}"}}"#);
        let err = decode_scrubbed::<Session, _>(200, body.as_bytes(), &[&token, "S3CR3T", ""], Ok)
            .unwrap_err();
        assert_eq!(err.errcode(), Some(40001));
        assert_eq!(
            err.errmsg(),
            Some("bad [REDACTED] for [REDACTED], rid: [REDACTED]")
        );
        assert_eq!(err.rid(), None, "the rid is read from the scrubbed text");
        for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(
                !text.contains("66_TOKEN") && !text.contains("S3CR3T"),
                "{text}"
            );
        }
    }

    #[test]
    fn rid_current_style_with_and_without_comma() {
        assert_eq!(
            extract_rid("invalid code, rid: 652d44d0-1d0af18b-5b069232"),
            Some("652d44d0-1d0af18b-5b069232")
        );
        assert_eq!(
            extract_rid(
                "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 61250a39-612fed42-36740516"
            ),
            Some("61250a39-612fed42-36740516")
        );
        assert_eq!(
            extract_rid(
                "invalid credential, more details at https://mmbizurl.cn/s/JtxxFh33r rid: 6512aa00-1a2b3c4d-0f0f0f0f"
            ),
            Some("6512aa00-1a2b3c4d-0f0f0f0f")
        );
        assert_eq!(
            extract_rid("code been used,rid:0a1b2c3d-4e5f6a7b-8c9d0e1f."),
            Some("0a1b2c3d-4e5f6a7b-8c9d0e1f")
        );
    }

    #[test]
    fn rid_older_styles() {
        assert_eq!(
            extract_rid("invalid code, hints: [ req_id: N37KMa0605th21 ]"),
            Some("N37KMa0605th21")
        );
        assert_eq!(
            extract_rid("invalid appid hint: [vJOTwa0300ha57]"),
            Some("vJOTwa0300ha57")
        );
    }

    #[test]
    fn no_rid_when_absent_or_empty() {
        assert_eq!(extract_rid("system error"), None);
        assert_eq!(extract_rid("invalid code, rid: "), None);
        assert_eq!(extract_rid(""), None);
        // `grid:` is not `rid:`.
        assert_eq!(extract_rid("bad grid: 12345678"), None);
    }
}
