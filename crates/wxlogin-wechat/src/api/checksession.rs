//! `GET /wxa/checksession`: is a session_key still the user's current one (protocol reference
//! §5.2)?

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::WeChatClient;
use crate::error::{BadResponse, WeChatError};

const PATH: &str = "/wxa/checksession";

/// WeChat's answer when the signature does not match the user's current session_key.
const INVALID_SIGNATURE: i64 = 87009;

/// Success is `{"errcode":0,"errmsg":"ok"}`. Unlike the token calls, the `errcode` must be
/// there: this answer says "the key is valid", and an empty `{}` from something that is not
/// WeChat must not say so.
#[derive(Deserialize)]
struct Wire {
    errcode: Option<Value>,
}

impl Wire {
    fn finish(self) -> Result<(), BadResponse> {
        match self.errcode {
            // The envelope already refused a non-zero or non-integer errcode.
            Some(Value::Number(_) | Value::String(_)) => Ok(()),
            _ => Err(BadResponse::MissingField("errcode")),
        }
    }
}

impl WeChatClient {
    /// Asks WeChat whether the session_key behind `signature` is still the user's current one:
    /// `GET /wxa/checksession?access_token&signature&openid&sig_method=hmac_sha256`.
    ///
    /// `signature` is the lowercase hex HMAC-SHA256 of the empty string keyed with the
    /// session_key *text* (§5.1), computed by the caller with the crypto crate. It proves
    /// possession of the key, so it is treated as a secret too.
    ///
    /// Returns `Ok(true)` on errcode 0 and **`Ok(false)` on 87009** (`invalid signature`: the
    /// key expired or was superseded by a newer login or a reset) — an answer, not an error.
    /// Anything else is an error: token errors ([`WeChatError::is_token_error`]), 87008, -1, ….
    ///
    /// Retries: read-only, so it may be retried with back-off when
    /// [`WeChatError::is_retryable`] says so, and repeated once after a token error.
    #[tracing::instrument(name = "wechat.checksession", skip_all)]
    pub async fn check_session_key(
        &self,
        access_token: &SecretString,
        openid: &str,
        signature: &str,
    ) -> Result<bool, WeChatError> {
        let query = [
            ("access_token", access_token.expose_secret()),
            ("signature", signature),
            ("openid", openid),
            ("sig_method", "hmac_sha256"),
        ];
        let secrets = [access_token.expose_secret(), signature, openid];
        match self.get_json(PATH, &query, &secrets, Wire::finish).await {
            Ok(()) => Ok(true),
            Err(err) if err.errcode() == Some(INVALID_SIGNATURE) => {
                tracing::debug!(rid = err.rid(), "session_key is no longer valid (87009)");
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    fn check(body: &str) -> Result<(), WeChatError> {
        decode(200, body.as_bytes(), Wire::finish)
    }

    #[test]
    fn success_needs_an_explicit_errcode_zero() {
        check(r#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
        check(r#"{"errcode":"0"}"#).unwrap();
        for body in ["{}", r#"{"errmsg":"ok"}"#, r#"{"errcode":null}"#] {
            let err = check(body).unwrap_err();
            assert!(err.is_bad_response(), "{body}");
            assert!(err.to_string().contains("`errcode`"), "{body}: {err}");
        }
    }

    #[test]
    fn errors_are_decoded() {
        let err = check(
            r#"{"errcode":87009,"errmsg":"invalid signature, rid: 652d44d0-1d0af18b-5b069232"}"#,
        )
        .unwrap_err();
        assert_eq!(err.errcode(), Some(INVALID_SIGNATURE));
        let err = check(r#"{"errcode":40001,"errmsg":"invalid credential"}"#).unwrap_err();
        assert!(err.is_token_error());
    }
}
