//! The in-process session cache in front of the store.
//!
//! `GET /v1/session` is the hot path; a store read costs about as much as the rest of the
//! request. The cache must never make a revoked or expired session valid again, so:
//!
//! * every hit is re-checked against the clock by the caller (entries carry their deadlines);
//! * every session-ending path in this process invalidates the affected entries *after* the
//!   store write and *before* answering;
//! * a fill races with invalidation (a read that started before a logout may finish after it),
//!   so fills carry the [`generation`](SessionCache::generation) read before the store read, and
//!   are dropped if any invalidation happened since;
//! * other processes (operator commands, other instances) end sessions too: the service polls
//!   the store's revocation epoch and [clears](SessionCache::clear) the cache when it moves.
//!
//! * on a store shared by several instances, polling alone would let another instance serve a
//!   logged-out session until its next poll. There the cache holds a [`Lease`]: entries are
//!   served only while the last revocation-epoch read that *completed* also *started* less than
//!   the lease bound ago, and every session-ending write waits out the bound before it answers.
//!   So any verification that starts after that answer, on any instance, either misses the
//!   cache or runs on a cache that was checked against the store after the write committed.
//!
//! Sharded `RwLock<HashMap>` rather than a general-purpose cache crate: the keys are SHA-256
//! digests (already uniformly distributed, so hashing them again is wasted work), hits take
//! only a read lock, and eviction need not be clever — capacity is sized to hold the working
//! set, and a full shard drops an arbitrary entry.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;
use wxlogin_store::{SessionRecord, TokenHash};

const SHARDS: usize = 32;

/// Uses the first bytes of a SHA-256 digest as its hash: they are already uniform.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(buf);
        }
    }
}

/// Entries are shared (`Arc`) so a hit costs a reference-count increment, not a copy of the
/// record's strings.
type Shard = HashMap<TokenHash, Arc<SessionRecord>, BuildHasherDefault<DigestHasher>>;

/// A bounded map from token hash to the session it verified to.
#[derive(Debug)]
pub(crate) struct SessionCache {
    shards: Vec<RwLock<Shard>>,
    per_shard: usize,
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl SessionCache {
    /// A cache of about `capacity` sessions; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, hash: &TokenHash) -> &RwLock<Shard> {
        &self.shards[usize::from(hash.as_bytes()[31]) % SHARDS]
    }

    /// The cached session for `hash`, if any. The caller must still check its deadlines.
    pub(crate) fn get(&self, hash: &TokenHash) -> Option<Arc<SessionRecord>> {
        if self.per_shard == 0 {
            return None;
        }
        let found = read(self.shard(hash)).get(hash).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The invalidation generation; read it before a store lookup and pass it to [`fill`].
    ///
    /// [`fill`]: SessionCache::fill
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches `session` unless an invalidation happened since `generation` was read.
    pub(crate) fn fill(&self, hash: TokenHash, session: Arc<SessionRecord>, generation: u64) {
        if self.per_shard == 0 {
            return;
        }
        let mut shard = write(self.shard(&hash));
        // Checked under the shard lock: invalidations bump the generation *before* taking the
        // locks, so either we see the new generation or they see our entry.
        if self.generation() != generation {
            return;
        }
        if shard.len() >= self.per_shard
            && !shard.contains_key(&hash)
            && let Some(victim) = shard.keys().next().copied()
        {
            shard.remove(&victim);
        }
        shard.insert(hash, session);
    }

    /// Replaces a cached entry in place (after a sliding renewal), if still present.
    pub(crate) fn update(&self, hash: &TokenHash, session: Arc<SessionRecord>) {
        if let Some(entry) = write(self.shard(hash)).get_mut(hash) {
            *entry = session;
        }
    }

    /// Forgets one token.
    pub(crate) fn invalidate_token(&self, hash: &TokenHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(self.shard(hash)).remove(hash);
    }

    /// Forgets the given sessions (e.g. evicted by the per-user cap).
    pub(crate) fn invalidate_sessions(&self, session_ids: &[Uuid]) {
        if session_ids.is_empty() {
            return;
        }
        self.retain(|s| !session_ids.contains(&s.session_id));
    }

    /// Forgets every session of a user.
    pub(crate) fn invalidate_user(&self, user_id: Uuid) {
        self.retain(|s| s.user_id != user_id);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.retain(|_| false);
    }

    fn retain(&self, keep: impl Fn(&SessionRecord) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in &self.shards {
            write(shard).retain(|_, s| keep(s));
        }
    }

    /// (hits, misses) since start, for metrics and the benchmark's hit rate.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }
}

/// The right to serve cached sessions on a shared store; see the module docs.
#[derive(Debug)]
pub(crate) struct Lease {
    bound: Duration,
    origin: Instant,
    /// Start of the latest confirming epoch read, in microseconds after `origin` (plus one,
    /// so 0 means never).
    confirmed: AtomicU64,
}

impl Lease {
    pub(crate) fn new(bound: Duration) -> Self {
        Self {
            bound,
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
        }
    }

    pub(crate) fn bound(&self) -> Duration {
        self.bound
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Records that an epoch read started at `started` completed and was acted on.
    pub(crate) fn confirm(&self, started: Instant) {
        self.confirmed
            .fetch_max(self.micros(started), Ordering::SeqCst);
    }

    /// Whether cached entries may be served now.
    pub(crate) fn is_held(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::SeqCst);
        confirmed != 0
            && self.micros(Instant::now()).saturating_sub(confirmed)
                < u64::try_from(self.bound.as_micros()).unwrap_or(u64::MAX)
    }
}

// A poisoned lock only means another thread panicked mid-update of a plain map; the map is
// still structurally valid, and a stale entry is at worst re-checked against the store.
fn read(lock: &RwLock<Shard>) -> std::sync::RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write(lock: &RwLock<Shard>) -> std::sync::RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn session(user: u128) -> Arc<SessionRecord> {
        let now = OffsetDateTime::now_utc();
        Arc::new(SessionRecord {
            session_id: Uuid::from_u128(user * 1000 + 1),
            user_id: Uuid::from_u128(user),
            appid: "wx0123456789abcdef".into(),
            openid: "o".into(),
            unionid: None,
            family_id: None,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now,
            absolute_expires_at: now,
        })
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = SessionCache::new(100);
        let hash = TokenHash::of("t");
        let generation = cache.generation();
        cache.invalidate_token(&TokenHash::of("other"));
        cache.fill(hash, session(1), generation);
        assert!(cache.get(&hash).is_none());
        cache.fill(hash, session(1), cache.generation());
        assert!(cache.get(&hash).is_some());
    }

    #[test]
    fn invalidation_by_user_and_by_session() {
        let cache = SessionCache::new(100);
        let (a, b) = (TokenHash::of("a"), TokenHash::of("b"));
        cache.fill(a, session(1), cache.generation());
        cache.fill(b, session(2), cache.generation());
        cache.invalidate_user(Uuid::from_u128(1));
        assert!(cache.get(&a).is_none());
        assert!(cache.get(&b).is_some());
        cache.invalidate_sessions(&[session(2).session_id]);
        assert!(cache.get(&b).is_none());
    }

    #[test]
    fn capacity_is_bounded_and_zero_disables() {
        let cache = SessionCache::new(64);
        for i in 0..1000 {
            cache.fill(
                TokenHash::of(format!("{i}")),
                session(i),
                cache.generation(),
            );
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        let off = SessionCache::new(0);
        off.fill(TokenHash::of("x"), session(1), off.generation());
        assert!(off.get(&TokenHash::of("x")).is_none());
    }
}
