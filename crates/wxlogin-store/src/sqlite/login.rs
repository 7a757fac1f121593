//! `record_login` and `claim_login_code`.

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, bump_epoch, duration_millis, id_text, millis, parse_id};
use crate::error::{SqlxResultExt, StoreError};
use crate::model::{CodeHash, KeyRingPolicy, LoginRecorded, NewLogin, NewSessionKey, new_id};
use crate::traits::LoginStore;

#[async_trait]
impl LoginStore for SqliteStore {
    async fn record_login(
        &self,
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

        let mut tx = self.begin_write().await?;

        let (user_id, new_user) = upsert_user(&mut tx, &appid, &openid, unionid, now).await?;
        let user_text = id_text(user_id);
        let key_rotated = update_ring(&mut tx, &user_text, &session_key, now_ms).await?;
        trim_ring(&mut tx, &user_text, now_ms, policy.key_ring).await?;

        // Keep the invariant idle <= absolute that "live = idle_expires_at > now" relies on.
        let absolute_ms = millis(session.absolute_expires_at);
        let idle_ms = millis(session.idle_expires_at).min(absolute_ms);
        let session_text = id_text(session.session_id);
        sqlx::query(
            "INSERT INTO sessions (session_id, token_hash, user_id, appid, family_id, \
             created_at, last_seen_at, idle_expires_at, absolute_expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
        )
        .bind(&session_text)
        .bind(session.token_hash.as_bytes().as_slice())
        .bind(&user_text)
        .bind(&appid)
        .bind(session.family_id.map(id_text))
        .bind(now_ms)
        .bind(idle_ms)
        .bind(absolute_ms)
        .execute(&mut *tx)
        .await
        .on_unique_violation("session")?;

        let evicted_sessions = enforce_cap(
            &mut tx,
            &user_text,
            &session_text,
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

    async fn claim_login_code(
        &self,
        appid: &str,
        code_hash: &CodeHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // One atomic statement: insert, or take over a record that expired. A live record
        // makes the DO UPDATE's WHERE false, so nothing changes and zero rows are reported.
        // PostgreSQL: the same statement. MySQL: `INSERT … ON DUPLICATE KEY UPDATE
        // expires_at = IF(expires_at <= ?, VALUES(expires_at), expires_at)`, where 1 row means
        // inserted, 2 taken over, 0 unchanged (without CLIENT_FOUND_ROWS).
        let changed = sqlx::query(
            "INSERT INTO used_login_codes (appid, code_hash, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (appid, code_hash) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE used_login_codes.expires_at <= ?4",
        )
        .bind(appid)
        .bind(code_hash.as_bytes().as_slice())
        .bind(millis(expires_at))
        .bind(millis(now))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}

/// Creates the user or refreshes it; returns its id and whether it is new.
///
/// Insert-first (`ON CONFLICT DO NOTHING`) rather than select-first, so the shape stays correct
/// on backends where two transactions can run this concurrently: the loser of the insert race
/// waits on the unique index, then finds the winner's row.
async fn upsert_user(
    tx: &mut Transaction<'static, Sqlite>,
    appid: &str,
    openid: &str,
    unionid: Option<String>,
    now: OffsetDateTime,
) -> Result<(Uuid, bool), StoreError> {
    let now_ms = millis(now);
    let candidate = new_id(now);
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, appid, openid, unionid, created_at, last_login_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (appid, openid) DO NOTHING",
    )
    .bind(id_text(candidate))
    .bind(appid)
    .bind(openid)
    .bind(unionid.as_deref())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok((candidate, true));
    }

    let (user_id,): (String,) =
        sqlx::query_as("SELECT user_id FROM users WHERE appid = ?1 AND openid = ?2")
            .bind(appid)
            .bind(openid)
            .fetch_one(&mut **tx)
            .await?;
    // A unionid once known is never erased by a login that did not return one.
    sqlx::query(
        "UPDATE users SET last_login_at = max(last_login_at, ?2), \
         unionid = coalesce(?3, unionid) WHERE user_id = ?1",
    )
    .bind(&user_id)
    .bind(now_ms)
    .bind(unionid.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok((parse_id(&user_id)?, false))
}

/// [`UserStore::replace_session_key`](crate::UserStore::replace_session_key), next to the
/// ring logic it shares with `record_login`.
pub(super) async fn replace_session_key(
    store: &SqliteStore,
    user_id: Uuid,
    key: &NewSessionKey,
    now: OffsetDateTime,
    policy: KeyRingPolicy,
) -> Result<bool, StoreError> {
    let user_text = id_text(user_id);
    let now_ms = millis(now);
    let mut tx = store.begin_write().await?;
    let has_ring: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM session_keys WHERE user_id = ?1 AND retired_at IS NULL")
            .bind(&user_text)
            .fetch_optional(&mut *tx)
            .await?;
    if has_ring.is_none() {
        return Ok(false);
    }
    update_ring(&mut tx, &user_text, key, now_ms).await?;
    trim_ring(&mut tx, &user_text, now_ms, policy).await?;
    tx.commit().await?;
    Ok(true)
}

/// Makes `key` the current key of the ring, retiring the previous current key if it differs.
/// Returns whether the key changed.
async fn update_ring(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &str,
    key: &NewSessionKey,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let fingerprint = key.fingerprint.as_bytes().as_slice();
    let current: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT fingerprint FROM session_keys WHERE user_id = ?1 AND retired_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;

    if current.as_ref().is_some_and(|(fp,)| fp == fingerprint) {
        // Same key: refresh the ciphertext, which re-seals it under the newest at-rest key.
        sqlx::query(
            "UPDATE session_keys SET sealed = ?2 WHERE user_id = ?1 AND retired_at IS NULL",
        )
        .bind(user_id)
        .bind(key.sealed.as_slice())
        .execute(&mut **tx)
        .await?;
        return Ok(false);
    }

    sqlx::query(
        "UPDATE session_keys SET retired_at = ?2 WHERE user_id = ?1 AND retired_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    // WeChat never hands an old key back, but if it did the key becomes current again.
    sqlx::query("DELETE FROM session_keys WHERE user_id = ?1 AND fingerprint = ?2")
        .bind(user_id)
        .bind(fingerprint)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO session_keys (user_id, fingerprint, sealed, created_at, retired_at) \
         VALUES (?1, ?2, ?3, ?4, NULL)",
    )
    .bind(user_id)
    .bind(fingerprint)
    .bind(key.sealed.as_slice())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Drops retired keys beyond the policy's count or outside its window.
///
/// The ring holds a handful of rows, so the choice is made here rather than with a
/// `LIMIT`-in-subquery, which MySQL does not support.
async fn trim_ring(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &str,
    now_ms: i64,
    policy: KeyRingPolicy,
) -> Result<(), StoreError> {
    let cutoff = now_ms.saturating_sub(duration_millis(policy.window));
    let retired: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "SELECT fingerprint, retired_at FROM session_keys \
         WHERE user_id = ?1 AND retired_at IS NOT NULL \
         ORDER BY retired_at DESC, created_at DESC",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;

    let keep = usize::try_from(policy.keep_previous).unwrap_or(usize::MAX);
    for (index, (fingerprint, retired_at)) in retired.iter().enumerate() {
        if index >= keep || *retired_at <= cutoff {
            sqlx::query("DELETE FROM session_keys WHERE user_id = ?1 AND fingerprint = ?2")
                .bind(user_id)
                .bind(fingerprint.as_slice())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Deletes the user's expired sessions, then evicts the oldest live ones beyond `max`,
/// sparing `new_session`. Returns the evicted ids, oldest first.
async fn enforce_cap(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &str,
    new_session: &str,
    now_ms: i64,
    max: u32,
) -> Result<Vec<Uuid>, StoreError> {
    // Expired sessions are dead already: removing them ends nothing and bumps no epoch, and
    // it keeps them from occupying places under the cap.
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = ?1 AND idle_expires_at <= ?2 AND session_id <> ?3",
    )
    .bind(user_id)
    .bind(now_ms)
    .bind(new_session)
    .execute(&mut **tx)
    .await?;

    let others: Vec<(String,)> = sqlx::query_as(
        "SELECT session_id FROM sessions WHERE user_id = ?1 AND session_id <> ?2 \
         ORDER BY created_at DESC, session_id DESC",
    )
    .bind(user_id)
    .bind(new_session)
    .fetch_all(&mut **tx)
    .await?;

    let keep_others = usize::try_from(max.max(1) - 1).unwrap_or(usize::MAX);
    let mut evicted = Vec::new();
    for (session_id,) in others.iter().skip(keep_others).rev() {
        sqlx::query("DELETE FROM sessions WHERE session_id = ?1")
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        evicted.push(parse_id(session_id)?);
    }
    Ok(evicted)
}
