//! Sessions: lookup, expiry, renewal, ending, the cap and the revocation epoch.

use std::sync::Arc;

use time::Duration;
use uuid::Uuid;

use super::{ABSOLUTE, APP, Expect as _, IDLE, T0, at, check, check_eq, login};
use crate::model::{KeyRingPolicy, LoginPolicy, TokenHash};
use crate::traits::Store;

/// A session is found by its token hash with every field, until (not at) its idle deadline;
/// an unknown hash is not found.
pub async fn session_found_until_idle_expiry(store: Arc<dyn Store>) {
    let new = login(APP, "oUser", "k", T0);
    let (hash, session_id) = (new.session.token_hash, new.session.session_id);
    let user_id = store
        .record_login(new, T0)
        .await
        .or_fail("record_login")
        .user_id;

    let s = store
        .find_session(&hash, T0)
        .await
        .or_fail("find_session")
        .expect("found at creation");
    check_eq!(s.session_id, session_id, "session_id");
    check_eq!(s.user_id, user_id, "user_id");
    check_eq!(s.appid, APP, "appid");
    check_eq!(s.openid, "oUser", "openid");
    check_eq!(s.family_id, None, "family_id");
    check_eq!(s.created_at, T0, "created_at");
    check_eq!(s.last_seen_at, T0, "last_seen_at");
    check_eq!(s.idle_expires_at, T0 + IDLE, "idle_expires_at");
    check_eq!(s.absolute_expires_at, T0 + ABSOLUTE, "absolute_expires_at");

    check!(
        store
            .find_session(&TokenHash::of("unknown"), T0)
            .await
            .or_fail("find")
            .is_none(),
        "an unknown token hash was found"
    );
    let just_before = T0 + IDLE - Duration::milliseconds(1);
    check!(
        store
            .find_session(&hash, just_before)
            .await
            .or_fail("find")
            .is_some(),
        "session missing 1 ms before its idle deadline"
    );
    check!(
        store
            .find_session(&hash, T0 + IDLE)
            .await
            .or_fail("find")
            .is_none(),
        "session still found at its idle deadline"
    );
}

/// However often it is renewed, a session ends at its absolute deadline; an idle deadline
/// given beyond it is clamped at creation.
pub async fn session_ends_at_absolute_expiry_despite_renewal(store: Arc<dyn Store>) {
    let mut new = login(APP, "oUser", "k", T0);
    new.session.idle_expires_at = T0 + Duration::days(2);
    new.session.absolute_expires_at = T0 + Duration::days(3);
    let (hash, id) = (new.session.token_hash, new.session.session_id);
    store.record_login(new, T0).await.or_fail("record_login");

    let mut now = T0;
    for _ in 0..5 {
        now += Duration::hours(12);
        check!(
            store
                .touch_session(id, now, now + Duration::days(2))
                .await
                .or_fail("touch_session"),
            "touching a live session failed"
        );
    }
    let absolute = T0 + Duration::days(3);
    let s = store
        .find_session(&hash, now)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(
        s.idle_expires_at,
        absolute,
        "renewal pushed idle past the absolute deadline"
    );
    check!(
        store
            .find_session(&hash, absolute - Duration::milliseconds(1))
            .await
            .or_fail("find")
            .is_some(),
        "session missing just before its absolute deadline"
    );
    check!(
        store
            .find_session(&hash, absolute)
            .await
            .or_fail("find")
            .is_none(),
        "session found at its absolute deadline"
    );

    let mut clamped = login(APP, "oOther", "k2", T0);
    clamped.session.idle_expires_at = T0 + Duration::days(9);
    clamped.session.absolute_expires_at = T0 + Duration::days(1);
    let hash = clamped.session.token_hash;
    store
        .record_login(clamped, T0)
        .await
        .or_fail("record_login");
    let s = store
        .find_session(&hash, T0)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(
        s.idle_expires_at,
        T0 + Duration::days(1),
        "idle not clamped to absolute"
    );
    check!(
        store
            .find_session(&hash, T0 + Duration::days(1))
            .await
            .or_fail("find")
            .is_none(),
        "session with a clamped idle deadline outlived its absolute deadline"
    );
}

