//! `GET /wxa/resetusersessionkey`: rotate a user's session_key server-side (protocol reference
//! §5.3).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::WeChatClient;
use crate::api::mask;
use crate::envelope::required;
use crate::error::{BadResponse, WeChatError};

const PATH: &str = "/wxa/resetusersessionkey";

/// The user's new session_key after a reset. It keeps the old key's expiry; the old key is
/// invalid at once.
#[derive(Clone)]
pub struct ResetKey {
    /// The user the key belongs to (the openid the reset was asked for).
    pub openid: String,
    /// The new key. Never leaves the server.
    pub session_key: SecretString,
}

/// Redacts the key and masks the openid: both are personal data.
impl fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetKey")
            .field("openid", &mask(&self.openid))
            .field("session_key", &"[REDACTED]")
            .finish()
    }
}

/// `{"errcode":0,"errmsg":"ok","openid":"…","session_key":"…"}`.
#[derive(Deserialize)]
struct Wire {
    openid: Option<String>,
    session_key: Option<String>,
}

impl Wire {
    /// A missing `openid` is taken to be the one asked for; a different one is refused (the
    /// key would be stored for the wrong user).
    fn finish(self, asked: &str) -> Result<ResetKey, BadResponse> {
        let openid = match self.openid.filter(|openid| !openid.is_empty()) {
            None => asked.to_owned(),
            Some(openid) if openid == asked => openid,
            Some(_) => return Err(BadResponse::Mismatch("openid")),
        };
        Ok(ResetKey {
            openid,
            session_key: SecretString::from(required(self.session_key, "session_key")?),
        })
    }
}

impl WeChatClient {
    /// Replaces the user's session_key with a fresh one:
    /// `GET /wxa/resetusersessionkey?access_token&openid&signature&sig_method=hmac_sha256`.
    ///
    /// `signature` is the §5.1 HMAC-SHA256 of the empty string keyed with the **current**
    /// session_key text, computed by the caller; 87009 means it does not match. Other
    /// errcodes: 87008 bad sig_method, 45011 throttled (frequent resets of one user are
    /// refused), token errors ([`WeChatError::is_token_error`]; repeating once after a new
    /// token is safe), -1.
    ///
    /// Retries: not blindly, whatever [`WeChatError::is_retryable`] says. If the answer to a
    /// reset that WeChat performed is lost, the old key (and so `signature`) is dead and a
    /// repeat gets 87009; the new key can then only be had through a fresh `wx.login`.
    #[tracing::instrument(name = "wechat.resetusersessionkey", skip_all)]
    pub async fn reset_user_session_key(
        &self,
        access_token: &SecretString,
        openid: &str,
        signature: &str,
    ) -> Result<ResetKey, WeChatError> {
        let query = [
            ("access_token", access_token.expose_secret()),
            ("openid", openid),
            ("signature", signature),
            ("sig_method", "hmac_sha256"),
        ];
        let secrets = [access_token.expose_secret(), signature, openid];
        self.get_json(PATH, &query, &secrets, |wire: Wire| wire.finish(openid))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    const OPENID: &str = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";

    fn reset(body: &str) -> Result<ResetKey, WeChatError> {
        decode(200, body.as_bytes(), |wire: Wire| wire.finish(OPENID))
    }

    #[test]
    fn documented_success() {
        let key = reset(&format!(
            r#"{{"errcode":0,"errmsg":"ok","openid":"{OPENID}","session_key":"o0q0otL8aEzpcZL/FT9WsQ=="}}"#
        ))
        .unwrap();
        assert_eq!(key.openid, OPENID);
        assert_eq!(key.session_key.expose_secret(), "o0q0otL8aEzpcZL/FT9WsQ==");
    }

    #[test]
    fn a_missing_openid_is_the_one_asked_for_another_one_is_refused() {
        let key = reset(r#"{"errcode":0,"session_key":"k=="}"#).unwrap();
        assert_eq!(key.openid, OPENID);
        let err =
            reset(r#"{"errcode":0,"openid":"oSomebodyElse0123456789abcd","session_key":"k=="}"#)
                .unwrap_err();
        assert!(err.is_bad_response());
        assert!(
            err.to_string()
                .contains("`openid` is not the one asked for"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_session_key_is_a_bad_response() {
        for body in [
            r#"{"errcode":0,"errmsg":"ok"}"#.to_owned(),
            format!(r#"{{"errcode":0,"openid":"{OPENID}","session_key":""}}"#),
        ] {
            let err = reset(&body).unwrap_err();
            assert!(err.to_string().contains("`session_key`"), "{body}: {err}");
        }
    }

    #[test]
    fn errors_are_decoded() {
        for errcode in [87009, 87008, 45011, 40014, -1] {
            let err = reset(&format!(r#"{{"errcode":{errcode},"errmsg":"x"}}"#)).unwrap_err();
            assert_eq!(err.errcode(), Some(errcode));
        }
    }

    #[test]
    fn debug_redacts_the_key_and_masks_the_openid() {
        let key = ResetKey {
            openid: OPENID.into(),
            session_key: SecretString::from("o0q0otL8aEzpcZL/FT9WsQ=="),
        };
        for text in [format!("{key:?}"), format!("{key:#?}")] {
            assert!(!text.contains("o0q0otL8aEzpcZL"), "{text}");
            assert!(!text.contains(OPENID), "{text}");
            assert!(
                text.contains("[REDACTED]") && text.contains("oGZU…JE"),
                "{text}"
            );
        }
    }
}
