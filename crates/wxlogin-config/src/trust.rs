//! How business backends and gateways are trusted: `[forward_auth]`, `[introspection]` and
//! `[jwt]`.
//!
//! Gateways need no credentials: `GET /v1/auth` only answers who holds a token the gateway was
//! handed by the user. Introspection and revocation do: they are a service asking about (or
//! ending) someone else's session, so each service gets an id, a secret and the apps it may
//! ask about.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    AppConfig, ConfigError, deserialize_duration, deserialize_optional_secret, resolve_secret,
};

/// `[forward_auth]`: `GET /v1/auth`, for gateways (nginx `auth_request`, Traefik, Caddy).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// A request header read for the token when there is no `Authorization` header, for
    /// clients written against an older login scheme (wafer's `X-WX-Skey`). Off by default.
    pub token_header: Option<String>,
}

impl ForwardAuthConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let Some(name) = &self.token_header else {
            return Ok(());
        };
        let invalid = |message: &str| ConfigError::Invalid {
            key: "forward_auth.token_header".into(),
            message: message.into(),
        };
        if name.is_empty() || !name.bytes().all(is_header_name_byte) {
            return Err(invalid("must be a header name, e.g. \"X-WX-Skey\""));
        }
        let lower = name.to_ascii_lowercase();
        // Headers that already mean something to us or to the backends behind the gateway.
        if lower == "authorization"
            || lower.starts_with("x-wxlogin-")
            || RESERVED_IDENTITY_HEADERS.contains(&lower.as_str())
        {
            return Err(invalid(
                "must not be Authorization, an X-WXLOGIN-* header or an identity header such as X-WX-OPENID",
            ));
        }
        Ok(())
    }
}

/// The identity headers of WeChat Cloud Run that backends may trust (lower case).
const RESERVED_IDENTITY_HEADERS: &[&str] = &[
    "x-wx-openid",
    "x-wx-appid",
    "x-wx-unionid",
    "x-wx-from-openid",
    "x-wx-from-appid",
    "x-wx-from-unionid",
    "x-wx-env",
    "x-wx-source",
];

/// RFC 9110 `tchar`: what a header name is made of.
fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `[introspection]`: who may call `POST /oauth2/introspect` and `POST /oauth2/revoke`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionConfig {
    /// `[[introspection.clients]]`. None by default: both endpoints then refuse everyone.
    pub clients: Vec<ServiceClientConfig>,
}

/// `[[introspection.clients]]`: one business backend's credentials (HTTP Basic).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceClientConfig {
    /// The Basic user name. Not a secret; must not contain `:`.
    pub id: String,
    /// Required, inline or through `secret_file`. Use a long random string: it is the whole
    /// protection of other people's sessions.
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    secret: Option<SecretString>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    /// The apps whose tokens this client may introspect and revoke; tokens of any other app
    /// look inactive to it.
    pub appids: Vec<String>,
}

impl ServiceClientConfig {
    /// Builds a client entry in code.
    pub fn new(id: impl Into<String>, secret: SecretString, appids: Vec<String>) -> Self {
        Self {
            id: id.into(),
            secret: Some(secret),
            secret_file: None,
            appids,
        }
    }

    /// The client's secret. Present on every loaded config: loading enforces it.
    pub fn secret(&self) -> Option<&SecretString> {
        self.secret.as_ref()
    }
}

impl IntrospectionConfig {
    /// Reads `secret_file`s and checks every client against the configured `apps`.
    fn finish(&mut self, apps: &[AppConfig]) -> Result<(), ConfigError> {
        for (i, client) in self.clients.iter_mut().enumerate() {
            let key = |field: &str| format!("introspection.clients[{i}].{field}");
            let invalid = |field: &str, message: String| ConfigError::Invalid {
                key: key(field),
                message,
            };
            if client.id.trim().is_empty() || client.id.contains(':') {
                return Err(invalid("id", "must be non-empty and contain no `:`".into()));
            }
            client.secret = resolve_secret(
                &key("secret"),
                client.secret.take(),
                client.secret_file.as_deref(),
            )?;
            if client.secret.is_none() {
                return Err(ConfigError::Missing {
                    key: key("secret"),
                    hint: format!("set `secret` or `secret_file` for client {}", client.id),
                });
            }
            if client.appids.is_empty() {
                return Err(invalid(
                    "appids",
                    "list the apps this client may ask about".into(),
                ));
            }
            if let Some(unknown) = client
                .appids
                .iter()
                .find(|appid| !apps.iter().any(|app| &app.appid == *appid))
            {
                return Err(invalid(
                    "appids",
                    format!("{unknown} is not one of the configured [[apps]]"),
                ));
            }
        }
        if let Some((i, dup)) = self
            .clients
            .iter()
            .enumerate()
            .find(|(i, c)| self.clients[..*i].iter().any(|d| d.id == c.id))
        {
            return Err(ConfigError::Invalid {
                key: format!("introspection.clients[{i}].id"),
                message: format!("{} is configured twice", dup.id),
            });
        }
        Ok(())
    }
}

