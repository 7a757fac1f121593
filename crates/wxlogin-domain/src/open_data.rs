//! What WeChat hands a mini-program for the server to open: encryptedData (decrypted with the
//! user's session_key ring), phone codes (exchanged with an access_token), and the
//! session_key checks and resets.
//!
//! Identity (openid, unionid) is only ever taken from `jscode2session`, never from decrypted
//! data: a decrypted `openId`/`unionId` that disagrees with the session is refused.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tracing::debug;
use uuid::Uuid;
use wxlogin_clock::SharedClock;
use wxlogin_crypto::{DecryptError, Decrypted, PayloadKind};
use wxlogin_store::at_rest::{AtRestKeys, phone_aad, session_key_aad};
use wxlogin_store::{
    KeyFingerprint, KeyRingPolicy, NewSessionKey, SessionRecord, Store, StoreError,
};
use wxlogin_wechat::{WeChatClient, WeChatError};

use crate::access_token::{AccessTokenError, AccessTokens};
use crate::coordination::{ClusterEvent, RateLimiter, SharedCoordinator};
use crate::key_rings::{KeyRingCache, Ring};
use crate::{App, Apps, Limit, SessionPolicy, UpstreamError, Verdict};

/// Which generation of the user's session_key opened the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGeneration {
    Current,
    /// A key replaced by a later `wx.login` (the rotation race, protocol reference §8.3).
    Previous,
}

impl KeyGeneration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

/// An encrypted payload as the mini-program received it.
#[derive(Debug)]
pub struct EncryptedPayload<'a> {
    pub kind: PayloadKind,
    pub encrypted_data: &'a str,
    pub iv: &'a str,
    /// For user info: the plain `rawData` and its `signature`, verified when given.
    pub raw_data: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// A verified phone number.
#[derive(Clone)]
pub struct VerifiedPhone {
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

impl std::fmt::Debug for VerifiedPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedPhone([REDACTED])")
    }
}

