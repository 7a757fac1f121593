//! The login service: code exchange, token verification and every way a session ends.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tracing::{debug, info, warn};
use uuid::Uuid;
use wxlogin_clock::SharedClock;
use wxlogin_store::at_rest::{AtRestKeys, session_key_aad};
use wxlogin_store::{
    CodeHash, KeyFingerprint, KeyRingPolicy, LoginPolicy, NewLogin, NewSession, NewSessionKey,
    PurgeLimits, PurgeReport, SessionRecord, Store, StoreError, new_id,
};
use wxlogin_wechat::WeChatClient;

use crate::cache::SessionCache;
use crate::token::{IssuedToken, hash_presented};
use crate::{AdminError, Apps, LoginError, SessionError, SessionPolicy, UpstreamError};

/// The longest login code we bother WeChat with. Real codes are 32 characters; the limit only
/// keeps absurd input out of the store and the upstream URL.
const MAX_CODE_LEN: usize = 256;

/// What a successful login returns to the client.
#[derive(Debug)]
pub struct LoginOutcome {
    /// Handed to the client once; never stored.
    pub token: IssuedToken,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub appid: String,
    pub new_user: bool,
    /// The earlier of the idle and absolute deadlines.
    pub expires_at: OffsetDateTime,
    pub issued_at: OffsetDateTime,
}

/// A session that verified. Shared with the cache: cloning is a reference-count increment.
#[derive(Debug, Clone)]
pub struct VerifiedSession(pub Arc<SessionRecord>);

/// Everything the login service needs, wired by the binary.
pub struct LoginServiceParts {
    pub store: Arc<dyn Store>,
    pub wechat: WeChatClient,
    pub clock: SharedClock,
    pub apps: Apps,
    pub at_rest: AtRestKeys,
    pub policy: SessionPolicy,
    /// Sessions held in memory; 0 turns the cache off.
    pub cache_capacity: usize,
}

/// Logs users in and tells who holds a token. Cheap to clone.
#[derive(Clone)]
pub struct LoginService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    wechat: WeChatClient,
    clock: SharedClock,
    apps: Apps,
    at_rest: AtRestKeys,
    policy: SessionPolicy,
    cache: SessionCache,
}

