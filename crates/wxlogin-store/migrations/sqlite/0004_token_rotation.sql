-- wxlogin store, SQLite dialect, version 4: refresh-token rotation (JWT mode).
--
-- A rotation replaces `token_hash` with the successor's and remembers the token it replaced,
-- so that a rotated-out refresh token presented again can be told apart from an unknown one:
-- within a short grace it is a retry (lost response, two tabs refreshing at once), after it a
-- sign of theft that ends the session. Only one generation is remembered.
-- * previous_token_hash: SHA-256 of the token rotated out last; NULL until the first rotation.
--   Unique like token_hash (tokens are random: a collision is a bug, not a case to serve), so
--   a lookup by it is one probe of its index. Partial: most sessions never rotate.
-- * rotated_at: when that rotation happened (Unix ms); NULL with previous_token_hash.
-- The rows die with their session, so purge needs nothing new.

ALTER TABLE sessions ADD COLUMN previous_token_hash BLOB
    CHECK (length(previous_token_hash) = 32);
ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;

CREATE UNIQUE INDEX sessions_by_previous_token ON sessions (previous_token_hash)
    WHERE previous_token_hash IS NOT NULL;
