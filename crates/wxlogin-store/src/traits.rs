//! The storage contract, as small capability traits joined by [`Store`].
//!
//! A part of the server that only verifies tokens can hold an `Arc<dyn SessionStore>`; the
//! server as a whole holds an `Arc<dyn Store>`. Every backend implements all five traits and
//! must pass the `conformance` suite (feature `conformance`) unchanged.
//!
//! Rules every implementation follows:
//! * **Time comes from the caller.** Methods that decide expiry take `now`; a record is live
//!   while its deadline is strictly after `now`. No database clock, no TTL.
//! * **Atomicity is per method.** Each method is one transaction (or one atomic statement);
//!   a method that returns `Err` has changed nothing.
//! * **Revocation epoch.** Every write that ends a session that may still be live
//!   (`end_session`, `end_user_sessions`, `delete_user`, cap eviction in `record_login`) bumps
//!   the epoch in the same transaction, so a process that reads a new epoch also sees the
//!   write. Purging already expired sessions does not bump it.
//! * **Personal-data minimisation, and the previous-key window.** When a user's last live
//!   session ends (logout, revocation, a family revocation, or expiry seen by the purge), their
//!   stored phone number is dropped and their current session_key is *retired* at that moment,
//!   in the same transaction. A retired key stays usable as a previous key for the key window
//!   (`KeyRingPolicy::window`, `PurgeLimits::key_window`): a client that gets a 401, calls
//!   `wx.login` (which rotates the key) and logs in again can still replay encryptedData it
//!   fetched under the old key. The purge removes the key once the window is over. Deleting
//!   the user is the exception: it removes everything at once.

use std::fmt::Debug;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{
    CodeHash, ForcedRefreshPolicy, KeyRingPolicy, LoginRecorded, NewLogin, PurgeLimits,
    PurgeReport, SealedSessionKey, SessionRecord, StoredAccessToken, StoredSecret, TokenHash,
    UserRecord,
};

/// Writes made by the login endpoint.
#[async_trait]
pub trait LoginStore: Send + Sync {
    /// Records one successful code exchange, all in one transaction:
    /// 1. upserts the user by (appid, openid): creates it, or refreshes `last_login_at` and sets
    ///    the unionid when one is given (a `None` never erases a known unionid);
    /// 2. updates the key ring: if the fingerprint differs from the current key's, the current
    ///    key is retired at `now` and the new one becomes current; retired keys beyond
    ///    `policy.key_ring` (count, window) are dropped either way;
    /// 3. inserts the session (a duplicate session id or token hash is
    ///    [`StoreError::Conflict`]);
    /// 4. deletes the user's sessions already expired at `now`, then evicts the oldest live
    ///    ones (by `created_at`) beyond `policy.max_sessions`, never the new one;
    /// 5. bumps the revocation epoch if anything live was evicted.
    ///
    /// Two concurrent logins of the same (appid, openid) yield one user and, within the cap,
    /// both sessions.
    async fn record_login(
        &self,
        login: NewLogin,
        now: OffsetDateTime,
    ) -> Result<LoginRecorded, StoreError>;