/// Touching moves `last_seen_at` and the idle deadline forward, caps it at the absolute
/// deadline, and never moves it backwards.
pub async fn touch_extends_but_never_past_absolute(store: Arc<dyn Store>) {
    let new = login(APP, "oUser", "k", T0);
    let (hash, id) = (new.session.token_hash, new.session.session_id);
    store.record_login(new, T0).await.or_fail("record_login");

    let day1 = T0 + Duration::days(1);
    check!(
        store
            .touch_session(id, day1, day1 + IDLE)
            .await
            .or_fail("touch"),
        "touch failed"
    );
    let s = store
        .find_session(&hash, day1)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(s.last_seen_at, day1, "last_seen_at not updated");
    check_eq!(s.idle_expires_at, day1 + IDLE, "idle deadline not extended");
    check_eq!(
        s.absolute_expires_at,
        T0 + ABSOLUTE,
        "touch changed the absolute deadline"
    );

    check!(
        store
            .touch_session(id, day1, T0 + IDLE)
            .await
            .or_fail("touch"),
        "touch failed"
    );
    let s = store
        .find_session(&hash, day1)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(
        s.idle_expires_at,
        day1 + IDLE,
        "touch moved the idle deadline backwards"
    );

    let day2 = T0 + Duration::days(2);
    check!(
        store
            .touch_session(id, day2, T0 + Duration::days(400))
            .await
            .or_fail("touch"),
        "touch failed"
    );
    let s = store
        .find_session(&hash, day2)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(
        s.idle_expires_at,
        T0 + ABSOLUTE,
        "idle deadline passed the absolute one"
    );
}

/// Touching an unknown or expired session returns false and revives nothing.
pub async fn touch_of_missing_or_expired_session_is_a_noop(store: Arc<dyn Store>) {
    check!(
        !store
            .touch_session(Uuid::new_v4(), T0, T0 + IDLE)
            .await
            .or_fail("touch"),
        "touching an unknown session returned true"
    );
    let new = login(APP, "oUser", "k", T0);
    let (hash, id) = (new.session.token_hash, new.session.session_id);
    store.record_login(new, T0).await.or_fail("record_login");
    let expired = T0 + IDLE;
    check!(
        !store
            .touch_session(id, expired, expired + IDLE)
            .await
            .or_fail("touch"),
        "touching an idle-expired session returned true"
    );
    check!(
        store
            .find_session(&hash, expired)
            .await
            .or_fail("find")
            .is_none(),
        "touch revived an expired session"
    );
}

/// Ending a session hides it at once and bumps the epoch; the key ring is untouched while
/// another session is live, and the last one's end retires the current key (kept for the key
/// window, see `retention`).
pub async fn end_session_is_immediate_and_retires_key_with_last_session(store: Arc<dyn Store>) {
    let a = login(APP, "oUser", "k", T0);
    let b = login(APP, "oUser", "k", at(1));
    let (hash_a, id_a) = (a.session.token_hash, a.session.session_id);
    let (hash_b, id_b) = (b.session.token_hash, b.session.session_id);
    let user = store
        .record_login(a, T0)
        .await
        .or_fail("record_login")
        .user_id;
    store.record_login(b, at(1)).await.or_fail("record_login");
    let policy = KeyRingPolicy::default();

    let epoch0 = store.revocation_epoch().await.or_fail("epoch");
    check!(
        store.end_session(id_a, at(2)).await.or_fail("end_session"),
        "end_session returned false"
    );
    check!(
        store
            .find_session(&hash_a, at(2))
            .await
            .or_fail("find")
            .is_none(),
        "an ended session was still found"
    );
    let epoch1 = store.revocation_epoch().await.or_fail("epoch");
    check!(
        epoch1 > epoch0,
        "end_session did not bump the epoch ({epoch0} -> {epoch1})"
    );
    check!(
        store
            .find_session(&hash_b, at(2))
            .await
            .or_fail("find")
            .is_some(),
        "ending one session ended another"
    );
    check_eq!(
        store
            .key_ring(user, at(2), policy)
            .await
            .or_fail("key_ring")
            .len(),
        1,
        "the ring was dropped while a session is live"
    );

    check!(
        store.end_session(id_b, at(3)).await.or_fail("end_session"),
        "end_session returned false"
    );
    let ring = store
        .key_ring(user, at(3), policy)
        .await
        .or_fail("key_ring");
    check!(
        ring.len() == 1 && !ring[0].current && ring[0].retired_at == Some(at(3)),
        "ending the last live session must retire the current key at that moment: {ring:?}"
    );
    check!(
        !store.end_session(id_b, at(4)).await.or_fail("end_session"),
        "ending an already ended session returned true"
    );
    check!(
        store
            .find_user_by_id(user)
            .await
            .or_fail("find_user")
            .is_some(),
        "logout deleted the user"
    );
}

