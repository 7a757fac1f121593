-- wxlogin store, SQLite dialect, version 3: secrets generated at run time and shared by the
-- cluster (signing keys, HMAC keys). The first writer of a name wins; `sealed` is at-rest
-- ciphertext bound to the name.
CREATE TABLE cluster_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
