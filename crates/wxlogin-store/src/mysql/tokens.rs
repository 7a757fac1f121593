//! The app's access_token, the forced-refresh budget and the cluster's shared secrets.
//!
//! Each conditional write here is "`UPDATE … WHERE allowed`, else plain `INSERT`, and after a
//! duplicate key the `UPDATE` once more": every statement is atomic on its own, the `WHERE` is
//! re-evaluated against the latest row after waiting for its lock, and these rows are never
//! deleted, so after a duplicate key the second `UPDATE` is the final answer. No transaction,
//! hence no gap locks and no deadlocks between first writers.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{MySqlStore, duration_millis, from_millis, is_duplicate_key, millis, retry, text};
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
impl AccessTokenStore for MySqlStore {
    async fn load_access_token(
        &self,
        appid: &str,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT sealed, expires_at, fetched_at FROM access_tokens WHERE appid = ?",
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
        retry(|| save_access_token_once(self, appid, &token)).await
    }

    async fn claim_forced_refresh(
        &self,
        appid: &str,
        now: OffsetDateTime,
        policy: ForcedRefreshPolicy,
    ) -> Result<bool, StoreError> {
        if policy.daily_cap == 0 {
            return Ok(false);
        }
        retry(|| claim_forced_refresh_once(self, appid, millis(now), policy)).await
    }
}

async fn save_access_token_once(
    store: &MySqlStore,
    appid: &str,
    token: &StoredAccessToken,
) -> Result<bool, StoreError> {
    let (expires_ms, fetched_ms) = (millis(token.expires_at), millis(token.fetched_at));
    // A slow fetcher never replaces a token fetched later.
    let replace = || async {
        let matched = sqlx::query(
            "UPDATE access_tokens SET sealed = ?, expires_at = ?, fetched_at = ? \
             WHERE appid = ? AND fetched_at <= ?",
        )
        .bind(token.sealed.as_slice())
        .bind(expires_ms)
        .bind(fetched_ms)
        .bind(appid)
        .bind(fetched_ms)
        .execute(&store.pool)
        .await?
        .rows_affected();
        Ok::<_, StoreError>(matched == 1)
    };
    if replace().await? {
        return Ok(true);
    }
    let inserted = sqlx::query(
        "INSERT INTO access_tokens (appid, sealed, expires_at, fetched_at) VALUES (?, ?, ?, ?)",
    )
    .bind(appid)
    .bind(token.sealed.as_slice())
    .bind(expires_ms)
    .bind(fetched_ms)
    .execute(&store.pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if is_duplicate_key(&err) => replace().await,
        Err(err) => Err(err.into()),
    }
}

async fn claim_forced_refresh_once(
    store: &MySqlStore,
    appid: &str,
    now_ms: i64,
    policy: ForcedRefreshPolicy,
) -> Result<bool, StoreError> {
    let day = cst_day(now_ms);
    let spaced_until = now_ms.saturating_sub(duration_millis(policy.min_interval));
    // MySQL evaluates single-table SET assignments left to right, each seeing the ones before:
    // day_count must read the old cst_day, so it comes first.
    let take = || async {
        let matched = sqlx::query(
            "UPDATE forced_token_refreshes \
             SET day_count = CASE WHEN cst_day = ? THEN day_count + 1 ELSE 1 END, \
                 cst_day = ?, last_at = ? \
             WHERE appid = ? AND last_at <= ? AND (cst_day <> ? OR day_count < ?)",
        )
        .bind(day)
        .bind(day)
        .bind(now_ms)
        .bind(appid)
        .bind(spaced_until)
        .bind(day)
        .bind(i64::from(policy.daily_cap))
        .execute(&store.pool)
        .await?
        .rows_affected();
        Ok::<_, StoreError>(matched == 1)
    };
    if take().await? {
        return Ok(true);
    }
    let inserted = sqlx::query(
        "INSERT INTO forced_token_refreshes (appid, last_at, cst_day, day_count) \
         VALUES (?, ?, ?, 1)",
    )
    .bind(appid)
    .bind(now_ms)
    .bind(day)
    .execute(&store.pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if is_duplicate_key(&err) => take().await,
        Err(err) => Err(err.into()),
    }
}

#[async_trait]
impl SecretStore for MySqlStore {
    async fn secret_or_insert(
        &self,
        name: &str,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<StoredSecret, StoreError> {
        // A plain INSERT: concurrent inserters of one name wait on the first one's row lock,
        // then fail with a duplicate key; the autocommit SELECT after it reads the committed
        // winner, whoever that was.
        retry(|| async {
            let result = sqlx::query(
                "INSERT INTO cluster_secrets (name, sealed, created_at) VALUES (?, ?, ?)",
            )
            .bind(name)
            .bind(sealed.as_slice())
            .bind(millis(now))
            .execute(&self.pool)
            .await;
            match result {
                Ok(_) => Ok(()),
                Err(err) if is_duplicate_key(&err) => Ok(()),
                Err(err) => Err(StoreError::from(err)),
            }
        })
        .await?;
        let (sealed, created_at): (Vec<u8>, i64) =
            sqlx::query_as("SELECT sealed, created_at FROM cluster_secrets WHERE name = ?")
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
        // `name` is VARBINARY: LEFT and LENGTH count bytes, and the comparison is byte-wise.
        let rows: Vec<(Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT name, sealed, created_at FROM cluster_secrets \
             WHERE LEFT(name, LENGTH(?)) = ? ORDER BY created_at, name",
        )
        .bind(prefix)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(name, sealed, created_at)| {
                Ok(StoredSecret {
                    name: text(name)?,
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
        // 2026-01-01 15:59:59.999 UTC is 23:59:59.999 in Beijing; one ms later is the next day.
        let before = 1_767_283_199_999_i64;
        assert_eq!(cst_day(before) + 1, cst_day(before + 1));
    }
}
