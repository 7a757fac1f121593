-- wxlogin store, SQLite dialect, version 1.
--
-- Conventions shared by every dialect (PostgreSQL and MySQL migrations must keep them):
-- * Times are INTEGER Unix milliseconds, UTC. Expiry is always `expires_at > now` with `now`
--   supplied by the application; no database clock, default or TTL is ever consulted.
-- * Ids (`user_id`, `session_id`, `family_id`) are UUIDs as lowercase hyphenated text.
-- * Hashes are raw 32-byte SHA-256 digests. Identifier text (appid, openid, unionid) compares
--   byte-wise: SQLite's default BINARY collation is case-sensitive, as WeChat ids are.
-- * Tables are STRICT so a wrong bind type is an error, not a silent conversion.

CREATE TABLE users (
    user_id       TEXT    NOT NULL PRIMARY KEY,
    appid         TEXT    NOT NULL,
    openid        TEXT    NOT NULL,
    unionid       TEXT,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    UNIQUE (appid, openid)
) STRICT;

-- purge: users inactive since the retention cut-off.
CREATE INDEX users_by_last_login ON users (last_login_at);

-- The session_key ring: exactly one current key (retired_at IS NULL) per user while the user
-- has a live session, plus a few retired ones. `sealed` is AES-256-GCM ciphertext (see the
-- `at_rest` module); `fingerprint` is the SHA-256 of the key text, used only for equality.
CREATE TABLE session_keys (
    user_id     TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER,
    PRIMARY KEY (user_id, fingerprint)
) STRICT;

-- purge: retired keys past their window.
CREATE INDEX session_keys_by_retired_at ON session_keys (retired_at);

-- Sessions. The token itself is never stored, only its SHA-256. Invariant maintained by every
-- write: idle_expires_at <= absolute_expires_at, so "live at now" is `idle_expires_at > now`
-- and one index on idle_expires_at serves the purge.
-- family_id is reserved for refresh-token families (JWT mode); NULL until then.
CREATE TABLE sessions (
    session_id          TEXT    NOT NULL PRIMARY KEY,
    token_hash          BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id             TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    appid               TEXT    NOT NULL,
    family_id           TEXT,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    CHECK (idle_expires_at <= absolute_expires_at)
) STRICT;

-- cap eviction and "does this user still have a live session".
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
-- purge: expired sessions.
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);

-- Login codes already exchanged (single use across every instance sharing the store).
CREATE TABLE used_login_codes (
    appid      TEXT    NOT NULL,
    code_hash  BLOB    NOT NULL CHECK (length(code_hash) = 32),
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (appid, code_hash)
) STRICT;

-- purge: expired records.
CREATE INDEX used_login_codes_by_expiry ON used_login_codes (expires_at);

-- One row: bumped in the same transaction as every write that ends a live session, polled by
-- other processes to invalidate their in-process session caches.
CREATE TABLE revocation_epoch (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
) STRICT;

INSERT INTO revocation_epoch (id, epoch) VALUES (1, 0);