/// Revoke-all ends every session of the user (and only theirs), retires the current key and
/// bumps the epoch once there was something to end.
pub async fn end_user_sessions_ends_all(store: Arc<dyn Store>) {
    let mut hashes = Vec::new();
    let mut user = None;
    for i in 0..3 {
        let new = login(APP, "oUser", "k", at(i));
        hashes.push(new.session.token_hash);
        user = Some(
            store
                .record_login(new, at(i))
                .await
                .or_fail("record_login")
                .user_id,
        );
    }
    let user = user.expect("user");
    let bystander = login(APP, "oOther", "k", T0);
    let bystander_hash = bystander.session.token_hash;
    store
        .record_login(bystander, T0)
        .await
        .or_fail("record_login");

    let epoch0 = store.revocation_epoch().await.or_fail("epoch");
    check_eq!(
        store
            .end_user_sessions(user, at(5))
            .await
            .or_fail("end_user_sessions"),
        3,
        "count"
    );
    for hash in &hashes {
        check!(
            store
                .find_session(hash, at(5))
                .await
                .or_fail("find")
                .is_none(),
            "a revoked session was still found"
        );
    }
    let epoch1 = store.revocation_epoch().await.or_fail("epoch");
    check!(epoch1 > epoch0, "end_user_sessions did not bump the epoch");
    check!(
        store
            .key_ring(user, at(5), KeyRingPolicy::default())
            .await
            .or_fail("key_ring")
            .iter()
            .all(|key| !key.current && key.retired_at == Some(at(5))),
        "revoke-all kept a current key"
    );
    check!(
        store
            .find_session(&bystander_hash, at(5))
            .await
            .or_fail("find")
            .is_some(),
        "revoke-all ended another user's session"
    );
    check_eq!(
        store.end_user_sessions(user, at(6)).await.or_fail("again"),
        0,
        "second revoke-all"
    );
    check_eq!(
        store.revocation_epoch().await.or_fail("epoch"),
        epoch1,
        "ending nothing bumped the epoch"
    );
}

/// Deleting a user removes the user, their sessions and key ring; a later login starts over.
pub async fn delete_user_removes_everything(store: Arc<dyn Store>) {
    let new = login(APP, "oUser", "k", T0);
    let hash = new.session.token_hash;
    let user = store
        .record_login(new, T0)
        .await
        .or_fail("record_login")
        .user_id;
    let epoch0 = store.revocation_epoch().await.or_fail("epoch");

    check!(
        store.delete_user(user).await.or_fail("delete_user"),
        "delete_user returned false"
    );
    check!(
        store
            .find_user(APP, "oUser")
            .await
            .or_fail("find_user")
            .is_none(),
        "user still found"
    );
    check!(
        store
            .find_user_by_id(user)
            .await
            .or_fail("find_user")
            .is_none(),
        "user still found by id"
    );
    check!(
        store
            .find_session(&hash, T0)
            .await
            .or_fail("find")
            .is_none(),
        "session survived deletion"
    );
    check!(
        store
            .key_ring(user, T0, KeyRingPolicy::default())
            .await
            .or_fail("key_ring")
            .is_empty(),
        "key ring survived deletion"
    );
    check!(
        store.revocation_epoch().await.or_fail("epoch") > epoch0,
        "deletion did not bump the epoch"
    );
    check!(
        !store.delete_user(user).await.or_fail("delete_user"),
        "deleting twice returned true"
    );

    let again = store
        .record_login(login(APP, "oUser", "k", at(1)), at(1))
        .await
        .or_fail("record_login");
    check!(
        again.new_user && again.user_id != user,
        "a deleted user came back with the old id"
    );
}

