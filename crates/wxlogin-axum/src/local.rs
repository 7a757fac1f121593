//! Local mode: wxlogin's access JWTs verified offline against its JWKS.
//!
//! The checks, in order: the header names `alg: EdDSA` (anything else — `none`, `HS256`
//! with our public key as the HMAC secret, RS/ES — is refused before any key is looked at)
//! and a `kid`; the key of that `kid` is in the JWKS; the signature holds; `iss` is the
//! configured issuer; `aud` is one of the configured appids; `exp` has not passed (with the
//! leeway). The claims `sub`, `sid` and `openid` must be present.
//!
//! Expiry is checked against the injectable [`Clock`], not by jsonwebtoken (it reads the
//! system time, which tests cannot move).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde::Deserialize;

use crate::clock::{Clock, at_least, from_unix_seconds, unix_seconds};
use crate::verifier::{MAX_LEEWAY, endpoint, http_client};
use crate::{ConfigError, LocalConfig, VerifyError, WxUser};

/// Where wxlogin publishes its public keys.
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The least time between two fetches caused by unknown `kid`s: a flood of tokens with
/// made-up `kid`s costs wxlogin one JWKS request per interval, not one per token.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The least time between two attempts while no JWKS was ever fetched: requests meanwhile
/// answer 503 at once instead of queueing behind a dead wxlogin.
const FIRST_FETCH_RETRY: Duration = Duration::from_secs(1);
/// A JWKS larger than this is not wxlogin's.
const MAX_JWKS_BYTES: usize = 64 * 1024;

pub(crate) struct LocalVerifier {
    jwks: Arc<Jwks>,
    validation: Validation,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
}

/// The claims we read. Others (`iat`, `jti`) are allowed and ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    exp: i64,
    sid: String,
    openid: String,
    #[serde(default)]
    unionid: Option<String>,
}

impl LocalVerifier {
    pub(crate) fn new(config: LocalConfig) -> Result<Self, ConfigError> {
        if config.appids.is_empty() {
            return Err(ConfigError::NoAppids);
        }
        if config.leeway > MAX_LEEWAY {
            return Err(ConfigError::Leeway(config.leeway));
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&config.appids.iter().collect::<Vec<_>>());
        let jwks = Jwks {
            url: endpoint(&config.base_url, JWKS_PATH, "wxlogin URL")?,
            http: http_client(config.http, config.timeout)?,
            clock: config.clock.clone(),
            max_age: config.jwks_max_age,
            keys: RwLock::new(Arc::new(KeySet::default())),
            fetch: Arc::new(tokio::sync::Mutex::new(FetchState::default())),
        };
        Ok(Self {
            jwks: Arc::new(jwks),
            validation,
            leeway_secs: i64::try_from(config.leeway.as_secs()).unwrap_or(60),
            clock: config.clock,
        })
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<WxUser, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| VerifyError::InvalidToken("not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::InvalidToken("algorithm is not EdDSA"));
        }
        let kid = header
            .kid
            .ok_or(VerifyError::InvalidToken("no kid in the header"))?;
        let keys = self.jwks.keys_with(&kid).await?;
        let key = keys
            .by_kid
            .get(&kid)
            .ok_or(VerifyError::InvalidToken("unknown kid"))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| VerifyError::InvalidToken(refusal(e.kind())))?
            .claims;
        let now = unix_seconds(self.clock.now());
        if now >= claims.exp.saturating_add(self.leeway_secs) {
            return Err(VerifyError::InvalidToken("expired"));
        }
        Ok(WxUser {
            user_id: claims.sub,
            appid: claims.aud,
            openid: claims.openid,
            unionid: claims.unionid,
            session_id: Some(claims.sid),
            expires_at: from_unix_seconds(claims.exp),
        })
    }
}

/// Why jsonwebtoken refused, for the debug log.
fn refusal(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "audience is not a configured appid",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "algorithm is not EdDSA",
        _ => "malformed",
    }
}

/// The cached JWKS and how to refresh it.
struct Jwks {
    url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    max_age: Duration,
    /// The keys in use. A std lock: held only to clone an `Arc`, never across an await.
    keys: RwLock<Arc<KeySet>>,
    /// One fetch at a time; holds when the last one started. A tokio lock: it is held across
    /// the fetch, and requests for an unknown `kid` wait on it to see its result.
    fetch: Arc<tokio::sync::Mutex<FetchState>>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, DecodingKey>,
    /// `None` until the first successful fetch.
    fetched_at: Option<SystemTime>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<SystemTime>,
}

