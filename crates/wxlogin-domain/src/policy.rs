//! How long things live. Every duration here is a setting; the defaults are issue 3's.

use std::time::Duration;

/// Session lifetimes and limits.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// No session outlives this, however busy.
    pub absolute_lifetime: Duration,
    /// Devices per user; the oldest session is evicted beyond it.
    pub max_sessions_per_user: u32,
    /// Sliding renewal writes to the store at most once per this interval per session, which
    /// keeps the verification hot path free of writes.
    pub renew_interval: Duration,
    /// Previous session_keys kept per user, and for how long after they were replaced, to
    /// survive the encryptedData rotation race (protocol reference §8.3).
    pub previous_keys_kept: u32,
    pub previous_key_window: Duration,
    /// How long a used login code is remembered; WeChat codes live 300 s.
    pub used_code_memory: Duration,
    /// Users with no login for this long are deleted with everything they own.
    pub inactive_user_retention: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            idle_timeout: Duration::from_secs(7 * DAY),
            absolute_lifetime: Duration::from_secs(30 * DAY),
            max_sessions_per_user: 10,
            renew_interval: Duration::from_secs(60),
            previous_keys_kept: 2,
            previous_key_window: Duration::from_secs(600),
            used_code_memory: Duration::from_secs(300),
            inactive_user_retention: Duration::from_secs(180 * DAY),
        }
    }
}