/// Why an open-data request failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenDataError {
    /// Malformed input (`invalid_base64`, `invalid_iv`, …) or `decrypt_failed`. The latter is
    /// one opaque answer for padding, UTF-8, JSON and watermark failures: no padding oracle.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// `rawData` does not match its `signature` under the key that decrypted the data.
    #[error("rawData signature mismatch")]
    SignatureMismatch,
    /// `rawData` without `signature` or the reverse.
    #[error("rawData and signature go together")]
    SignatureIncomplete,
    /// The decrypted openId / unionId is not the session's.
    #[error("the decrypted identity is not the session's")]
    IdentityMismatch,
    /// A per-user limit was reached.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The phone data's watermark names another app.
    #[error("WeChat's phone data names another app")]
    WatermarkMismatch,
    /// No such user (operator commands).
    #[error("no such user")]
    NoSuchUser,
    /// The user has no session_key (no live session).
    #[error("the user has no session_key")]
    NoSessionKey,
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error(transparent)]
    AccessToken(#[from] AccessTokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Per-user limits (appid + openid, i.e. our user id: sessions are cheap to mint).
#[derive(Debug, Clone, Copy)]
pub struct OpenDataLimits {
    pub decrypt_failures: Limit,
    pub phone_calls: Limit,
    pub session_checks: Limit,
}

impl Default for OpenDataLimits {
    fn default() -> Self {
        Self {
            decrypt_failures: Limit {
                max: 20,
                window: Duration::from_secs(600),
            },
            phone_calls: Limit {
                max: 10,
                window: Duration::from_secs(60),
            },
            session_checks: Limit {
                max: 10,
                window: Duration::from_secs(60),
            },
        }
    }
}

/// Everything [`OpenData`] needs, wired by the binary.
pub struct OpenDataParts {
    pub store: Arc<dyn Store>,
    pub wechat: WeChatClient,
    pub clock: SharedClock,
    pub apps: Apps,
    pub at_rest: AtRestKeys,
    pub tokens: AccessTokens,
    pub policy: SessionPolicy,
    pub limits: OpenDataLimits,
    /// Keep verified phone numbers so `/v1/session` can show them (off by default).
    pub store_phone_numbers: bool,
    /// Counts the per-user limits across the cluster, when there is one.
    pub coordinator: SharedCoordinator,
    /// Opened key rings, shared with the [`LoginService`](crate::LoginService) (which drops
    /// a user's entry when a login rotates their key).
    pub key_rings: Arc<KeyRingCache>,
}

/// The open-data service. Cheap to clone.
#[derive(Clone)]
pub struct OpenData {
    inner: Arc<Inner>,
}

struct Inner {
    parts: OpenDataParts,
    decrypt_failures: RateLimiter<Uuid>,
    phone_calls: RateLimiter<Uuid>,
    session_checks: RateLimiter<Uuid>,
}

impl OpenData {
    pub fn new(parts: OpenDataParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                decrypt_failures: RateLimiter::new(
                    "decrypt-failures",
                    parts.limits.decrypt_failures,
                    parts.coordinator.clone(),
                ),
                phone_calls: RateLimiter::new(
                    "phone-calls",
                    parts.limits.phone_calls,
                    parts.coordinator.clone(),
                ),
                session_checks: RateLimiter::new(
                    "session-checks",
                    parts.limits.session_checks,
                    parts.coordinator.clone(),
                ),
                parts,
            }),
        }
    }

    fn parts(&self) -> &OpenDataParts {
        &self.inner.parts
    }

    fn now_ms(&self) -> i64 {
        (self.parts().clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn stores_phone_numbers(&self) -> bool {
        self.parts().store_phone_numbers
    }

    /// Decrypts with the current session_key, then with previous keys still in their window.
    pub async fn decrypt(
        &self,
        session: &SessionRecord,
        payload: &EncryptedPayload<'_>,
    ) -> Result<(Decrypted, KeyGeneration), OpenDataError> {
        let now_ms = self.now_ms();
        if let Verdict::Limited { retry_after_secs } = self
            .inner
            .decrypt_failures
            .check(&session.user_id, now_ms)
            .await
        {
            return Err(OpenDataError::RateLimited { retry_after_secs });
        }
        if payload.raw_data.is_some() != payload.signature.is_some() {
            return Err(OpenDataError::SignatureIncomplete);
        }
        let open = |keys: &Ring| {
            wxlogin_crypto::decrypt_with_keys(
                payload.kind,
                keys.iter().map(|(key, _)| key.expose_secret()),
                payload.iv,
                payload.encrypted_data,
                &session.appid,
            )
        };
        let cached = self
            .parts()
            .key_rings
            .get(session.user_id, self.parts().clock.now());
        let mut keys = match &cached {
            Some(ring) => Arc::clone(ring),
            None => {
                self.session_keys(session.user_id, &session.appid, &session.openid)
                    .await?
            }
        };
        let mut opened = open(&keys);
        if cached.is_some() && opened.as_ref().is_err_and(|e| !e.is_malformed_input()) {
            // The cached ring may lack a key rotated in since (see `key_rings`): ask the store.
            keys = self
                .session_keys(session.user_id, &session.appid, &session.openid)
                .await?;
            opened = open(&keys);
        }
        let (data, index) = match opened {
            Ok(opened) => opened,
            // Malformed input fails the same way under every key, and is no decrypt failure.
            Err(error) if error.is_malformed_input() => return Err(error.into()),
            Err(_) => {
                self.inner
                    .decrypt_failures
                    .record(&session.user_id, now_ms)
                    .await;
                debug!(user_id = %session.user_id, keys = keys.len(), "decrypt_failed under every key");
                return Err(DecryptError::DecryptFailed.into());
            }
        };
        let (key, generation) = &keys[index.0];
        if let (Some(raw_data), Some(signature)) = (payload.raw_data, payload.signature)
            && !wxlogin_crypto::verify_raw_data_signature(raw_data, key.expose_secret(), signature)
        {
            return Err(OpenDataError::SignatureMismatch);
        }
        if let Decrypted::UserInfo(info) = &data {
            let openid_differs = info.open_id().is_some_and(|o| o != session.openid);
            let unionid_differs = match (info.union_id(), session.unionid.as_deref()) {
                (Some(decrypted), Some(ours)) => decrypted != ours,
                _ => false,
            };
            if openid_differs || unionid_differs {
                return Err(OpenDataError::IdentityMismatch);
            }
        }
        Ok((data, *generation))
    }

    /// The user's usable session_keys, current first, read from the store (and remembered
    /// for the next decryption).
    async fn session_keys(
        &self,
        user_id: Uuid,
        appid: &str,
        openid: &str,
    ) -> Result<Ring, OpenDataError> {
        let parts = self.parts();
        let read_at = parts.clock.now();
        let ring = parts
            .store
            .key_ring(user_id, read_at, self.key_ring_policy())
            .await?;
        let aad = session_key_aad(appid, openid);
        ring.iter()
            .map(|sealed| {
                let plain = parts
                    .at_rest
                    .open(&sealed.sealed, &aad)
                    .map_err(|e| OpenDataError::Internal(format!("opening a session_key: {e}")))?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| OpenDataError::Internal("a session_key is not UTF-8".into()))?;
                let generation = if sealed.current {
                    KeyGeneration::Current
                } else {
                    KeyGeneration::Previous
                };
                Ok((SecretString::from(text), generation))
            })
            .collect::<Result<Vec<_>, OpenDataError>>()
            .map(|keys| {
                let ring = Arc::new(keys);
                parts.key_rings.put(user_id, Arc::clone(&ring), read_at);
                ring
            })
    }

    /// Exchanges a phone code (`getuserphonenumber`). Retried only after a token error: a
    /// phone code is single-use, so any other failure may have consumed it.
    pub async fn phone(
        &self,
        session: &SessionRecord,
        code: &str,
    ) -> Result<VerifiedPhone, OpenDataError> {
        let parts = self.parts();
        if let Verdict::Limited { retry_after_secs } = self
            .inner
            .phone_calls
            .charge(&session.user_id, self.now_ms())
            .await
        {
            return Err(OpenDataError::RateLimited { retry_after_secs });
        }
        let app = self.app(&session.appid)?;
        let info = self
            .with_token(&app, |token| {
                let wechat = parts.wechat.clone();
                let (code, openid) = (code.to_owned(), session.openid.clone());
                async move {
                    wechat
                        .get_user_phone_number(&token, &code, Some(&openid))
                        .await
                }
            })
            .await?;
        if info
            .watermark
            .as_ref()
            .is_some_and(|w| w.appid != session.appid)
        {
            return Err(OpenDataError::WatermarkMismatch);
        }
        let phone = VerifiedPhone {
            phone_number: info.phone_number.clone(),
            pure_phone_number: info.pure_phone_number.clone(),
            country_code: info.country_code.clone(),
        };
        if parts.store_phone_numbers {
            self.save_phone(session, &phone).await?;
        }
        Ok(phone)
    }

    async fn save_phone(
        &self,
        session: &SessionRecord,
        phone: &VerifiedPhone,
    ) -> Result<(), OpenDataError> {
        let parts = self.parts();
        let json = serde_json::json!({
            "phone_number": phone.phone_number,
            "pure_phone_number": phone.pure_phone_number,
            "country_code": phone.country_code,
        })
        .to_string();
        let sealed = parts
            .at_rest
            .seal(json.as_bytes(), &phone_aad(&session.user_id.to_string()))
            .map_err(|e| OpenDataError::Internal(format!("sealing a phone number: {e}")))?;
        parts
            .store
            .save_phone(session.user_id, sealed, parts.clock.now())
            .await?;
        Ok(())
    }

    /// The user's stored phone number (when phone storage is on).
    pub async fn stored_phone(
        &self,
        user_id: Uuid,
    ) -> Result<Option<VerifiedPhone>, OpenDataError> {
        let parts = self.parts();
        let Some(sealed) = parts.store.phone(user_id).await? else {
            return Ok(None);
        };
        let plain = parts
            .at_rest
            .open(&sealed, &phone_aad(&user_id.to_string()))
            .map_err(|e| OpenDataError::Internal(format!("opening a phone number: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&plain)
            .map_err(|_| OpenDataError::Internal("a stored phone number is not JSON".into()))?;
        let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
        Ok(Some(VerifiedPhone {
            phone_number: field("phone_number"),
            pure_phone_number: field("pure_phone_number"),
            country_code: field("country_code"),
        }))
    }

    /// `wxa/checksession`: is the session_key we hold still the user's valid one?
    pub async fn check_session_key(&self, session: &SessionRecord) -> Result<bool, OpenDataError> {
        let parts = self.parts();
        if let Verdict::Limited { retry_after_secs } = self
            .inner
            .session_checks
            .charge(&session.user_id, self.now_ms())
            .await
        {
            return Err(OpenDataError::RateLimited { retry_after_secs });
        }
        let keys = self
            .session_keys(session.user_id, &session.appid, &session.openid)
            .await?;
        let Some((current, KeyGeneration::Current)) = keys.first() else {
            return Ok(false);
        };
        let signature = wxlogin_crypto::login_state_signature(current.expose_secret(), b"");
        let app = self.app(&session.appid)?;
        let mut backoff = [Duration::from_millis(200), Duration::from_millis(800)].into_iter();
        loop {
            let result = self
                .with_token(&app, |token| {
                    let wechat = parts.wechat.clone();
                    let (openid, signature) = (session.openid.clone(), signature.clone());
                    async move { wechat.check_session_key(&token, &openid, &signature).await }
                })
                .await;
            match result {
                // checksession consumes nothing: -1 may be retried.
                Err(OpenDataError::Upstream(UpstreamError::Busy)) => match backoff.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(OpenDataError::Upstream(UpstreamError::Busy)),
                },
                other => return other,
            }
        }
    }

    /// Operators: `wxa/resetusersessionkey` for (appid, openid), updating the ring.
    pub async fn reset_session_key(&self, appid: &str, openid: &str) -> Result<(), OpenDataError> {
        let parts = self.parts();
        let app = self.app(appid)?;
        let user = parts
            .store
            .find_user(appid, openid)
            .await?
            .ok_or(OpenDataError::NoSuchUser)?;
        let keys = self.session_keys(user.user_id, appid, openid).await?;
        let Some((current, KeyGeneration::Current)) = keys.first() else {
            return Err(OpenDataError::NoSessionKey);
        };
        let signature = wxlogin_crypto::login_state_signature(current.expose_secret(), b"");
        let reset = self
            .with_token(&app, |token| {
                let wechat = parts.wechat.clone();
                let (openid, signature) = (openid.to_owned(), signature.clone());
                async move {
                    wechat
                        .reset_user_session_key(&token, &openid, &signature)
                        .await
                }
            })
            .await?;
        let key_text = reset.session_key.expose_secret();
        let sealed = parts
            .at_rest
            .seal(key_text.as_bytes(), &session_key_aad(appid, openid))
            .map_err(|e| OpenDataError::Internal(format!("sealing a session_key: {e}")))?;
        let replaced = parts
            .store
            .replace_session_key(
                user.user_id,
                NewSessionKey {
                    sealed,
                    fingerprint: KeyFingerprint::of(key_text),
                },
                parts.clock.now(),
                self.key_ring_policy(),
            )
            .await?;
        parts.key_rings.invalidate(user.user_id);
        if let Some(coordinator) = &parts.coordinator
            && let Err(error) = coordinator
                .publish(ClusterEvent::KeyRingChanged(user.user_id))
                .await
        {
            debug!(%error, "could not announce the reset; other instances' rings expire by themselves");
        }
        if !replaced {
            return Err(OpenDataError::NoSessionKey);
        }
        Ok(())
    }

    /// Operators: the user's session_keys, current first (for `wxlogin decrypt --openid`).
    pub async fn user_session_keys(
        &self,
        appid: &str,
        openid: &str,
    ) -> Result<Ring, OpenDataError> {
        let user = self
            .parts()
            .store
            .find_user(appid, openid)
            .await?
            .ok_or(OpenDataError::NoSuchUser)?;
        self.session_keys(user.user_id, &user.appid, &user.openid)
            .await
    }

    /// Runs `call` with the app's access_token; after a token error (40001 / 40014 / 42001)
    /// refreshes it per the token policy and runs `call` once more — the only retry.
    async fn with_token<T, F, Fut>(&self, app: &App, call: F) -> Result<T, OpenDataError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, WeChatError>>,
    {
        let tokens = &self.parts().tokens;
        let token = tokens.get(app).await?;
        match call(token.clone()).await {
            Ok(value) => Ok(value),
            Err(error) if error.is_token_error() => {
                debug!(appid = %app.appid, errcode = ?error.errcode(), "access_token rejected");
                let fresh = tokens.after_rejection(app, &token).await?;
                call(fresh)
                    .await
                    .map_err(|e| OpenDataError::Upstream(UpstreamError::from_wechat(&e)))
            }
            Err(error) => Err(OpenDataError::Upstream(UpstreamError::from_wechat(&error))),
        }
    }

    fn app(&self, appid: &str) -> Result<Arc<App>, OpenDataError> {
        self.parts()
            .apps
            .resolve(Some(appid))
            .map_err(|_| OpenDataError::Internal(format!("app {appid} is not configured")))
    }

    fn key_ring_policy(&self) -> KeyRingPolicy {
        KeyRingPolicy {
            keep_previous: self.parts().policy.previous_keys_kept,
            window: self.parts().policy.previous_key_window,
        }
    }
}