impl Jwks {
    fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key set, refetched first if it lacks `kid` and the rate limit allows.
    async fn keys_with(self: &Arc<Self>, kid: &str) -> Result<Arc<KeySet>, VerifyError> {
        let keys = self.current();
        if keys.by_kid.contains_key(kid) {
            if keys
                .fetched_at
                .is_some_and(|at| at_least(self.clock.now(), at, self.max_age))
            {
                self.refresh_in_background();
            }
            return Ok(keys);
        }
        let mut fetch = self.fetch.lock().await;
        // Fetched by someone else while we waited?
        let keys = self.current();
        if keys.by_kid.contains_key(kid) {
            return Ok(keys);
        }
        let now = self.clock.now();
        let never_fetched = keys.fetched_at.is_none();
        let interval = if never_fetched {
            FIRST_FETCH_RETRY
        } else {
            REFETCH_INTERVAL
        };
        if fetch
            .last_attempt
            .is_some_and(|at| !at_least(now, at, interval))
        {
            return Err(if never_fetched {
                VerifyError::Unavailable("JWKS not fetched yet".into())
            } else {
                VerifyError::InvalidToken("unknown kid (JWKS refetched recently)")
            });
        }
        fetch.last_attempt = Some(now);
        // On failure the kid may be a new key we cannot see yet: a 503, not the token's fault.
        self.fetch_and_store().await
    }

    /// Refreshes a key set older than `max_age` without making anyone wait: the first
    /// request to notice starts the fetch (if none runs, and none ran in the last
    /// [`REFETCH_INTERVAL`]); everyone keeps the old keys until it lands.
    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(mut fetch) = self.fetch.clone().try_lock_owned() else {
            return;
        };
        let now = self.clock.now();
        if fetch
            .last_attempt
            .is_some_and(|at| !at_least(now, at, REFETCH_INTERVAL))
        {
            return;
        }
        fetch.last_attempt = Some(now);
        let jwks = self.clone();
        tokio::spawn(async move {
            // A failure is logged by fetch_and_store; the old keys stay.
            let _ = jwks.fetch_and_store().await;
            drop(fetch);
        });
    }

    async fn fetch_and_store(&self) -> Result<Arc<KeySet>, VerifyError> {
        let fetched = self.fetch_keys().await.inspect_err(|error| {
            tracing::warn!(%error, url = %self.url, "cannot fetch the JWKS");
        })?;
        let keys = Arc::new(KeySet {
            by_kid: fetched,
            fetched_at: Some(self.clock.now()),
        });
        tracing::debug!(keys = keys.by_kid.len(), "JWKS fetched");
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys.clone();
        Ok(keys)
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, VerifyError> {
        let unavailable = |e: reqwest::Error| VerifyError::Unavailable(e.without_url().to_string());
        let response = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(VerifyError::Unavailable(format!(
                "JWKS answered {}",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(VerifyError::Unavailable("JWKS too large".into()));
        }
        let body = response.bytes().await.map_err(unavailable)?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(VerifyError::Unavailable("JWKS too large".into()));
        }
        parse_jwks(&body)
    }
}

/// One entry of `keys`, as much of it as we read.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// The Ed25519 signing keys of a JWKS document, by `kid`. Other keys are skipped, not
/// refused: a future wxlogin may publish more kinds.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, VerifyError> {
    let set: JwkSet = serde_json::from_slice(body)
        .map_err(|_| VerifyError::Unavailable("JWKS is not a JSON key set".into()))?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let usable = jwk.kty == "OKP"
            && jwk.crv.as_deref() == Some("Ed25519")
            && jwk.alg.as_deref().is_none_or(|alg| alg == "EdDSA")
            && jwk.use_.as_deref().is_none_or(|u| u == "sig");
        let (Some(kid), Some(x), true) = (jwk.kid, jwk.x, usable) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_ed_components(&x) else {
            continue;
        };
        if key.try_get_as_bytes().map_or(0, <[u8]>::len) == 32 {
            keys.insert(kid, key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ed25519_signing_keys_are_taken() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let body = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "good", "alg": "EdDSA", "use": "sig"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "bare"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "X25519", "x": x, "kid": "x25519"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "hs", "alg": "HS256"},
            {"kty": "oct", "k": x, "kid": "oct"},
            {"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ", "kid": "short"},
            {"kty": "OKP", "crv": "Ed25519", "x": x},
            "not an object",
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["bare", "good"]);
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"{\"keys\": []}").unwrap().is_empty());
    }
}
