//! JWT mode: short-lived access JWTs, the cluster's signing keys, refresh-token successors.
//!
//! In JWT mode the opaque token of a login becomes a *refresh* token and the client also gets
//! an *access* JWT (EdDSA) that any backend can verify offline against our JWKS. The pieces:
//!
//! - **Signing keys** are Ed25519 key pairs created once per cluster through the
//!   [`SecretStore`](wxlogin_store::SecretStore) (first writer wins, so every instance signs
//!   with the same key), sealed with the at-rest keys and the secret's name as AAD. Time is cut
//!   into periods of `key_rotation`; period `p = floor(now / key_rotation)` signs with the key
//!   named `jwt-signing/<p>`, which is also the `kid`. The JWKS publishes the current key, the
//!   previous one until `access_ttl` after the change (every token it signed has expired by
//!   then), and the next one during the last `access_ttl` of a period, so a verifier that
//!   cached the JWKS just before a change already knows the new key.
//! - **Refresh successors**: the token that replaces refresh token `T` is
//!   `wxl_` + base64url(HMAC-SHA256(k, T)), with `k` the cluster secret `refresh-hmac`. Any
//!   instance can recompute it, so a replay within the grace answers the same pair again
//!   without the store ever holding a token in plain text.
//! - **Claims** are exactly `iss`, `sub` (user id), `aud` (appid), `exp`, `iat`, `jti`, `sid`
//!   (session id), `openid` and `unionid`; `unionid` is *omitted* when unknown.
//!
//! Expiry is checked against our own clock (jsonwebtoken's check reads the system time, which
//! `--test-clock` does not move), with no leeway: issuer and verifier are the same cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use wxlogin_clock::SharedClock;
use wxlogin_store::at_rest::AtRestKeys;
use wxlogin_store::{SessionRecord, Store, StoreError, StoredSecret, TokenHash};
use zeroize::Zeroizing;

use crate::token::TOKEN_PREFIX;

/// Prefix of the signing keys' secret names (and of their `kid`s).
pub const SIGNING_KEY_PREFIX: &str = "jwt-signing/";
/// Name of the refresh-successor HMAC key's secret.
pub const REFRESH_HMAC_SECRET: &str = "refresh-hmac";
/// Digits of the period index in a key name: fixed width, so a name is never a prefix of
/// another and `secrets_with_prefix(name)` finds exactly one.
const PERIOD_DIGITS: usize = 12;

/// The `[jwt]` settings the domain needs.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// Lifetime of an access JWT (capped by the session's own deadline).
    pub access_ttl: Duration,
    /// How long a rotated-out refresh token answers with the same successor.
    pub refresh_grace: Duration,
    /// Length of a signing key's period.
    pub key_rotation: Duration,
}

/// Why issuing or verifying an access JWT failed.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not a JWT of ours, a bad signature, an unknown or retired `kid`, a wrong issuer, or
    /// expired. One variant on purpose: a client is only told that the token is no good.
    #[error("invalid access token")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cluster secret could not be created or opened (wrong at-rest keys, corrupt row).
    /// Names the secret, never its value.
    #[error("cluster secret {name}: {reason}")]
    Secret { name: String, reason: String },
}

/// The claims of an access JWT.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// Our user id.
    pub sub: String,
    /// The appid the session belongs to.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// Random, unique per JWT.
    pub jti: String,
    /// The session id: wxlogin's own routes check it against the store.
    pub sid: String,
    pub openid: String,
    /// Omitted when WeChat never told us the unionid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

impl fmt::Debug for AccessClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // openid and unionid identify a person: never in logs.
        f.debug_struct("AccessClaims")
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// A freshly signed access JWT.
pub struct AccessToken {
    /// The compact JWT, handed to the client.
    pub jwt: String,
    pub expires_at: OffsetDateTime,
    /// `exp - iat`: what the client is told, exactly the configured lifetime unless the
    /// session ends sooner.
    pub expires_in: i64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("jwt", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The refresh token that replaces a presented one.
pub struct Successor {
    text: String,
}

impl Successor {
    /// The token to hand to the client.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What the store keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.text)
    }
}

impl fmt::Debug for Successor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Successor([REDACTED])")
    }
}