impl LoginService {
    pub fn new(parts: LoginServiceParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache: SessionCache::new(parts.cache_capacity),
                store: parts.store,
                wechat: parts.wechat,
                clock: parts.clock,
                apps: parts.apps,
                at_rest: parts.at_rest,
                policy: parts.policy,
            }),
        }
    }

    pub fn apps(&self) -> &Apps {
        &self.inner.apps
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.inner.policy
    }

    /// Cache (hits, misses), for metrics and benchmarks.
    pub fn cache_stats(&self) -> (u64, u64) {
        self.inner.cache.stats()
    }

    /// Exchanges a `wx.login()` code for a session.
    ///
    /// The code is claimed in the store *before* WeChat is asked, so the same code arriving
    /// twice — on this instance or any other sharing the store, even at the same moment —
    /// reaches WeChat once; every other caller gets [`LoginError::CodeUsed`]. A failed exchange
    /// leaves the code claimed: WeChat may have consumed it, so the client needs a new one anyway.
    pub async fn login(&self, appid: Option<&str>, code: &str) -> Result<LoginOutcome, LoginError> {
        let inner = &*self.inner;
        let app = inner.apps.resolve(appid)?;
        if code.is_empty() || code.len() > MAX_CODE_LEN || code.chars().any(char::is_control) {
            return Err(LoginError::MalformedCode);
        }
        let now = inner.clock.now();
        let claimed = inner
            .store
            .claim_login_code(
                &app.appid,
                &CodeHash::of(code),
                now + inner.policy.used_code_memory,
                now,
            )
            .await?;
        if !claimed {
            return Err(LoginError::CodeUsed);
        }
        let session = match inner
            .wechat
            .jscode2session(&app.appid, &app.secret, code)
            .await
        {
            Ok(session) => session,
            Err(error) => return Err(LoginError::Upstream(UpstreamError::from_wechat(&error))),
        };
        // WeChat took its time; the session starts when we know the user.
        let now = inner.clock.now();
        let key_text = session.session_key.expose_secret();
        let sealed = inner
            .at_rest
            .seal(
                key_text.as_bytes(),
                &session_key_aad(&app.appid, &session.openid),
            )
            .map_err(|e| LoginError::Internal(format!("sealing the session_key: {e}")))?;
        let token = IssuedToken::mint();
        let session_id = new_id(now);
        let absolute_expires_at = now + inner.policy.absolute_lifetime;
        let idle_expires_at = (now + inner.policy.idle_timeout).min(absolute_expires_at);
        let recorded = inner
            .store
            .record_login(
                NewLogin {
                    appid: app.appid.clone(),
                    openid: session.openid,
                    unionid: session.unionid,
                    session_key: NewSessionKey {
                        sealed,
                        fingerprint: KeyFingerprint::of(key_text),
                    },
                    session: NewSession {
                        session_id,
                        token_hash: token.hash(),
                        family_id: None,
                        idle_expires_at,
                        absolute_expires_at,
                    },
                    policy: LoginPolicy {
                        max_sessions: inner.policy.max_sessions_per_user,
                        key_ring: self.key_ring_policy(),
                    },
                },
                now,
            )
            .await?;
        inner.cache.invalidate_sessions(&recorded.evicted_sessions);
        debug!(
            user_id = %recorded.user_id,
            %session_id,
            appid = %app.appid,
            new_user = recorded.new_user,
            key_rotated = recorded.key_rotated,
            evicted = recorded.evicted_sessions.len(),
            "login"
        );
        Ok(LoginOutcome {
            token,
            user_id: recorded.user_id,
            session_id,
            appid: app.appid.clone(),
            new_user: recorded.new_user,
            expires_at: idle_expires_at,
            issued_at: now,
        })
    }

    /// Who holds `token`? With `expected_appid`, a token of another app does not verify.
    ///
    /// No store write, except a sliding renewal at most once per renewal interval per session.
    pub async fn verify(
        &self,
        token: &str,
        expected_appid: Option<&str>,
    ) -> Result<VerifiedSession, SessionError> {
        let inner = &*self.inner;
        let hash = hash_presented(token).ok_or(SessionError::Malformed)?;
        let now = inner.clock.now();
        let session = match inner.cache.get(&hash) {
            Some(session) if session.is_live(now) => session,
            _ => {
                let generation = inner.cache.generation();
                let session = Arc::new(
                    inner
                        .store
                        .find_session(&hash, now)
                        .await?
                        .ok_or(SessionError::NotFound)?,
                );
                inner.cache.fill(hash, Arc::clone(&session), generation);
                session
            }
        };
        if expected_appid.is_some_and(|expected| expected != session.appid) {
            return Err(SessionError::OtherApp);
        }
        Ok(VerifiedSession(
            self.renew_if_due(hash, session, now).await?,
        ))
    }

    /// Sliding renewal: push the idle deadline out, writing at most once per renew interval.
    async fn renew_if_due(
        &self,
        hash: wxlogin_store::TokenHash,
        session: Arc<SessionRecord>,
        now: OffsetDateTime,
    ) -> Result<Arc<SessionRecord>, SessionError> {
        let inner = &*self.inner;
        if now - session.last_seen_at < inner.policy.renew_interval {
            return Ok(session);
        }
        let idle_expires_at = (now + inner.policy.idle_timeout).min(session.absolute_expires_at);
        if !inner
            .store
            .touch_session(session.session_id, now, idle_expires_at)
            .await?
        {
            // Ended between our read and the touch.
            inner.cache.invalidate_token(&hash);
            return Err(SessionError::NotFound);
        }
        let mut renewed = SessionRecord::clone(&session);
        renewed.last_seen_at = now;
        renewed.idle_expires_at = renewed.idle_expires_at.max(idle_expires_at);
        let renewed = Arc::new(renewed);
        inner.cache.update(&hash, Arc::clone(&renewed));
        Ok(renewed)
    }

    /// Ends the session of `token` (logout). Once this returns, the token no longer verifies
    /// anywhere in this process; other processes see it through the store.
    pub async fn logout(&self, token: &str) -> Result<(), SessionError> {
        let VerifiedSession(session) = self.verify(token, None).await?;
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner.store.end_session(session.session_id, now).await?;
        if let Some(hash) = hash_presented(token) {
            inner.cache.invalidate_token(&hash);
        }
        debug!(user_id = %session.user_id, session_id = %session.session_id, "logout");
        Ok(())
    }

    /// Deletes the token's user with every session and key (personal-data deletion).
    pub async fn delete_me(&self, token: &str) -> Result<(), SessionError> {
        let VerifiedSession(session) = self.verify(token, None).await?;
        self.inner.store.delete_user(session.user_id).await?;
        self.inner.cache.invalidate_user(session.user_id);
        info!(user_id = %session.user_id, "user deleted at their request");
        Ok(())
    }

    /// Operators: ends every session of (appid, openid). Returns how many ended.
    pub async fn revoke_user(&self, appid: &str, openid: &str) -> Result<u64, AdminError> {
        let inner = &*self.inner;
        let user = inner
            .store
            .find_user(appid, openid)
            .await?
            .ok_or(AdminError::NoSuchUser)?;
        let ended = inner
            .store
            .end_user_sessions(user.user_id, inner.clock.now())
            .await?;
        inner.cache.invalidate_user(user.user_id);
        info!(user_id = %user.user_id, ended, "user's sessions revoked by an operator");
        Ok(ended)
    }

    /// Operators: deletes (appid, openid) with everything they own.
    pub async fn delete_user(&self, appid: &str, openid: &str) -> Result<(), AdminError> {
        let inner = &*self.inner;
        let user = inner
            .store
            .find_user(appid, openid)
            .await?
            .ok_or(AdminError::NoSuchUser)?;
        inner.store.delete_user(user.user_id).await?;
        inner.cache.invalidate_user(user.user_id);
        info!(user_id = %user.user_id, "user deleted by an operator");
        Ok(())
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.inner.store.ping().await
    }

    /// One purge pass over expired and abandoned data.
    pub async fn purge_once(&self, batch_size: u32) -> Result<PurgeReport, StoreError> {
        let inner = &*self.inner;
        let report = inner
            .store
            .purge(
                inner.clock.now(),
                PurgeLimits {
                    batch_size,
                    inactive_after: inner.policy.inactive_user_retention,
                    key_window: inner.policy.previous_key_window,
                },
            )
            .await?;
        debug!(?report, "purge pass");
        Ok(report)
    }

    /// Runs until cancelled: watches the store's revocation epoch and drops the cache when
    /// another process ended sessions. This is what bounds how long an operator's
    /// `wxlogin user revoke` (a separate process) can take to reach this server's cache.
    pub async fn watch_revocations(&self, every: Duration) {
        let inner = &*self.inner;
        let mut seen = inner.store.revocation_epoch().await.ok();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match inner.store.revocation_epoch().await {
                Ok(epoch) if Some(epoch) != seen => {
                    inner.cache.clear();
                    seen = Some(epoch);
                }
                Ok(_) => {}
                Err(error) => {
                    // We cannot tell whether sessions ended elsewhere: stop trusting the cache.
                    warn!(%error, "cannot read the revocation epoch; dropping the session cache");
                    inner.cache.clear();
                    seen = None;
                }
            }
        }
    }

    /// Runs until cancelled: purges every `every`, in bounded batches.
    pub async fn purge_periodically(&self, every: Duration, batch_size: u32) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                match self.purge_once(batch_size).await {
                    Ok(report) if report.more => tokio::task::yield_now().await,
                    Ok(_) => break,
                    Err(error) => {
                        warn!(%error, "purge failed; will try again");
                        break;
                    }
                }
            }
        }
    }

    fn key_ring_policy(&self) -> KeyRingPolicy {
        KeyRingPolicy {
            keep_previous: self.inner.policy.previous_keys_kept,
            window: self.inner.policy.previous_key_window,
        }
    }
}
