//! Sessions by id and refresh-token rotation (JWT mode).
//!
//! Rotation remembers one generation: after `A → B → C` the session knows `C` (current) and
//! `B` (previous); `A` is as unknown as a token never issued.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::Duration;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{ABSOLUTE, APP, Expect as _, IDLE, T0, at, check, check_eq, login};
use crate::error::StoreError;
use crate::model::{KeyRingPolicy, Rotation, SessionRecord, TokenHash};
use crate::traits::Store;

/// The grace every property passes to `rotate_token`.
const GRACE: StdDuration = StdDuration::from_secs(30);

/// Logs `openid` in at `T0` with a fresh token; returns the token's hash and the session id.
async fn session(store: &Arc<dyn Store>, openid: &str) -> (TokenHash, Uuid) {
    let new = login(APP, openid, "k", T0);
    let (hash, id) = (new.session.token_hash, new.session.session_id);
    store.record_login(new, T0).await.or_fail("record_login");
    (hash, id)
}

/// Rotates `presented` to `successor` at `now` with the idle deadline `now + IDLE`.
async fn rotate(
    store: &Arc<dyn Store>,
    presented: &TokenHash,
    successor: &TokenHash,
    now: time::OffsetDateTime,
) -> Rotation {
    store
        .rotate_token(presented, successor, now + IDLE, now, GRACE)
        .await
        .or_fail("rotate_token")
}

/// The record of a `Rotated`, failing the property on anything else.
fn rotated(outcome: Rotation, what: &str) -> SessionRecord {
    match outcome {
        Rotation::Rotated(record) => record,
        other => panic!("conformance: {what}: expected Rotated, got {other:?}"),
    }
}

async fn epoch(store: &Arc<dyn Store>) -> u64 {
    store.revocation_epoch().await.or_fail("revocation_epoch")
}

/// `find_session_by_id` returns what `find_session` returns for a live session, and nothing
/// for an expired, ended or unknown one.
pub async fn find_session_by_id_sees_only_live_sessions(store: Arc<dyn Store>) {
    let (hash, id) = session(&store, "oUser").await;
    let by_token = store
        .find_session(&hash, T0)
        .await
        .or_fail("find_session")
        .expect("live");
    let by_id = store
        .find_session_by_id(id, T0)
        .await
        .or_fail("find_session_by_id");
    check_eq!(
        by_id,
        Some(by_token),
        "by id and by token disagree on a live session"
    );
    let last_ms = T0 + IDLE - Duration::milliseconds(1);
    check!(
        store
            .find_session_by_id(id, last_ms)
            .await
            .or_fail("find_session_by_id")
            .is_some(),
        "session missing by id 1 ms before its idle deadline"
    );
    check!(
        store
            .find_session_by_id(id, T0 + IDLE)
            .await
            .or_fail("find_session_by_id")
            .is_none(),
        "session found by id at its idle deadline"
    );
    check!(
        store
            .find_session_by_id(Uuid::new_v4(), T0)
            .await
            .or_fail("find_session_by_id")
            .is_none(),
        "an unknown session id was found"
    );
    check!(
        store.end_session(id, T0).await.or_fail("end_session"),
        "end_session returned false"
    );
    check!(
        store
            .find_session_by_id(id, T0)
            .await
            .or_fail("find_session_by_id")
            .is_none(),
        "an ended session was found by id"
    );
}