/// One public key as published in the JWKS (RFC 8037 OKP).
#[derive(Debug, Clone, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    /// The raw 32-byte public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// Everything [`JwtKeys`] needs, wired by the binary.
pub struct JwtParts {
    pub store: Arc<dyn Store>,
    pub at_rest: AtRestKeys,
    pub clock: SharedClock,
    pub settings: JwtSettings,
}

/// Issues and verifies access JWTs, publishes the JWKS, derives refresh successors. Cheap to
/// clone.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    at_rest: AtRestKeys,
    clock: SharedClock,
    settings: JwtSettings,
    /// Opened signing keys by period; `None` records a past period that never had a key. Keys
    /// never change once created, so entries stay valid; old periods are pruned.
    keys: Mutex<BTreeMap<i64, Option<Arc<SigningKey>>>>,
    refresh_hmac: OnceCell<hmac::Key>,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Vec<u8>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(parts: JwtParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                at_rest: parts.at_rest,
                clock: parts.clock,
                settings: parts.settings,
                keys: Mutex::new(BTreeMap::new()),
                refresh_hmac: OnceCell::new(),
            }),
        }
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.inner.settings
    }

    /// Signs an access JWT for `session`, valid for `access_ttl` but never past the session's
    /// own deadline.
    pub async fn issue(&self, session: &SessionRecord) -> Result<AccessToken, JwtError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let key = self.key(self.period(now), true).await?.ok_or_else(|| {
            // `create` was set: a key always comes back.
            secret_error(&key_name(self.period(now)), "no key after creating it")
        })?;
        let ttl = time::Duration::try_from(inner.settings.access_ttl)
            .unwrap_or(time::Duration::minutes(5));
        let expires_at = (now + ttl).min(session.expires_at());
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = AccessClaims {
            iss: inner.settings.issuer.clone(),
            sub: session.user_id.to_string(),
            aud: session.appid.clone(),
            exp: expires_at.unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: URL_SAFE_NO_PAD.encode(jti),
            sid: session.session_id.to_string(),
            openid: session.openid.clone(),
            unionid: session.unionid.clone(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| secret_error(&key.kid, &format!("signing failed: {e}")))?;
        Ok(AccessToken {
            jwt,
            expires_at: OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(expires_at),
            expires_in: (claims.exp - claims.iat).max(0),
        })
    }

    /// Checks an access JWT: ours (a `kid` published now), a good signature, our issuer, not
    /// expired at our clock's `now`. The audience is the caller's question.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::Invalid);
        }
        let period = header
            .kid
            .as_deref()
            .and_then(period_of_kid)
            .ok_or(JwtError::Invalid)?;
        let now = self.inner.clock.now();
        let current = self.period(now);
        if !self.published(period, now) {
            return Err(JwtError::Invalid);
        }
        let key = self
            .key(period, period >= current)
            .await?
            .ok_or(JwtError::Invalid)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_issuer(&[&self.inner.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|_| JwtError::Invalid)?
            .claims;
        if claims.exp <= now.unix_timestamp() {
            return Err(JwtError::Invalid);
        }
        Ok(claims)
    }

    /// The public keys to publish now: previous (during its grace), current, next (during the
    /// last `access_ttl` of the period). Creates the current and next keys when needed.
    pub async fn jwks(&self) -> Result<Vec<PublicJwk>, JwtError> {
        let now = self.inner.clock.now();
        let current = self.period(now);
        let mut keys = Vec::with_capacity(3);
        for period in [current - 1, current, current + 1] {
            if !self.published(period, now) {
                continue;
            }
            if let Some(key) = self.key(period, period >= current).await? {
                keys.push(PublicJwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    x: URL_SAFE_NO_PAD.encode(&key.public),
                    kid: key.kid.clone(),
                    alg: "EdDSA",
                    use_: "sig",
                });
            }
        }
        Ok(keys)
    }

    /// The refresh token that replaces `presented`: `wxl_` + base64url(HMAC-SHA256(k, T)).
    pub async fn successor(&self, presented: &str) -> Result<Successor, JwtError> {
        let key = self.refresh_key().await?;
        let tag = hmac::sign(key, presented.as_bytes());
        Ok(Successor {
            text: format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
        })
    }

    fn period(&self, now: OffsetDateTime) -> i64 {
        now.unix_timestamp().div_euclid(self.rotation_secs())
    }

    fn rotation_secs(&self) -> i64 {
        i64::try_from(self.inner.settings.key_rotation.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Whether `period`'s key belongs in the JWKS (and so verifies tokens) at `now`.
    fn published(&self, period: i64, now: OffsetDateTime) -> bool {
        let current = self.period(now);
        let ttl = i64::try_from(self.inner.settings.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let into_period = now.unix_timestamp() - current * self.rotation_secs();
        match period - current {
            0 => true,
            // Tokens it signed expire at most `access_ttl` after the change.
            -1 => into_period < ttl,
            1 => self.rotation_secs() - into_period <= ttl,
            _ => false,
        }
    }

    /// `period`'s signing key: from memory, else from the store, creating it when `create`
    /// (only current and future periods; a past period without a key never signed anything).
    async fn key(&self, period: i64, create: bool) -> Result<Option<Arc<SigningKey>>, JwtError> {
        let inner = &*self.inner;
        if let Some(known) = lock(&inner.keys).get(&period)
            && (known.is_some() || !create)
        {
            return Ok(known.clone());
        }
        let name = key_name(period);
        let stored = if create {
            let candidate = Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| secret_error(&name, "key generation failed"))?;
            let sealed = inner
                .at_rest
                .seal(candidate.as_ref(), &secret_aad(&name))
                .map_err(|e| secret_error(&name, &e.to_string()))?;
            Some(
                inner
                    .store
                    .secret_or_insert(&name, sealed, inner.clock.now())
                    .await?,
            )
        } else {
            inner
                .store
                .secrets_with_prefix(&name)
                .await?
                .into_iter()
                .find(|s| s.name == name)
        };
        let key = stored
            .map(|s| self.open_signing_key(&s))
            .transpose()?
            .map(Arc::new);
        let mut keys = lock(&inner.keys);
        keys.insert(period, key.clone());
        let current = self.period(inner.clock.now());
        keys.retain(|p, _| *p >= current - 1);
        Ok(key)
    }

    fn open_signing_key(&self, stored: &StoredSecret) -> Result<SigningKey, JwtError> {
        let name = &stored.name;
        let pkcs8 = self
            .inner
            .at_rest
            .open(&stored.sealed, &secret_aad(name))
            .map_err(|e| secret_error(name, &e.to_string()))?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| secret_error(name, "not an Ed25519 PKCS#8 key"))?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(SigningKey {
            kid: name.clone(),
            encoding: EncodingKey::from_ed_der(&pkcs8),
            decoding: DecodingKey::from_ed_der(&public),
            public,
        })
    }

    async fn refresh_key(&self) -> Result<&hmac::Key, JwtError> {
        let inner = &*self.inner;
        inner
            .refresh_hmac
            .get_or_try_init(|| async {
                let name = REFRESH_HMAC_SECRET;
                let mut candidate = Zeroizing::new([0u8; 32]);
                rand::rng().fill_bytes(candidate.as_mut());
                let sealed = inner
                    .at_rest
                    .seal(candidate.as_ref(), &secret_aad(name))
                    .map_err(|e| secret_error(name, &e.to_string()))?;
                let stored = inner
                    .store
                    .secret_or_insert(name, sealed, inner.clock.now())
                    .await?;
                let raw = inner
                    .at_rest
                    .open(&stored.sealed, &secret_aad(name))
                    .map_err(|e| secret_error(name, &e.to_string()))?;
                if raw.len() != 32 {
                    return Err(secret_error(name, "not 32 bytes"));
                }
                Ok(hmac::Key::new(hmac::HMAC_SHA256, &raw))
            })
            .await
    }
}

