-- wxlogin store, MySQL / MariaDB dialect, version 1.
-- Tested on MariaDB 10.11; MySQL 8 through the common SQL subset (no RETURNING, no
-- MariaDB-only syntax, no collation that exists on only one of them).
--
-- Conventions (the same as the SQLite and PostgreSQL migrations):
-- * Times are BIGINT Unix milliseconds, UTC. Expiry is always `expires_at > now` with `now`
--   supplied by the application; no database clock, default or TTL is ever consulted.
-- * Ids (`user_id`, `session_id`, `family_id`) are UUIDs as lowercase hyphenated text in
--   CHAR(36) CHARACTER SET ascii COLLATE ascii_bin.
-- * Hashes are raw 32-byte SHA-256 digests in BINARY(32); sealed values are BLOBs.
-- * Identifier text (appid, openid, unionid, secret names) is VARBINARY holding UTF-8, so it
--   compares byte for byte as WeChat's case-sensitive ids must. A `_bin` collation is not
--   enough: utf8mb4_bin is PAD SPACE on both servers ('o1' = 'o1 '), and the NO PAD binary
--   collations differ (MySQL utf8mb4_0900_bin, MariaDB utf8mb4_nopad_bin). Lengths are in
--   bytes: 512 four-byte characters for openid and unionid, and the unique key
--   (appid, openid) stays within InnoDB's 3072-byte index limit (256 + 2048).
-- * Tables are InnoDB (transactions, row locks, foreign keys), DEFAULT CHARSET utf8mb4.
--
-- MySQL DDL is not transactional: each statement commits on its own, so a migration that
-- fails half-way leaves the tables it already created. Every statement here is therefore
-- idempotent (IF NOT EXISTS, INSERT IGNORE of a constant row): after fixing the cause, delete
-- the failed row from `_sqlx_migrations` and migrate again.

CREATE TABLE IF NOT EXISTS users (
    user_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    appid         VARBINARY(256)  NOT NULL,
    openid        VARBINARY(2048) NOT NULL,
    unionid       VARBINARY(2048) NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (user_id),
    UNIQUE KEY users_by_app_openid (appid, openid),
    -- purge: users inactive since the retention cut-off.
    KEY users_by_last_login (last_login_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The session_key ring: exactly one current key (retired_at IS NULL) per user while the user
-- has a live session, plus a few retired ones. `sealed` is AES-256-GCM ciphertext (see the
-- `at_rest` module); `fingerprint` is the SHA-256 of the key text, used only for equality.
CREATE TABLE IF NOT EXISTS session_keys (
    user_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    fingerprint BINARY(32) NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NULL,
    PRIMARY KEY (user_id, fingerprint),
    -- purge: retired keys past their window.
    KEY session_keys_by_retired_at (retired_at),
    CONSTRAINT session_keys_user FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Sessions. The token itself is never stored, only its SHA-256. Invariant maintained by every
-- write: idle_expires_at <= absolute_expires_at, so "live at now" is `idle_expires_at > now`
-- and one index on idle_expires_at serves the purge.
-- family_id is reserved for refresh-token families (JWT mode); NULL until then.
CREATE TABLE IF NOT EXISTS sessions (
    session_id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    token_hash          BINARY(32) NOT NULL,
    user_id             CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    appid               VARBINARY(256) NOT NULL,
    family_id           CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    PRIMARY KEY (session_id),
    UNIQUE KEY sessions_by_token (token_hash),
    -- cap eviction and "does this user still have a live session".
    KEY sessions_by_user (user_id, created_at),
    -- purge: expired sessions.
    KEY sessions_by_idle_expiry (idle_expires_at),
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE CASCADE,
    CONSTRAINT sessions_idle_within_absolute CHECK (idle_expires_at <= absolute_expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Login codes already exchanged (single use across every instance sharing the store).
CREATE TABLE IF NOT EXISTS used_login_codes (
    appid      VARBINARY(256) NOT NULL,
    code_hash  BINARY(32) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (appid, code_hash),
    -- purge: expired records.
    KEY used_login_codes_by_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row: bumped in the same transaction as every write that ends a live session, polled by
-- other processes to invalidate their in-process session caches. Every transaction bumps it
-- as its last statement, so the row lock is held only for the commit.
CREATE TABLE IF NOT EXISTS revocation_epoch (
    id    TINYINT NOT NULL,
    epoch BIGINT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT revocation_epoch_single_row CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

INSERT IGNORE INTO revocation_epoch (id, epoch) VALUES (1, 0);