/// `[jwt]`: short-lived access JWTs beside rotating refresh tokens. Off by default: the login
/// answer then carries one opaque token, exactly as before.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// When on, `/v1/login` and `POST /v1/token/refresh` also answer an `access_token` (a JWT
    /// signed with EdDSA) and the opaque `token` becomes the refresh token.
    pub enabled: bool,
    /// The `iss` claim, and the issuer in `/.well-known/openid-configuration`.
    pub issuer: String,
    /// Lifetime of an access JWT: also how long a verifier working offline from the JWKS may
    /// accept a token whose session already ended.
    #[serde(deserialize_with = "deserialize_duration")]
    pub access_ttl: Duration,
    /// How long a rotated-out refresh token still answers with the same new pair (a lost
    /// response, concurrent refreshes); any later use revokes the whole session.
    #[serde(deserialize_with = "deserialize_duration")]
    pub refresh_grace: Duration,
    /// How often the cluster's signing key changes. Old public keys stay in the JWKS until
    /// tokens signed with them expired (`access_ttl` after the change).
    #[serde(deserialize_with = "deserialize_duration")]
    pub key_rotation: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: "wxlogin".into(),
            access_ttl: Duration::from_secs(300),
            refresh_grace: Duration::from_secs(30),
            key_rotation: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl JwtConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("jwt.{key}"),
            message: message.into(),
        };
        if self.issuer.trim().is_empty() {
            return Err(invalid("issuer", "must not be empty"));
        }
        if self.access_ttl.as_secs() == 0 {
            return Err(invalid("access_ttl", "must be at least one second"));
        }
        // A key must outlive the tokens it signs by a wide margin, or the JWKS would have to
        // publish several old keys at once.
        if self.key_rotation < self.access_ttl * 2 {
            return Err(invalid(
                "key_rotation",
                "must be at least twice jwt.access_ttl",
            ));
        }
        Ok(())
    }
}

/// Checks `[forward_auth]` and finishes `[introspection]` (called by the server config's
/// `finish`, after the apps are known).
pub(crate) fn finish(
    forward_auth: &ForwardAuthConfig,
    introspection: &mut IntrospectionConfig,
    jwt: &JwtConfig,
    apps: &[AppConfig],
) -> Result<(), ConfigError> {
    forward_auth.check()?;
    jwt.check()?;
    introspection.finish(apps)
}

