//! The app's access_token, the forced-refresh budget and the cluster's shared secrets.
//!
//! Each write is one `INSERT … ON CONFLICT` statement: a concurrent writer of the same key
//! waits for the first to commit, then its `DO UPDATE … WHERE` (or `DO NOTHING`) is decided
//! against the committed row. That is what gives one winner without an explicit lock.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PostgresStore, duration_millis, from_millis, millis};
use crate::error::StoreError;
use crate::model::{ForcedRefreshPolicy, StoredAccessToken, StoredSecret};
use crate::traits::{AccessTokenStore, SecretStore};

/// WeChat's daily quotas reset at midnight China Standard Time (UTC+8).
const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

fn cst_day(now_ms: i64) -> i64 {
    (now_ms + CST_OFFSET_MS).div_euclid(DAY_MS)
}

#[async_trait]
impl AccessTokenStore for PostgresStore {
    async fn load_access_token(
        &self,
        appid: &str,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT sealed, expires_at, fetched_at FROM access_tokens WHERE appid = $1",
        )
        .bind(appid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(sealed, expires_at, fetched_at)| {
            Ok(StoredAccessToken {
                sealed,
                expires_at: from_millis(expires_at)?,
                fetched_at: from_millis(fetched_at)?,
            })
        })
        .transpose()
    }

    async fn save_access_token(
        &self,
        appid: &str,
        token: StoredAccessToken,
    ) -> Result<bool, StoreError> {
        let stored = sqlx::query(
            "INSERT INTO access_tokens (appid, sealed, expires_at, fetched_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid) DO UPDATE SET sealed = EXCLUDED.sealed, \
                 expires_at = EXCLUDED.expires_at, fetched_at = EXCLUDED.fetched_at \
             WHERE access_tokens.fetched_at <= EXCLUDED.fetched_at",
        )
        .bind(appid)
        .bind(&token.sealed)
        .bind(millis(token.expires_at))
        .bind(millis(token.fetched_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(stored == 1)
    }

    async fn claim_forced_refresh(
        &self,
        appid: &str,
        now: OffsetDateTime,
        policy: ForcedRefreshPolicy,
    ) -> Result<bool, StoreError> {
        let now_ms = millis(now);
        // One statement: insert the first claim, or take the row over when the spacing and the
        // day's budget allow; a refused claim changes nothing (0 rows).
        let claimed = sqlx::query(
            "INSERT INTO forced_token_refreshes (appid, last_at, day, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (appid) DO UPDATE SET last_at = $2, day = $3, \
                 count = CASE WHEN forced_token_refreshes.day = $3 \
                              THEN forced_token_refreshes.count + 1 ELSE 1 END \
             WHERE forced_token_refreshes.last_at <= $2 - $4 \
               AND (forced_token_refreshes.day <> $3 OR forced_token_refreshes.count < $5)",
        )
        .bind(appid)
        .bind(now_ms)
        .bind(cst_day(now_ms))
        .bind(duration_millis(policy.min_interval))
        .bind(i64::from(policy.daily_cap))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1 && policy.daily_cap > 0)
    }
}

#[async_trait]
impl SecretStore for PostgresStore {
    async fn secret_or_insert(
        &self,
        name: &str,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<StoredSecret, StoreError> {
        // A loser of a concurrent insert waits for the winner's commit before DO NOTHING; the
        // SELECT, a new statement with a new snapshot, then reads the winner's row. Secrets
        // are never deleted, so the row is still there.
        sqlx::query(
            "INSERT INTO cluster_secrets (name, sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&sealed)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        let (sealed, created_at): (Vec<u8>, i64) =
            sqlx::query_as("SELECT sealed, created_at FROM cluster_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        Ok(StoredSecret {
            name: name.to_owned(),
            sealed,
            created_at: from_millis(created_at)?,
        })
    }

    async fn secrets_with_prefix(&self, prefix: &str) -> Result<Vec<StoredSecret>, StoreError> {
        // `starts_with` and ORDER BY under the column's "C" collation: byte-wise.
        let rows: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT name, sealed, created_at FROM cluster_secrets \
             WHERE starts_with(name, $1) ORDER BY created_at, name",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(name, sealed, created_at)| {
                Ok(StoredSecret {
                    name,
                    sealed,
                    created_at: from_millis(created_at)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::cst_day;

    #[test]
    fn days_turn_at_midnight_in_beijing() {
        let before = 1_767_283_199_999_i64;
        assert_eq!(cst_day(before) + 1, cst_day(before + 1));
    }
}
