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
    PurgeLimits, PurgeReport, Rotation, SessionRecord, Store, StoreError, TokenHash, new_id,
};
use wxlogin_wechat::WeChatClient;

use crate::cache::{Lease, SessionCache};
use crate::coordination::{ClusterEvent, SharedCoordinator};
use crate::key_rings::KeyRingCache;
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
    /// Set when other instances share the store: the cache serves entries only while a
    /// revocation-epoch read started within this bound confirmed them, and every
    /// session-ending write waits this long before answering (see the `cache` module).
    pub shared_cache_lease: Option<Duration>,
    /// The cluster's coordination layer (Redis), if any.
    pub coordinator: SharedCoordinator,
    /// Opened key rings, shared with [`OpenData`](crate::OpenData): a login that rotates a
    /// user's key drops their entry here and announces it to the cluster.
    pub key_rings: Arc<KeyRingCache>,
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
    lease: Option<Lease>,
    cache_enabled: bool,
    coordinator: SharedCoordinator,
    key_rings: Arc<KeyRingCache>,
}

impl LoginService {
    pub fn new(parts: LoginServiceParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache: SessionCache::new(parts.cache_capacity),
                lease: parts.shared_cache_lease.map(Lease::new),
                cache_enabled: parts.cache_capacity > 0,
                coordinator: parts.coordinator,
                key_rings: parts.key_rings,
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

    /// The cluster's coordination layer, if configured.
    pub fn coordinator(&self) -> SharedCoordinator {
        self.inner.coordinator.clone()
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
        let code_hash = CodeHash::of(code);
        if !self.first_sight_of_code(&app.appid, &code_hash).await {
            return Err(LoginError::CodeUsed);
        }
        let claimed = inner
            .store
            .claim_login_code(
                &app.appid,
                &code_hash,
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
        if recorded.key_rotated {
            inner.key_rings.invalidate(recorded.user_id);
            if let Some(coordinator) = &inner.coordinator
                && let Err(error) = coordinator
                    .publish(ClusterEvent::KeyRingChanged(recorded.user_id))
                    .await
            {
                debug!(%error, "could not announce a key rotation; rings elsewhere expire by themselves");
            }
        }
        if !recorded.evicted_sessions.is_empty() {
            self.outlast_other_caches().await;
        }
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
        let (hash, session, now) = self.find(token).await?;
        if expected_appid.is_some_and(|expected| expected != session.appid) {
            return Err(SessionError::OtherApp);
        }
        Ok(VerifiedSession(
            self.renew_if_due(hash, session, now).await?,
        ))
    }

    /// Who holds `token`, without renewing the session.
    ///
    /// For a backend asking about a token (introspection), not the user acting: if such
    /// questions renewed, a session the user has abandoned would live as long as some service
    /// keeps asking about it. Never writes to the store.
    pub async fn inspect(&self, token: &str) -> Result<VerifiedSession, SessionError> {
        let (_, session, _) = self.find(token).await?;
        Ok(VerifiedSession(session))
    }

    /// The live session `session_id` (an access JWT's `sid`), read from the store so a logout
    /// anywhere is seen at once. With `expected_appid`, a session of another app does not
    /// verify. Never renews: in JWT mode only a refresh does.
    pub async fn session_by_id(
        &self,
        session_id: Uuid,
        expected_appid: Option<&str>,
    ) -> Result<VerifiedSession, SessionError> {
        let now = self.inner.clock.now();
        let session = self
            .inner
            .store
            .find_session_by_id(session_id, now)
            .await?
            .ok_or(SessionError::NotFound)?;
        if expected_appid.is_some_and(|expected| expected != session.appid) {
            return Err(SessionError::OtherApp);
        }
        Ok(VerifiedSession(Arc::new(session)))
    }

    /// Rotates refresh token `presented` to `successor` (JWT mode), renewing the session's
    /// idle deadline; see [`SessionStore::rotate_token`](wxlogin_store::SessionStore::rotate_token)
    /// for the grace and the family revocation.
    pub async fn rotate_refresh(
        &self,
        presented: &str,
        successor: TokenHash,
        grace: Duration,
    ) -> Result<Rotation, SessionError> {
        let inner = &*self.inner;
        let hash = hash_presented(presented).ok_or(SessionError::Malformed)?;
        let now = inner.clock.now();
        let rotation = inner
            .store
            .rotate_token(
                &hash,
                &successor,
                now + inner.policy.idle_timeout,
                now,
                grace,
            )
            .await?;
        match &rotation {
            Rotation::Rotated(_) => inner.cache.invalidate_token(&hash),
            Rotation::FamilyRevoked {
                session_id,
                user_id,
            } => {
                inner.cache.invalidate_sessions(&[*session_id]);
                self.outlast_other_caches().await;
                info!(%user_id, %session_id, "refresh token replayed after its grace; session revoked");
            }
            Rotation::Replayed(_) | Rotation::Unknown => {}
        }
        Ok(rotation)
    }

    /// The live session of `token`, from the cache or the store (which then fills the cache).
    async fn find(
        &self,
        token: &str,
    ) -> Result<(wxlogin_store::TokenHash, Arc<SessionRecord>, OffsetDateTime), SessionError> {
        let inner = &*self.inner;
        let hash = hash_presented(token).ok_or(SessionError::Malformed)?;
        let now = inner.clock.now();
        let cached = if inner.lease.as_ref().is_none_or(Lease::is_held) {
            inner.cache.get(&hash)
        } else {
            None
        };
        let session = match cached {
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
        Ok((hash, session, now))
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
        self.end_session(token, &session).await?;
        debug!(user_id = %session.user_id, session_id = %session.session_id, "logout");
        Ok(())
    }

    /// Ends the session of `token` on a service's behalf (token revocation), exactly as
    /// [`logout`](Self::logout) does, but only if `may_revoke` allows it for that session (a
    /// service may revoke only the tokens of its own apps). Returns whether a session ended.
    ///
    /// Does not renew the session first: the user is not the one acting.
    pub async fn revoke(
        &self,
        token: &str,
        may_revoke: impl FnOnce(&SessionRecord) -> bool,
    ) -> Result<bool, SessionError> {
        let VerifiedSession(session) = self.inspect(token).await?;
        if !may_revoke(&session) {
            return Ok(false);
        }
        self.end_session(token, &session).await?;
        debug!(user_id = %session.user_id, session_id = %session.session_id, "token revoked");
        Ok(true)
    }

    /// The store write and cache invalidation every session-ending path by token shares.
    async fn end_session(&self, token: &str, session: &SessionRecord) -> Result<(), SessionError> {
        let inner = &*self.inner;
        inner
            .store
            .end_session(session.session_id, inner.clock.now())
            .await?;
        if let Some(hash) = hash_presented(token) {
            inner.cache.invalidate_token(&hash);
        }
        self.outlast_other_caches().await;
        Ok(())
    }

    /// Deletes the token's user with every session and key (personal-data deletion).
    pub async fn delete_me(&self, token: &str) -> Result<(), SessionError> {
        let VerifiedSession(session) = self.verify(token, None).await?;
        self.delete_session_user(&session).await
    }

    /// Deletes the user of a verified session (`DELETE /v1/me`, whichever token proved it).
    pub async fn delete_session_user(&self, session: &SessionRecord) -> Result<(), SessionError> {
        self.inner.store.delete_user(session.user_id).await?;
        self.inner.cache.invalidate_user(session.user_id);
        self.outlast_other_caches().await;
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
        self.outlast_other_caches().await;
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
        self.outlast_other_caches().await;
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

    /// The coordinator's fast path for repeated codes: `false` when another request (on any
    /// instance) already presented this code. The store's claim stays the authority, so a
    /// coordinator that is away (or flushed) only costs the store a transaction.
    async fn first_sight_of_code(&self, appid: &str, code_hash: &CodeHash) -> bool {
        let Some(coordinator) = &self.inner.coordinator else {
            return true;
        };
        let digest: String = code_hash.as_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = format!("code:{appid}:{digest}");
        match coordinator
            .mark_once(&key, self.inner.policy.used_code_memory)
            .await
        {
            Ok(first) => first,
            Err(error) => {
                debug!(%error, "code fast path unavailable; the store decides");
                true
            }
        }
    }

    /// Tells the other instances that sessions ended, so they re-read the epoch now.
    async fn announce_sessions_ended(&self) {
        if let Some(coordinator) = &self.inner.coordinator
            && let Err(error) = coordinator.publish(ClusterEvent::SessionsEnded).await
        {
            debug!(%error, "could not announce ended sessions; instances rely on polling");
        }
    }

    /// After a session-ending write on a shared store: waits until no other instance can still
    /// serve the ended session from its cache (their leases predate the write by then).
    async fn outlast_other_caches(&self) {
        self.announce_sessions_ended().await;
        if let Some(lease) = &self.inner.lease
            && self.inner.cache_enabled
        {
            tokio::time::sleep(lease.bound() + Duration::from_millis(1)).await;
        }
    }

    /// How often [`watch_revocations`](Self::watch_revocations) should poll: `every`, or on a
    /// shared store often enough to keep the lease held (three reads per bound).
    pub fn revocation_poll_interval(&self, every: Duration) -> Duration {
        match &self.inner.lease {
            Some(lease) => every.min(lease.bound() / 3),
            None => every,
        }
    }

    /// Runs until cancelled: watches the store's revocation epoch and drops the cache when
    /// another process ended sessions. This is what bounds how long an operator's
    /// `wxlogin user revoke` (a separate process) can take to reach this server's cache; on a
    /// shared store each completed read also renews the cache's lease.
    pub async fn watch_revocations(&self, every: Duration) {
        let inner = &*self.inner;
        let mut seen = None;
        let mut ticker = tokio::time::interval(self.revocation_poll_interval(every));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events = inner.coordinator.as_ref().map(|c| c.subscribe());
        loop {
            // A `SessionsEnded` from another instance (or a lost one: lagging) polls now.
            let woken = match events.as_mut() {
                Some(receiver) => tokio::select! {
                    _ = ticker.tick() => None,
                    event = receiver.recv() => Some(event),
                },
                None => {
                    ticker.tick().await;
                    None
                }
            };
            match woken {
                Some(Ok(ClusterEvent::SessionsEnded))
                | Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_)))
                | None => {}
                Some(Ok(ClusterEvent::KeyRingChanged(user_id))) => {
                    inner.key_rings.invalidate(user_id);
                    continue;
                }
                Some(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                    events = None;
                    continue;
                }
            }
            let started = std::time::Instant::now();
            match inner.store.revocation_epoch().await {
                Ok(epoch) if Some(epoch) != seen => {
                    inner.cache.clear();
                    seen = Some(epoch);
                    if let Some(lease) = &inner.lease {
                        lease.confirm(started);
                    }
                }
                Ok(_) => {
                    if let Some(lease) = &inner.lease {
                        lease.confirm(started);
                    }
                }
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
    ///
    /// With a coordinator, one instance of the cluster purges per interval: each tick takes a
    /// lock that lives for the interval and is never released early. Without one (or while it
    /// is unreachable) every instance purges; purges are idempotent, only wasteful.
    pub async fn purge_periodically(&self, every: Duration, batch_size: u32) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Some(coordinator) = &self.inner.coordinator {
                match coordinator.try_lock("purge", every).await {
                    Ok(Some(_)) => {}
                    Ok(None) => continue,
                    Err(error) => debug!(%error, "purging without the cluster lock"),
                }
            }
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
