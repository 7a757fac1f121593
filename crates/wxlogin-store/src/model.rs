//! The values that cross the [`Store`](crate::Store) boundary.
//!
//! These types are backend-neutral: no SQL types, no driver errors. Times are
//! [`OffsetDateTime`]s; backends persist them as integer Unix milliseconds (see the migration
//! files), so anything finer than a millisecond is truncated on the way in.
//!
//! Records holding an openid or unionid implement `Debug` by hand and leave those out: logs
//! identify users by `user_id` only.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

/// Defines a newtype over a SHA-256 digest with a constructor that hashes its input.
macro_rules! sha256_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The SHA-256 of `input`.
            pub fn of(input: impl AsRef<[u8]>) -> Self {
                Self(crate::sha256(input.as_ref()))
            }

            /// Wraps a digest computed elsewhere.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw digest.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            // A prefix is enough to tell two apart in a test failure; the full digest never
            // needs to reach a log.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!(stringify!($name), "({:02x}{:02x}{:02x}{:02x}…)"),
                    self.0[0], self.0[1], self.0[2], self.0[3]
                )
            }
        }
    };
}

sha256_newtype!(
    /// SHA-256 of a session token. The store only ever sees this, never the token.
    TokenHash
);
sha256_newtype!(
    /// SHA-256 of a `wx.login` code, the key of the used-code record.
    CodeHash
);
sha256_newtype!(
    /// SHA-256 of a session_key's text, used to tell whether WeChat rotated the key.
    KeyFingerprint
);

/// A new time-ordered id (UUID v7) whose timestamp is `now`, not the system clock.
pub fn new_id(now: OffsetDateTime) -> Uuid {
    let nanos = now.unix_timestamp_nanos().max(0);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(0);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, subsec))
}

/// How a user's session_key ring is kept: the current key plus at most `keep_previous` retired
/// keys, each only for `window` after its retirement. A key is retired when a newer one
/// replaces it, or when the user's last live session ends (so that encryptedData fetched just
/// before a re-login still decrypts after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRingPolicy {
    /// How many retired keys to keep at most (default 2).
    pub keep_previous: u32,
    /// How long a retired key stays usable (default 10 minutes); keep it equal to
    /// [`PurgeLimits::key_window`], which decides when the purge removes it.
    pub window: Duration,
}

impl Default for KeyRingPolicy {
    fn default() -> Self {
        Self {
            keep_previous: 2,
            window: Duration::from_secs(10 * 60),
        }
    }
}

/// Per-call policy for [`record_login`](crate::LoginStore::record_login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Live sessions a user may hold at once; the oldest beyond it are evicted (default 10).
    /// Zero is treated as one: the session being created always survives.
    pub max_sessions: u32,
    /// How the session_key ring is trimmed.
    pub key_ring: KeyRingPolicy,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            max_sessions: 10,
            key_ring: KeyRingPolicy::default(),
        }
    }
}

/// The session_key WeChat returned for this login, already sealed by
/// [`AtRestKeys`](crate::at_rest::AtRestKeys) with the row's AAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSessionKey {
    /// `at_rest` ciphertext of the key text.
    pub sealed: Vec<u8>,
    /// SHA-256 of the key text: equal fingerprints mean WeChat did not rotate the key.
    pub fingerprint: KeyFingerprint,
}

/// The session to create for this login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Our id for the session, separate from the token (see [`new_id`]).
    pub session_id: Uuid,
    /// SHA-256 of the bearer token handed to the client.
    pub token_hash: TokenHash,
    /// Refresh-token family (JWT mode); `None` for plain opaque sessions.
    pub family_id: Option<Uuid>,
    /// End of the idle period; clamped to `absolute_expires_at` if later.
    pub idle_expires_at: OffsetDateTime,
    /// Hard end of the session, whatever the activity.
    pub absolute_expires_at: OffsetDateTime,
}

/// Everything one successful `jscode2session` exchange writes, in one transaction.
#[derive(Clone, PartialEq, Eq)]
pub struct NewLogin {
    /// The mini-program the user logged into.
    pub appid: String,
    /// The user's openid for that app (case-sensitive).
    pub openid: String,
    /// The unionid, when WeChat returned one. `None` never erases a known unionid.
    pub unionid: Option<String>,
    /// The session_key WeChat returned.
    pub session_key: NewSessionKey,
    /// The session to create.
    pub session: NewSession,
    /// Session cap and key-ring trimming.
    pub policy: LoginPolicy,
}

impl fmt::Debug for NewLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewLogin")
            .field("appid", &self.appid)
            .field("openid", &"<redacted>")
            .field("unionid", &self.unionid.as_ref().map(|_| "<redacted>"))
            .field("session", &self.session)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What [`record_login`](crate::LoginStore::record_login) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecorded {
    /// Our stable id for (appid, openid).
    pub user_id: Uuid,
    /// True when this login created the user.
    pub new_user: bool,
    /// True when the session_key differed from the ring's current key (or there was none).
    pub key_rotated: bool,
    /// Live sessions of this user that the cap evicted, oldest first.
    pub evicted_sessions: Vec<Uuid>,
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Our stable id.
    pub user_id: Uuid,
    /// The app this user belongs to.
    pub appid: String,
    /// WeChat's id of the user within the app.
    pub openid: String,
    /// WeChat's id of the user across the developer's apps, once known.
    pub unionid: Option<String>,
    /// First login.
    pub created_at: OffsetDateTime,
    /// Latest login (not refreshed by session renewal).
    pub last_login_at: OffsetDateTime,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("user_id", &self.user_id)
            .field("appid", &self.appid)
            .field("openid", &"<redacted>")
            .field("unionid", &self.unionid.as_ref().map(|_| "<redacted>"))
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .finish()
    }
}

