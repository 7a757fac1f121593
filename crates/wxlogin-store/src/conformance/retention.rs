//! The previous-key window across the end of a user's last session.
//!
//! A mini-program whose request gets a 401 (token revoked or expired) calls `wx.login`, which
//! rotates the session_key, logs in again and replays the decryption of encryptedData it
//! fetched under the old key. That works only if the old key outlives the session by the key
//! window, as a retired key, whichever way the session ended; deleting the user is the one
//! exception.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{APP, Expect as _, T0, at, check, check_eq, login, sealed};
use crate::model::{KeyRingPolicy, PurgeLimits, PurgeReport, SealedSessionKey};
use crate::traits::Store;

/// Reads every key still stored, whatever its age: what a purge or a login physically left.
const EVERYTHING: KeyRingPolicy = KeyRingPolicy {
    keep_previous: 100,
    window: Duration::from_secs(365 * 24 * 3600),
};

/// The default policy: 2 previous keys, 10 minutes.
const POLICY: KeyRingPolicy = KeyRingPolicy {
    keep_previous: 2,
    window: Duration::from_secs(600),
};

/// (sealed, current) of each key, in ring order.
fn keys(ring: &[SealedSessionKey]) -> Vec<(Vec<u8>, bool)> {
    ring.iter().map(|k| (k.sealed.clone(), k.current)).collect()
}

async fn ring_at(
    store: &Arc<dyn Store>,
    user: Uuid,
    now: time::OffsetDateTime,
    policy: KeyRingPolicy,
) -> Vec<SealedSessionKey> {
    store.key_ring(user, now, policy).await.or_fail("key_ring")
}

/// Logging out of the last session retires the key instead of dropping it (the phone goes at
/// once): a login within the window keeps it as the previous key of the new one, and the read
/// a decryption makes returns both; after the window neither a read nor a purge keeps it. A
/// login after the window finds nothing left to keep. Revoke-all behaves alike.
pub async fn logout_of_the_last_session_retires_the_key_for_the_window(store: Arc<dyn Store>) {
    let first = login(APP, "oReplay", "k1", T0);
    let first_session = first.session.session_id;
    let user = store
        .record_login(first, T0)
        .await
        .or_fail("record_login")
        .user_id;
    store
        .save_phone(user, b"p".to_vec(), at(1))
        .await
        .or_fail("save_phone");

    check!(
        store
            .end_session(first_session, at(10))
            .await
            .or_fail("end_session"),
        "end_session returned false"
    );
    let ring = ring_at(&store, user, at(10), POLICY).await;
    check_eq!(
        keys(&ring),
        vec![(sealed("k1"), false)],
        "after the last logout the key must stay, retired"
    );
    check_eq!(
        ring[0].retired_at,
        Some(at(10)),
        "the key is retired at the logout"
    );
    check!(
        store.phone(user).await.or_fail("phone").is_none(),
        "the phone number must still go with the last session"
    );
    check!(
        !store
            .replace_session_key(
                user,
                crate::model::NewSessionKey {
                    sealed: sealed("reset"),
                    fingerprint: crate::model::KeyFingerprint::of("reset"),
                },
                at(11),
                POLICY,
            )
            .await
            .or_fail("replace_session_key"),
        "a retired key alone is no current key to replace"
    );

    // The SDK's recovery: wx.login rotated the key, and the client logs in again.
    let again = store
        .record_login(login(APP, "oReplay", "k2", at(100)), at(100))
        .await
        .or_fail("record_login");
    check!(again.user_id == user && !again.new_user, "the same user");
    check!(again.key_rotated, "the new key was not reported as rotated");
    check_eq!(
        keys(&ring_at(&store, user, at(100), POLICY).await),
        vec![(sealed("k2"), true), (sealed("k1"), false)],
        "a login within the window keeps the retired key as the previous one"
    );
    check_eq!(
        keys(&ring_at(&store, user, at(10 + 599), POLICY).await),
        vec![(sealed("k2"), true), (sealed("k1"), false)],
        "the previous key is usable until its window ends"
    );
    check_eq!(
        keys(&ring_at(&store, user, at(10 + 600), POLICY).await),
        vec![(sealed("k2"), true)],
        "the window counts from the logout"
    );
    let report = store
        .purge(at(10 + 600), PurgeLimits::default())
        .await
        .or_fail("purge");
    check_eq!(report.retired_keys, 1, "the purge removes the old key");
    check_eq!(
        keys(&ring_at(&store, user, at(10 + 600), EVERYTHING).await),
        vec![(sealed("k2"), true)],
        "after the window and a purge only the new key is stored"
    );

    // Revoke-all, then a login after the window: only the new key.
    check_eq!(
        store
            .end_user_sessions(user, at(1000))
            .await
            .or_fail("end_user_sessions"),
        1,
        "revoke-all count"
    );
    check_eq!(
        keys(&ring_at(&store, user, at(1000), POLICY).await),
        vec![(sealed("k2"), false)],
        "revoke-all retires the key too"
    );
    store
        .record_login(login(APP, "oReplay", "k3", at(1600)), at(1600))
        .await
        .or_fail("record_login");
    check_eq!(
        keys(&ring_at(&store, user, at(1600), EVERYTHING).await),
        vec![(sealed("k3"), true)],
        "a login after the window keeps nothing of the old key"
    );

    // keep_previous still bounds the ring: a rotation, then the last logout, then a login
    // keeping one previous key keeps the newest retirement only.
    store
        .record_login(login(APP, "oReplay", "k4", at(1700)), at(1700))
        .await
        .or_fail("record_login");
    store
        .end_user_sessions(user, at(1710))
        .await
        .or_fail("end_user_sessions");
    check_eq!(
        keys(&ring_at(&store, user, at(1710), POLICY).await),
        vec![(sealed("k4"), false), (sealed("k3"), false)],
        "both retired keys within their windows"
    );
    let mut narrow = login(APP, "oReplay", "k5", at(1720));
    narrow.policy.key_ring.keep_previous = 1;
    store
        .record_login(narrow, at(1720))
        .await
        .or_fail("record_login");
    check_eq!(
        keys(&ring_at(&store, user, at(1720), EVERYTHING).await),
        vec![(sealed("k5"), true), (sealed("k4"), false)],
        "a login with keep_previous = 1 keeps the key retired last"
    );
}