/// A rotation moves the session to the successor (keeping its id, user and family), moves
/// the idle deadline forward but never past the absolute one nor backwards, and is not an
/// epoch bump.
pub async fn rotation_moves_the_token_and_the_idle_deadline(store: Arc<dyn Store>) {
    let mut new = login(APP, "oUser", "k", T0);
    let family = Uuid::new_v4();
    new.session.family_id = Some(family);
    let (a, id) = (new.session.token_hash, new.session.session_id);
    let user = store
        .record_login(new, T0)
        .await
        .or_fail("record_login")
        .user_id;
    let epoch0 = epoch(&store).await;

    let (b, day1) = (TokenHash::of("successor-b"), T0 + Duration::days(1));
    let record = rotated(rotate(&store, &a, &b, day1).await, "first rotation");
    check_eq!(record.session_id, id, "rotation changed the session id");
    check_eq!(record.user_id, user, "user_id");
    check_eq!(record.openid, "oUser", "openid");
    check_eq!(record.family_id, Some(family), "rotation lost the family");
    check_eq!(record.created_at, T0, "created_at");
    check_eq!(record.last_seen_at, day1, "last_seen_at not moved to now");
    check_eq!(record.idle_expires_at, day1 + IDLE, "idle deadline");
    check_eq!(
        record.absolute_expires_at,
        T0 + ABSOLUTE,
        "absolute deadline"
    );
    check!(
        store.find_session(&a, day1).await.or_fail("find").is_none(),
        "the rotated-out token still finds the session"
    );
    check_eq!(
        store.find_session(&b, day1).await.or_fail("find"),
        Some(record.clone()),
        "the successor does not find the rotated session"
    );
    check_eq!(
        store.find_session_by_id(id, day1).await.or_fail("find"),
        Some(record),
        "by id after rotation"
    );
    check_eq!(
        epoch(&store).await,
        epoch0,
        "a rotation bumped the revocation epoch"
    );

    // An idle deadline before the current one does not move it back.
    let c = TokenHash::of("successor-c");
    let day2 = T0 + Duration::days(2);
    let record = rotated(
        store
            .rotate_token(&b, &c, day2 + Duration::hours(1), day2, GRACE)
            .await
            .or_fail("rotate_token"),
        "second rotation",
    );
    check_eq!(
        record.idle_expires_at,
        day1 + IDLE,
        "rotation moved the idle deadline backwards"
    );

    // One beyond the absolute deadline is capped at it.
    let d = TokenHash::of("successor-d");
    let record = rotated(
        store
            .rotate_token(&c, &d, T0 + Duration::days(400), day2, GRACE)
            .await
            .or_fail("rotate_token"),
        "third rotation",
    );
    check_eq!(
        record.idle_expires_at,
        T0 + ABSOLUTE,
        "rotation moved the idle deadline past the absolute one"
    );
}

/// The rotated-out token presented again with the same successor within the grace (a lost
/// response): `Replayed`, with the session as it is, and nothing changes.
pub async fn replay_within_grace_is_replayed_and_changes_nothing(store: Arc<dyn Store>) {
    let (a, _) = session(&store, "oUser").await;
    let b = TokenHash::of("successor-b");
    let first = rotated(rotate(&store, &a, &b, at(60)).await, "rotation");
    let epoch0 = epoch(&store).await;

    let retry_at = at(60) + Duration::try_from(GRACE).expect("grace") - Duration::milliseconds(1);
    match rotate(&store, &a, &b, retry_at).await {
        Rotation::Replayed(record) => check_eq!(
            record,
            first,
            "a retry must return the session unchanged (no new deadline, no new last_seen_at)"
        ),
        other => panic!("conformance: a retry within the grace gave {other:?}"),
    }
    check_eq!(
        store.find_session(&b, retry_at).await.or_fail("find"),
        Some(first),
        "a retry changed the session"
    );
    check!(
        store
            .find_session(&a, retry_at)
            .await
            .or_fail("find")
            .is_none(),
        "a retry brought the rotated-out token back"
    );
    check_eq!(epoch(&store).await, epoch0, "a retry bumped the epoch");
}

/// The rotated-out token presented after the grace (from the rotation time, exclusive):
/// theft. The session is ended like a logout: gone by both token and id, epoch bumped, and
/// the current key retired with the user's last session.
pub async fn replay_after_grace_revokes_the_family(store: Arc<dyn Store>) {
    let (a, id) = session(&store, "oUser").await;
    let b = TokenHash::of("successor-b");
    let user = rotated(rotate(&store, &a, &b, at(60)).await, "rotation").user_id;
    let epoch0 = epoch(&store).await;

    let late = at(60) + Duration::try_from(GRACE).expect("grace");
    check_eq!(
        rotate(&store, &a, &b, late).await,
        Rotation::FamilyRevoked {
            session_id: id,
            user_id: user
        },
        "a replay at the end of the grace"
    );
    check!(
        store.find_session(&b, late).await.or_fail("find").is_none(),
        "the successor survived a revocation"
    );
    check!(
        store
            .find_session_by_id(id, late)
            .await
            .or_fail("find")
            .is_none(),
        "the revoked session is still found by id"
    );
    check!(
        epoch(&store).await > epoch0,
        "revocation did not bump the epoch"
    );
    check!(
        store
            .key_ring(user, late, KeyRingPolicy::default())
            .await
            .or_fail("key_ring")
            .iter()
            .all(|key| !key.current && key.retired_at == Some(late)),
        "the revocation of the user's last session kept a current key"
    );
    // The family is gone: every token of it is now unknown.
    check_eq!(
        rotate(&store, &b, &TokenHash::of("successor-c"), late).await,
        Rotation::Unknown,
        "the revoked session's current token still rotates"
    );
    check_eq!(
        rotate(&store, &a, &b, late).await,
        Rotation::Unknown,
        "a second replay of a revoked session"
    );
}

