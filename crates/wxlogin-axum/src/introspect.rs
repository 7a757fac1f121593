//! Remote mode: tokens asked about at wxlogin's `POST /oauth2/introspect` (RFC 7662), with a
//! small cache of positive answers.
//!
//! The cache is what bounds the cost of this mode (one HTTP round trip per request without
//! it), and also its lag: a token logged out at wxlogin is still accepted here until its
//! cached answer is `cache_ttl` old. Negative answers are never cached, so a token that just
//! became valid (a fresh login) is never refused because of an older answer, and errors are
//! never cached either. Entries are keyed by the token's SHA-256: the cache holds no token.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::clock::{Clock, at_least, from_unix_seconds};
use crate::verifier::{endpoint, http_client};
use crate::{ConfigError, IntrospectionConfig, VerifyError, WxUser};

pub(crate) const INTROSPECT_PATH: &str = "/oauth2/introspect";
/// Longer than any token wxlogin issues (an opaque token is 47 bytes, an access JWT a few
/// hundred): anything longer is refused without bothering wxlogin.
const MAX_TOKEN_BYTES: usize = 4096;

pub(crate) struct Introspector {
    url: Url,
    client_id: String,
    client_secret: SecretString,
    appids: HashSet<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// `None` with a zero TTL.
    cache: Option<PositiveCache>,
}

/// RFC 7662 §2.2, as wxlogin answers it.
#[derive(Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

impl Introspector {
    pub(crate) fn new(config: IntrospectionConfig) -> Result<Self, ConfigError> {
        if config.appids.is_empty() {
            return Err(ConfigError::NoAppids);
        }
        let cache = (!config.cache_ttl.is_zero() && config.cache_capacity > 0)
            .then(|| PositiveCache::new(config.cache_ttl, config.cache_capacity));
        Ok(Self {
            url: endpoint(&config.base_url, INTROSPECT_PATH, "wxlogin URL")?,
            client_id: config.client_id,
            client_secret: config.client_secret,
            appids: config.appids,
            http: http_client(config.http, config.timeout)?,
            clock: config.clock,
            cache,
        })
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<WxUser, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::InvalidToken("too long"));
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(user) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&key, self.clock.now()))
        {
            return Ok(user);
        }
        let user = self.ask(token).await?;
        if let Some(cache) = &self.cache {
            cache.insert(key, user.clone(), self.clock.now());
        }
        Ok(user)
    }

    /// One introspection call.
    async fn ask(&self, token: &str) -> Result<WxUser, VerifyError> {
        let unavailable = |e: reqwest::Error| VerifyError::Unavailable(e.without_url().to_string());
        let response = self
            .http
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(unavailable)?;
        match response.status() {
            StatusCode::OK => {}
            // Our credentials are wrong: every token would fail, which is no user's fault.
            StatusCode::UNAUTHORIZED => {
                tracing::error!(client_id = %self.client_id, "wxlogin refused the introspection credentials");
                return Err(VerifyError::Unavailable(
                    "introspection credentials refused".into(),
                ));
            }
            status => {
                return Err(VerifyError::Unavailable(format!(
                    "introspection answered {status}"
                )));
            }
        }
        let answer: Answer = response.json().await.map_err(unavailable)?;
        if !answer.active {
            return Err(VerifyError::InvalidToken("inactive"));
        }
        let (Some(sub), Some(appid), Some(exp), Some(openid)) =
            (answer.sub, answer.client_id, answer.exp, answer.openid)
        else {
            return Err(VerifyError::Unavailable(
                "introspection answer without sub, client_id, exp or openid".into(),
            ));
        };
        // The service client may serve more apps than this backend accepts.
        if !self.appids.contains(&appid) {
            return Err(VerifyError::InvalidToken("app is not a configured appid"));
        }
        let expires_at = from_unix_seconds(exp);
        if expires_at <= self.clock.now() {
            return Err(VerifyError::InvalidToken("expired"));
        }
        Ok(WxUser {
            user_id: sub,
            appid,
            openid,
            unionid: answer.unionid,
            session_id: answer.sid,
            expires_at,
        })
    }
}

