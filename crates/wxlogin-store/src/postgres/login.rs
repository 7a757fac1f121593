//! `record_login` and `claim_login_code`.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PostgresStore, bump_epoch, duration_millis, lock_user, millis, retry};
use crate::error::{SqlxResultExt, StoreError};
use crate::model::{CodeHash, KeyRingPolicy, LoginRecorded, NewLogin, NewSessionKey, new_id};
use crate::traits::LoginStore;

#[async_trait]
impl LoginStore for PostgresStore {
    async fn record_login(
        &self,
        login: NewLogin,
        now: OffsetDateTime,
    ) -> Result<LoginRecorded, StoreError> {
        retry(|| record_login_once(self, login.clone(), now)).await
    }

    async fn claim_login_code(
        &self,
        appid: &str,
        code_hash: &CodeHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // One atomic statement: insert, or take over a record that expired. A concurrent
        // claimant of the same key waits for the first to commit, then evaluates the WHERE
        // against the committed row: live, so nothing changes and zero rows are reported.
        let changed = sqlx::query(
            "INSERT INTO used_login_codes (appid, code_hash, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (appid, code_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE used_login_codes.expires_at <= $4",
        )
        .bind(appid)
        .bind(code_hash.as_bytes().as_slice())
        .bind(millis(expires_at))
        .bind(millis(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}

async fn record_login_once(
    store: &PostgresStore,
    login: NewLogin,
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

    // From here on this transaction holds the user's row lock: parallel logins of the same
    // user, logouts and purges of their ring wait for the commit.
    let (user_id, new_user) =
        upsert_user(&mut tx, &appid, &openid, unionid.as_deref(), now).await?;
    let key_rotated = update_ring(&mut tx, user_id, &session_key, now_ms).await?;
    trim_ring(&mut tx, user_id, now_ms, policy.key_ring).await?;

    // Keep the invariant idle <= absolute that "live = idle_expires_at > now" relies on.
    let absolute_ms = millis(session.absolute_expires_at);
    let idle_ms = millis(session.idle_expires_at).min(absolute_ms);
    sqlx::query(
        "INSERT INTO sessions (session_id, token_hash, user_id, appid, family_id, \
         created_at, last_seen_at, idle_expires_at, absolute_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(session.session_id)
    .bind(session.token_hash.as_bytes().as_slice())
    .bind(user_id)
    .bind(&appid)
    .bind(session.family_id)
    .bind(now_ms)
    .bind(idle_ms)
    .bind(absolute_ms)
    .execute(&mut *tx)
    .await
    .on_unique_violation("session")?;

    let evicted_sessions = enforce_cap(
        &mut tx,
        user_id,
        session.session_id,
        now_ms,
        policy.max_sessions,
    )
    .await?;
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

/// Creates the user or refreshes it, locking its row either way; returns its id and whether
/// it is new.
///
/// One statement: a concurrent login of the same new user waits on the unique index for the
/// first one to commit and then takes the `DO UPDATE` branch, so both get the same row. The
/// row comes back with our candidate id exactly when this statement inserted it.
async fn upsert_user(
    tx: &mut Transaction<'static, Postgres>,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
    now: OffsetDateTime,
) -> Result<(Uuid, bool), StoreError> {
    let candidate = new_id(now);
    // A unionid once known is never erased by a login that did not return one.
    let (user_id,): (Uuid,) = sqlx::query_as(
        "INSERT INTO users (user_id, appid, openid, unionid, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (appid, openid) DO UPDATE SET \
             last_login_at = GREATEST(users.last_login_at, EXCLUDED.last_login_at), \
             unionid = COALESCE(EXCLUDED.unionid, users.unionid) \
         RETURNING user_id",
    )
    .bind(candidate)
    .bind(appid)
    .bind(openid)
    .bind(unionid)
    .bind(millis(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok((user_id, user_id == candidate))
}

/// [`UserStore::replace_session_key`](crate::UserStore::replace_session_key), next to the
/// ring logic it shares with `record_login`.
pub(super) async fn replace_session_key(
    store: &PostgresStore,
    user_id: Uuid,
    key: &NewSessionKey,
    now: OffsetDateTime,
    policy: KeyRingPolicy,
) -> Result<bool, StoreError> {
    let now_ms = millis(now);
    let mut tx = store.begin().await?;
    if !lock_user(&mut tx, user_id).await? {
        return Ok(false);
    }
    let has_ring: Option<(i32,)> =
        sqlx::query_as("SELECT 1 FROM session_keys WHERE user_id = $1 AND retired_at IS NULL")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if has_ring.is_none() {
        return Ok(false);
    }
    update_ring(&mut tx, user_id, key, now_ms).await?;
    trim_ring(&mut tx, user_id, now_ms, policy).await?;
    tx.commit().await?;
    Ok(true)
}

/// Makes `key` the current key of the ring, retiring the previous current key if it differs.
/// Returns whether the key changed. The caller holds the user's lock.
async fn update_ring(
    tx: &mut Transaction<'static, Postgres>,
    user_id: Uuid,
    key: &NewSessionKey,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let fingerprint = key.fingerprint.as_bytes().as_slice();
    let current: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT fingerprint FROM session_keys WHERE user_id = $1 AND retired_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;

    if current.as_ref().is_some_and(|(fp,)| fp == fingerprint) {
        // Same key: refresh the ciphertext, which re-seals it under the newest at-rest key.
        sqlx::query(
            "UPDATE session_keys SET sealed = $2 WHERE user_id = $1 AND retired_at IS NULL",
        )
        .bind(user_id)
        .bind(key.sealed.as_slice())
        .execute(&mut **tx)
        .await?;
        return Ok(false);
    }

    // Retire first: the partial unique index allows one current key per user at any moment.
    sqlx::query(
        "UPDATE session_keys SET retired_at = $2 WHERE user_id = $1 AND retired_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    // WeChat never hands an old key back, but if it did the key becomes current again.
    sqlx::query("DELETE FROM session_keys WHERE user_id = $1 AND fingerprint = $2")
        .bind(user_id)
        .bind(fingerprint)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO session_keys (user_id, fingerprint, sealed, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(user_id)
    .bind(fingerprint)
    .bind(key.sealed.as_slice())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Drops retired keys outside the policy's window or beyond its count (newest kept).
async fn trim_ring(
    tx: &mut Transaction<'static, Postgres>,
    user_id: Uuid,
    now_ms: i64,
    policy: KeyRingPolicy,
) -> Result<(), StoreError> {
    let cutoff = now_ms.saturating_sub(duration_millis(policy.window));
    sqlx::query(
        "DELETE FROM session_keys WHERE user_id = $1 AND retired_at IS NOT NULL \
         AND (retired_at <= $2 OR fingerprint IN \
             (SELECT fingerprint FROM session_keys \
              WHERE user_id = $1 AND retired_at IS NOT NULL \
              ORDER BY retired_at DESC, created_at DESC OFFSET $3))",
    )
    .bind(user_id)
    .bind(cutoff)
    .bind(i64::from(policy.keep_previous))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the user's expired sessions, then evicts the oldest live ones beyond `max`,
/// sparing `new_session`. Returns the evicted ids, oldest first. The caller holds the user's
/// lock, so no other login of this user is counting at the same time.
async fn enforce_cap(
    tx: &mut Transaction<'static, Postgres>,
    user_id: Uuid,
    new_session: Uuid,
    now_ms: i64,
    max: u32,
) -> Result<Vec<Uuid>, StoreError> {
    // Expired sessions are dead already: removing them ends nothing and bumps no epoch, and
    // it keeps them from occupying places under the cap.
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND idle_expires_at <= $2 AND session_id <> $3",
    )
    .bind(user_id)
    .bind(now_ms)
    .bind(new_session)
    .execute(&mut **tx)
    .await?;

    let keep_others = i64::from(max.max(1) - 1);
    let mut evicted: Vec<(i64, Uuid)> = sqlx::query_as(
        "DELETE FROM sessions WHERE user_id = $1 AND session_id IN \
         (SELECT session_id FROM sessions WHERE user_id = $1 AND session_id <> $2 \
          ORDER BY created_at DESC, session_id DESC OFFSET $3) \
         RETURNING created_at, session_id",
    )
    .bind(user_id)
    .bind(new_session)
    .bind(keep_others)
    .fetch_all(&mut **tx)
    .await?;
    evicted.sort_unstable();
    Ok(evicted.into_iter().map(|(_, id)| id).collect())
}