/// Within the grace, the rotated-out token with another successor than the one it rotated to
/// is no retry (two parties hold the token): revoked, and other sessions of the user survive
/// with the key ring.
pub async fn replay_with_another_successor_revokes_even_within_grace(store: Arc<dyn Store>) {
    let (a, id) = session(&store, "oUser").await;
    let other = login(APP, "oUser", "k", at(1));
    let other_hash = other.session.token_hash;
    store
        .record_login(other, at(1))
        .await
        .or_fail("record_login");
    let b = TokenHash::of("successor-b");
    let user = rotated(rotate(&store, &a, &b, at(60)).await, "rotation").user_id;
    let epoch0 = epoch(&store).await;

    check_eq!(
        rotate(&store, &a, &TokenHash::of("successor-x"), at(61)).await,
        Rotation::FamilyRevoked {
            session_id: id,
            user_id: user
        },
        "a replay with another successor within the grace"
    );
    check!(
        epoch(&store).await > epoch0,
        "revocation did not bump the epoch"
    );
    check!(
        store
            .find_session(&b, at(61))
            .await
            .or_fail("find")
            .is_none(),
        "the successor survived a revocation"
    );
    check!(
        store
            .find_session(&other_hash, at(61))
            .await
            .or_fail("find")
            .is_some(),
        "revoking one session ended another of the same user"
    );
    check!(
        !store
            .key_ring(user, at(61), KeyRingPolicy::default())
            .await
            .or_fail("key_ring")
            .is_empty(),
        "the key ring went although the user still has a live session"
    );
}

/// `A → B → C`: `B` (the previous token) is remembered, `A` is not. `B` with `C` within the
/// grace is a retry; `A` is `Unknown` and changes nothing, even after the grace; `B` after the
/// grace revokes.
pub async fn rotation_chain_remembers_one_generation(store: Arc<dyn Store>) {
    let (a, id) = session(&store, "oUser").await;
    let (b, c) = (TokenHash::of("successor-b"), TokenHash::of("successor-c"));
    rotated(rotate(&store, &a, &b, at(10)).await, "A to B");
    let second = rotated(rotate(&store, &b, &c, at(20)).await, "B to C");
    check_eq!(second.session_id, id, "the chain changed the session id");

    check_eq!(
        rotate(&store, &b, &c, at(21)).await,
        Rotation::Replayed(second.clone()),
        "B to C again within the grace"
    );
    let epoch0 = epoch(&store).await;
    let late = at(20) + Duration::try_from(GRACE).expect("grace") + Duration::seconds(1);
    for successor in [&b, &c, &TokenHash::of("successor-x")] {
        check_eq!(
            rotate(&store, &a, successor, late).await,
            Rotation::Unknown,
            "a token two generations old"
        );
    }
    check_eq!(
        store.find_session(&c, late).await.or_fail("find"),
        Some(second.clone()),
        "an unknown token changed the session"
    );
    check_eq!(
        epoch(&store).await,
        epoch0,
        "an unknown token bumped the epoch"
    );

    check_eq!(
        rotate(&store, &b, &c, late).await,
        Rotation::FamilyRevoked {
            session_id: id,
            user_id: second.user_id
        },
        "B after the grace"
    );
    check!(
        store.find_session(&c, late).await.or_fail("find").is_none(),
        "the chain's current token survived the revocation"
    );
}

/// A token no session knows, and the tokens of an expired session (current or rotated-out),
/// are `Unknown` and change nothing.
pub async fn unknown_or_expired_tokens_are_unknown(store: Arc<dyn Store>) {
    let (a, id) = session(&store, "oUser").await;
    let epoch0 = epoch(&store).await;
    let b = TokenHash::of("successor-b");
    check_eq!(
        rotate(&store, &TokenHash::of("never-issued"), &b, at(1)).await,
        Rotation::Unknown,
        "a token never issued"
    );
    check!(
        store
            .find_session(&b, at(1))
            .await
            .or_fail("find")
            .is_none(),
        "an unknown token's successor was stored"
    );

    let expired = T0 + IDLE;
    check_eq!(
        rotate(&store, &a, &b, expired).await,
        Rotation::Unknown,
        "the current token of an idle-expired session"
    );
    check!(
        store
            .find_session(&b, at(1))
            .await
            .or_fail("find")
            .is_none(),
        "an expired session was rotated"
    );

    // Rotated, then expired: its rotated-out token is not theft, just unknown.
    let c = TokenHash::of("successor-c");
    rotated(rotate(&store, &a, &c, at(1)).await, "rotation");
    let expired = at(1) + IDLE;
    check_eq!(
        rotate(&store, &a, &b, expired).await,
        Rotation::Unknown,
        "the rotated-out token of an expired session"
    );
    check_eq!(
        epoch(&store).await,
        epoch0,
        "an unknown or expired token bumped the epoch"
    );
    check!(
        store
            .find_session_by_id(id, at(2))
            .await
            .or_fail("find")
            .is_some(),
        "rotating an expired session's tokens removed it"
    );
}

