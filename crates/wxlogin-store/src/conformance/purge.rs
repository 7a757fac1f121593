//! The background purge.

use std::sync::Arc;

use time::Duration;

use super::{APP, Expect as _, T0, at, check, check_eq, login};
use crate::model::{CodeHash, KeyRingPolicy, PurgeLimits, PurgeReport};
use crate::traits::Store;

/// One pass removes expired sessions, expired code records, retired keys past the window and
/// inactive users, and retires the current key of users without a live session; everything
/// live stays.
pub async fn purge_removes_expired_and_keeps_live(store: Arc<dyn Store>) {
    let now = T0 + Duration::days(200);
    let ring_policy = KeyRingPolicy {
        keep_previous: 10,
        window: std::time::Duration::from_secs(365 * 24 * 3600),
    };

    // Live user with a rotated ring: the retired key is past the 10-minute purge window.
    let live = login(APP, "oLive", "old", now - Duration::hours(1));
    let live_hash = live.session.token_hash;
    let live_user = store
        .record_login(live, now - Duration::hours(1))
        .await
        .or_fail("record_login")
        .user_id;
    let mut rotate = login(APP, "oLive", "new", now - Duration::minutes(30));
    rotate.policy.key_ring = ring_policy;
    store
        .record_login(rotate, now - Duration::minutes(30))
        .await
        .or_fail("record_login");

    // Recently active user whose only session expired (idle): the session goes, the key is
    // retired (for the key window), the user stays.
    let mut lapsed = login(APP, "oLapsed", "k", now - Duration::days(8));
    lapsed.session.idle_expires_at = now - Duration::days(1);
    let lapsed_hash = lapsed.session.token_hash;
    let lapsed_user = store
        .record_login(lapsed, now - Duration::days(8))
        .await
        .or_fail("record_login")
        .user_id;

    // Inactive for 200 days, nothing live: deleted with everything.
    let gone = login(APP, "oGone", "k", T0);
    let gone_user = store
        .record_login(gone, T0)
        .await
        .or_fail("record_login")
        .user_id;

    // Last login 200 days ago but a session still live: kept.
    let mut lasting = login(APP, "oLasting", "k", T0);
    lasting.session.idle_expires_at = now + Duration::days(1);
    lasting.session.absolute_expires_at = now + Duration::days(1);
    let lasting_hash = lasting.session.token_hash;
    store
        .record_login(lasting, T0)
        .await
        .or_fail("record_login");

    let old_code = CodeHash::of("old-code");
    let new_code = CodeHash::of("new-code");
    store
        .claim_login_code(
            APP,
            &old_code,
            now - Duration::seconds(1),
            now - Duration::seconds(301),
        )
        .await
        .or_fail("claim");
    store
        .claim_login_code(
            APP,
            &new_code,
            now + Duration::seconds(200),
            now - Duration::seconds(100),
        )
        .await
        .or_fail("claim");

    let epoch0 = store.revocation_epoch().await.or_fail("epoch");
    let report = store
        .purge(now, PurgeLimits::default())
        .await
        .or_fail("purge");
    check_eq!(
        report,
        PurgeReport {
            expired_sessions: 2, // oLapsed's, and oGone's (absolute: 30 days)
            expired_login_codes: 1,
            orphaned_key_rings: 2, // oLapsed, oGone (retired, then deleted with the user)
            retired_keys: 1,       // oLive's "old"
            inactive_users: 1,     // oGone
            more: false,
        },
        "purge report"
    );
    check_eq!(
        store.revocation_epoch().await.or_fail("epoch"),
        epoch0,
        "purging the dead bumped the epoch"
    );

    // Live data intact.
    check!(
        store
            .find_session(&live_hash, now)
            .await
            .or_fail("find")
            .is_some(),
        "live session purged"
    );
    check!(
        store
            .find_session(&lasting_hash, now)
            .await
            .or_fail("find")
            .is_some(),
        "lasting session purged"
    );
    check!(
        store
            .find_user(APP, "oLasting")
            .await
            .or_fail("find")
            .is_some(),
        "user with a live session purged"
    );
    let ring = store
        .key_ring(live_user, now, ring_policy)
        .await
        .or_fail("key_ring");
    check_eq!(
        ring.len(),
        1,
        "live ring after purge (current kept, retired past window dropped)"
    );
    check!(ring[0].current, "the current key was purged");
    check!(
        !store
            .claim_login_code(APP, &new_code, now + Duration::seconds(300), now)
            .await
            .or_fail("claim"),
        "an unexpired code record was purged"
    );

    // Dead data gone (looked up at a time when it was still live, so only removal hides it).
    check!(
        store
            .find_session(&lapsed_hash, now - Duration::days(2))
            .await
            .or_fail("find")
            .is_none(),
        "expired session not removed"
    );
    check!(
        store
            .find_user_by_id(lapsed_user)
            .await
            .or_fail("find")
            .is_some(),
        "active user deleted"
    );
    check!(
        store
            .key_ring(lapsed_user, now, ring_policy)
            .await
            .or_fail("key_ring")
            .iter()
            .all(|key| !key.current && key.retired_at == Some(now)),
        "a user without live session kept a current key"
    );
    check!(
        store
            .find_user_by_id(gone_user)
            .await
            .or_fail("find")
            .is_none(),
        "inactive user kept"
    );

    let second = store
        .purge(now, PurgeLimits::default())
        .await
        .or_fail("purge");
    check_eq!(
        second,
        PurgeReport::default(),
        "a second pass found more to do"
    );
}

