-- wxlogin store, PostgreSQL dialect, version 1 (SQLite versions 1 to 3 folded into one: nothing
-- had shipped on PostgreSQL yet).
--
-- Conventions shared by every dialect (see migrations/sqlite/0001_initial.sql):
-- * Times are BIGINT Unix milliseconds, UTC. Expiry is always `expires_at > now` with `now`
--   supplied by the application; no database clock (`now()`), default or TTL is ever consulted.
-- * Ids (`user_id`, `session_id`, `family_id`) are native UUIDs.
-- * Hashes are raw 32-byte SHA-256 digests in BYTEA, their length checked.
-- * Identifier text (appid, openid, unionid, secret names) is `COLLATE "C"`: compared and
--   ordered byte-wise whatever the database's default collation, so openids differing only in
--   case are distinct, as WeChat ids are.
-- * Several instances write concurrently under READ COMMITTED. Every transaction that creates
--   or ends a user's sessions or changes their key ring first locks that user's row, so those
--   writes are serialised per user; see src/postgres/mod.rs.

CREATE TABLE users (
    user_id       UUID   NOT NULL PRIMARY KEY,
    appid         TEXT   COLLATE "C" NOT NULL,
    openid        TEXT   COLLATE "C" NOT NULL,
    unionid       TEXT   COLLATE "C",
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    UNIQUE (appid, openid)
);

-- purge: users inactive since the retention cut-off.
CREATE INDEX users_by_last_login ON users (last_login_at);

-- The session_key ring: exactly one current key (retired_at IS NULL) per user while the user
-- has a live session, plus a few retired ones. `sealed` is AES-256-GCM ciphertext (see the
-- `at_rest` module); `fingerprint` is the SHA-256 of the key text, used only for equality.
CREATE TABLE session_keys (
    user_id     UUID   NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    fingerprint BYTEA  NOT NULL CHECK (octet_length(fingerprint) = 32),
    sealed      BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT,
    PRIMARY KEY (user_id, fingerprint)
);

-- The "one current key" invariant, enforced rather than only maintained.
CREATE UNIQUE INDEX session_keys_one_current ON session_keys (user_id) WHERE retired_at IS NULL;
-- purge: retired keys past their window.
CREATE INDEX session_keys_by_retired_at ON session_keys (retired_at)
    WHERE retired_at IS NOT NULL;

-- Sessions. The token itself is never stored, only its SHA-256. Invariant maintained by every
-- write: idle_expires_at <= absolute_expires_at, so "live at now" is `idle_expires_at > now`
-- and one index on idle_expires_at serves the purge.
-- family_id is reserved for refresh-token families (JWT mode); NULL until then.
CREATE TABLE sessions (
    session_id          UUID   NOT NULL PRIMARY KEY,
    token_hash          BYTEA  NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    user_id             UUID   NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    appid               TEXT   COLLATE "C" NOT NULL,
    family_id           UUID,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    CHECK (idle_expires_at <= absolute_expires_at)
);

-- cap eviction and "does this user still have a live session".
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
-- purge: expired sessions.
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);

-- Login codes already exchanged (single use across every instance sharing the store).
CREATE TABLE used_login_codes (
    appid      TEXT   COLLATE "C" NOT NULL,
    code_hash  BYTEA  NOT NULL CHECK (octet_length(code_hash) = 32),
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (appid, code_hash)
);

-- purge: expired records.
CREATE INDEX used_login_codes_by_expiry ON used_login_codes (expires_at);

-- One row: bumped in the same transaction as every write that ends a live session, polled by
-- other processes to invalidate their in-process session caches.
CREATE TABLE revocation_epoch (
    id    SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch BIGINT   NOT NULL
);

INSERT INTO revocation_epoch (id, epoch) VALUES (1, 0);

-- The app's WeChat access_token, shared by every instance using this store so they do not
-- invalidate each other's tokens (a classic cgi-bin/token fetch kills the previous token).
-- `sealed` is AES-256-GCM ciphertext bound to the appid (see `at_rest::access_token_aad`).
CREATE TABLE access_tokens (
    appid      TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    sealed     BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL
);

-- Forced refreshes of the stable access_token: WeChat allows one per 30 s and 20 a day per app,
-- and each one invalidates the token for every other system using the app, so the whole
-- cluster counts them here. `day` is the day number in China Standard Time (UTC+8), when
-- WeChat's daily quotas reset.
CREATE TABLE forced_token_refreshes (
    appid   TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    last_at BIGINT NOT NULL,
    day     BIGINT NOT NULL,
    count   BIGINT NOT NULL
);

-- A user's verified phone number (only when phone storage is switched on), sealed and bound
-- to the user. Personal data: dropped with the key ring when the user's last session ends.
CREATE TABLE user_phones (
    user_id    UUID   NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    sealed     BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Secrets generated at run time and shared by the cluster (signing keys, HMAC keys). The first
-- writer of a name wins; `sealed` is at-rest ciphertext bound to the name.
CREATE TABLE cluster_secrets (
    name       TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    sealed     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