/// A successor that is already another session's token is a `Conflict`, and the presented
/// token stays current, deadlines untouched; a fresh successor then rotates normally.
pub async fn successor_of_another_session_is_a_conflict(store: Arc<dyn Store>) {
    let (a, id) = session(&store, "oUser").await;
    let (taken, other_id) = session(&store, "oOther").await;
    let before = store
        .find_session(&a, T0)
        .await
        .or_fail("find")
        .expect("live");

    let result = store
        .rotate_token(&a, &taken, at(60) + IDLE, at(60), GRACE)
        .await;
    check!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a successor held by another session gave {result:?} instead of Conflict"
    );
    check_eq!(
        store.find_session(&a, at(60)).await.or_fail("find"),
        Some(before),
        "a conflicting rotation changed the session"
    );
    check_eq!(
        store
            .find_session(&taken, at(60))
            .await
            .or_fail("find")
            .map(|s| s.session_id),
        Some(other_id),
        "a conflicting rotation changed the other session"
    );
    // Nothing was remembered as rotated out either: this is a plain first rotation.
    let b = TokenHash::of("successor-b");
    let record = rotated(
        rotate(&store, &a, &b, at(61)).await,
        "rotation after a conflict",
    );
    check_eq!(record.session_id, id, "session id");
}

/// 16 simultaneous refreshes with the same token and the same successor (two tabs, a retried
/// request): exactly one rotates, every other one sees that rotation as a retry.
pub async fn concurrent_rotations_to_one_successor_rotate_once(store: Arc<dyn Store>) {
    const RACERS: usize = 16;
    let (a, id) = session(&store, "oUser").await;
    let b = TokenHash::of("successor-b");
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.spawn(async move {
            start.wait().await;
            rotate(&store, &a, &b, at(60)).await
        });
    }
    let outcomes = tasks.join_all().await;
    let rotated: Vec<&SessionRecord> = outcomes
        .iter()
        .filter_map(|o| match o {
            Rotation::Rotated(record) => Some(record),
            _ => None,
        })
        .collect();
    check_eq!(rotated.len(), 1, "rotations among {outcomes:?}");
    for outcome in &outcomes {
        check!(
            matches!(outcome, Rotation::Rotated(_))
                || *outcome == Rotation::Replayed(rotated[0].clone()),
            "a racing refresh with the same successor gave {outcome:?}"
        );
    }
    check_eq!(
        store
            .find_session(&b, at(60))
            .await
            .or_fail("find")
            .map(|s| s.session_id),
        Some(id),
        "the successor after the race"
    );
}

/// 16 simultaneous refreshes with the same token and 16 different successors: one rotates;
/// the next one sees a rotated-out token with a successor that is not current, which the
/// contract calls a replay and revokes; every later one finds no live session (`Unknown`).
/// None is a retry.
pub async fn concurrent_rotations_to_different_successors_revoke(store: Arc<dyn Store>) {
    const RACERS: usize = 16;
    let (a, id) = session(&store, "oUser").await;
    let epoch0 = epoch(&store).await;
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for i in 0..RACERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.spawn(async move {
            let successor = TokenHash::of(format!("successor-{i}"));
            start.wait().await;
            (rotate(&store, &a, &successor, at(60)).await, successor)
        });
    }
    let outcomes = tasks.join_all().await;
    let count = |pred: fn(&Rotation) -> bool| outcomes.iter().filter(|(o, _)| pred(o)).count();
    check_eq!(
        count(|o| matches!(o, Rotation::Rotated(_))),
        1,
        "rotations among {outcomes:?}"
    );
    check_eq!(
        count(|o| matches!(o, Rotation::FamilyRevoked { .. })),
        1,
        "revocations among {outcomes:?}"
    );
    check_eq!(
        count(|o| *o == Rotation::Unknown),
        RACERS - 2,
        "Unknown outcomes among {outcomes:?}"
    );
    for (outcome, successor) in &outcomes {
        if let Rotation::FamilyRevoked { session_id, .. } = outcome {
            check_eq!(*session_id, id, "revoked session");
        }
        check!(
            store
                .find_session(successor, at(60))
                .await
                .or_fail("find")
                .is_none(),
            "a successor survived the revocation"
        );
    }
    check!(
        store
            .find_session_by_id(id, at(60))
            .await
            .or_fail("find")
            .is_none(),
        "the session survived the race"
    );
    check!(
        epoch(&store).await > epoch0,
        "the revocation did not bump the epoch"
    );
}