/// Deleting a user removes every key at once, retired ones within their window included,
/// whether the user still had a live session or had logged out already.
pub async fn delete_user_leaves_no_key(store: Arc<dyn Store>) {
    // Live, with a previous key from a rotation a moment ago.
    let live = store
        .record_login(login(APP, "oLiveDel", "a1", T0), T0)
        .await
        .or_fail("record_login")
        .user_id;
    store
        .record_login(login(APP, "oLiveDel", "a2", at(5)), at(5))
        .await
        .or_fail("record_login");
    // Logged out a moment ago: only a retired key is left.
    let first = login(APP, "oGoneDel", "b1", T0);
    let session = first.session.session_id;
    let gone = store
        .record_login(first, T0)
        .await
        .or_fail("record_login")
        .user_id;
    store
        .end_session(session, at(5))
        .await
        .or_fail("end_session");
    check_eq!(
        ring_at(&store, gone, at(6), POLICY).await.len(),
        1,
        "the logout kept the key retired"
    );

    for user in [live, gone] {
        check!(
            store.delete_user(user).await.or_fail("delete_user"),
            "delete_user returned false"
        );
        check!(
            ring_at(&store, user, at(6), EVERYTHING).await.is_empty(),
            "a key survived the deletion of its user"
        );
    }

    // The same openid logging in again is a new user with nothing of the old one's.
    let again = store
        .record_login(login(APP, "oGoneDel", "b2", at(7)), at(7))
        .await
        .or_fail("record_login");
    check!(
        again.new_user && again.user_id != gone,
        "a deleted user came back"
    );
    check_eq!(
        keys(&ring_at(&store, again.user_id, at(7), EVERYTHING).await),
        vec![(sealed("b2"), true)],
        "the new user's ring"
    );
}

/// When sessions expire, the purge's orphaned-ring step retires the current key (it does not
/// drop it) and leaves keys retired earlier alone, so neither loses the rest of its window; the
/// retired-keys step removes each once its own window is over. A user found orphaned once is
/// not counted again, and a login within the window keeps the key as the previous one.
pub async fn orphan_purge_retires_keys_and_removes_them_after_the_window(store: Arc<dyn Store>) {
    // Rotated at 50 (k1 retired then), both sessions idle out at 100.
    let mut a1 = login(APP, "oExpired", "k1", T0);
    a1.session.idle_expires_at = at(100);
    let user = store.record_login(a1, T0).await.or_fail("login").user_id;
    let mut a2 = login(APP, "oExpired", "k2", at(50));
    a2.session.idle_expires_at = at(100);
    store.record_login(a2, at(50)).await.or_fail("login");
    // Another user whose session idles out at 100 and who comes back within the window.
    let mut b1 = login(APP, "oReturns", "r1", T0);
    b1.session.idle_expires_at = at(100);
    let returning = store.record_login(b1, T0).await.or_fail("login").user_id;

    let limits = PurgeLimits::default(); // key_window: 10 minutes
    let report = store.purge(at(120), limits).await.or_fail("purge");
    check_eq!(
        report,
        PurgeReport {
            expired_sessions: 3,
            orphaned_key_rings: 2,
            ..PurgeReport::default()
        },
        "the first purge after the expiry"
    );
    let ring = ring_at(&store, user, at(120), POLICY).await;
    check_eq!(
        keys(&ring),
        vec![(sealed("k2"), false), (sealed("k1"), false)],
        "the orphan purge must retire the current key and keep the one retired 70 s before"
    );
    check_eq!(
        ring.iter().map(|k| k.retired_at).collect::<Vec<_>>(),
        vec![Some(at(120)), Some(at(50))],
        "retirement times: the purge's, and the rotation's kept"
    );
    check_eq!(
        store.purge(at(120), limits).await.or_fail("purge"),
        PurgeReport::default(),
        "a second pass found an orphan again"
    );

    // The returning user's old key is a previous key of the new one.
    store
        .record_login(login(APP, "oReturns", "r2", at(300)), at(300))
        .await
        .or_fail("login");
    check_eq!(
        keys(&ring_at(&store, returning, at(300), POLICY).await),
        vec![(sealed("r2"), true), (sealed("r1"), false)],
        "a login within the window after the orphan purge"
    );

    // Each retired key goes when its own window is over, and not before.
    let report = store.purge(at(50 + 600), limits).await.or_fail("purge");
    check_eq!(
        report.retired_keys,
        1,
        "only the key retired at 50 is past its window"
    );
    check_eq!(
        keys(&ring_at(&store, user, at(50 + 600), EVERYTHING).await),
        vec![(sealed("k2"), false)],
        "the key retired by the purge is still inside its window"
    );
    let report = store.purge(at(120 + 600), limits).await.or_fail("purge");
    check_eq!(
        report.retired_keys,
        2,
        "both keys retired at 120 are past their window"
    );
    check!(
        ring_at(&store, user, at(120 + 600), EVERYTHING)
            .await
            .is_empty(),
        "a key outlived its window after the last session expired"
    );
    check_eq!(
        keys(&ring_at(&store, returning, at(120 + 600), EVERYTHING).await),
        vec![(sealed("r2"), true)],
        "the returning user's current key is kept"
    );
}
