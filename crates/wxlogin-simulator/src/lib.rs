//! A faithful stand-in for `api.weixin.qq.com`, for offline development and for every test.
//!
//! It speaks WeChat's protocol from the server side, written straight from the team's protocol
//! reference (`wechat-protocol.md`), and deliberately shares no code with our WeChat client:
//! if both ends used one struct, a misspelled field would be wrong on both sides and every test
//! would still pass.
//!
//! # Layout
//!
//! - [`config`](SimulatorConfig): the `wxlogin simulate` configuration document.
//! - `world/`: what WeChat knows (apps, users, session_keys, login and phone codes; access
//!   tokens in `world/tokens.rs`). Pure state; time is always passed in, so its rules are
//!   unit-tested with exact instants.
//! - `wechat/`: one module per WeChat endpoint (`jscode2session`, `token`, `stable_token`,
//!   `getuserphonenumber`, `checksession`, `resetusersessionkey`), each opening with its table
//!   of checks and errcodes in order, dispatched from the `Endpoint` enum, plus what they share:
//!   query and JSON-body parsing, the access_token check, faults, statistics, WeChat's JSON.
//! - `control/`: the dev-only `/sim/*` API, one module per route.
//! - [`crypto`]: AES-128-CBC/PKCS#7 + base64, the HMAC-SHA256 login-state signature and the
//!   SHA-1 rawData signature, written here (RustCrypto primitives) and pinned by the
//!   protocol's vectors A–E, §5.1 and §7. Public so the binary's self-tests can read the wire.
//! - `device`: the open-data payloads the phone receives (§6.3 a/b, §7), as pure functions.
//! - `faults`, `stats`, `ids`: the fault queue, call counters, and identifier shapes.
//! - [`serve`] and [`TlsIdentity`]: HTTP or HTTPS on a bound listener, graceful shutdown.
//!
//! # Behaviour, and the choices made where WeChat's behaviour is unconfirmed
//!
//! - **Transport** (§1, §13.1): every WeChat-level error is HTTP 200 with
//!   `{"errcode":N,"errmsg":"<english>, rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}` and
//!   `Content-Type: application/json; charset=utf-8`. Unknown query parameters are ignored;
//!   a repeated parameter counts once (the first); an empty one counts as missing.
//! - **jscode2session** success is `{"session_key","openid"}` plus `"unionid"` only for an app
//!   with an `open_platform` (or a fixed user with a pinned one), never `errcode`/`errmsg`.
//!   The order of checks and the errcodes chosen for the unconfirmed cases (41002, 41004,
//!   40125, 40002, 41008) are in the table at the top of `wechat/jscode2session.rs`; a missing
//!   `grant_type` is 40002.
//! - **Codes are consumed only by a successful exchange.** Whether WeChat burns a code on a
//!   failed call is unconfirmed (§2); here 40226, 45011 and injected faults leave it usable
//!   (delay-only faults excepted: after the delay the call runs normally and consumes it).
//!   An expired code is 40029, even if it had been used.
//! - **45011**: attempts are counted per (appid, user) in fixed clock minutes
//!   (`unix_seconds / 60`), counting every exchange whose code resolves to a user, including
//!   the ones answered 40163, 40226 or 45011. Calls with an unknown code cannot be attributed
//!   to a user and are not counted.
//! - **session_key rotation** (§8.3): a login code (`/sim/login`) mints a new key when the user
//!   has none, when it expired (`session_key_lifetime`, absolute from creation), in `always`
//!   mode, or in `interval` mode when the key is at least `session_key_rotation_interval` old.
//!   An exchange returns the key current *at exchange time* (so a later login's rotation is
//!   visible through an earlier code: the decryption race); if that key expired meanwhile, a
//!   new one is minted rather than a dead one returned.
//! - **Identifiers** (§12): openids and unionids are derived from SHA-256 of (appid or Open
//!   Platform group, user handle), independent of the seed, so a handle is the same person across
//!   restarts. Codes, session_keys and rids come from one generator, seeded by `seed`.
//!   `[[fixed_users]]` pin openid, unionid and a session_key that never rotates nor expires; a
//!   pinned unionid is returned even if the app has no `open_platform` (the vector wins).
//! - **Faults** (§13.9): see `faults` for precedence (first queued fault that fires wins).
//!   `errcode`, `body` and `drop` faults short-circuit before the code is looked at. `malformed`
//!   is truncated JSON with the JSON content type; `html` is an nginx-style 502 page; `drop`
//!   closes the connection without a response. In `/sim/stats` these three count in `total` and
//!   under `"malformed"`, `"html"` and `"drop"` in `errcodes`; everything else under its errcode
//!   (`"0"` for success). `total` counts a call as it arrives, its outcome when it ends.
//! - **access_tokens** (§3, §13 items 5–7): `<2 digits>_<136 base64url chars>` (139 chars).
//!   Classic: every call mints; the previous token dies 300 s later (40001), any token past
//!   `access_token_lifetime` is 42001 — whichever death comes first decides the code. Stable:
//!   see the table in `wechat/stable_token.rs` (a refused force refresh behaves as normal
//!   mode and does not count; a forced refresh kills every earlier stable token with no grace;
//!   one past the daily cap is 45009). The families never touch each other. Using a token:
//!   missing 41001; longer than 512 or with a character outside `[0-9A-Za-z_-]` 40014;
//!   anything else unknown 40001. A wrong secret on a token fetch is 40001 when it has an
//!   AppSecret's shape (32 hex digits), else 40125; a missing `grant_type` is 40002.
//!   Quotas count calls whose credentials check out (a stranger cannot burn an app's quota);
//!   days are Beijing days (UTC+8), minutes are clock minutes. Defaults: classic 2000/day
//!   (WeChat's mini-program figure is unpublished; 2000 is the Official Account one), stable
//!   10 000/min and 500 000/day, 20 forced refreshes/day.
//! - **POST bodies** are read as JSON whatever the Content-Type: empty is 44002, anything but
//!   a JSON object 47001, a field of the wrong type 47001; GET on a POST endpoint is 43002.
//! - **getuserphonenumber**: phone codes (64 hex) come from `/sim/phone`, bound to app and
//!   user, live `phone_code_lifetime` (300 s), single use; unknown, foreign, expired and used
//!   are all 40029, as is a missing `code`. An `openid` that is not the code's user is also
//!   40029 (WeChat's code for it is unpublished) and leaves the code usable; only success
//!   consumes a code. `countryCode` is the string `"86"`; numbers are mainland numbers. The
//!   watermark timestamp is when the button was tapped.
//! - **checksession / resetusersessionkey**: the token check, then `sig_method` (87008,
//!   missing counts as wrong), then `openid` (missing or not a user of the token's app: 40003),
//!   then the signature (87009; hex compared ignoring case, over the *live* key — expired,
//!   rotated or reset keys fail). Reset also counts per app (60 000/min) before the signature,
//!   and throttles successful resets per user (default 5 per clock minute, then 45011; WeChat
//!   publishes no figure). The new key keeps the old expiry and mints a new `created_at`, so
//!   `interval` rotation counts from the reset.
//! - **Device side**: `/sim/user-info` and `/sim/phone` seal with the user's key current at
//!   that moment and a fresh random IV (from the seeded generator); a user with no live key is
//!   409. User info is the post-2022 profile (`微信用户`, gender 0, `zh_CN`, empty places, the
//!   grey default avatar); `openId` / `unionId` appear only inside encryptedData. The default
//!   phone number is derived from the user handle (the same in every app). `wx.checkSession`
//!   (`/sim/check-session`) is false for a user who never logged in, once the key expired, and
//!   after a server-side reset until the next `/sim/login`.
//! - **Admin**: `/sim/session-key/rotate` mints a new key (fresh lifetime) that the device
//!   holds but the server does not (the old key dies); `/sim/session-key/expire` expires it now.
//!   Both work on fixed users too (a fixed user loses its pin once expired). `/sim/tokens/revoke`
//!   kills every token of an app, as an AppSecret reset would.
//! - **`bad_token` fault** (`{"endpoint": "token" | "stable_token", "bad_token": true, …}`):
//!   the call succeeds but mints a token that every API refuses with 40001. For
//!   `stable_token` that token becomes the current one, so normal-mode fetches keep returning
//!   it (the "same failing token comes back" case) until a forced refresh or its expiry; the
//!   previous token is handed over as usual.
//! - **Control API** bodies are JSON (no `Content-Type` required), at most 16 KiB; bad input is
//!   a 400 `{"error": "…"}`, a device action for a user with no live session_key a 409.
//!   Unknown routes are 404.
//! - **Logs** never carry secrets, session_keys, codes or openids; user handles appear at debug.

