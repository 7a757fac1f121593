//! Properties that only show under concurrency. Each spawns real tasks on the suite's
//! multi-threaded runtime, so a backend with its own connection pool runs them in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::JoinSet;

use super::{APP, Expect as _, T0, at, check, check_eq, login};
use crate::model::CodeHash;
use crate::traits::Store;

/// 20 simultaneous claims of one code: exactly one wins.
pub async fn concurrent_claims_of_one_code_have_one_winner(store: Arc<dyn Store>) {
    let code = CodeHash::of("0a1b2c3d-concurrent");
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.spawn(async move {
            start.wait().await;
            store
                .claim_login_code(APP, &code, at(300), T0)
                .await
                .or_fail("claim")
        });
    }
    let winners = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    check_eq!(winners, 1, "concurrent claims of one code");
}

/// Simultaneous logins of one new user create one user row and keep every session.
pub async fn concurrent_logins_of_one_user_make_one_user(store: Arc<dyn Store>) {
    const LOGINS: usize = 8;
    let start = Arc::new(tokio::sync::Barrier::new(LOGINS));
    let mut tasks = JoinSet::new();
    for i in 0..LOGINS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.spawn(async move {
            let new = login(APP, "oRacer", &format!("key-{i}"), T0);
            let hash = new.session.token_hash;
            start.wait().await;
            (
                store.record_login(new, T0).await.or_fail("record_login"),
                hash,
            )
        });
    }
    let results = tasks.join_all().await;
    let user = results[0].0.user_id;
    check!(
        results.iter().all(|(r, _)| r.user_id == user),
        "parallel logins of one user produced several user ids"
    );
    check_eq!(
        results.iter().filter(|(r, _)| r.new_user).count(),
        1,
        "exactly one parallel login must report a new user"
    );
    for (_, hash) in &results {
        let found = store.find_session(hash, at(1)).await.or_fail("find");
        check!(
            found.is_some_and(|s| s.user_id == user),
            "a parallel login lost its session"
        );
    }
    let ring = store
        .key_ring(user, at(1), crate::model::KeyRingPolicy::default())
        .await
        .or_fail("key_ring");
    check_eq!(
        ring.iter().filter(|k| k.current).count(),
        1,
        "current keys in the ring"
    );
}

/// A `find_session` that starts after `end_session` returned never sees the session, even
/// with readers hammering it while the logout commits.
pub async fn end_session_racing_find_session_never_resurrects(store: Arc<dyn Store>) {
    for round in 0..20 {
        let now = at(round);
        let new = login(APP, &format!("oUser{round}"), "k", now);
        let (hash, id) = (new.session.token_hash, new.session.session_id);
        store.record_login(new, now).await.or_fail("record_login");

        let ended = Arc::new(AtomicBool::new(false));
        let mut readers = JoinSet::new();
        for _ in 0..4 {
            let (store, ended) = (Arc::clone(&store), Arc::clone(&ended));
            readers.spawn(async move {
                loop {
                    let started_after_end = ended.load(Ordering::SeqCst);
                    let found = store.find_session(&hash, now).await.or_fail("find_session");
                    if started_after_end {
                        return found.is_none();
                    }
                    tokio::task::yield_now().await;
                }
            });
        }
        tokio::task::yield_now().await;
        check!(
            store.end_session(id, now).await.or_fail("end_session"),
            "end_session returned false"
        );
        ended.store(true, Ordering::SeqCst);
        check!(
            store
                .find_session(&hash, now)
                .await
                .or_fail("find")
                .is_none(),
            "round {round}: found right after end_session returned"
        );
        for clean in readers.join_all().await {
            check!(
                clean,
                "round {round}: a lookup started after logout still found the session"
            );
        }
    }
}