/// Positive answers by token digest, bounded in size and age.
///
/// Every entry lives the same `ttl`, so insertion order is expiry order: a queue of
/// insertions finds both the expired entries and, when full, the oldest in O(1).
pub(crate) struct PositiveCache {
    ttl: Duration,
    capacity: usize,
    /// A std lock: held for a map operation, never across an await.
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<[u8; 32], (WxUser, SystemTime)>,
    /// `(key, inserted_at)` in insertion order. A key inserted again leaves its old pair
    /// behind, recognised on the way out by its older time; the queue is bounded by
    /// `capacity` too, so those leftovers cannot pile up.
    order: VecDeque<([u8; 32], SystemTime)>,
}

impl PositiveCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The cached user, unless the answer is `ttl` old or the user's proof has expired.
    pub(crate) fn get(&self, key: &[u8; 32], now: SystemTime) -> Option<WxUser> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (user, inserted_at) = inner.entries.get(key)?;
        if at_least(now, *inserted_at, self.ttl) || user.expires_at <= now {
            inner.entries.remove(key);
            return None;
        }
        Some(user.clone())
    }

    pub(crate) fn insert(&self, key: [u8; 32], user: WxUser, now: SystemTime) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(&(old_key, inserted_at)) = inner.order.front() {
            if inner.order.len() < self.capacity && !at_least(now, inserted_at, self.ttl) {
                break;
            }
            inner.order.pop_front();
            if inner
                .entries
                .get(&old_key)
                .is_some_and(|(_, at)| *at == inserted_at)
            {
                inner.entries.remove(&old_key);
            }
        }
        inner.entries.insert(key, (user, now));
        inner.order.push_back((key, now));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_767_225_600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    fn user(n: u8, expires_at: SystemTime) -> WxUser {
        WxUser {
            user_id: format!("user-{n}"),
            appid: "wx00000000000000a1".into(),
            openid: format!("openid-{n}"),
            unionid: None,
            session_id: None,
            expires_at,
        }
    }

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn an_answer_lives_exactly_the_ttl() {
        let cache = PositiveCache::new(Duration::from_secs(5), 10);
        cache.insert(key(1), user(1, at(3600)), at(0));
        assert_eq!(cache.get(&key(1), at(4)).unwrap().user_id, "user-1");
        assert!(cache.get(&key(1), at(5)).is_none());
        assert!(cache.get(&key(2), at(0)).is_none());
    }

    #[test]
    fn an_answer_never_outlives_the_user_expiry() {
        let cache = PositiveCache::new(Duration::from_secs(5), 10);
        cache.insert(key(1), user(1, at(2)), at(0));
        assert!(cache.get(&key(1), at(1)).is_some());
        assert!(cache.get(&key(1), at(2)).is_none());
    }

    #[test]
    fn a_clock_step_back_expires_entries() {
        let cache = PositiveCache::new(Duration::from_secs(5), 10);
        cache.insert(key(1), user(1, at(3600)), at(100));
        assert!(cache.get(&key(1), at(99)).is_none());
    }

    #[test]
    fn the_size_is_bounded_and_the_oldest_go_first() {
        let cache = PositiveCache::new(Duration::from_secs(60), 3);
        for n in 0..10u8 {
            cache.insert(key(n), user(n, at(3600)), at(u64::from(n)));
            assert!(cache.len() <= 3);
        }
        for n in 0..7u8 {
            assert!(cache.get(&key(n), at(10)).is_none(), "{n}");
        }
        for n in 7..10u8 {
            assert!(cache.get(&key(n), at(10)).is_some(), "{n}");
        }
    }

    #[test]
    fn reinserting_a_key_keeps_its_newest_answer() {
        let cache = PositiveCache::new(Duration::from_secs(5), 2);
        cache.insert(key(1), user(1, at(3600)), at(0));
        // Expired at 5, asked again at 6: the fresh answer must survive the old queue entry.
        cache.insert(key(1), user(1, at(3600)), at(6));
        cache.insert(key(2), user(2, at(3600)), at(7));
        assert!(cache.get(&key(1), at(8)).is_some());
        assert!(cache.get(&key(2), at(8)).is_some());
        assert!(cache.len() <= 2);
    }

    #[test]
    fn expired_entries_are_dropped_on_insert() {
        let cache = PositiveCache::new(Duration::from_secs(5), 100);
        for n in 0..50u8 {
            cache.insert(key(n), user(n, at(3600)), at(0));
        }
        cache.insert(key(200), user(200, at(3600)), at(10));
        assert_eq!(cache.len(), 1);
    }
}
