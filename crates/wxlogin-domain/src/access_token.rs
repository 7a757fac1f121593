//! The app's WeChat access_token: fetched by one caller at a time, shared through the store,
//! refreshed before it expires and after WeChat rejects it.
//!
//! Why so careful: a classic `cgi-bin/token` fetch kills the previous token (after 5 minutes),
//! and a forced `stable_token` refresh kills it at once, for **every** system using the app.
//! So tokens live in the store (every instance sees the one current token), each instance
//! refreshes under a per-app lock (callers waiting for it get its result: no stampede), and a
//! rejected token is refreshed in the gentlest way that works:
//!
//! * `stable_token` (the default): fetch again in normal mode. WeChat hands out the same token
//!   while it is valid, so if it returns the token it just rejected, the token really is dead
//!   (revoked, secret reset): only then force a refresh, at most once per 30 s per app and 20
//!   a day — counted in the store, so the whole cluster shares the budget.
//! * classic `cgi-bin/token`: every fetch mints a new token, so refetch at most once per 30 s
//!   per app (also counted in the store).
//!
//! Across instances, a [`Coordinator`](crate::Coordinator) lock per app (Redis) makes one
//! instance of the cluster the fetcher; the others wait for its token to appear in the store.
//! The lock expires by itself (a fetcher that dies holds it for [`CLUSTER_LOCK_TTL`] at most)
//! and whoever takes it re-reads the store first. Without a coordinator, or while it is
//! unreachable, each instance fetches for itself, as a lone instance does.
//!
//! Token fetches are the only calls here retried on -1 (with back-off): they consume nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};
use wxlogin_clock::SharedClock;
use wxlogin_store::at_rest::{AtRestKeys, access_token_aad};
use wxlogin_store::{ForcedRefreshPolicy, Store, StoreError, StoredAccessToken};
use wxlogin_wechat::{AccessToken, WeChatClient, WeChatError};

use crate::App;
use crate::coordination::SharedCoordinator;

/// Which WeChat endpoint tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenSource {
    /// `POST cgi-bin/stable_token` (recommended by WeChat; isolated from classic tokens).
    #[default]
    Stable,
    /// `GET cgi-bin/token`: every fetch invalidates the previous token after 5 minutes.
    Classic,
}

/// A token is refreshed this long before WeChat says it expires. WeChat's stable endpoint
/// starts handing out the next token 5 minutes before expiry, so refreshing inside that
/// window gets the new token without forcing anything.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(4);
/// Back-off before the retries of a token fetch that got -1 (system busy).
const BUSY_BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(800)];
/// How long the cluster-wide refresh lock lives: longer than a fetch with its retries takes.
pub const CLUSTER_LOCK_TTL: Duration = Duration::from_secs(15);
/// How often an instance waiting for another's fetch looks for the result in the store.
const CLUSTER_WAIT_POLL: Duration = Duration::from_millis(25);

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// WeChat refused or failed the fetch.
    #[error("fetching the access_token failed: {0}")]
    WeChat(#[from] WeChatError),
    /// The token was rejected and the refresh budget (30 s spacing, 20 forced a day) is spent.
    #[error("the access_token was rejected and may not be refreshed again yet")]
    RefreshBudgetSpent,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening the stored token failed (wrong at-rest keys).
    #[error("the stored access_token cannot be opened: {0}")]
    AtRest(String),
}

#[derive(Clone)]
struct Held {
    token: SecretString,
    expires_at: OffsetDateTime,
}

/// The access_token manager; one per process, cheap to clone.
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    wechat: WeChatClient,
    clock: SharedClock,
    at_rest: AtRestKeys,
    source: TokenSource,
    /// The last token seen per app, so most calls touch neither the store nor WeChat.
    held: StdMutex<HashMap<String, Held>>,
    /// One refresher per app in this process; the others wait and take its result.
    locks: StdMutex<HashMap<String, Arc<Mutex<()>>>>,
    coordinator: SharedCoordinator,
}

