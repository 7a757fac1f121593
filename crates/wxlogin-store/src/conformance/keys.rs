//! The session_key ring.

use std::sync::Arc;
use std::time::Duration;

use super::{APP, Expect as _, T0, at, check, check_eq, login, sealed};
use crate::model::{KeyRingPolicy, SealedSessionKey};
use crate::traits::Store;

fn sealed_of(ring: &[SealedSessionKey]) -> Vec<Vec<u8>> {
    ring.iter().map(|k| k.sealed.clone()).collect()
}

const WIDE: KeyRingPolicy = KeyRingPolicy {
    keep_previous: 100,
    window: Duration::from_secs(365 * 24 * 3600),
};

/// The ring rotates only when the fingerprint differs from the current key's; the retired
/// key keeps its retirement time and the current key comes first.
pub async fn key_ring_rotates_only_on_a_new_fingerprint(store: Arc<dyn Store>) {
    let first = store
        .record_login(login(APP, "oUser", "key-A", T0), T0)
        .await
        .or_fail("record_login");
    check!(
        first.key_rotated,
        "the first key was not reported as a rotation"
    );
    let user = first.user_id;

    let same = store
        .record_login(login(APP, "oUser", "key-A", at(60)), at(60))
        .await
        .or_fail("record_login");
    check!(
        !same.key_rotated,
        "an unchanged key was reported as rotated"
    );
    let ring = store
        .key_ring(user, at(60), KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("key-A")],
        "an unchanged key altered the ring"
    );
    check!(
        ring[0].current && ring[0].retired_at.is_none(),
        "current key flags"
    );
    check_eq!(
        ring[0].created_at,
        T0,
        "re-login with the same key reset created_at"
    );

    let rotated = store
        .record_login(login(APP, "oUser", "key-B", at(120)), at(120))
        .await
        .or_fail("record_login");
    check!(rotated.key_rotated, "a new key was not reported as rotated");
    let ring = store
        .key_ring(user, at(130), KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("key-B"), sealed("key-A")],
        "ring after rotation (current first)"
    );
    check!(
        ring[0].current && !ring[1].current,
        "current flags after rotation"
    );
    check_eq!(ring[0].created_at, at(120), "new key created_at");
    check_eq!(
        ring[1].retired_at,
        Some(at(120)),
        "retired_at of the previous key"
    );
}

/// At most `keep_previous` retired keys survive a login, newest first; a read may ask for
/// fewer.
pub async fn key_ring_trims_by_count(store: Arc<dyn Store>) {
    let mut user = None;
    for (i, key) in ["A", "B", "C", "D"].into_iter().enumerate() {
        let now = at(i as i64 * 10);
        let recorded = store
            .record_login(login(APP, "oUser", key, now), now)
            .await
            .or_fail("record_login");
        user = Some(recorded.user_id);
    }
    let user = user.expect("user");
    let ring = store.key_ring(user, at(40), WIDE).await.or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("D"), sealed("C"), sealed("B")],
        "a login with keep_previous = 2 must drop the oldest retired key"
    );
    let narrow = KeyRingPolicy {
        keep_previous: 1,
        ..KeyRingPolicy::default()
    };
    let ring = store
        .key_ring(user, at(40), narrow)
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("D"), sealed("C")],
        "read with keep_previous = 1"
    );
    let none = KeyRingPolicy {
        keep_previous: 0,
        ..KeyRingPolicy::default()
    };
    let ring = store.key_ring(user, at(40), none).await.or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("D")],
        "read with keep_previous = 0"
    );
}

/// Retired keys are usable only within the window after retirement (strictly), and a login
/// drops the ones outside it.
pub async fn key_ring_trims_by_window(store: Arc<dyn Store>) {
    let policy = KeyRingPolicy::default(); // 10 minutes
    let user = store
        .record_login(login(APP, "oUser", "A", T0), T0)
        .await
        .or_fail("record_login")
        .user_id;
    store
        .record_login(login(APP, "oUser", "B", at(60)), at(60))
        .await
        .or_fail("record_login");

    let ring = store
        .key_ring(user, at(60 + 599), policy)
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("B"), sealed("A")],
        "inside the window"
    );
    let ring = store
        .key_ring(user, at(60 + 600), policy)
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("B")],
        "at the end of the window the key is gone"
    );

    store
        .record_login(login(APP, "oUser", "C", at(1200)), at(1200))
        .await
        .or_fail("record_login");
    let ring = store
        .key_ring(user, at(1200), WIDE)
        .await
        .or_fail("key_ring");
    check_eq!(
        sealed_of(&ring),
        vec![sealed("C"), sealed("B")],
        "a login must physically drop keys retired outside the window"
    );
}

/// An operator's key reset rotates the ring like a login, and needs a ring to replace.
pub async fn replace_session_key_rotates_the_ring(store: Arc<dyn Store>) {
    let first = login(APP, "o-reset", "k1", at(0));
    let user = store
        .record_login(first, at(0))
        .await
        .or_fail("login")
        .user_id;
    let reset = crate::model::NewSessionKey {
        sealed: sealed("k2"),
        fingerprint: crate::model::KeyFingerprint::of("k2"),
    };
    check!(
        store
            .replace_session_key(user, reset.clone(), at(5), KeyRingPolicy::default())
            .await
            .or_fail("replace_session_key"),
        "a user with a ring gets the new key"
    );
    let ring = store
        .key_ring(user, at(6), KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(ring.len(), 2, "the old key is kept as a previous key");
    check!(
        ring[0].current && ring[0].sealed == sealed("k2"),
        "the new key is current"
    );
    check!(
        !ring[1].current && ring[1].sealed == sealed("k1"),
        "the old key is retired"
    );
    check!(
        !store
            .replace_session_key(uuid::Uuid::now_v7(), reset, at(7), KeyRingPolicy::default())
            .await
            .or_fail("replace_session_key"),
        "no ring, no replacement"
    );
}
