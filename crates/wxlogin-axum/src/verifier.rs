//! [`Verifier`]: one of the two ways to turn a token into a [`WxUser`], and their settings.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::Url;
use secrecy::SecretString;

use crate::clock::{Clock, SystemClock};
use crate::introspect::Introspector;
use crate::local::LocalVerifier;
use crate::user::bearer_token;
use crate::{ConfigError, VerifyError, WxUser};

/// The most clock leeway local mode allows: an access JWT lives 5 minutes by default, and
/// every second of leeway is a second more that a logged-out user's JWT is still accepted.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// Verifies wxlogin tokens. Cheap to clone: clones share the JWKS or the answer cache.
#[derive(Clone)]
pub struct Verifier {
    mode: Arc<Mode>,
}

enum Mode {
    Local(LocalVerifier),
    Introspection(Introspector),
}

impl Verifier {
    /// Local mode: access JWTs (JWT mode of wxlogin) verified offline against wxlogin's JWKS.
    /// Fast (one EdDSA verification, no network once the keys are cached), but a logout is
    /// seen only when the JWT expires: at most wxlogin's `access_ttl` plus the leeway.
    pub fn local(config: LocalConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            mode: Arc::new(Mode::Local(LocalVerifier::new(config)?)),
        })
    }

    /// Remote mode: every token is asked about at `POST /oauth2/introspect`, with service
    /// credentials. Works with opaque tokens and with access JWTs; a logout is seen at once,
    /// or within the positive cache's lifetime (5 s by default).
    pub fn introspection(config: IntrospectionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            mode: Arc::new(Mode::Introspection(Introspector::new(config)?)),
        })
    }

    /// Who holds `token`.
    pub async fn verify(&self, token: &str) -> Result<WxUser, VerifyError> {
        match &*self.mode {
            Mode::Local(local) => local.verify(token).await,
            Mode::Introspection(remote) => remote.verify(token).await,
        }
    }

    /// Who holds the `Authorization: Bearer` token of a request with these headers.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<WxUser, VerifyError> {
        self.verify(bearer_token(headers)?).await
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &*self.mode {
            Mode::Local(_) => "local",
            Mode::Introspection(_) => "introspection",
        };
        f.debug_struct("Verifier").field("mode", &mode).finish()
    }
}

/// Settings of [`Verifier::local`].
///
/// ```
/// use std::time::Duration;
/// use wxlogin_axum::LocalConfig;
///
/// let config = LocalConfig::new("https://login.internal", ["wx1234567890abcdef"])
///     .issuer("https://login.example.com")
///     .leeway(Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub(crate) base_url: String,
    pub(crate) appids: HashSet<String>,
    pub(crate) issuer: String,
    pub(crate) leeway: Duration,
    pub(crate) timeout: Duration,
    pub(crate) jwks_max_age: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: Option<reqwest::Client>,
}

impl LocalConfig {
    /// wxlogin's base URL (the JWKS is at `/.well-known/jwks.json` under it) and the apps
    /// whose tokens are accepted (`aud`). The issuer defaults to `wxlogin`, wxlogin's own
    /// default for `[jwt] issuer`; the leeway to 60 s, the most allowed.
    pub fn new(base_url: impl Into<String>, appids: impl IntoIterator<Item: Into<String>>) -> Self {
        Self {
            base_url: base_url.into(),
            appids: appids.into_iter().map(Into::into).collect(),
            issuer: "wxlogin".to_owned(),
            leeway: MAX_LEEWAY,
            timeout: Duration::from_secs(5),
            jwks_max_age: Duration::from_secs(300),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    /// The `iss` every token must carry: wxlogin's `[jwt] issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Clock skew tolerated on `exp`, at most [`MAX_LEEWAY`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Timeout of one JWKS fetch (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a fetched JWKS is used before it is refreshed in the background (5 minutes
    /// by default; wxlogin publishes a new key `access_ttl` before it signs with it). An
    /// unknown `kid` refetches sooner, at most once every 30 s.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The clock expiry and cache ages are read from (the system clock by default).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A client of your own, e.g. trusting a private CA; its timeouts replace ours.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }
}

/// Settings of [`Verifier::introspection`].
///
/// ```
/// use wxlogin_axum::IntrospectionConfig;
///
/// let config = IntrospectionConfig::new(
///     "https://login.internal",
///     "billing",
///     std::env::var("WXLOGIN_CLIENT_SECRET").unwrap_or_default(),
///     ["wx1234567890abcdef"],
/// );
/// ```
#[derive(Clone)]
pub struct IntrospectionConfig {
    pub(crate) base_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) appids: HashSet<String>,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: Option<reqwest::Client>,
}

impl IntrospectionConfig {
    /// wxlogin's base URL (introspection is `POST /oauth2/introspect` under it), the service
    /// credentials of one of its `[[introspection.clients]]`, and the apps whose tokens are
    /// accepted (a subset of that client's `appids`).
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        appids: impl IntoIterator<Item: Into<String>>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            appids: appids.into_iter().map(Into::into).collect(),
            cache_ttl: Duration::from_secs(5),
            cache_capacity: 10_000,
            timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    /// How long a positive answer is reused (5 s by default): also how long a logged-out
    /// token may still be accepted. `Duration::ZERO` asks wxlogin every time. Negative
    /// answers are never cached.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many positive answers the cache holds at most (10 000 by default); the oldest go
    /// first.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Timeout of one introspection call (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock cache ages are read from (the system clock by default).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A client of your own, e.g. trusting a private CA; its timeouts replace ours.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("appids", &self.appids)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `base` joined with the absolute `path`, refusing what must not be configured: other
/// schemes, and credentials in the URL (a URL ends up in logs; secrets go in their fields).
pub(crate) fn endpoint(base: &str, path: &str, what: &'static str) -> Result<Url, ConfigError> {
    let bad = |reason| ConfigError::Url { what, reason };
    let mut url = Url::parse(base).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("not http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query or fragment in the base URL"));
    }
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    Ok(url)
}

/// The caller's client, or ours with the given timeout.
pub(crate) fn http_client(
    given: Option<reqwest::Client>,
    timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    match given {
        Some(client) => Ok(client),
        None => reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| ConfigError::Http(e.without_url().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_and_refuse_credentials() {
        let url = endpoint("http://127.0.0.1:8080", "/oauth2/introspect", "wxlogin").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/oauth2/introspect");
        let url = endpoint("https://h/login/", "/.well-known/jwks.json", "wxlogin").unwrap();
        assert_eq!(url.as_str(), "https://h/login/.well-known/jwks.json");
        for bad in [
            "ftp://h",
            "h:8080",
            "http://user:pass@h",
            "http://user@h",
            "http://h/?a=b",
            "",
        ] {
            assert!(endpoint(bad, "/x", "wxlogin").is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_client_secret() {
        let config = IntrospectionConfig::new("http://h", "billing", "s3cret-value", ["wx1"]);
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-value"), "{debug}");
        assert!(debug.contains("billing"), "{debug}");
    }
}
