//! Users: creation, reuse, identifiers.

use std::sync::Arc;

use uuid::Uuid;

use super::{APP, Expect as _, T0, at, check, check_eq, login};
use crate::error::StoreError;
use crate::model::KeyRingPolicy;
use crate::traits::Store;

/// The first login creates the user; later logins of the same (appid, openid) reuse it and
/// only move `last_login_at`.
pub async fn login_creates_user_then_reuses_it(store: Arc<dyn Store>) {
    check!(
        store
            .find_user(APP, "oUser")
            .await
            .or_fail("find_user")
            .is_none(),
        "an empty store found a user"
    );
    let first = store
        .record_login(login(APP, "oUser", "key-1", T0), T0)
        .await
        .or_fail("record_login");
    check!(first.new_user, "the first login did not report a new user");
    check!(
        first.evicted_sessions.is_empty(),
        "the first login evicted sessions"
    );

    let user = store
        .find_user(APP, "oUser")
        .await
        .or_fail("find_user")
        .expect("user exists");
    check_eq!(user.user_id, first.user_id, "find_user returned another id");
    check_eq!(user.appid, APP, "appid");
    check_eq!(user.openid, "oUser", "openid");
    check_eq!(user.created_at, T0, "created_at");
    check_eq!(user.last_login_at, T0, "last_login_at");

    let later = at(3600);
    let second = store
        .record_login(login(APP, "oUser", "key-1", later), later)
        .await
        .or_fail("record_login");
    check!(!second.new_user, "a second login created a new user");
    check_eq!(
        second.user_id,
        first.user_id,
        "a second login changed the user id"
    );

    let user = store
        .find_user_by_id(first.user_id)
        .await
        .or_fail("find_user_by_id")
        .expect("user exists by id");
    check_eq!(user.created_at, T0, "created_at moved on a later login");
    check_eq!(user.last_login_at, later, "last_login_at was not updated");
    check!(
        store
            .find_user_by_id(Uuid::new_v4())
            .await
            .or_fail("find_user_by_id")
            .is_none(),
        "an unknown id found a user"
    );
}

/// A unionid arriving on a later login is stored; a login without one never erases it.
pub async fn unionid_set_later_is_never_erased(store: Arc<dyn Store>) {
    let first = store
        .record_login(login(APP, "oUser", "k", T0), T0)
        .await
        .or_fail("record_login");
    let user = store
        .find_user_by_id(first.user_id)
        .await
        .or_fail("find")
        .expect("user");
    check_eq!(user.unionid, None, "unionid appeared from nowhere");

    let mut with_union = login(APP, "oUser", "k", at(10));
    with_union.unionid = Some("uUnion".into());
    let token = with_union.session.token_hash;
    store
        .record_login(with_union, at(10))
        .await
        .or_fail("record_login");
    let user = store
        .find_user_by_id(first.user_id)
        .await
        .or_fail("find")
        .expect("user");
    check_eq!(
        user.unionid.as_deref(),
        Some("uUnion"),
        "unionid not stored"
    );

    store
        .record_login(login(APP, "oUser", "k", at(20)), at(20))
        .await
        .or_fail("record_login");
    let user = store
        .find_user_by_id(first.user_id)
        .await
        .or_fail("find")
        .expect("user");
    check_eq!(
        user.unionid.as_deref(),
        Some("uUnion"),
        "a login without unionid erased it"
    );

    let session = store
        .find_session(&token, at(30))
        .await
        .or_fail("find_session")
        .expect("live");
    check_eq!(
        session.unionid.as_deref(),
        Some("uUnion"),
        "find_session lacks the unionid"
    );
}

/// Identifiers compare byte for byte: openids differing only in case are two users, and the
/// same openid under two apps is two users.
pub async fn openid_case_and_app_make_distinct_users(store: Arc<dyn Store>) {
    let upper = login(APP, "oAbC", "k1", T0);
    let upper_token = upper.session.token_hash;
    let a = store.record_login(upper, T0).await.or_fail("record_login");
    let b = store
        .record_login(login(APP, "oabc", "k2", T0), T0)
        .await
        .or_fail("record_login");
    let c = store
        .record_login(login("wx0000000000000002", "oAbC", "k3", T0), T0)
        .await
        .or_fail("record_login");
    check!(
        b.new_user && c.new_user,
        "case or app variants were merged into one user"
    );
    check!(
        a.user_id != b.user_id && a.user_id != c.user_id && b.user_id != c.user_id,
        "distinct identities share a user id"
    );
    let found = store.find_user(APP, "oABC").await.or_fail("find_user");
    check!(found.is_none(), "find_user matched case-insensitively");
    let session = store
        .find_session(&upper_token, T0)
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(session.openid, "oAbC", "openid case changed");
    check_eq!(session.user_id, a.user_id, "session joined the wrong user");
}

/// Unicode and long (512-character) identifiers and large sealed values round-trip exactly.
pub async fn unicode_and_long_values_round_trip(store: Arc<dyn Store>) {
    let appid = "wx测试-🚀-ǅ";
    let openid: String = "o𝔘ñí€😀".chars().cycle().take(512).collect();
    let unionid: String = "u-統一-".chars().cycle().take(512).collect();
    let key: String = "K".repeat(300);
    let mut new = login(appid, &openid, &key, T0);
    new.unionid = Some(unionid.clone());
    let big_sealed: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 256) as u8).collect();
    new.session_key.sealed = big_sealed.clone();
    let token = new.session.token_hash;
    let recorded = store.record_login(new, T0).await.or_fail("record_login");

    let user = store
        .find_user(appid, &openid)
        .await
        .or_fail("find_user")
        .expect("user");
    check_eq!(user.user_id, recorded.user_id, "user id");
    check_eq!(user.appid, appid, "unicode appid changed");
    check_eq!(user.openid, openid, "long openid changed");
    check_eq!(
        user.unionid.as_deref(),
        Some(unionid.as_str()),
        "long unionid changed"
    );

    let session = store
        .find_session(&token, T0)
        .await
        .or_fail("find_session")
        .expect("live");
    check_eq!(session.appid, appid, "session appid");
    check_eq!(session.openid, openid, "session openid");

    let ring = store
        .key_ring(recorded.user_id, T0, KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(ring.len(), 1, "ring size");
    check!(ring[0].sealed == big_sealed, "sealed bytes changed");
}

/// A token hash already in use is a `Conflict`, and the failed login changes nothing.
pub async fn duplicate_token_hash_is_a_conflict_and_changes_nothing(store: Arc<dyn Store>) {
    let first = login(APP, "oFirst", "k1", T0);
    let hash = first.session.token_hash;
    store.record_login(first, T0).await.or_fail("record_login");
    let epoch = store.revocation_epoch().await.or_fail("revocation_epoch");

    let mut clash = login(APP, "oSecond", "k2", at(1));
    clash.session.token_hash = hash;
    let result = store.record_login(clash, at(1)).await;
    check!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a duplicate token hash gave {result:?} instead of Conflict"
    );
    check!(
        store
            .find_user(APP, "oSecond")
            .await
            .or_fail("find_user")
            .is_none(),
        "a failed login left its user behind (not atomic)"
    );
    let session = store
        .find_session(&hash, at(1))
        .await
        .or_fail("find")
        .expect("live");
    check_eq!(session.openid, "oFirst", "the original session was altered");
    check_eq!(
        store.revocation_epoch().await.or_fail("epoch"),
        epoch,
        "a failed login moved the epoch"
    );
}
