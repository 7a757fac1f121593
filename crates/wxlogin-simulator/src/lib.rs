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
//! - `world`: what WeChat knows (apps, users, session_keys, login codes). Pure state; time is
//!   always passed in, so its rules are unit-tested with exact instants.
//! - `wechat/`: one module per WeChat endpoint (today `jscode2session`), dispatched from the
//!   `Endpoint` enum, plus what they share: query parsing, faults, statistics, WeChat's JSON.
//! - `control/`: the dev-only `/sim/*` API, one module per route.
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
//! - **Control API** bodies are JSON (no `Content-Type` required), at most 16 KiB; bad input is
//!   a 400 `{"error": "…"}`. Unknown routes are 404.
//! - **Logs** never carry secrets, session_keys, codes or openids; user handles appear at debug.

mod config;
mod control;
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
