-- wxlogin store, MySQL / MariaDB dialect, version 3: secrets generated at run time and shared
-- by the cluster (signing keys, HMAC keys). The first writer of a name wins; `sealed` is
-- at-rest ciphertext bound to the name. Names are VARBINARY so prefixes match byte-wise.
CREATE TABLE IF NOT EXISTS cluster_secrets (
    name       VARBINARY(512) NOT NULL,
    sealed     BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
