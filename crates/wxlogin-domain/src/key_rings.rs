//! Opened session_key rings, kept in memory for a moment.
//!
//! `/v1/decrypt` needs the user's ring: a store read plus an AES-GCM opening per key, which
//! cost far more than the decryption itself. Mini-programs send encrypted data in bursts
//! (user info, then phone, then share data), so a short-lived cache of opened rings removes
//! most of those reads. It is safe to be stale because of how a ring changes:
//!
//! * it only *gains* a key when WeChat rotates it (a login, an operator reset). Data
//!   encrypted with a key the cached ring lacks fails to decrypt, and the caller then re-reads
//!   the ring from the store before answering `decrypt_failed` — so a stale entry costs one
//!   extra read, never a wrong answer;
//! * keys leave the ring when their window closes, or all at once when the user is deleted.
//!   (The end of a user's last session only retires the current key: it keeps a window of its
//!   own, so a replay after the next login still decrypts.) An entry lives at most
//!   [`KEY_RING_TTL`] on the service's clock, so a retired key outlives its window by at most
//!   that; a user with no live session cannot reach decryption at all (the token is checked
//!   first).
//! * logins and resets in this process drop the user's entry at once, and other instances
//!   drop it on the cluster's `KeyRingChanged` event, so the `"current"` / `"previous"` label
//!   is exact except for the TTL after a rotation elsewhere with no coordinator.
//!
//! Keys are held as [`SecretString`]s (zeroed on drop) and never leave the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use secrecy::SecretString;
use uuid::Uuid;

use crate::open_data::KeyGeneration;

/// How long an opened ring may be served from memory.
pub const KEY_RING_TTL: Duration = Duration::from_secs(2);

/// A user's usable session_keys, current first.
pub(crate) type Ring = Arc<Vec<(SecretString, KeyGeneration)>>;

/// Bounded map from user id to their opened ring.
#[derive(Debug)]
pub struct KeyRingCache {
    capacity: usize,
    entries: Mutex<HashMap<Uuid, (Ring, OffsetDateTime)>>,
}

impl KeyRingCache {
    /// A cache of at most `capacity` users' rings; 0 turns it off.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (Ring, OffsetDateTime)>> {
        // A poisoned map is still a valid map; at worst an entry is stale, which is allowed.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ring read at most [`KEY_RING_TTL`] before `now` — on the service's clock, the one
    /// key windows are judged by (a test clock moved past a window must see it closed).
    pub(crate) fn get(&self, user_id: Uuid, now: OffsetDateTime) -> Option<Ring> {
        if self.capacity == 0 {
            return None;
        }
        let entries = self.entries();
        entries
            .get(&user_id)
            .filter(|(_, at)| fresh(*at, now))
            .map(|(ring, _)| Arc::clone(ring))
    }

    /// Remembers `ring`, read from the store at `read_at`.
    pub(crate) fn put(&self, user_id: Uuid, ring: Ring, read_at: OffsetDateTime) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&user_id) {
            entries.retain(|_, (_, at)| fresh(*at, read_at));
            if entries.len() >= self.capacity {
                // Still full of live entries: drop an arbitrary one.
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(user_id, (ring, read_at));
    }

    /// Forgets a user's ring (it changed, or the user is gone).
    pub fn invalidate(&self, user_id: Uuid) {
        self.entries().remove(&user_id);
    }

    /// Forgets every ring.
    pub fn clear(&self) {
        self.entries().clear();
    }
}

fn fresh(read_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now >= read_at && now - read_at < KEY_RING_TTL
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(key: &str) -> Ring {
        Arc::new(vec![(SecretString::from(key), KeyGeneration::Current)])
    }

    #[test]
    fn serves_until_invalidated() {
        let cache = KeyRingCache::new(10);
        let user = Uuid::from_u128(1);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        assert!(cache.get(user, t0).is_none());
        cache.put(user, ring("k"), t0);
        assert!(cache.get(user, t0 + Duration::from_secs(1)).is_some());
        cache.invalidate(user);
        assert!(cache.get(user, t0).is_none());
    }

    #[test]
    fn expires_on_the_services_clock() {
        let cache = KeyRingCache::new(10);
        let user = Uuid::from_u128(1);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        cache.put(user, ring("k"), t0);
        assert!(cache.get(user, t0 + KEY_RING_TTL).is_none());
        assert!(cache.get(user, t0 - Duration::from_secs(1)).is_none());
    }

    #[test]
    fn stays_within_capacity_and_can_be_off() {
        let cache = KeyRingCache::new(2);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..5 {
            cache.put(Uuid::from_u128(i), ring("k"), t0);
        }
        assert!(cache.entries().len() <= 2);
        let off = KeyRingCache::new(0);
        off.put(Uuid::from_u128(1), ring("k"), t0);
        assert!(off.get(Uuid::from_u128(1), t0).is_none());
    }
}
