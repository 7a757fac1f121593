//! Storage for wxlogin: users, session_key rings, sessions, used login codes and the
//! revocation epoch.
//!
//! # Layout
//! * [`traits`]: the contract, four small capability traits ([`LoginStore`],
//!   [`SessionStore`], [`UserStore`], [`MaintenanceStore`]) joined by [`Store`]; the server
//!   holds an `Arc<dyn Store>`. Cross-cutting policy (caching, metrics) wraps the trait rather
//!   than living inside a backend.
//! * [`model`]: the backend-neutral values crossing it.
//! * [`error`]: [`StoreError`], the one error type; driver errors never leak past it.
//! * [`sqlite`]: the embedded backend (one file, WAL, migrations applied at open).
//! * [`postgres`], [`mysql`]: the shared backends for several instances (MySQL 8 and
//!   MariaDB 10.11 through the common SQL subset), migrations applied by `migrate`.
//! * [`at_rest`]: AES-256-GCM sealing of session_keys, done by the caller before the store
//!   sees them.
//! * `conformance` (feature `conformance`): the test suite every backend must pass unchanged,
//!   and the `conformance_tests!` macro that runs it.
//!
//! # Time
//! The store never reads a clock. Methods that decide expiry take `now`; every deadline is
//! compared as `deadline > now`. Times are persisted as integer Unix milliseconds so every SQL
//! dialect compares them the same way.
//!
//! # What is never stored
//! Tokens (only their SHA-256), login codes (only their SHA-256) and plaintext session_keys
//! (only `at_rest` ciphertext plus a SHA-256 fingerprint of a 128-bit random key).

pub mod at_rest;
pub mod error;
pub mod model;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod traits;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::StoreError;
pub use model::{
    CodeHash, ForcedRefreshPolicy, KeyFingerprint, KeyRingPolicy, LoginPolicy, LoginRecorded,
    NewLogin, NewSession, NewSessionKey, PoolSettings, PurgeLimits, PurgeReport, Rotation,
    SealedSessionKey, SessionRecord, StoredAccessToken, StoredSecret, TokenHash, UserRecord,
    new_id,
};
pub use mysql::MySqlStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use traits::{
    AccessTokenStore, LoginStore, MaintenanceStore, SecretStore, SessionStore, Store, UserStore,
};

/// SHA-256, used for token hashes, code hashes and key fingerprints.
pub(crate) fn sha256(input: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Step 2 of [`SessionStore::rotate_token`]: whether a rotated-out token presented again is a
/// retry of the very rotation that replaced it (the session's current hash is the caller's
/// successor, rotated less than `grace` before `now_ms`) rather than a replay. One function so
/// that every backend draws the line at the same millisecond.
pub(crate) fn is_rotation_retry(
    current: &[u8],
    rotated_at_ms: Option<i64>,
    successor: &TokenHash,
    now_ms: i64,
    grace: std::time::Duration,
) -> bool {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    current == successor.as_bytes().as_slice()
        && rotated_at_ms.is_some_and(|at| at > now_ms.saturating_sub(grace_ms))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_retry_needs_the_same_successor_within_the_grace() {
        let successor = TokenHash::of("b");
        let current = successor.as_bytes().as_slice();
        let grace = Duration::from_secs(30);
        assert!(is_rotation_retry(
            current,
            Some(1_000),
            &successor,
            30_999,
            grace
        ));
        assert!(!is_rotation_retry(
            current,
            Some(1_000),
            &successor,
            31_000,
            grace
        ));
        assert!(!is_rotation_retry(current, None, &successor, 1_000, grace));
        let other = TokenHash::of("c");
        assert!(!is_rotation_retry(
            current,
            Some(1_000),
            &other,
            1_000,
            grace
        ));
        assert!(!is_rotation_retry(
            current,
            Some(1_000),
            &successor,
            1_000,
            Duration::ZERO
        ));
        assert!(is_rotation_retry(
            current,
            Some(0),
            &successor,
            1,
            Duration::MAX
        ));
    }
}