/// A live session joined with its user: what token verification needs, in one read.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's own id.
    pub session_id: Uuid,
    /// The user it belongs to.
    pub user_id: Uuid,
    /// The app the session was issued for.
    pub appid: String,
    /// The user's openid.
    pub openid: String,
    /// The user's unionid, if known.
    pub unionid: Option<String>,
    /// Refresh-token family, if any.
    pub family_id: Option<Uuid>,
    /// When the session was issued.
    pub created_at: OffsetDateTime,
    /// Last sliding renewal (or creation).
    pub last_seen_at: OffsetDateTime,
    /// End of the idle period (never later than `absolute_expires_at`).
    pub idle_expires_at: OffsetDateTime,
    /// Hard end of the session.
    pub absolute_expires_at: OffsetDateTime,
}

impl SessionRecord {
    /// The earlier of the two deadlines: when the session stops being valid without renewal.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session is still valid at `now` (both deadlines strictly after it).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at() > now
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("appid", &self.appid)
            .field("openid", &"<redacted>")
            .field("unionid", &self.unionid.as_ref().map(|_| "<redacted>"))
            .field("family_id", &self.family_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .finish()
    }
}

/// One entry of a user's session_key ring, still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSessionKey {
    /// `at_rest` ciphertext; open it with the AAD of the user's (appid, openid).
    pub sealed: Vec<u8>,
    /// True for the key WeChat handed out last, while the user holds a live session.
    pub current: bool,
    /// When the key entered the ring.
    pub created_at: OffsetDateTime,
    /// When a newer key replaced it or the user's last session ended; `None` for the current
    /// key.
    pub retired_at: Option<OffsetDateTime>,
}

/// Bounds and retention for one [`purge`](crate::MaintenanceStore::purge) pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeLimits {
    /// At most this many rows of each kind are removed per call (default 500). Call again
    /// while [`PurgeReport::more`] is true.
    pub batch_size: u32,
    /// Users whose last login is at least this old and who hold no live session are deleted
    /// with everything they own (default 180 days).
    pub inactive_after: Duration,
    /// Retired session_keys older than this are dropped (default 10 minutes, the ring window),
    /// including the key retired when its user's last session ended.
    pub key_window: Duration,
}

impl Default for PurgeLimits {
    fn default() -> Self {
        Self {
            batch_size: 500,
            inactive_after: Duration::from_secs(180 * 24 * 3600),
            key_window: KeyRingPolicy::default().window,
        }
    }
}

/// What one purge pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Sessions past their idle or absolute deadline.
    pub expired_sessions: u64,
    /// Used-code records past their expiry.
    pub expired_login_codes: u64,
    /// Users holding no live session whose current key was retired (kept for the key window)
    /// or whose stored phone number was dropped.
    pub orphaned_key_rings: u64,
    /// Retired keys past the key window.
    pub retired_keys: u64,
    /// Inactive users deleted (with their expired sessions and keys).
    pub inactive_users: u64,
    /// True when some kind hit `batch_size`: there may be more to remove.
    pub more: bool,
}

/// The app's WeChat access_token as stored: sealed by [`AtRestKeys`](crate::at_rest::AtRestKeys)
/// with [`access_token_aad`](crate::at_rest::access_token_aad).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAccessToken {
    /// Ciphertext of the token text.
    pub sealed: Vec<u8>,
    /// When WeChat said the token expires.
    pub expires_at: OffsetDateTime,
    /// When it was fetched; a save never replaces a token fetched later.
    pub fetched_at: OffsetDateTime,
}

impl fmt::Debug for StoredAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAccessToken")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .finish_non_exhaustive()
    }
}

/// WeChat's limits on forced refreshes of the stable access_token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedRefreshPolicy {
    /// Consecutive forced refreshes must be at least this far apart (WeChat: 30 s).
    pub min_interval: Duration,
    /// At most this many a day (WeChat: 20), days counted in China Standard Time.
    pub daily_cap: u32,
}

impl Default for ForcedRefreshPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(30),
            daily_cap: 20,
        }
    }
}

/// A cluster secret as stored: `sealed` is the caller's at-rest ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// The secret's name, e.g. `jwt-signing/2026-11-24T00:00:00Z`.
    pub name: String,
    /// Ciphertext, opaque to the store.
    pub sealed: Vec<u8>,
    /// When the winner stored it.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Connection-pool bounds for the networked SQL backends (PostgreSQL, MySQL / MariaDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections one instance opens (default 16).
    pub max_connections: u32,
    /// Connections kept open when idle (default 1).
    pub min_connections: u32,
    /// How long a caller waits for a connection, including connecting, before the store
    /// counts as unavailable (default 5 s).
    pub acquire_timeout: Duration,
    /// Longest a single statement may run on the server before it is cancelled (default 5 s).
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// What [`SessionStore::rotate_token`](crate::SessionStore::rotate_token) did with a presented
/// refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the session's current one: the successor now is.
    Rotated(SessionRecord),
    /// The presented token was rotated out less than `grace` ago and the successor is still
    /// the current token (a lost response, two concurrent refreshes): nothing changed; the
    /// caller answers with the same successor again.
    Replayed(SessionRecord),
    /// The presented token was rotated out and then used again outside that grace: treated as
    /// theft, the whole session (the refresh family) was ended, with the epoch bumped.
    FamilyRevoked {
        /// The ended session.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
    },
    /// No live session knows the presented token.
    Unknown,
}
