//! `GET /sns/jscode2session`: exchange a `wx.login()` code for the user's openid and session_key
//! (protocol reference §2).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::WeChatClient;
use crate::api::mask;
use crate::envelope::required;
use crate::error::{BadResponse, WeChatError};

const PATH: &str = "/sns/jscode2session";

/// What a successful code exchange yields.
#[derive(Clone)]
pub struct CodeSession {
    /// The user's id within this mini-program.
    pub openid: String,
    /// The key for this user's encrypted payloads and login-state signatures. Never leaves the
    /// server.
    pub session_key: SecretString,
    /// The user's id across the apps of one Open Platform account, if the app is bound to one.
    pub unionid: Option<String>,
}

/// Redacts the session_key and masks the ids: both are personal data.
impl fmt::Debug for CodeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeSession")
            .field("openid", &mask(&self.openid))
            .field("session_key", &"[REDACTED]")
            .field("unionid", &self.unionid.as_deref().map(mask))
            .finish()
    }
}

/// The success body as WeChat sends it; unknown fields (e.g. the old `expires_in`) are ignored.
#[derive(Deserialize)]
struct Wire {
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
}

impl Wire {
    fn finish(self) -> Result<CodeSession, BadResponse> {
        Ok(CodeSession {
            openid: required(self.openid, "openid")?,
            session_key: SecretString::from(required(self.session_key, "session_key")?),
            unionid: self.unionid.filter(|unionid| !unionid.is_empty()),
        })
    }
}

impl WeChatClient {
    /// Exchanges a login code from `wx.login()` for the user's openid, session_key and (if the
    /// app is bound to an Open Platform account) unionid.
    ///
    /// **Never retried**, here or in the transport: a code is single-use, and WeChat may consume
    /// it even when the call fails or the answer is lost (a retry then gets 40163 `code been
    /// used`, hiding the real outcome). On any error — a timeout included, where the code's fate
    /// is unknown — the mini-program must call `wx.login()` again for a fresh code.
    ///
    /// Typical errcodes: 40029 invalid or expired code, 40163 code already used, 40226 user
    /// blocked by risk control, 45011 rate limited, 40013 / 40125 wrong appid / secret, -1 busy.
    #[tracing::instrument(name = "wechat.jscode2session", skip_all, fields(appid = %appid))]
    pub async fn jscode2session(
        &self,
        appid: &str,
        secret: &SecretString,
        js_code: &str,
    ) -> Result<CodeSession, WeChatError> {
        let query = [
            ("appid", appid),
            ("secret", secret.expose_secret()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ];
        let secrets = [secret.expose_secret(), js_code];
        self.get_json(PATH, &query, &secrets, Wire::finish).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    fn exchange(body: &[u8]) -> Result<CodeSession, WeChatError> {
        decode(200, body, Wire::finish)
    }

    #[test]
    fn success_without_unionid() {
        let session = exchange(
            br#"{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}"#,
        )
        .unwrap();
        assert_eq!(session.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(
            session.session_key.expose_secret(),
            "tiihtNczf5v6AKRyjwEUhQ=="
        );
        assert_eq!(session.unionid, None);
    }

    #[test]
    fn success_with_unionid_and_legacy_expires_in() {
        let session =
            exchange(br#"{"session_key":"k==","expires_in":7200,"openid":"o1","unionid":"u1"}"#)
                .unwrap();
        assert_eq!(session.unionid.as_deref(), Some("u1"));
    }

    #[test]
    fn missing_session_key_or_openid_is_a_bad_response() {
        let err = exchange(br#"{"openid":"o1"}"#).unwrap_err();
        assert!(err.is_bad_response());
        assert!(err.to_string().contains("`session_key`"), "{err}");
        let err = exchange(br#"{"session_key":"k=="}"#).unwrap_err();
        assert!(err.to_string().contains("`openid`"), "{err}");
        let err = exchange(br#"{"errcode":0,"errmsg":"ok"}"#).unwrap_err();
        assert!(err.is_bad_response());
    }

    #[test]
    fn empty_unionid_means_none() {
        let session = exchange(br#"{"openid":"o1","session_key":"k==","unionid":""}"#).unwrap();
        assert_eq!(session.unionid, None);
    }

    #[test]
    fn debug_redacts_the_key_and_masks_the_ids() {
        let session = CodeSession {
            openid: "oGZUI0egBJY1zhBYw2KhdUfwVJJE".into(),
            session_key: SecretString::from("tiihtNczf5v6AKRyjwEUhQ=="),
            unionid: Some("oUNIONxyz0123456789abcdefgh".into()),
        };
        for text in [format!("{session:?}"), format!("{session:#?}")] {
            assert!(!text.contains("tiihtNczf5v6AKRyjwEUhQ=="), "{text}");
            assert!(!text.contains("oGZUI0egBJY1zhBYw2KhdUfwVJJE"), "{text}");
            assert!(!text.contains("oUNIONxyz0123456789abcdefgh"), "{text}");
            assert!(text.contains("[REDACTED]"), "{text}");
            assert!(text.contains("oGZU…JE"), "{text}");
        }
    }
}
