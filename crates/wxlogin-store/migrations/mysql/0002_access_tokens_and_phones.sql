-- wxlogin store, MySQL / MariaDB dialect, version 2: what the sensitive-data features keep.
-- Conventions as in 0001; every statement is idempotent.

-- The app's WeChat access_token, shared by every instance using this store so they do not
-- invalidate each other's tokens (a classic cgi-bin/token fetch kills the previous token).
-- `sealed` is AES-256-GCM ciphertext bound to the appid (see `at_rest::access_token_aad`).
CREATE TABLE IF NOT EXISTS access_tokens (
    appid      VARBINARY(256) NOT NULL,
    sealed     BLOB NOT NULL,
    expires_at BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (appid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Forced refreshes of the stable access_token: WeChat allows one per 30 s and 20 a day per app,
-- and each one invalidates the token for every other system using the app, so the whole
-- cluster counts them here. `cst_day` is the day number in China Standard Time (UTC+8), when
-- WeChat's daily quotas reset. (SQLite's `day` and `count`: COUNT is a reserved word under the
-- IGNORE_SPACE mode the driver sets.)
CREATE TABLE IF NOT EXISTS forced_token_refreshes (
    appid     VARBINARY(256) NOT NULL,
    last_at   BIGINT NOT NULL,
    cst_day   BIGINT NOT NULL,
    day_count BIGINT NOT NULL,
    PRIMARY KEY (appid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A user's verified phone number (only when phone storage is switched on), sealed and bound
-- to the user. Personal data: dropped with the key ring when the user's last session ends.
CREATE TABLE IF NOT EXISTS user_phones (
    user_id    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sealed     BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id),
    CONSTRAINT user_phones_user FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