#[cfg(test)]
// figment::Jail closures return figment::Error, which is large; fine in tests.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;
    use secrecy::ExposeSecret;

    use crate::{ServerConfig, load};

    const APPS: &str = "[[apps]]\nappid = \"wx0123456789abcdef\"\nsecret = \"s\"\n";

    fn load_err(jail: &mut Jail, text: &str) -> String {
        jail.create_file("t.toml", &format!("{APPS}{text}"))
            .unwrap();
        let err = load::<ServerConfig>(Some("t.toml".as_ref())).unwrap_err();
        format!("{err} {err:?}")
    }

    #[test]
    fn both_sections_are_off_by_default() {
        Jail::expect_with(|_| {
            let config = load::<ServerConfig>(None).unwrap().config;
            assert_eq!(config.forward_auth.token_header, None);
            assert!(config.introspection.clients.is_empty());
            assert!(!config.jwt.enabled);
            assert_eq!(config.jwt.issuer, "wxlogin");
            assert_eq!(config.jwt.access_ttl.as_secs(), 300);
            assert_eq!(config.jwt.refresh_grace.as_secs(), 30);
            Ok(())
        });
    }

    #[test]
    fn clients_load_from_the_file_with_a_secret_file() {
        Jail::expect_with(|jail| {
            jail.create_file("billing.secret", "billing-s3cret-7f2a\n")?;
            jail.create_file(
                "t.toml",
                &format!(
                    "{APPS}[forward_auth]\ntoken_header = \"X-WX-Skey\"\n\
                     [[introspection.clients]]\nid = \"billing\"\nsecret_file = \"billing.secret\"\n\
                     appids = [\"wx0123456789abcdef\"]\n"
                ),
            )?;
            let config = load::<ServerConfig>(Some("t.toml".as_ref()))
                .unwrap()
                .config;
            assert_eq!(
                config.forward_auth.token_header.as_deref(),
                Some("X-WX-Skey")
            );
            let client = &config.introspection.clients[0];
            assert_eq!(client.id, "billing");
            assert_eq!(client.appids, ["wx0123456789abcdef"]);
            assert_eq!(
                client.secret().unwrap().expose_secret(),
                "billing-s3cret-7f2a"
            );
            assert!(!format!("{config:?}").contains("billing-s3cret"));
            Ok(())
        });
    }

    #[test]
    fn clients_can_come_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file("t.toml", APPS)?;
            jail.set_env(
                "WXLOGIN_INTROSPECTION__CLIENTS",
                r#"[{id="crm", secret="crm-s3cret", appids=["wx0123456789abcdef"]}]"#,
            );
            jail.set_env("WXLOGIN_FORWARD_AUTH__TOKEN_HEADER", "X-Legacy-Token");
            let loaded = load::<ServerConfig>(Some("t.toml".as_ref())).unwrap();
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            let config = loaded.config;
            assert_eq!(config.introspection.clients[0].id, "crm");
            assert_eq!(
                config.forward_auth.token_header.as_deref(),
                Some("X-Legacy-Token")
            );
            Ok(())
        });
    }

    #[test]
    fn bad_clients_are_refused_naming_the_setting_never_the_secret() {
        Jail::expect_with(|jail| {
            let client = |id: &str, secret: &str, appids: &str| {
                format!("[[introspection.clients]]\nid = {id:?}\n{secret}appids = {appids}\n")
            };
            let err = load_err(jail, &client("a", "", "[\"wx0123456789abcdef\"]"));
            assert!(err.contains("introspection.clients[0].secret"), "{err}");

            let err = load_err(
                jail,
                &client("a", "secret = \"hunter2-x\"\n", "[\"wx00000000000000ff\"]"),
            );
            assert!(err.contains("introspection.clients[0].appids"), "{err}");
            assert!(err.contains("wx00000000000000ff"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");

            let err = load_err(jail, &client("a", "secret = \"hunter2-x\"\n", "[]"));
            assert!(err.contains("introspection.clients[0].appids"), "{err}");

            let err = load_err(
                jail,
                &client(
                    "a:b",
                    "secret = \"hunter2-x\"\n",
                    "[\"wx0123456789abcdef\"]",
                ),
            );
            assert!(err.contains("introspection.clients[0].id"), "{err}");

            let one = client("a", "secret = \"hunter2-x\"\n", "[\"wx0123456789abcdef\"]");
            let err = load_err(jail, &format!("{one}{one}"));
            assert!(err.contains("introspection.clients[1].id"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_token_header_must_be_a_harmless_header_name() {
        Jail::expect_with(|jail| {
            for bad in [
                "",
                "X WX",
                "Authorization",
                "x-wx-openid",
                "X-WXLOGIN-USER-ID",
            ] {
                let err = load_err(jail, &format!("[forward_auth]\ntoken_header = {bad:?}\n"));
                assert!(err.contains("forward_auth.token_header"), "{bad}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn jwt_settings_load_and_are_checked() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "t.toml",
                &format!(
                    "{APPS}[jwt]\nenabled = true\nissuer = \"https://login.example\"\n\
                     access_ttl = \"2m\"\nrefresh_grace = 10\nkey_rotation = \"7days\"\n"
                ),
            )?;
            let jwt = load::<ServerConfig>(Some("t.toml".as_ref()))
                .unwrap()
                .config
                .jwt;
            assert!(jwt.enabled);
            assert_eq!(jwt.issuer, "https://login.example");
            assert_eq!(jwt.access_ttl.as_secs(), 120);
            assert_eq!(jwt.refresh_grace.as_secs(), 10);
            assert_eq!(jwt.key_rotation.as_secs(), 7 * 24 * 3600);

            let err = load_err(
                jail,
                "[jwt]\naccess_ttl = \"10m\"\nkey_rotation = \"15m\"\n",
            );
            assert!(err.contains("jwt.key_rotation"), "{err}");
            let err = load_err(jail, "[jwt]\nissuer = \" \"\n");
            assert!(err.contains("jwt.issuer"), "{err}");
            Ok(())
        });
    }
}