impl AccessTokens {
    pub fn new(
        store: Arc<dyn Store>,
        wechat: WeChatClient,
        clock: SharedClock,
        at_rest: AtRestKeys,
        source: TokenSource,
        coordinator: SharedCoordinator,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                wechat,
                clock,
                at_rest,
                source,
                held: StdMutex::default(),
                locks: StdMutex::default(),
                coordinator,
            }),
        }
    }

    /// A valid token for `app`.
    pub async fn get(&self, app: &App) -> Result<SecretString, AccessTokenError> {
        if let Some(token) = self.fresh_held(&app.appid) {
            return Ok(token);
        }
        let lock = self.lock_for(&app.appid);
        let _guard = lock.lock().await;
        // Whoever held the lock before us may have refreshed already.
        if let Some(token) = self.fresh_held(&app.appid) {
            return Ok(token);
        }
        if let Some(held) = self.load_stored(&app.appid).await?
            && self.is_fresh(&held)
        {
            return Ok(self.hold(&app.appid, held));
        }
        self.refresh_in_cluster(app, |held| self.is_fresh(held), || self.fetch(app, false))
            .await
    }

    /// Runs `refresh` as the cluster's one refresher of `app`'s token and stores its result —
    /// unless, once the cluster lock is ours or while waiting for it, the store already holds
    /// a token that is `usable`.
    async fn refresh_in_cluster<U, F, Fut>(
        &self,
        app: &App,
        usable: U,
        refresh: F,
    ) -> Result<SecretString, AccessTokenError>
    where
        U: Fn(&Held) -> bool,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Held, AccessTokenError>>,
    {
        let appid = &app.appid;
        let lock_name = format!("access-token:{appid}");
        let mut holder = None;
        if let Some(coordinator) = &self.inner.coordinator {
            let give_up = tokio::time::Instant::now() + CLUSTER_LOCK_TTL;
            loop {
                match coordinator.try_lock(&lock_name, CLUSTER_LOCK_TTL).await {
                    Ok(Some(token)) => {
                        holder = Some(token);
                        break;
                    }
                    Ok(None) if tokio::time::Instant::now() < give_up => {
                        tokio::time::sleep(CLUSTER_WAIT_POLL).await;
                        if let Some(held) = self.load_stored(appid).await?
                            && usable(&held)
                        {
                            return Ok(self.hold(appid, held));
                        }
                    }
                    // The holder died without storing anything, or Redis is away: fetch
                    // ourselves, as a lone instance would.
                    Ok(None) => break,
                    Err(error) => {
                        debug!(%error, %appid, "refreshing the access_token without the cluster lock");
                        break;
                    }
                }
            }
        }
        let result = async {
            if holder.is_some()
                && let Some(held) = self.load_stored(appid).await?
                && usable(&held)
            {
                return Ok(self.hold(appid, held));
            }
            let fresh = refresh().await?;
            self.save(appid, fresh).await
        }
        .await;
        if let (Some(coordinator), Some(token)) = (&self.inner.coordinator, holder)
            && let Err(error) = coordinator.unlock(&lock_name, &token).await
        {
            debug!(%error, %appid, "cluster lock left to expire");
        }
        result
    }

    /// WeChat rejected `rejected` (40001 / 40014 / 42001): returns a token worth one retry.
    pub async fn after_rejection(
        &self,
        app: &App,
        rejected: &SecretString,
    ) -> Result<SecretString, AccessTokenError> {
        let lock = self.lock_for(&app.appid);
        let _guard = lock.lock().await;
        // Another caller (or instance) may have replaced it already.
        if let Some(held) = self.load_stored(&app.appid).await?
            && held.token.expose_secret() != rejected.expose_secret()
            && self.is_fresh(&held)
        {
            return Ok(self.hold(&app.appid, held));
        }
        let usable = |held: &Held| {
            held.token.expose_secret() != rejected.expose_secret() && self.is_fresh(held)
        };
        self.refresh_in_cluster(app, usable, || self.refresh_rejected(app, rejected))
            .await
    }

    /// The gentlest refresh that replaces `rejected` (see the module docs).
    async fn refresh_rejected(
        &self,
        app: &App,
        rejected: &SecretString,
    ) -> Result<Held, AccessTokenError> {
        let now = self.inner.clock.now();
        Ok(match self.inner.source {
            TokenSource::Stable => {
                let normal = self.fetch(app, false).await?;
                if normal.token.expose_secret() != rejected.expose_secret() {
                    normal
                } else if self
                    .claim_refresh(app, now, ForcedRefreshPolicy::default())
                    .await?
                {
                    warn!(appid = %app.appid, "stable access_token rejected and returned again; forcing a refresh");
                    self.fetch(app, true).await?
                } else {
                    return Err(AccessTokenError::RefreshBudgetSpent);
                }
            }
            TokenSource::Classic => {
                let spacing = ForcedRefreshPolicy {
                    daily_cap: u32::MAX,
                    ..ForcedRefreshPolicy::default()
                };
                if !self.claim_refresh(app, now, spacing).await? {
                    return Err(AccessTokenError::RefreshBudgetSpent);
                }
                self.fetch(app, false).await?
            }
        })
    }

    async fn claim_refresh(
        &self,
        app: &App,
        now: OffsetDateTime,
        policy: ForcedRefreshPolicy,
    ) -> Result<bool, AccessTokenError> {
        Ok(self
            .inner
            .store
            .claim_forced_refresh(&app.appid, now, policy)
            .await?)
    }

    /// Fetches from WeChat, retrying -1 with back-off (a token fetch consumes nothing).
    async fn fetch(&self, app: &App, force: bool) -> Result<Held, AccessTokenError> {
        let inner = &*self.inner;
        let mut backoff = BUSY_BACKOFF.iter();
        loop {
            let result = match inner.source {
                TokenSource::Stable => {
                    inner
                        .wechat
                        .stable_token(&app.appid, &app.secret, force)
                        .await
                }
                TokenSource::Classic => inner.wechat.access_token(&app.appid, &app.secret).await,
            };
            match result {
                Ok(AccessToken { token, expires_in }) => {
                    info!(appid = %app.appid, force, expires_in = expires_in.as_secs(), "fetched an access_token");
                    let expires_at = inner.clock.now() + expires_in;
                    return Ok(Held { token, expires_at });
                }
                Err(error) if error.errcode() == Some(-1) => match backoff.next() {
                    Some(delay) => tokio::time::sleep(*delay).await,
                    None => return Err(error.into()),
                },
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn save(&self, appid: &str, held: Held) -> Result<SecretString, AccessTokenError> {
        let inner = &*self.inner;
        let sealed = inner
            .at_rest
            .seal(
                held.token.expose_secret().as_bytes(),
                &access_token_aad(appid),
            )
            .map_err(|e| AccessTokenError::AtRest(e.to_string()))?;
        inner
            .store
            .save_access_token(
                appid,
                StoredAccessToken {
                    sealed,
                    expires_at: held.expires_at,
                    fetched_at: inner.clock.now(),
                },
            )
            .await?;
        Ok(self.hold(appid, held))
    }

    async fn load_stored(&self, appid: &str) -> Result<Option<Held>, AccessTokenError> {
        let inner = &*self.inner;
        let Some(stored) = inner.store.load_access_token(appid).await? else {
            return Ok(None);
        };
        let plain = inner
            .at_rest
            .open(&stored.sealed, &access_token_aad(appid))
            .map_err(|e| AccessTokenError::AtRest(e.to_string()))?;
        let token = String::from_utf8(plain.to_vec())
            .map_err(|_| AccessTokenError::AtRest("not UTF-8".into()))?;
        Ok(Some(Held {
            token: SecretString::from(token),
            expires_at: stored.expires_at,
        }))
    }

    fn is_fresh(&self, held: &Held) -> bool {
        held.expires_at - REFRESH_MARGIN > self.inner.clock.now()
    }

    fn fresh_held(&self, appid: &str) -> Option<SecretString> {
        let held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(appid)
            .filter(|h| self.is_fresh(h))
            .map(|h| h.token.clone())
    }

    fn hold(&self, appid: &str, held: Held) -> SecretString {
        let token = held.token.clone();
        self.inner
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(appid.to_owned(), held);
        token
    }

    fn lock_for(&self, appid: &str) -> Arc<Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(appid.to_owned()).or_default().clone()
    }
}