/// Each pass removes at most `batch_size` rows of each kind and says when more remain.
pub async fn purge_works_in_bounded_batches(store: Arc<dyn Store>) {
    for i in 0..7 {
        let mut new = login(APP, &format!("oUser{i}"), "k", at(i));
        new.session.idle_expires_at = at(100);
        store.record_login(new, at(i)).await.or_fail("record_login");
        let code = CodeHash::of(format!("code-{i}"));
        store
            .claim_login_code(APP, &code, at(100), at(i))
            .await
            .or_fail("claim");
    }
    let limits = PurgeLimits {
        batch_size: 3,
        ..PurgeLimits::default()
    };
    let now = at(1000);
    let mut total = PurgeReport::default();
    let mut passes = 0;
    loop {
        let report = store.purge(now, limits).await.or_fail("purge");
        passes += 1;
        for n in [
            report.expired_sessions,
            report.expired_login_codes,
            report.orphaned_key_rings,
            report.retired_keys,
            report.inactive_users,
        ] {
            check!(
                n <= 3,
                "a pass removed {n} rows of one kind with batch_size 3"
            );
        }
        total.expired_sessions += report.expired_sessions;
        total.expired_login_codes += report.expired_login_codes;
        total.orphaned_key_rings += report.orphaned_key_rings;
        if !report.more {
            break;
        }
        check!(passes < 10, "purge keeps reporting more");
    }
    check_eq!(passes, 3, "7 rows in batches of 3 take 3 passes");
    check_eq!(
        total.expired_sessions,
        7,
        "expired sessions removed in total"
    );
    check_eq!(
        total.expired_login_codes,
        7,
        "expired codes removed in total"
    );
    check_eq!(
        total.orphaned_key_rings,
        7,
        "orphaned rings removed in total"
    );
}

/// Current keys and phones whose user holds no live session go (the key into retirement),
/// however they got orphaned, and nothing of a user with a live session does. Two ways in:
/// sessions expiring (the purge sees them go), and a phone saved after its user's last session
/// had expired and been purged (no purge sees anything expire then, so only a look at the
/// users themselves finds it). With a small batch both take many passes; each stays within
/// the batch.
pub async fn purge_eventually_drops_every_orphaned_ring(store: Arc<dyn Store>) {
    const USERS: i64 = 20;
    let now = T0 + Duration::days(8);
    let policy = KeyRingPolicy::default();
    let limits = PurgeLimits {
        batch_size: 3,
        ..PurgeLimits::default()
    };

    // Every third user stays live; the others' sessions expire a week after login. Logins a
    // second apart, so live and lapsed users alternate in id order too.
    let (mut live, mut lapsed) = (Vec::new(), Vec::new());
    for i in 0..USERS {
        let mut new = login(APP, &format!("oMixed{i}"), "k", at(i));
        let stays = i % 3 == 0;
        if stays {
            new.session.idle_expires_at = now + Duration::days(1);
            new.session.absolute_expires_at = now + Duration::days(1);
        }
        let hash = new.session.token_hash;
        let user = store
            .record_login(new, at(i))
            .await
            .or_fail("record_login")
            .user_id;
        if stays {
            store
                .save_phone(user, b"p".to_vec(), at(i))
                .await
                .or_fail("save_phone");
            live.push((user, hash));
        } else {
            lapsed.push(user);
        }
    }

    // The expiry path: the lapsed users' sessions go and their keys retire, a few per pass.
    let mut dropped = 0;
    for pass in 1.. {
        check!(pass <= 5 * USERS, "purge keeps reporting more");
        let report = store.purge(now, limits).await.or_fail("purge");
        check!(
            report.orphaned_key_rings <= 3,
            "a pass dropped {} rings with batch_size 3",
            report.orphaned_key_rings
        );
        dropped += report.orphaned_key_rings;
        if !report.more {
            break;
        }
    }
    check_eq!(
        dropped,
        lapsed.len() as u64,
        "rings retired once each after their sessions expired"
    );
    let after_window = now + Duration::try_from(policy.window).expect("window");
    for &user in &lapsed {
        check!(
            store
                .key_ring(user, now, policy)
                .await
                .or_fail("key_ring")
                .iter()
                .all(|key| !key.current),
            "a current key outlived its user's expired sessions"
        );
        check!(
            store
                .key_ring(user, after_window, policy)
                .await
                .or_fail("key_ring")
                .is_empty(),
            "a key outlived its window after its user's sessions expired"
        );
        // Orphaned the other way: no session of this user will ever expire again.
        check!(
            store
                .save_phone(user, b"late".to_vec(), now)
                .await
                .or_fail("save_phone"),
            "save_phone of an existing user"
        );
    }

    // Only a look at the users finds these: allow two passes per user.
    let mut passes = 0;
    loop {
        let mut left = 0;
        for &user in &lapsed {
            left += usize::from(store.phone(user).await.or_fail("phone").is_some());
        }
        if left == 0 {
            break;
        }
        passes += 1;
        check!(
            passes <= 2 * USERS,
            "{left} orphaned phones still stored after {passes} passes"
        );
        let report = store.purge(now, limits).await.or_fail("purge");
        check!(
            report.orphaned_key_rings <= 3,
            "a pass dropped {} rings with batch_size 3",
            report.orphaned_key_rings
        );
    }

    for (user, hash) in &live {
        check!(
            store
                .find_session(hash, now)
                .await
                .or_fail("find")
                .is_some(),
            "a live session was purged"
        );
        check_eq!(
            store
                .key_ring(*user, now, policy)
                .await
                .or_fail("key_ring")
                .len(),
            1,
            "the ring of a user with a live session was purged"
        );
        check!(
            store.phone(*user).await.or_fail("phone").is_some(),
            "the phone of a user with a live session was purged"
        );
    }
}
