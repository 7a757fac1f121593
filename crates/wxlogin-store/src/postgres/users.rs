//! Users and their session_key rings.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PostgresStore, bump_epoch, duration_millis, from_millis, lock_user, millis, retry};
use crate::error::StoreError;
use crate::model::{KeyRingPolicy, NewSessionKey, SealedSessionKey, UserRecord};
use crate::traits::UserStore;

type UserRow = (Uuid, String, String, Option<String>, i64, i64);

#[async_trait]
impl UserStore for PostgresStore {
    async fn replace_session_key(
        &self,
        user_id: Uuid,
        key: NewSessionKey,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<bool, StoreError> {
        retry(|| super::login::replace_session_key(self, user_id, &key, now, policy)).await
    }

    async fn save_phone(
        &self,
        user_id: Uuid,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // INSERT … SELECT so an unknown user is simply not matched. A user deleted after our
        // snapshot but before the foreign-key check commits surfaces as a foreign-key
        // violation instead: the same answer, the user does not exist.
        let result = sqlx::query(
            "INSERT INTO user_phones (user_id, sealed, updated_at) \
             SELECT user_id, $2, $3 FROM users WHERE user_id = $1 \
             ON CONFLICT (user_id) DO UPDATE SET sealed = EXCLUDED.sealed, \
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(millis(now))
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(db))
                if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
            {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn phone(&self, user_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM user_phones WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    async fn find_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError> {
        // The columns' "C" collation makes `=` byte-wise, whatever the database default.
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE appid = $1 AND openid = $2"
        ))
        .bind(appid)
        .bind(openid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_record).transpose()
    }

    async fn find_user_by_id(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE user_id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_record).transpose()
    }

    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        retry(|| delete_user_once(self, user_id)).await
    }

    async fn key_ring(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<Vec<SealedSessionKey>, StoreError> {
        let cutoff = millis(now).saturating_sub(duration_millis(policy.window));
        // Current key first, then retired keys newest first, at most `keep_previous` of them.
        let rows: Vec<(Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT sealed, created_at, retired_at FROM session_keys \
             WHERE user_id = $1 AND (retired_at IS NULL OR retired_at > $2) \
             ORDER BY retired_at DESC NULLS FIRST, created_at DESC \
             LIMIT $3",
        )
        .bind(user_id)
        .bind(cutoff)
        .bind(i64::from(policy.keep_previous).saturating_add(1))
        .fetch_all(&self.pool)
        .await?;

        let keep = usize::try_from(policy.keep_previous).unwrap_or(usize::MAX);
        let mut ring = Vec::with_capacity(rows.len());
        let mut previous = 0usize;
        for (sealed, created_at, retired_at) in rows {
            if retired_at.is_some() {
                // Only reached without a current key: the LIMIT then left one row too many.
                if previous == keep {
                    break;
                }
                previous += 1;
            }
            ring.push(SealedSessionKey {
                sealed,
                current: retired_at.is_none(),
                created_at: from_millis(created_at)?,
                retired_at: retired_at.map(from_millis).transpose()?,
            });
        }
        Ok(ring)
    }
}

async fn delete_user_once(store: &PostgresStore, user_id: Uuid) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    if !lock_user(&mut tx, user_id).await? {
        return Ok(false);
    }
    // Explicit deletes rather than relying on ON DELETE CASCADE alone: the statement order is
    // then the same on every backend, whatever its foreign-key settings.
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM session_keys WHERE user_id = $1",
        "DELETE FROM user_phones WHERE user_id = $1",
        "DELETE FROM users WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
    }
    bump_epoch(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

fn user_record(row: UserRow) -> Result<UserRecord, StoreError> {
    let (user_id, appid, openid, unionid, created_at, last_login_at) = row;
    Ok(UserRecord {
        user_id,
        appid,
        openid,
        unionid,
        created_at: from_millis(created_at)?,
        last_login_at: from_millis(last_login_at)?,
    })
}
