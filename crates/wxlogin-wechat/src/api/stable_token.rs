//! `POST /cgi-bin/stable_token`: the stable access_token (protocol reference §3.2).

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::token::TokenWire;
use crate::WeChatClient;
use crate::api::token::AccessToken;
use crate::error::WeChatError;

const PATH: &str = "/cgi-bin/stable_token";

/// The JSON body, exactly as documented. No `Debug`: it holds the secret.
#[derive(Serialize)]
struct Request<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

impl WeChatClient {
    /// Fetches a stable access_token: `POST /cgi-bin/stable_token` with the JSON body
    /// `{"grant_type":"client_credential","appid","secret","force_refresh"}` and no query string.
    ///
    /// Stable tokens are isolated from classic [`access_token`](Self::access_token)s.
    /// - `force_refresh: false` (normal mode): while the current token is valid, WeChat returns
    ///   the same one (with a shrinking `expires_in`, never under 300 s); it mints a new one in
    ///   the last 5 minutes, with both accepted meanwhile. Cheap and harmless to repeat.
    /// - `force_refresh: true`: invalidates the current stable token **for every system using
    ///   this app** and returns a new one. At most 20 a day, and ignored within 30 s of the
    ///   previous one. Only when normal mode keeps returning a token that APIs reject.
    ///
    /// Retries: normal mode may be retried with back-off when [`WeChatError::is_retryable`]
    /// says so; a forced refresh only within the caller's own cap.
    ///
    /// Typical errcodes: as for `access_token` (40001 / 40125 wrong AppSecret, 40013, 40164,
    /// 40243, 50004, -1), plus 45009 / 45011 quota (10 000 a minute, 500 000 a day per app).
    #[tracing::instrument(
        name = "wechat.stable_token",
        skip_all,
        fields(appid = %appid, force_refresh = force_refresh)
    )]
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &SecretString,
        force_refresh: bool,
    ) -> Result<AccessToken, WeChatError> {
        let body = Request {
            grant_type: "client_credential",
            appid,
            secret: secret.expose_secret(),
            force_refresh,
        };
        let secrets = [secret.expose_secret()];
        let token = self
            .post_json(PATH, &[], &body, &secrets, TokenWire::finish)
            .await?;
        tracing::debug!(
            expires_in = token.expires_in.as_secs(),
            "stable access_token fetched"
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_documented_json() {
        let body = Request {
            grant_type: "client_credential",
            appid: "APPID",
            secret: "APPSECRET",
            force_refresh: false,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"grant_type":"client_credential","appid":"APPID","secret":"APPSECRET","force_refresh":false}"#
        );
    }
}