mod config;
mod control;
pub mod crypto;
mod device;
mod error;
mod faults;
mod ids;
mod serve;
mod stats;
mod tls;
mod wechat;
mod world;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use time::OffsetDateTime;
use wxlogin_clock::{Clock, OffsetClock};
use wxlogin_config::ConfigSchema;

pub use config::{AppSpec, DEMO_APPID, DEMO_SECRET, FixedUser, RotationMode, SimulatorConfig};
pub use error::SimulatorError;
pub use serve::serve;
pub use tls::TlsIdentity;

use faults::FaultBook;
use stats::Stats;
use world::World;

/// The simulated WeChat: cheap to clone, every clone sees the same state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

struct Shared {
    clock: Arc<OffsetClock>,
    /// A std `Mutex`, not Tokio's: every critical section is short, synchronous bookkeeping
    /// (a few map lookups and a random draw), never held across an `.await`. A blocking lock is
    /// then both faster and simpler, and the compiler enforces the no-await rule because the
    /// guard is not `Send`. (mini-redis's `db.rs` makes the same argument.)
    state: Mutex<State>,
}

/// Everything that changes, behind the one lock.
pub(crate) struct State {
    pub(crate) world: World,
    pub(crate) faults: FaultBook,
    pub(crate) stats: Stats,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator with the given configuration, reading time from `clock` (which
    /// `POST /sim/clock` advances). The configuration is validated here too, so hand-built ones
    /// get the same checks as loaded ones.
    pub fn new(config: SimulatorConfig, clock: Arc<OffsetClock>) -> Result<Self, SimulatorError> {
        let config = config.finish()?;
        let world = World::new(&config, clock.now());
        let state = State {
            world,
            faults: FaultBook::default(),
            stats: Stats::default(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                clock,
                state: Mutex::new(state),
            }),
        })
    }

    /// Every WeChat endpoint and `/sim/*` control route; 404 for anything else.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(wechat::routes())
            .merge(control::routes())
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// Locks the state. A poisoned lock is taken over: a panic mid-update can at worst leave
    /// one simulated user's bookkeeping half-done, which beats a simulator that 500s forever.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.shared.clock.now()
    }

    pub(crate) fn clock(&self) -> &OffsetClock {
        &self.shared.clock
    }
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "not found" })),
    )
}
