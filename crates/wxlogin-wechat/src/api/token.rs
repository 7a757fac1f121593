//! `GET /cgi-bin/token`: the classic access_token (protocol reference §3.1), and
//! [`AccessToken`], the result of both token calls (`stable_token` reuses it).

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::WeChatClient;
use crate::envelope::{parse_integer, required};
use crate::error::{BadResponse, WeChatError};

const PATH: &str = "/cgi-bin/token";

/// An access_token and how long WeChat says it stays valid, counted from when the answer was
/// received.
#[derive(Clone)]
pub struct AccessToken {
    /// The token. A credential for every server API of the app: never log it, never send it
    /// anywhere but WeChat's query strings.
    pub token: SecretString,
    /// The remaining lifetime WeChat reported (`expires_in`, at most 7200 s; at least 300 s for
    /// a stable token).
    pub expires_in: Duration,
}

/// Redacts the token; the lifetime is safe to log.
impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The success body of both token endpoints: `{"access_token": "…", "expires_in": 7200}`.
/// `expires_in` is read as a number or a numeric string (older WeChat APIs sent strings); a
/// `"errcode": 0` next to it is accepted too.
#[derive(Deserialize)]
pub(super) struct TokenWire {
    access_token: Option<String>,
    expires_in: Option<Value>,
}

impl TokenWire {
    pub(super) fn finish(self) -> Result<AccessToken, BadResponse> {
        let token = SecretString::from(required(self.access_token, "access_token")?);
        let seconds = match self.expires_in.as_ref() {
            None | Some(Value::Null) => return Err(BadResponse::MissingField("expires_in")),
            Some(value) => parse_integer(value),
        };
        // A token that is already dead (or a lifetime that is not a number) would make a token
        // manager refresh in a tight loop: refuse it here.
        let seconds = seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| *seconds > 0)
            .ok_or(BadResponse::InvalidField("expires_in"))?;
        Ok(AccessToken {
            token,
            expires_in: Duration::from_secs(seconds),
        })
    }
}

impl WeChatClient {
    /// Fetches a classic access_token: `GET /cgi-bin/token?grant_type=client_credential&appid&secret`.
    ///
    /// **Every success mints a new token and retires the previous one** (it keeps working for
    /// 5 minutes): call this from one place only. Prefer [`stable_token`](Self::stable_token),
    /// whose tokens are isolated from these.
    ///
    /// Retries: safe (no code is consumed) when [`WeChatError::is_retryable`] says so (-1,
    /// timeout, connection failure), with back-off — though each success invalidates the token
    /// other callers hold.
    ///
    /// Typical errcodes: 40001 / 40125 wrong AppSecret (40001 here is *not* a stale token: see
    /// [`WeChatError::is_token_error`]), 40013 invalid appid, 40002 bad grant_type, 40164 caller
    /// IP not whitelisted, 40243 AppSecret frozen, 45009 daily quota, 50004 app barred, -1 busy.
    #[tracing::instrument(name = "wechat.token", skip_all, fields(appid = %appid))]
    pub async fn access_token(
        &self,
        appid: &str,
        secret: &SecretString,
    ) -> Result<AccessToken, WeChatError> {
        let query = [
            ("grant_type", "client_credential"),
            ("appid", appid),
            ("secret", secret.expose_secret()),
        ];
        let secrets = [secret.expose_secret()];
        let token = self
            .get_json(PATH, &query, &secrets, TokenWire::finish)
            .await?;
        tracing::debug!(
            expires_in = token.expires_in.as_secs(),
            "access_token fetched"
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    fn fetch(body: &str) -> Result<AccessToken, WeChatError> {
        decode(200, body.as_bytes(), TokenWire::finish)
    }

    #[test]
    fn documented_success() {
        let token = fetch(r#"{"access_token":"66_bMiyY3zN","expires_in":7200}"#).unwrap();
        assert_eq!(token.token.expose_secret(), "66_bMiyY3zN");
        assert_eq!(token.expires_in, Duration::from_secs(7200));
    }

    #[test]
    fn older_styles_are_accepted() {
        // expires_in as a numeric string, errcode 0 / errmsg ok alongside, unknown fields.
        for body in [
            r#"{"access_token":"T","expires_in":"7200"}"#,
            r#"{"errcode":0,"errmsg":"ok","access_token":"T","expires_in":7200}"#,
            r#"{"access_token":"T","expires_in":7200,"refresh_token":"x","scope":"all"}"#,
        ] {
            let token = fetch(body).unwrap_or_else(|err| panic!("{body}: {err}"));
            assert_eq!(token.expires_in, Duration::from_secs(7200), "{body}");
        }
        let short = fetch(r#"{"access_token":"T","expires_in":299}"#).unwrap();
        assert_eq!(short.expires_in, Duration::from_secs(299));
    }

    #[test]
    fn missing_or_senseless_fields_are_bad_responses() {
        let err = fetch(r#"{"expires_in":7200}"#).unwrap_err();
        assert!(err.to_string().contains("`access_token`"), "{err}");
        let err = fetch(r#"{"access_token":"","expires_in":7200}"#).unwrap_err();
        assert!(err.to_string().contains("`access_token`"), "{err}");
        let err = fetch(r#"{"access_token":"T"}"#).unwrap_err();
        assert!(err.to_string().contains("without `expires_in`"), "{err}");
        for expires_in in ["0", "-5", "\"soon\"", "7200.5", "true", "{}"] {
            let err = fetch(&format!(
                r#"{{"access_token":"T","expires_in":{expires_in}}}"#
            ))
            .unwrap_err();
            assert!(err.is_bad_response(), "{expires_in}");
            assert!(
                err.to_string().contains("invalid `expires_in`"),
                "{expires_in}: {err}"
            );
        }
        let err = fetch(r#"{"access_token":["T"],"expires_in":7200}"#).unwrap_err();
        assert!(err.is_bad_response());
    }

    #[test]
    fn errors_are_decoded() {
        let err = fetch(
            r#"{"errcode":40125,"errmsg":"invalid appsecret, rid: 61250a39-612fed42-36740516"}"#,
        )
        .unwrap_err();
        assert_eq!(err.errcode(), Some(40125));
        assert_eq!(err.rid(), Some("61250a39-612fed42-36740516"));
        assert!(!err.is_token_error() && !err.is_retryable());
        // An errcode wins over a token in the same body.
        let err =
            fetch(r#"{"errcode":-1,"errmsg":"system error","access_token":"T","expires_in":7200}"#)
                .unwrap_err();
        assert!(err.is_retryable());
    }

    #[test]
    fn debug_redacts_the_token() {
        let token = AccessToken {
            token: SecretString::from("66_bMiyY3zN-very-secret"),
            expires_in: Duration::from_secs(7200),
        };
        for text in [format!("{token:?}"), format!("{token:#?}")] {
            assert!(!text.contains("66_bMiyY3zN"), "{text}");
            assert!(
                text.contains("[REDACTED]") && text.contains("7200"),
                "{text}"
            );
        }
    }
}