/// The AAD binding a sealed cluster secret to its name, so a sealed value copied under another
/// name does not open. The label keeps it apart from every other AAD of the at-rest keys.
fn secret_aad(name: &str) -> Vec<u8> {
    [b"\x01cluster-secret\x00".as_slice(), name.as_bytes()].concat()
}

fn key_name(period: i64) -> String {
    format!("{SIGNING_KEY_PREFIX}{period:0PERIOD_DIGITS$}")
}

fn period_of_kid(kid: &str) -> Option<i64> {
    let digits = kid.strip_prefix(SIGNING_KEY_PREFIX)?;
    if digits.len() != PERIOD_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn secret_error(name: &str, reason: &str) -> JwtError {
    JwtError::Secret {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The key map's lock; a panic while holding it cannot leave the map inconsistent (each
/// update is one insert), so a poisoned lock is simply taken over.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;
    use uuid::Uuid;
    use wxlogin_clock::{Clock as _, FixedClock};
    use wxlogin_store::SqliteStore;

    use super::*;

    const DAY: u64 = 24 * 3600;

    async fn keys_at(
        start: OffsetDateTime,
    ) -> (JwtKeys, Arc<FixedClock>, Arc<dyn Store>, AtRestKeys) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let clock = Arc::new(FixedClock::at(start));
        let at_rest =
            AtRestKeys::parse(&[AtRestKeys::generate_spec("k1").unwrap().as_str()]).unwrap();
        let keys = JwtKeys::new(JwtParts {
            store: Arc::clone(&store),
            at_rest: at_rest.clone(),
            clock: clock.clone(),
            settings: JwtSettings {
                issuer: "wxlogin-test".into(),
                access_ttl: Duration::from_secs(300),
                refresh_grace: Duration::from_secs(30),
                key_rotation: Duration::from_secs(30 * DAY),
            },
        });
        (keys, clock, store, at_rest)
    }

    fn session(now: OffsetDateTime, unionid: Option<&str>) -> SessionRecord {
        SessionRecord {
            session_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            appid: "wx0123456789abcdef".into(),
            openid: "o-test-openid".into(),
            unionid: unionid.map(str::to_owned),
            family_id: None,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now + time::Duration::days(7),
            absolute_expires_at: now + time::Duration::days(30),
        }
    }

    #[tokio::test]
    async fn issued_tokens_verify_with_exactly_the_documented_claims() {
        let start = datetime!(2026-11-24 10:00 UTC);
        let (keys, _, _, _) = keys_at(start).await;
        let record = session(start, None);
        let access = keys.issue(&record).await.unwrap();
        assert_eq!(access.expires_at, start + time::Duration::minutes(5));
        assert_eq!(access.expires_in, 300);
        let claims = keys.verify(&access.jwt).await.unwrap();
        assert_eq!(claims.sub, record.user_id.to_string());
        assert_eq!(claims.sid, record.session_id.to_string());
        assert_eq!(claims.aud, record.appid);
        assert_eq!(claims.iss, "wxlogin-test");
        assert_eq!(claims.exp - claims.iat, 300);

        let payload = access.jwt.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let mut names: Vec<&str> = json.as_object().unwrap().keys().map(|k| &**k).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["aud", "exp", "iat", "iss", "jti", "openid", "sid", "sub"],
            "unionid is omitted when unknown"
        );
        let with_union = keys.issue(&session(start, Some("u-1"))).await.unwrap();
        let claims = keys.verify(&with_union.jwt).await.unwrap();
        assert_eq!(claims.unionid.as_deref(), Some("u-1"));
        assert!(!format!("{claims:?} {with_union:?}").contains("o-test-openid"));
    }

    #[tokio::test]
    async fn tokens_expire_by_our_clock_and_never_outlive_the_session() {
        let start = datetime!(2026-11-24 10:00 UTC);
        let (keys, clock, _, _) = keys_at(start).await;
        let access = keys.issue(&session(start, None)).await.unwrap();
        clock.advance(Duration::from_secs(299));
        assert!(keys.verify(&access.jwt).await.is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(matches!(
            keys.verify(&access.jwt).await,
            Err(JwtError::Invalid)
        ));

        let mut short = session(start, None);
        short.idle_expires_at = clock.now() + time::Duration::seconds(60);
        let access = keys.issue(&short).await.unwrap();
        assert_eq!(access.expires_at, short.idle_expires_at);
    }

    #[tokio::test]
    async fn tampered_or_foreign_tokens_are_refused() {
        let start = datetime!(2026-11-24 10:00 UTC);
        let (keys, _, _, _) = keys_at(start).await;
        let (other, _, _, _) = keys_at(start).await;
        let access = keys.issue(&session(start, None)).await.unwrap();
        // Same kid, another cluster's key: the signature fails.
        let foreign = other.issue(&session(start, None)).await.unwrap();
        assert!(keys.verify(&foreign.jwt).await.is_err());
        let mut parts: Vec<&str> = access.jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            br#"{"iss":"wxlogin-test","sub":"x","aud":"a","exp":9999999999,"iat":0,"jti":"j","sid":"s","openid":"o"}"#,
        );
        parts[1] = &forged;
        assert!(keys.verify(&parts.join(".")).await.is_err());
        for garbage in ["", "a.b.c", "wxl_AAAA", &access.jwt[..access.jwt.len() - 2]] {
            assert!(keys.verify(garbage).await.is_err(), "{garbage}");
        }
    }

    #[tokio::test]
    async fn the_cluster_shares_one_key_and_the_jwks_follows_rotation() {
        // 12:00, five minutes before a 30-day period ends (periods start at multiples of
        // 30 days since the epoch).
        let rotation = 30 * DAY as i64;
        let boundary = OffsetDateTime::from_unix_timestamp(
            (datetime!(2026-11-24 0:00 UTC).unix_timestamp() / rotation + 1) * rotation,
        )
        .unwrap();
        let (keys, clock, store, at_rest) = keys_at(boundary - time::Duration::minutes(10)).await;
        let twin = JwtKeys::new(JwtParts {
            store,
            at_rest,
            clock: clock.clone(),
            settings: keys.settings().clone(),
        });
        let access = keys.issue(&session(clock.now(), None)).await.unwrap();
        assert!(
            twin.verify(&access.jwt).await.is_ok(),
            "one key per cluster"
        );
        let kids = |jwks: Vec<PublicJwk>| jwks.into_iter().map(|k| k.kid).collect::<Vec<_>>();
        let old = kids(keys.jwks().await.unwrap());
        assert_eq!(old.len(), 1);

        // The last access_ttl of the period: the next key is already published.
        clock.advance(Duration::from_secs(300));
        let both = kids(twin.jwks().await.unwrap());
        assert_eq!(both.len(), 2);
        assert_eq!(both[0], old[0]);

        // After the change the old key stays until tokens signed with it expired.
        clock.advance(Duration::from_secs(301));
        let after = kids(keys.jwks().await.unwrap());
        assert_eq!(after, both);
        let fresh = keys.issue(&session(clock.now(), None)).await.unwrap();
        let kid = jsonwebtoken::decode_header(&fresh.jwt)
            .unwrap()
            .kid
            .unwrap();
        assert_eq!(kid, both[1]);
        clock.advance(Duration::from_secs(300));
        assert_eq!(kids(keys.jwks().await.unwrap()), [both[1].clone()]);
    }

    #[tokio::test]
    async fn successors_are_stable_across_instances_and_shaped_like_tokens() {
        let start = datetime!(2026-11-24 10:00 UTC);
        let (keys, clock, store, at_rest) = keys_at(start).await;
        let twin = JwtKeys::new(JwtParts {
            store,
            at_rest,
            clock,
            settings: keys.settings().clone(),
        });
        let token = crate::IssuedToken::mint();
        let a = keys.successor(token.text()).await.unwrap();
        let b = twin.successor(token.text()).await.unwrap();
        assert_eq!(a.text(), b.text());
        assert_eq!(crate::token::hash_presented(a.text()), Some(a.hash()));
        assert_ne!(a.text(), keys.successor(a.text()).await.unwrap().text());
        assert!(!format!("{a:?}").contains(&a.text()[4..]));
    }
}
