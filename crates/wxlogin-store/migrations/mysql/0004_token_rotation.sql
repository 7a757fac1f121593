-- wxlogin store, MySQL / MariaDB dialect, version 4: refresh-token rotation (JWT mode).
-- Conventions as in 0001.
--
-- A rotation replaces `token_hash` with the successor's and remembers the token it replaced,
-- so that a rotated-out refresh token presented again can be told apart from an unknown one:
-- within a short grace it is a retry (lost response, two tabs refreshing at once), after it a
-- sign of theft that ends the session. Only one generation is remembered.
-- * previous_token_hash: SHA-256 of the token rotated out last; NULL until the first rotation.
--   Unique like token_hash (tokens are random: a collision is a bug, not a case to serve), so
--   a lookup by it is one probe of its index; a UNIQUE key admits any number of NULLs.
-- * rotated_at: when that rotation happened (Unix ms); NULL with previous_token_hash.
-- The rows die with their session, so purge needs nothing new.
--
-- Idempotent although DDL is not transactional: both columns and the key come in one
-- ALTER TABLE (applied whole or not at all), run only when the column is still missing.
-- `ADD COLUMN IF NOT EXISTS` would be shorter, but MySQL 8 does not accept it.

SET @wxlogin_ddl = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'sessions'
        AND COLUMN_NAME = 'previous_token_hash') = 0,
    'ALTER TABLE sessions
         ADD COLUMN previous_token_hash BINARY(32) NULL,
         ADD COLUMN rotated_at BIGINT NULL,
         ADD UNIQUE KEY sessions_by_previous_token (previous_token_hash)',
    'DO 0');
PREPARE wxlogin_stmt FROM @wxlogin_ddl;
EXECUTE wxlogin_stmt;
DEALLOCATE PREPARE wxlogin_stmt;
SET @wxlogin_ddl = NULL;