/// Beyond the cap, the user's oldest sessions (by creation) are evicted, reported oldest
/// first, and the epoch bumped; the new session always survives.
pub async fn session_cap_evicts_oldest(store: Arc<dyn Store>) {
    let policy = LoginPolicy {
        max_sessions: 3,
        ..LoginPolicy::default()
    };
    let mut sessions = Vec::new();
    for i in 0..5 {
        let mut new = login(APP, "oUser", "k", at(i * 60));
        new.policy = policy;
        sessions.push((new.session.session_id, new.session.token_hash));
        let epoch0 = store.revocation_epoch().await.or_fail("epoch");
        let recorded = store
            .record_login(new, at(i * 60))
            .await
            .or_fail("record_login");
        let epoch1 = store.revocation_epoch().await.or_fail("epoch");
        match i {
            0..=2 => {
                check!(
                    recorded.evicted_sessions.is_empty(),
                    "evicted below the cap"
                );
                check_eq!(epoch1, epoch0, "a login without eviction bumped the epoch");
            }
            _ => {
                let oldest = sessions[(i - 3) as usize].0;
                check_eq!(
                    recorded.evicted_sessions,
                    vec![oldest],
                    "wrong session evicted"
                );
                check!(epoch1 > epoch0, "eviction did not bump the epoch");
            }
        }
    }
    let now = at(300);
    for (i, (_, hash)) in sessions.iter().enumerate() {
        let found = store
            .find_session(hash, now)
            .await
            .or_fail("find")
            .is_some();
        check_eq!(found, i >= 2, "session {i} after the cap");
    }

    let mut single = login(APP, "oSolo", "k", now);
    single.policy.max_sessions = 0;
    let first = single.session.token_hash;
    store
        .record_login(single, now)
        .await
        .or_fail("record_login");
    let mut second = login(APP, "oSolo", "k", at(301));
    second.policy.max_sessions = 0;
    let second_hash = second.session.token_hash;
    let recorded = store
        .record_login(second, at(301))
        .await
        .or_fail("record_login");
    check_eq!(recorded.evicted_sessions.len(), 1, "cap 0 behaves as cap 1");
    check!(
        store
            .find_session(&second_hash, at(301))
            .await
            .or_fail("find")
            .is_some()
            && store
                .find_session(&first, at(301))
                .await
                .or_fail("find")
                .is_none(),
        "with cap 0 the new session must survive and the old one go"
    );
}

/// Sessions already expired do not take places under the cap and are not reported evicted.
pub async fn expired_sessions_do_not_count_against_the_cap(store: Arc<dyn Store>) {
    let policy = LoginPolicy {
        max_sessions: 2,
        ..LoginPolicy::default()
    };
    let mut short = login(APP, "oUser", "k", T0);
    short.policy = policy;
    short.session.idle_expires_at = T0 + Duration::hours(1);
    store.record_login(short, T0).await.or_fail("record_login");
    let mut kept = login(APP, "oUser", "k", at(60));
    kept.policy = policy;
    let kept_hash = kept.session.token_hash;
    store
        .record_login(kept, at(60))
        .await
        .or_fail("record_login");

    let later = T0 + Duration::hours(2);
    let mut newest = login(APP, "oUser", "k", later);
    newest.policy = policy;
    let epoch0 = store.revocation_epoch().await.or_fail("epoch");
    let recorded = store
        .record_login(newest, later)
        .await
        .or_fail("record_login");
    check!(
        recorded.evicted_sessions.is_empty(),
        "an expired session was reported evicted, or a live one evicted in its place"
    );
    check_eq!(
        store.revocation_epoch().await.or_fail("epoch"),
        epoch0,
        "epoch bumped"
    );
    check!(
        store
            .find_session(&kept_hash, later)
            .await
            .or_fail("find")
            .is_some(),
        "a live session was evicted although an expired one held its place"
    );
}

/// The epoch moves only with writes that end a live session: not with logins (below the cap),
/// reads, renewals or code claims.
pub async fn revocation_epoch_grows_only_on_session_ending_writes(store: Arc<dyn Store>) {
    let epoch0 = store.revocation_epoch().await.or_fail("epoch");
    let new = login(APP, "oUser", "k", T0);
    let (hash, id) = (new.session.token_hash, new.session.session_id);
    let user = store
        .record_login(new, T0)
        .await
        .or_fail("record_login")
        .user_id;
    store.find_session(&hash, T0).await.or_fail("find");
    store
        .touch_session(id, at(1), at(1) + IDLE)
        .await
        .or_fail("touch");
    store
        .claim_login_code(APP, &crate::model::CodeHash::of("c"), at(301), at(1))
        .await
        .or_fail("claim");
    store
        .key_ring(user, at(1), KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(
        store.revocation_epoch().await.or_fail("epoch"),
        epoch0,
        "a non-ending operation moved the epoch"
    );
    store.end_session(id, at(2)).await.or_fail("end_session");
    let epoch1 = store.revocation_epoch().await.or_fail("epoch");
    check!(epoch1 > epoch0, "end_session did not move the epoch");
    let again = store.revocation_epoch().await.or_fail("epoch");
    check_eq!(again, epoch1, "reading the epoch changed it");
}
