//! Access tokens, the forced-refresh budget, and stored phone numbers.

use std::sync::Arc;
use std::time::Duration;

use super::{APP, Expect, at, check, check_eq, login};
use crate::model::{ForcedRefreshPolicy, StoredAccessToken};
use crate::traits::Store;

fn token(text: &str, fetched: i64) -> StoredAccessToken {
    StoredAccessToken {
        sealed: text.as_bytes().to_vec(),
        expires_at: at(fetched + 7200),
        fetched_at: at(fetched),
    }
}

/// A saved token loads back; an older fetch never replaces a newer one; apps are separate.
pub async fn access_token_round_trips_and_newer_wins(store: Arc<dyn Store>) {
    check!(
        store.load_access_token(APP).await.or_fail("load").is_none(),
        "no token before the first save"
    );
    check!(
        store
            .save_access_token(APP, token("first", 10))
            .await
            .or_fail("save"),
        "first save stored"
    );
    check!(
        store
            .save_access_token(APP, token("second", 20))
            .await
            .or_fail("save"),
        "newer save stored"
    );
    check!(
        !store
            .save_access_token(APP, token("stale", 15))
            .await
            .or_fail("save"),
        "a token fetched earlier than the stored one must not replace it"
    );
    let loaded = store
        .load_access_token(APP)
        .await
        .or_fail("load")
        .expect("stored");
    check_eq!(
        loaded,
        token("second", 20),
        "the newest token is kept, times to the millisecond"
    );
    check!(
        store
            .load_access_token("wx-other-app")
            .await
            .or_fail("load")
            .is_none(),
        "tokens are per app"
    );
}

/// Forced refreshes: at most one per interval, at most `daily_cap` per (UTC+8) day.
pub async fn forced_refresh_is_spaced_and_capped(store: Arc<dyn Store>) {
    let policy = ForcedRefreshPolicy {
        min_interval: Duration::from_secs(30),
        daily_cap: 3,
    };
    let claim = |secs| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_forced_refresh(APP, at(secs), policy)
                .await
                .or_fail("claim")
        }
    };
    check!(claim(0).await, "the first forced refresh is allowed");
    check!(!claim(29).await, "a second one within 30 s is refused");
    check!(claim(30).await, "30 s later it is allowed again");
    check!(claim(60).await, "third of the day");
    check!(
        !claim(120).await,
        "the fourth of the day is refused by the cap"
    );
    // T0 is midnight UTC = 08:00 in Beijing; the next Beijing day starts 16 h later.
    check!(
        claim(16 * 3600).await,
        "the cap resets with the next UTC+8 day"
    );
    check!(
        store
            .claim_forced_refresh("wx-other-app", at(1), policy)
            .await
            .or_fail("claim"),
        "budgets are per app"
    );
}

/// Twenty concurrent forced-refresh claims at one instant: exactly one wins.
pub async fn concurrent_forced_refresh_claims_have_one_winner(store: Arc<dyn Store>) {
    let claims = (0..20).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .claim_forced_refresh(APP, at(0), ForcedRefreshPolicy::default())
                .await
                .or_fail("claim")
        })
    });
    let mut winners = 0;
    for claim in claims {
        winners += usize::from(claim.await.expect("claim task"));
    }
    check_eq!(
        winners,
        1,
        "concurrent forced-refresh claims must have exactly one winner"
    );
}

/// A stored phone is read back, replaced, and dropped with the user's last session.
pub async fn phone_is_stored_and_dropped_with_the_last_session(store: Arc<dyn Store>) {
    let first = login(APP, "o-phone", "k1", at(0));
    let second = login(APP, "o-phone", "k1", at(1));
    let (first_session, second_session) = (first.session.session_id, second.session.session_id);
    let user = store
        .record_login(first, at(0))
        .await
        .or_fail("login")
        .user_id;
    store.record_login(second, at(1)).await.or_fail("login");
    check!(
        store
            .save_phone(user, b"p1".to_vec(), at(2))
            .await
            .or_fail("save_phone"),
        "stored"
    );
    check!(
        store
            .save_phone(user, b"p2".to_vec(), at(3))
            .await
            .or_fail("save_phone"),
        "replaced"
    );
    check_eq!(
        store.phone(user).await.or_fail("phone"),
        Some(b"p2".to_vec()),
        "latest phone"
    );
    store
        .end_session(first_session, at(4))
        .await
        .or_fail("end_session");
    check!(
        store.phone(user).await.or_fail("phone").is_some(),
        "kept while a session lives"
    );
    store
        .end_session(second_session, at(5))
        .await
        .or_fail("end_session");
    check!(
        store.phone(user).await.or_fail("phone").is_none(),
        "the phone number must be dropped with the user's last session"
    );
    check!(
        !store
            .save_phone(uuid::Uuid::now_v7(), b"p".to_vec(), at(6))
            .await
            .or_fail("save_phone"),
        "no phone for a user that does not exist"
    );
    let again = login(APP, "o-phone-2", "k2", at(7));
    let user = store
        .record_login(again, at(7))
        .await
        .or_fail("login")
        .user_id;
    store
        .save_phone(user, b"p".to_vec(), at(8))
        .await
        .or_fail("save_phone");
    store.delete_user(user).await.or_fail("delete_user");
    check!(
        store.phone(user).await.or_fail("phone").is_none(),
        "deleted with the user"
    );
}

/// The first stored secret of a name wins for everyone, concurrently too; listing by prefix
/// is byte-wise and oldest first.
pub async fn cluster_secret_has_one_winner(store: Arc<dyn Store>) {
    let candidates = (0..8).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .secret_or_insert("jwt/k1", format!("candidate-{i}").into_bytes(), at(i))
                .await
                .or_fail("secret_or_insert")
        })
    });
    let mut winners = Vec::new();
    for handle in candidates.collect::<Vec<_>>() {
        winners.push(handle.await.expect("task"));
    }
    let first = &winners[0];
    check!(
        winners.iter().all(|w| w.sealed == first.sealed),
        "every concurrent caller gets the same stored secret"
    );
    check!(
        first.sealed.starts_with(b"candidate-"),
        "the stored secret is one of the candidates"
    );
    let again = store
        .secret_or_insert("jwt/k1", b"late".to_vec(), at(100))
        .await
        .or_fail("secret_or_insert");
    check_eq!(
        again.sealed,
        first.sealed,
        "a later insert keeps the winner"
    );
    check_eq!(again.created_at, first.created_at, "creation time kept");

    store
        .secret_or_insert("jwt/k2", b"two".to_vec(), at(200))
        .await
        .or_fail("secret_or_insert");
    store
        .secret_or_insert("JWT/k3", b"other case".to_vec(), at(300))
        .await
        .or_fail("secret_or_insert");
    store
        .secret_or_insert("hmac/refresh", b"hmac".to_vec(), at(50))
        .await
        .or_fail("secret_or_insert");
    let listed: Vec<String> = store
        .secrets_with_prefix("jwt/")
        .await
        .or_fail("secrets_with_prefix")
        .into_iter()
        .map(|s| s.name)
        .collect();
    check_eq!(
        listed,
        vec!["jwt/k1".to_owned(), "jwt/k2".to_owned()],
        "prefix match is byte-wise (case-sensitive), oldest first"
    );
    check!(
        store
            .secrets_with_prefix("nothing/")
            .await
            .or_fail("secrets_with_prefix")
            .is_empty(),
        "no match is an empty list"
    );
}
