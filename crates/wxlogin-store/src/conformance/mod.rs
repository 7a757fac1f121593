//! The conformance suite: one `async fn` per property of the [`Store`] contract.
//!
//! Every backend runs the whole suite unchanged. Each property takes a fresh, empty store,
//! drives it only through the trait, and panics with a message starting `conformance:` when
//! the backend breaks the contract. Time is passed in explicitly (starting at [`T0`]), so
//! expiry is tested without sleeping.
//!
//! A backend's test file is a few lines:
//!
//! ```ignore
//! use wxlogin_store::conformance::TestStore;
//! use wxlogin_store::SqliteStore;
//!
//! wxlogin_store::conformance_tests!({
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SqliteStore::open_path(&dir.path().join("t.db")).await.unwrap();
//!     TestStore::new(store).keep_alive(dir)
//! });
//! ```
//!
//! The factory block is evaluated inside an `async` block once per test, on a multi-threaded
//! Tokio runtime the suite builds itself (so the backend's crate needs no Tokio dev-dependency
//! for this). Whatever must outlive the store (a temporary directory, a database schema guard)
//! goes into [`TestStore::keep_alive`].

mod codes;
mod concurrency;
mod keys;
mod purge;
mod retention;
mod rotation;
mod sessions;
mod tokens;
mod users;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::{
    KeyFingerprint, LoginPolicy, NewLogin, NewSession, NewSessionKey, TokenHash, new_id,
};
use crate::traits::Store;

pub use codes::*;
pub use concurrency::*;
pub use keys::*;
pub use purge::*;
pub use retention::*;
pub use rotation::*;
pub use sessions::*;
pub use tokens::*;
pub use users::*;

/// The instant every property starts from.
pub const T0: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00:00 UTC);
/// Default idle lifetime used by the suite's logins.
pub const IDLE: Duration = Duration::days(7);
/// Default absolute lifetime used by the suite's logins.
pub const ABSOLUTE: Duration = Duration::days(30);
/// The app most properties use.
pub const APP: &str = "wx0000000000000001";

/// A store under test, plus whatever must live as long as it.
pub struct TestStore {
    store: Arc<dyn Store>,
    guards: Vec<Box<dyn Any + Send>>,
}

impl TestStore {
    /// Wraps a backend.
    pub fn new(store: impl Store + 'static) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Wraps a backend already behind an `Arc`.
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            guards: Vec::new(),
        }
    }

    /// Keeps `guard` alive until the property finished (e.g. a `tempfile::TempDir`).
    pub fn keep_alive(mut self, guard: impl Any + Send) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }
}

/// Builds a store with `factory` and runs `property` against it on a fresh multi-threaded
/// runtime. Used by [`conformance_tests!`](crate::conformance_tests).
pub fn run<F, P, Fut>(factory: F, property: P)
where
    F: Future<Output = TestStore>,
    P: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("conformance: cannot build a Tokio runtime");
    runtime.block_on(async move {
        let fixture = factory.await;
        property(fixture.store()).await;
        drop(fixture);
    });
}

/// Expands to one `#[test]` per conformance property, each building its store with the given
/// factory expression (evaluated inside an `async` block; it may `.await`; it must yield a
/// [`TestStore`](crate::conformance::TestStore)).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_tests!(
            $factory;
            login_creates_user_then_reuses_it,
            unionid_set_later_is_never_erased,
            openid_case_and_app_make_distinct_users,
            unicode_and_long_values_round_trip,
            duplicate_token_hash_is_a_conflict_and_changes_nothing,
            key_ring_rotates_only_on_a_new_fingerprint,
            key_ring_trims_by_count,
            key_ring_trims_by_window,
            session_found_until_idle_expiry,
            session_ends_at_absolute_expiry_despite_renewal,
            touch_extends_but_never_past_absolute,
            touch_of_missing_or_expired_session_is_a_noop,
            end_session_is_immediate_and_retires_key_with_last_session,
            end_user_sessions_ends_all,
            delete_user_removes_everything,
            session_cap_evicts_oldest,
            expired_sessions_do_not_count_against_the_cap,
            revocation_epoch_grows_only_on_session_ending_writes,
            claim_login_code_first_wins_and_expired_is_reclaimable,
            concurrent_claims_of_one_code_have_one_winner,
            concurrent_logins_of_one_user_make_one_user,
            end_session_racing_find_session_never_resurrects,
            purge_removes_expired_and_keeps_live,
            purge_works_in_bounded_batches,
            purge_eventually_drops_every_orphaned_ring,
            logout_of_the_last_session_retires_the_key_for_the_window,
            delete_user_leaves_no_key,
            orphan_purge_retires_keys_and_removes_them_after_the_window,
            access_token_round_trips_and_newer_wins,
            forced_refresh_is_spaced_and_capped,
            concurrent_forced_refresh_claims_have_one_winner,
            phone_is_stored_and_dropped_with_the_last_session,
            replace_session_key_rotates_the_ring,
            cluster_secret_has_one_winner,
            find_session_by_id_sees_only_live_sessions,
            rotation_moves_the_token_and_the_idle_deadline,
            replay_within_grace_is_replayed_and_changes_nothing,
            replay_after_grace_revokes_the_family,
            replay_with_another_successor_revokes_even_within_grace,
            rotation_chain_remembers_one_generation,
            unknown_or_expired_tokens_are_unknown,
            successor_of_another_session_is_a_conflict,
            concurrent_rotations_to_one_successor_rotate_once,
            concurrent_rotations_to_different_successors_revoke,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($factory:expr; $($property:ident),+ $(,)?) => {
        $(
            #[test]
            fn $property() {
                $crate::conformance::run(async { $factory }, $crate::conformance::$property);
            }
        )+
    };
}

// ---- helpers shared by the properties -----------------------------------------------------

/// `T0 + seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// A login of (`appid`, `openid`) at `now` with session_key text `key`, a fresh random token,
/// the default policy, idle [`IDLE`] and absolute [`ABSOLUTE`] lifetimes.
pub fn login(appid: &str, openid: &str, key: &str, now: OffsetDateTime) -> NewLogin {
    let token = format!("wxl_{}", Uuid::new_v4().simple());
    NewLogin {
        appid: appid.to_owned(),
        openid: openid.to_owned(),
        unionid: None,
        session_key: NewSessionKey {
            // Opaque to the store; real callers pass `at_rest` ciphertext.
            sealed: sealed(key),
            fingerprint: KeyFingerprint::of(key),
        },
        session: NewSession {
            session_id: new_id(now),
            token_hash: TokenHash::of(token),
            family_id: None,
            idle_expires_at: now + IDLE,
            absolute_expires_at: now + ABSOLUTE,
        },
        policy: LoginPolicy::default(),
    }
}

/// The stand-in "ciphertext" the suite stores for key text `key`.
pub fn sealed(key: &str) -> Vec<u8> {
    format!("sealed:{key}").into_bytes()
}

/// The suite's panic prefix, so a failure names the contract and not just a line.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        assert!($cond, "conformance: {}", format!($($msg)+))
    };
}

macro_rules! check_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        assert_eq!($left, $right, "conformance: {}", format!($($msg)+))
    };
}

pub(crate) use {check, check_eq};

/// Unwraps a store result, failing the property with the operation's name.
pub(crate) trait Expect<T> {
    fn or_fail(self, what: &str) -> T;
}

impl<T> Expect<T> for Result<T, crate::StoreError> {
    fn or_fail(self, what: &str) -> T {
        match self {
            Ok(value) => value,
            Err(err) => panic!("conformance: {what} failed: {err} ({err:?})"),
        }
    }
}
