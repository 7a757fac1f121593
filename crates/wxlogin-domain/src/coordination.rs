//! Coordination between instances sharing one store: the port the domain talks to, and the
//! cluster-wide rate limiter built on it.
//!
//! The store stays the authority for everything that must not be lost or doubled (sessions,
//! used login codes, the access_token, forced-refresh budgets). A [`Coordinator`] (Redis in
//! production, `wxlogin-redis`) only makes the cluster *cheaper and tidier*: one access_token
//! fetch instead of one per instance, limits counted once for the whole cluster, a repeated
//! login code refused before it costs a transaction, other instances told at once that
//! sessions ended, one purge runner. So every caller treats a coordinator error as "no
//! coordinator right now" and falls back to what a lone instance does: nothing is lost and no
//! request fails because Redis is away — only the cluster-wide guarantees weaken to
//! per-instance ones until it is back.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::debug;

use crate::limiter::{Limit, Verdict, WindowCounter};

/// Why a coordinator call did not answer. Callers fall back; the text is for logs only and
/// never holds the server's address or credentials.
#[derive(Debug, thiserror::Error)]
#[error("coordinator unavailable: {0}")]
pub struct CoordinationError(pub String);

/// What instances tell each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// Sessions ended somewhere: re-read the revocation epoch now rather than at the next poll.
    SessionsEnded,
    /// A user's session_key ring changed (a login with a new key, an operator reset).
    KeyRingChanged(uuid::Uuid),
}

/// The shared coordination layer. Every method is bounded in time by the implementation; a
/// timeout is an error like a disconnect.
#[async_trait]
pub trait Coordinator: Send + Sync + Debug {
    /// Takes the lock `name` for `ttl` if nobody holds it. Returns the holder's token, needed
    /// to release it, or `None` when it is taken.
    async fn try_lock(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<String>, CoordinationError>;

    /// Releases `name` if `holder` still holds it (an expired lock taken over by another
    /// instance is left alone).
    async fn unlock(&self, name: &str, holder: &str) -> Result<(), CoordinationError>;

    /// Marks `key` as seen for `ttl`: `true` for the first caller, `false` while it is marked.
    async fn mark_once(&self, key: &str, ttl: Duration) -> Result<bool, CoordinationError>;

    /// Adds one to the counter of `key` in the fixed window of `window` containing `now_ms`
    /// and returns the new count.
    async fn count(
        &self,
        key: &str,
        window: Duration,
        now_ms: i64,
    ) -> Result<u64, CoordinationError>;

    /// The counter of `key` in the window containing `now_ms`, without adding to it.
    async fn peek(
        &self,
        key: &str,
        window: Duration,
        now_ms: i64,
    ) -> Result<u64, CoordinationError>;

    /// Tells every instance (this one included) about `event`.
    async fn publish(&self, event: ClusterEvent) -> Result<(), CoordinationError>;

    /// Events published by any instance, as they arrive. Lagging receivers lose old events,
    /// which is safe: every event is only a hint to re-read the store sooner.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ClusterEvent>;

    /// A round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), CoordinationError>;
}

/// Shared handle to the coordinator, if the deployment has one.
pub type SharedCoordinator = Option<Arc<dyn Coordinator>>;

/// A fixed-window limit counted across the cluster when a coordinator is configured, and in
/// this process otherwise (or while the coordinator is unreachable).
#[derive(Debug)]
pub struct RateLimiter<K> {
    name: &'static str,
    limit: Limit,
    local: WindowCounter<K>,
    coordinator: SharedCoordinator,
}

impl<K: Eq + Hash + Clone + Display> RateLimiter<K> {
    /// `name` tells this limit's counters apart from the others' in the shared layer.
    pub fn new(name: &'static str, limit: Limit, coordinator: SharedCoordinator) -> Self {
        Self {
            name,
            limit,
            local: WindowCounter::new(limit),
            coordinator,
        }
    }

    fn key(&self, key: &K) -> String {
        format!("{}:{key}", self.name)
    }

    fn verdict(&self, count: u64, now_ms: i64) -> Verdict {
        if count < u64::from(self.limit.max) {
            return Verdict::Allowed;
        }
        let window_ms = u64::try_from(self.limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let into_window = u64::try_from(now_ms).unwrap_or(0) % window_ms;
        Verdict::Limited {
            retry_after_secs: (window_ms - into_window).div_ceil(1000).max(1),
        }
    }

    /// Whether `key` may go on at `now_ms`, without counting.
    pub async fn check(&self, key: &K, now_ms: i64) -> Verdict {
        if self.limit.max == 0 {
            return Verdict::Allowed;
        }
        if let Some(coordinator) = &self.coordinator {
            match coordinator
                .peek(&self.key(key), self.limit.window, now_ms)
                .await
            {
                Ok(count) => return self.verdict(count, now_ms),
                Err(error) => debug!(%error, limit = self.name, "limit counted locally"),
            }
        }
        self.local.check(key, now_ms)
    }

    /// Counts one event for `key` at `now_ms`.
    pub async fn record(&self, key: &K, now_ms: i64) {
        if self.limit.max == 0 {
            return;
        }
        // Always count locally too: if the coordinator goes away, the local window already
        // holds this instance's share.
        self.local.record(key, now_ms);
        if let Some(coordinator) = &self.coordinator
            && let Err(error) = coordinator
                .count(&self.key(key), self.limit.window, now_ms)
                .await
        {
            debug!(%error, limit = self.name, "limit counted locally");
        }
    }

    /// Counts one event and says whether it was within the limit (for limits on every call).
    pub async fn charge(&self, key: &K, now_ms: i64) -> Verdict {
        if self.limit.max == 0 {
            return Verdict::Allowed;
        }
        if let Some(coordinator) = &self.coordinator {
            match coordinator
                .count(&self.key(key), self.limit.window, now_ms)
                .await
            {
                // `count` includes this event: allowed while it is within the limit.
                Ok(count) => {
                    self.local.record(key, now_ms);
                    return self.verdict(count.saturating_sub(1), now_ms);
                }
                Err(error) => debug!(%error, limit = self.name, "limit counted locally"),
            }
        }
        self.local.charge(key, now_ms)
    }

    /// Drops finished local windows (the shared counters expire by themselves).
    pub fn forget_expired(&self, now_ms: i64) {
        self.local.forget_expired(now_ms);
    }
}
