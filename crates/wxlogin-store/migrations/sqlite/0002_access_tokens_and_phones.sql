-- wxlogin store, SQLite dialect, version 2: what the sensitive-data features keep.

-- The app's WeChat access_token, shared by every instance using this store so they do not
-- invalidate each other's tokens (a classic cgi-bin/token fetch kills the previous token).
-- `sealed` is AES-256-GCM ciphertext bound to the appid (see `at_rest::access_token_aad`).
CREATE TABLE access_tokens (
    appid      TEXT    NOT NULL PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL
) STRICT;

-- Forced refreshes of the stable access_token: WeChat allows one per 30 s and 20 a day per app,
-- and each one invalidates the token for every other system using the app, so the whole
-- cluster counts them here. `day` is the day number in China Standard Time (UTC+8), when
-- WeChat's daily quotas reset.
CREATE TABLE forced_token_refreshes (
    appid   TEXT    NOT NULL PRIMARY KEY,
    last_at INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    count   INTEGER NOT NULL
) STRICT;

-- A user's verified phone number (only when phone storage is switched on), sealed and bound
-- to the user. Personal data: dropped with the key ring when the user's last session ends.
CREATE TABLE user_phones (
    user_id    TEXT    NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