    /// Claims a login code for single use. Returns `true` for exactly one caller among all
    /// that present the same (appid, code_hash) while a claim is unexpired, even concurrently
    /// and across processes; `false` for every other. A record whose `expires_at <= now`
    /// counts as absent and is taken over. The caller passes `expires_at = now + 300 s`.
    async fn claim_login_code(
        &self,
        appid: &str,
        code_hash: &CodeHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Token verification and session lifetime.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The hot path: the session whose token hashes to `token_hash`, joined with its user, or
    /// `None` when unknown or expired at `now`. One indexed read, no write.
    async fn find_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Sliding renewal: sets `last_seen_at = now` and moves the idle deadline to
    /// `idle_expires_at`, capped at the absolute deadline and never moved backwards. Returns
    /// `false` (and changes nothing) when the session is missing or expired at `now`.
    async fn touch_session(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Ends one session (logout). Returns whether it existed. Bumps the epoch; if the user has
    /// no other session live at `now`, retires their current session_key at `now` (usable as a
    /// previous key for the key window) and drops their stored phone number. Once this
    /// returns, no `find_session` started afterwards returns the session.
    async fn end_session(&self, session_id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Ends every session of a user ("revoke all"), retires their current session_key at `now`
    /// and drops their stored phone number, as [`end_session`](Self::end_session) does with
    /// the last session. Returns how many sessions were removed; bumps the epoch when that is
    /// more than zero.
    async fn end_user_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// The live session with this id at `now`, joined with its user, or `None` (for access
    /// JWTs, whose `sid` claim is checked against the store on wxlogin's own routes). One
    /// indexed read, no write.
    async fn find_session_by_id(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Refresh-token rotation (JWT mode), atomic per session, so two instances can never both
    /// rotate one token. In one transaction:
    /// 1. a session live at `now` whose current token hash is `presented`: its token hash
    ///    becomes `successor`, `presented` is remembered as its previous hash with `now` as the
    ///    rotation time, and its idle deadline moves to `idle_expires_at` (capped at the
    ///    absolute deadline, never backwards) →
    ///    [`Rotation::Rotated`](crate::model::Rotation::Rotated) with the updated record;
    /// 2. otherwise a live session whose *previous* hash is `presented`: if its current hash
    ///    equals `successor` and it was rotated after `now - grace` →
    ///    [`Rotation::Replayed`](crate::model::Rotation::Replayed)
    ///    (no change); in every other case the session is ended exactly like
    ///    [`end_session`](Self::end_session) (epoch bumped, key retired with the last
    ///    session) → [`Rotation::FamilyRevoked`](crate::model::Rotation::FamilyRevoked);
    /// 3. otherwise [`Rotation::Unknown`](crate::model::Rotation::Unknown).
    ///
    /// A successor already used by another session is [`StoreError::Conflict`] and changes
    /// nothing. After a rotation `find_session(presented)` finds nothing and
    /// `find_session(successor)` finds the session.
    async fn rotate_token(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        grace: std::time::Duration,
    ) -> Result<crate::model::Rotation, StoreError>;

    /// The revocation epoch: grows (by at least one) with every session-ending write. Cheap
    /// enough to poll every few hundred milliseconds. Compare for inequality, not order: a
    /// recreated database starts again at zero.
    async fn revocation_epoch(&self) -> Result<u64, StoreError>;
}

/// Users and their session_key rings.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this (appid, openid), compared byte for byte.
    async fn find_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError>;

    /// The user with this id.
    async fn find_user_by_id(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// Deletes the user with their sessions, their whole key ring (retired keys included) and
    /// stored phone number, all at once: data deleted on request is not kept for any window.
    /// Returns whether the user existed; bumps the epoch when it did.
    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError>;

    /// The user's session_key ring as usable at `now`: the current key first, then retired
    /// keys newest first, only those retired after `now - policy.window` and at most
    /// `policy.keep_previous` of them. Empty when the user has no ring. Once the user's last
    /// session has ended there is no current key: only the retired ones still in their window,
    /// which a login within it keeps as previous keys of the new current one.
    async fn key_ring(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<Vec<SealedSessionKey>, StoreError>;

    /// Makes `key` the user's current session_key outside a login (an operator's
    /// `resetusersessionkey`), retiring the old one and trimming by `policy` exactly as
    /// `record_login` does. Returns `false` (changing nothing) when the user has no current
    /// key, i.e. no live session whose key could be replaced (retired keys do not count).
    async fn replace_session_key(
        &self,
        user_id: Uuid,
        key: crate::model::NewSessionKey,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<bool, StoreError>;

    /// Stores the user's verified phone number (sealed), replacing any previous one. Returns
    /// `false` when the user does not exist. Unlike the session_key, which is only retired, it
    /// is dropped at once when the user's last live session ends, with the user, and by purge
    /// when orphaned.
    async fn save_phone(
        &self,
        user_id: Uuid,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// The user's stored phone number (sealed), if any.
    async fn phone(&self, user_id: Uuid) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The app's WeChat access_token, shared by every instance on the store.
#[async_trait]
pub trait AccessTokenStore: Send + Sync {
    /// The stored token of `appid`, expired or not (the caller decides).
    async fn load_access_token(&self, appid: &str)
    -> Result<Option<StoredAccessToken>, StoreError>;

    /// Stores a freshly fetched token, unless one fetched later is already stored (a slow
    /// fetcher must not replace a newer token). Returns whether it was stored.
    async fn save_access_token(
        &self,
        appid: &str,
        token: StoredAccessToken,
    ) -> Result<bool, StoreError>;

    /// Claims the right to force-refresh the app's stable token at `now`: `true` for exactly
    /// one caller when the last forced refresh is at least `policy.min_interval` ago and fewer
    /// than `policy.daily_cap` happened this (UTC+8) day; the claim is recorded atomically.
    async fn claim_forced_refresh(
        &self,
        appid: &str,
        now: OffsetDateTime,
        policy: ForcedRefreshPolicy,
    ) -> Result<bool, StoreError>;
}

/// Secrets the cluster generates at run time (signing keys, HMAC keys), created once by one
/// winner and shared by every instance on the store. Values are sealed by the caller.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `sealed` under `name` unless a secret of that name already exists, and returns
    /// the secret now stored: ours, or the one an earlier (possibly concurrent) caller won with.
    /// Concurrent callers with different candidates all get the same winner.
    async fn secret_or_insert(
        &self,
        name: &str,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<StoredSecret, StoreError>;

    /// Every secret whose name starts with `prefix` (byte-wise), oldest first.
    async fn secrets_with_prefix(&self, prefix: &str) -> Result<Vec<StoredSecret>, StoreError>;
}

/// Housekeeping and health.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// One bounded purge pass, each kind in its own short transaction, at most
    /// `limits.batch_size` rows of each: sessions expired at `now`, used-code records expired
    /// at `now`, orphaned rings (users with no live session: their current key is retired at
    /// `now`, their phone dropped; keys already retired are left to the next step), retired
    /// keys older than `limits.key_window`, and users whose last login is at or before
    /// `now - limits.inactive_after` and who hold no live session (with everything they own).
    /// Never removes anything live, nor a retired key inside the window. Call again while
    /// [`PurgeReport::more`].
    async fn purge(
        &self,
        now: OffsetDateTime,
        limits: PurgeLimits,
    ) -> Result<PurgeReport, StoreError>;

    /// Succeeds when the store answers a trivial query (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Everything the server needs from storage; held as `Arc<dyn Store>`.
pub trait Store:
    LoginStore + SessionStore + UserStore + AccessTokenStore + SecretStore + MaintenanceStore + Debug
{
}

impl<T> Store for T where
    T: LoginStore
        + SessionStore
        + UserStore
        + AccessTokenStore
        + SecretStore
        + MaintenanceStore
        + Debug
{
}
