//! `record_login` and `claim_login_code`.

use async_trait::async_trait;
use sqlx::{MySql, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    MySqlStore, bump_epoch, delete_session, duration_millis, id_text, is_duplicate_key, lock_user,
    lock_user_sessions, millis, parse_id, retry,
};
use crate::error::{SqlxResultExt, StoreError};
use crate::model::{CodeHash, KeyRingPolicy, LoginRecorded, NewLogin, NewSessionKey, new_id};
use crate::traits::LoginStore;

#[async_trait]
impl LoginStore for MySqlStore {
    async fn record_login(
        &self,
        login: NewLogin,
        now: OffsetDateTime,
    ) -> Result<LoginRecorded, StoreError> {
        retry(|| record_login_once(self, &login, now)).await
    }

    async fn claim_login_code(
        &self,
        appid: &str,
        code_hash: &CodeHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        retry(|| claim_once(self, appid, code_hash, millis(expires_at), millis(now))).await
    }
}

async fn record_login_once(
    store: &MySqlStore,
    login: &NewLogin,
    now: OffsetDateTime,
) -> Result<LoginRecorded, StoreError> {
    let now_ms = millis(now);
    let NewLogin {
        appid,
        openid,
        unionid,
        session_key,
        session,
        policy,
    } = login;

    let mut tx = store.begin().await?;

    // From here on the user's row is locked: concurrent logins, logouts and purges of this user
    // wait for our commit.
    let (user_id, new_user) = upsert_user(&mut tx, appid, openid, unionid.as_deref(), now).await?;
    let user_text = id_text(user_id);
    // A user this transaction created has no ring and no other session yet, and nobody else
    // can add any before we commit (a child row needs the parent row committed). Skipping the
    // reads of those empty ranges matters: a locking read of an empty range takes a gap lock,
    // and new users' rows all go to the end of the indexes (UUIDv7 ids), so concurrent first
    // logins of different users would deadlock on the same gap.
    let key_rotated = if new_user {
        insert_current_key(&mut tx, &user_text, session_key, now_ms).await?;
        true
    } else {
        let ring = lock_ring(&mut tx, &user_text).await?;
        rotate_ring(
            &mut tx,
            &user_text,
            ring,
            session_key,
            now_ms,
            policy.key_ring,
        )
        .await?
    };

    // Keep the invariant idle <= absolute that "live = idle_expires_at > now" relies on.
    let absolute_ms = millis(session.absolute_expires_at);
    let idle_ms = millis(session.idle_expires_at).min(absolute_ms);
    let session_text = id_text(session.session_id);
    sqlx::query(
        "INSERT INTO sessions (session_id, token_hash, user_id, appid, family_id, \
         created_at, last_seen_at, idle_expires_at, absolute_expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&session_text)
    .bind(session.token_hash.as_bytes().as_slice())
    .bind(&user_text)
    .bind(appid)
    .bind(session.family_id.map(id_text))
    .bind(now_ms)
    .bind(now_ms)
    .bind(idle_ms)
    .bind(absolute_ms)
    .execute(&mut *tx)
    .await
    .on_unique_violation("session")?;

    let evicted_sessions = if new_user {
        Vec::new()
    } else {
        enforce_cap(
            &mut tx,
            &user_text,
            &session_text,
            now_ms,
            policy.max_sessions,
        )
        .await?
    };
    if !evicted_sessions.is_empty() {
        bump_epoch(&mut tx).await?;
    }

    tx.commit().await?;
    Ok(LoginRecorded {
        user_id,
        new_user,
        key_rotated,
        evicted_sessions,
    })
}

/// Inserts the code record, or takes over one that expired at `now_ms`. Two autocommit
/// statements, each atomic: a plain `INSERT` that only one caller can win (the others wait on
/// its row lock, then see a duplicate key), and for a record that already exists an `UPDATE`
/// whose `WHERE` only an expired record matches (concurrent takers queue on the row lock and
/// re-evaluate the `WHERE` against the winner's new expiry). Should purge delete the expired
/// record between the two, the caller loses a claim it could have won: the code itself expired
/// at WeChat by then, so nothing is refused that WeChat would have accepted.
async fn claim_once(
    store: &MySqlStore,
    appid: &str,
    code_hash: &CodeHash,
    expires_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let inserted =
        sqlx::query("INSERT INTO used_login_codes (appid, code_hash, expires_at) VALUES (?, ?, ?)")
            .bind(appid)
            .bind(code_hash.as_bytes().as_slice())
            .bind(expires_ms)
            .execute(&store.pool)
            .await;
    match inserted {
        Ok(_) => return Ok(true),
        Err(err) if is_duplicate_key(&err) => {}
        Err(err) => return Err(err.into()),
    }
    let taken_over = sqlx::query(
        "UPDATE used_login_codes SET expires_at = ? \
         WHERE appid = ? AND code_hash = ? AND expires_at <= ?",
    )
    .bind(expires_ms)
    .bind(appid)
    .bind(code_hash.as_bytes().as_slice())
    .bind(now_ms)
    .execute(&store.pool)
    .await?
    .rows_affected();
    Ok(taken_over == 1)
}

/// Creates the user or refreshes it, and locks its row; returns its id and whether it is new.
///
/// A plain (snapshot, lock-free) read decides the path. A returning user, the common case, is
/// one `UPDATE` by the unique key, which locks just that row. A new user is one
/// `INSERT … ON DUPLICATE KEY UPDATE`: it inserts our candidate row or, when a concurrent login
/// created the user meanwhile, waits for it and updates the winner's row. The new-user path
/// must not start with a locking read or an `UPDATE`: on a missing key those take a gap lock,
/// and two first logins holding gap locks and then inserting into that gap deadlock each
/// other. Whether the row is ours is read back with a locking read rather than from the row
/// count (see the module docs on `CLIENT_FOUND_ROWS`).
async fn upsert_user(
    tx: &mut Transaction<'static, MySql>,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
    now: OffsetDateTime,
) -> Result<(Uuid, bool), StoreError> {
    let now_ms = millis(now);
    let known = sqlx::query("SELECT user_id FROM users WHERE appid = ? AND openid = ?")
        .bind(appid)
        .bind(openid)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    // A unionid once known is never erased by a login that did not return one.
    let refreshed = if known {
        sqlx::query(
            "UPDATE users SET last_login_at = GREATEST(last_login_at, ?), \
             unionid = COALESCE(?, unionid) WHERE appid = ? AND openid = ?",
        )
        .bind(now_ms)
        .bind(unionid)
        .bind(appid)
        .bind(openid)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1
    } else {
        false
    };

    let candidate = id_text(new_id(now));
    // Also when the user was deleted after our snapshot: the UPDATE then matched nothing.
    if !refreshed {
        sqlx::query(
            "INSERT INTO users (user_id, appid, openid, unionid, created_at, last_login_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE last_login_at = GREATEST(last_login_at, ?), \
                 unionid = COALESCE(?, unionid)",
        )
        .bind(&candidate)
        .bind(appid)
        .bind(openid)
        .bind(unionid)
        .bind(now_ms)
        .bind(now_ms)
        .bind(now_ms)
        .bind(unionid)
        .execute(&mut **tx)
        .await?;
    }

    let (user_id,): (String,) =
        sqlx::query_as("SELECT user_id FROM users WHERE appid = ? AND openid = ? FOR UPDATE")
            .bind(appid)
            .bind(openid)
            .fetch_one(&mut **tx)
            .await?;
    let new_user = user_id == candidate;
    Ok((parse_id(&user_id)?, new_user))
}

/// [`UserStore::replace_session_key`](crate::UserStore::replace_session_key), next to the
/// ring logic it shares with `record_login`.
pub(super) async fn replace_session_key(
    store: &MySqlStore,
    user_id: Uuid,
    key: &NewSessionKey,
    now: OffsetDateTime,
    policy: KeyRingPolicy,
) -> Result<bool, StoreError> {
    let user_text = id_text(user_id);
    let mut tx = store.begin().await?;
    if !lock_user(&mut tx, &user_text).await? {
        return Ok(false);
    }
    let ring = lock_ring(&mut tx, &user_text).await?;
    if !ring.iter().any(|entry| entry.retired_at.is_none()) {
        return Ok(false);
    }
    rotate_ring(&mut tx, &user_text, ring, key, millis(now), policy).await?;
    tx.commit().await?;
    Ok(true)
}

/// One key of a user's ring, as read under lock.
struct RingEntry {
    fingerprint: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
}

/// The user's whole ring, locked. Call with the user's row locked.
///
/// Through the primary key, forced, and every later write by primary key: the optimizer may
/// otherwise serve `retired_at IS NULL` from the `retired_at` index and lock every user's
/// current key. A ring is a handful of rows, so the choices are made here, not in SQL (MySQL
/// has no `LIMIT` inside `IN (SELECT …)` anyway).
async fn lock_ring(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
) -> Result<Vec<RingEntry>, StoreError> {
    let rows: Vec<(Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
        "SELECT fingerprint, created_at, retired_at FROM session_keys FORCE INDEX (PRIMARY) \
         WHERE user_id = ? FOR UPDATE",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(fingerprint, created_at, retired_at)| RingEntry {
            fingerprint,
            created_at,
            retired_at,
        })
        .collect())
}

/// Retires the user's current key at `now_ms`, if there is one; returns whether there was.
/// Call with the user's row locked. Read through [`lock_ring`] and changed by primary key,
/// for the reason given there.
pub(super) async fn retire_current_key(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let ring = lock_ring(tx, user_id).await?;
    let Some(current) = ring.iter().find(|entry| entry.retired_at.is_none()) else {
        return Ok(false);
    };
    sqlx::query("UPDATE session_keys SET retired_at = ? WHERE user_id = ? AND fingerprint = ?")
        .bind(now_ms)
        .bind(user_id)
        .bind(current.fingerprint.as_slice())
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Makes `key` the current key of `ring` (as just read by [`lock_ring`]), retiring the
/// previous current key if it differs, then drops retired keys beyond the policy's count or
/// outside its window. Returns whether the key changed.
async fn rotate_ring(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    ring: Vec<RingEntry>,
    key: &NewSessionKey,
    now_ms: i64,
    policy: KeyRingPolicy,
) -> Result<bool, StoreError> {
    let fingerprint = key.fingerprint.as_bytes().as_slice();
    let (mut retired, current): (Vec<RingEntry>, Vec<RingEntry>) = ring
        .into_iter()
        .partition(|entry| entry.retired_at.is_some());
    let current = current.into_iter().next();

    let rotated = if current
        .as_ref()
        .is_some_and(|c| c.fingerprint == fingerprint)
    {
        // Same key: refresh the ciphertext, which re-seals it under the newest at-rest key.
        sqlx::query("UPDATE session_keys SET sealed = ? WHERE user_id = ? AND fingerprint = ?")
            .bind(key.sealed.as_slice())
            .bind(user_id)
            .bind(fingerprint)
            .execute(&mut **tx)
            .await?;
        false
    } else {
        if let Some(mut old) = current {
            sqlx::query(
                "UPDATE session_keys SET retired_at = ? WHERE user_id = ? AND fingerprint = ?",
            )
            .bind(now_ms)
            .bind(user_id)
            .bind(old.fingerprint.as_slice())
            .execute(&mut **tx)
            .await?;
            old.retired_at = Some(now_ms);
            retired.push(old);
        }
        // WeChat never hands an old key back, but if it did the key becomes current again.
        if let Some(index) = retired.iter().position(|r| r.fingerprint == fingerprint) {
            delete_key(tx, user_id, &retired.remove(index).fingerprint).await?;
        }
        insert_current_key(tx, user_id, key, now_ms).await?;
        true
    };

    // Newest retirement first; keep at most `keep_previous`, none outside the window.
    retired.sort_unstable_by_key(|entry| std::cmp::Reverse((entry.retired_at, entry.created_at)));
    let cutoff = now_ms.saturating_sub(duration_millis(policy.window));
    let keep = usize::try_from(policy.keep_previous).unwrap_or(usize::MAX);
    for (index, entry) in retired.iter().enumerate() {
        if index >= keep || entry.retired_at.is_some_and(|at| at <= cutoff) {
            delete_key(tx, user_id, &entry.fingerprint).await?;
        }
    }
    Ok(rotated)
}

/// Adds `key` to the ring as its current key; the caller retired the previous one.
async fn insert_current_key(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    key: &NewSessionKey,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO session_keys (user_id, fingerprint, sealed, created_at, retired_at) \
         VALUES (?, ?, ?, ?, NULL)",
    )
    .bind(user_id)
    .bind(key.fingerprint.as_bytes().as_slice())
    .bind(key.sealed.as_slice())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn delete_key(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    fingerprint: &[u8],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM session_keys WHERE user_id = ? AND fingerprint = ?")
        .bind(user_id)
        .bind(fingerprint)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes the user's expired sessions, then evicts the oldest live ones beyond `max`,
/// sparing `new_session`. Returns the evicted ids, oldest first. Call with the user's row
/// locked.
async fn enforce_cap(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    new_session: &str,
    now_ms: i64,
    max: u32,
) -> Result<Vec<Uuid>, StoreError> {
    let keep_others = usize::try_from(max.max(1) - 1).unwrap_or(usize::MAX);
    let mut kept = 0usize;
    let mut evicted = Vec::new();
    // Newest first, the new session among them.
    for (session_id, idle_expires_at) in lock_user_sessions(tx, user_id).await? {
        if session_id == new_session {
            continue;
        }
        if idle_expires_at <= now_ms {
            // Expired sessions are dead already: removing them ends nothing and bumps no
            // epoch, and it keeps them from occupying places under the cap.
            delete_session(tx, &session_id).await?;
        } else if kept < keep_others {
            kept += 1;
        } else {
            delete_session(tx, &session_id).await?;
            evicted.push(parse_id(&session_id)?);
        }
    }
    evicted.reverse();
    Ok(evicted)
}
