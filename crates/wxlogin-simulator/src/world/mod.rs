//! What WeChat knows: apps, users, their session_keys, and outstanding login codes.
//!
//! Pure state, no I/O: every method takes the current time as an argument, so the rules below
//! are unit-tested with exact instants. The endpoint modules combine these primitives in the
//! order WeChat checks things; this module only keeps the books. access_tokens have their own
//! submodule, [`tokens`].

mod tokens;

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};
use wxlogin_config::{ExposeSecret, SecretString};

use crate::config::{RotationMode, SimulatorConfig};
use crate::ids;

pub(crate) use tokens::{Issued, TokenBook, TokenRules};

/// The rules that come from configuration, converted once to `time` durations.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) rotation: RotationMode,
    pub(crate) rotation_interval: Duration,
    pub(crate) key_lifetime: Duration,
    pub(crate) code_lifetime: Duration,
    pub(crate) exchanges_per_minute: u32,
    pub(crate) tokens: TokenRules,
    pub(crate) phone_code_lifetime: Duration,
    /// `resetusersessionkey` calls per app per clock minute.
    pub(crate) resets_per_minute: u32,
    /// Successful resets of one user per clock minute.
    pub(crate) resets_per_user_per_minute: u32,
}

impl Rules {
    fn from_config(config: &SimulatorConfig) -> Self {
        let convert = |d: std::time::Duration| Duration::try_from(d).unwrap_or(Duration::MAX);
        Self {
            rotation: config.session_key_rotation,
            rotation_interval: convert(config.session_key_rotation_interval),
            key_lifetime: convert(config.session_key_lifetime),
            code_lifetime: convert(config.code_lifetime),
            exchanges_per_minute: config.jscode2session_per_user_per_minute,
            tokens: TokenRules {
                lifetime: convert(config.access_token_lifetime),
                classic_daily: config.token_daily_quota,
                stable_per_minute: config.stable_token_per_minute,
                stable_daily: config.stable_token_daily_quota,
                forced_daily: config.stable_token_force_refresh_daily,
            },
            phone_code_lifetime: convert(config.phone_code_lifetime),
            resets_per_minute: config.resetusersessionkey_per_minute,
            resets_per_user_per_minute: config.resetusersessionkey_per_user_per_minute,
        }
    }
}

/// A fixed-window counter: how many hits fell into the window with the given index.
#[derive(Debug, Default, Clone)]
pub(crate) struct Window {
    index: i64,
    count: u32,
}

impl Window {
    /// Counts one hit in window `index`; returns the count in it, this hit included.
    pub(crate) fn hit(&mut self, index: i64) -> u32 {
        if self.index != index {
            *self = Self { index, count: 0 };
        }
        self.count = self.count.saturating_add(1);
        self.count
    }

    /// The hits so far in window `index`.
    pub(crate) fn count(&self, index: i64) -> u32 {
        if self.index == index { self.count } else { 0 }
    }
}

/// The clock minute of `now` (`unix_seconds / 60`), for per-minute limits.
pub(crate) fn minute_index(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(60)
}

/// The day of `now` for daily quotas. WeChat's days are Beijing days (UTC+8, no DST), so
/// quotas roll over at 16:00 UTC.
pub(crate) fn day_index(now: OffsetDateTime) -> i64 {
    (now.unix_timestamp() + 8 * 3600).div_euclid(86_400)
}

/// A registered mini-program.
#[derive(Debug)]
pub(crate) struct App {
    secret: SecretString,
    open_platform: Option<String>,
    high_risk_users: HashSet<String>,
    /// `resetusersessionkey` calls this minute.
    resets: Window,
}

impl App {
    /// Whether `secret` is this app's AppSecret.
    pub(crate) fn secret_matches(&self, secret: &str) -> bool {
        self.secret.expose_secret() == secret
    }

    pub(crate) fn is_high_risk(&self, user: &str) -> bool {
        self.high_risk_users.contains(user)
    }

    /// Counts one `resetusersessionkey` call; `false` once past `limit` this minute.
    pub(crate) fn count_reset(&mut self, limit: u32, now: OffsetDateTime) -> bool {
        self.resets.hit(minute_index(now)) <= limit
    }
}

/// One session_key generation of one user.
#[derive(Debug, Clone)]
pub(crate) struct SessionKey {
    pub(crate) value: String,
    /// When this key was minted; `interval` rotation counts from here.
    pub(crate) created_at: OffsetDateTime,
    /// `None` for a pinned key, which never expires. A future server-side reset keeps the old
    /// key's expiry (protocol §5.3), which is why expiry is stored rather than recomputed.
    pub(crate) expires_at: Option<OffsetDateTime>,
}

impl SessionKey {
    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// Whether issuing a login code at `now` must mint a new key (protocol §8.3, §13 item 3).
pub(crate) fn needs_rotation(
    rules: &Rules,
    current: Option<&SessionKey>,
    now: OffsetDateTime,
) -> bool {
    match current {
        None => true,
        Some(key) if key.expires_at.is_none() => false,
        Some(key) if key.is_expired(now) => true,
        Some(key) => match rules.rotation {
            RotationMode::Always => true,
            RotationMode::Interval => now - key.created_at >= rules.rotation_interval,
        },
    }
}

/// A simulated person as one mini-program sees them.
#[derive(Debug)]
struct User {
    openid: String,
    unionid: Option<String>,
    key: Option<SessionKey>,
    /// The clock minute (`unix_seconds / 60`) being counted, and the exchanges in it.
    minute: (i64, u32),
    /// Successful server-side resets this minute.
    resets: Window,
    /// The key was reset (or expired by an admin) since the device's last `wx.login`: what
    /// the device holds is stale, and `wx.checkSession` fails until the next login.
    stale_on_device: bool,
}

impl User {
    fn new(openid: String, unionid: Option<String>, key: Option<SessionKey>) -> Self {
        Self {
            openid,
            unionid,
            key,
            minute: (0, 0),
            resets: Window::default(),
            stale_on_device: false,
        }
    }

    /// The key, if it is alive at `now`.
    fn live_key(&self, now: OffsetDateTime) -> Option<&SessionKey> {
        self.key.as_ref().filter(|key| !key.is_expired(now))
    }
}

/// A phone code from the phone button (§4, §13 item 8).
#[derive(Debug)]
struct PhoneCode {
    appid: String,
    user: String,
    number: String,
    issued_at: OffsetDateTime,
    used: bool,
}

/// Why the simulated device cannot do what a control route asked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeviceError {
    UnknownApp,
    /// The user has never logged in to this app, or their key expired: `wx.login` first.
    NotLoggedIn,
}

/// A logged-in user as the device sees them.
#[derive(Debug, Clone)]
pub(crate) struct LiveUser {
    pub(crate) openid: String,
    pub(crate) unionid: Option<String>,
    pub(crate) session_key: String,
}

/// What a successful `getuserphonenumber` returns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PhoneGrant {
    pub(crate) number: String,
    /// When the user authorised it: the watermark timestamp.
    pub(crate) issued_at: i64,
}

/// A login code from `wx.login`.
#[derive(Debug)]
struct LoginCode {
    appid: String,
    user: String,
    issued_at: OffsetDateTime,
    used: bool,
}

/// What a code turned out to be, for the appid that presented it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeLookup {
    /// Unknown, expired, or issued for another app: all 40029 to the caller.
    Invalid,
    /// A live code of this app's `user`.
    Valid { user: String, used: bool },
}

/// What a successful exchange returns.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) openid: String,
    pub(crate) unionid: Option<String>,
    pub(crate) session_key: String,
}

/// The simulator's whole mutable state except faults and statistics.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) rules: Rules,
    apps: HashMap<String, App>,
    /// Keyed by (appid, user handle).
    users: HashMap<(String, String), User>,
    /// (appid, openid) → user handle, for the APIs that name users by openid.
    by_openid: HashMap<(String, String), String>,
    codes: HashMap<String, LoginCode>,
    /// Purge expired codes once the table reaches this size (amortised O(1) per code).
    purge_threshold: usize,
    phone_codes: HashMap<String, PhoneCode>,
    phone_purge_threshold: usize,
    pub(crate) tokens: TokenBook,
    /// The one random generator: codes, keys, rids, fault dice. One generator, used in
    /// request order, is what makes a seeded run reproducible.
    pub(crate) rng: StdRng,
}

impl World {
    /// Builds the world from a finished (validated) configuration.
    pub(crate) fn new(config: &SimulatorConfig, now: OffsetDateTime) -> Self {
        let apps: HashMap<String, App> = config
            .apps
            .iter()
            .map(|spec| {
                let app = App {
                    secret: SecretString::from(
                        spec.secret
                            .as_ref()
                            .map(|s| s.expose_secret().to_owned())
                            .unwrap_or_default(),
                    ),
                    open_platform: spec.open_platform.clone(),
                    high_risk_users: spec.high_risk_users.iter().cloned().collect(),
                    resets: Window::default(),
                };
                (spec.appid.clone(), app)
            })
            .collect();
        let mut users = HashMap::new();
        let mut by_openid = HashMap::new();
        for fixed in &config.fixed_users {
            let group = apps
                .get(&fixed.appid)
                .and_then(|a| a.open_platform.as_deref());
            let unionid = fixed
                .unionid
                .clone()
                .or_else(|| group.map(|g| ids::unionid(g, &fixed.user)));
            let key = SessionKey {
                value: fixed.session_key.expose_secret().to_owned(),
                created_at: now,
                expires_at: None,
            };
            let user = User::new(fixed.openid.clone(), unionid, Some(key));
            by_openid.insert(
                (fixed.appid.clone(), fixed.openid.clone()),
                fixed.user.clone(),
            );
            users.insert((fixed.appid.clone(), fixed.user.clone()), user);
        }
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            rules: Rules::from_config(config),
            apps,
            users,
            by_openid,
            codes: HashMap::new(),
            purge_threshold: 64,
            phone_codes: HashMap::new(),
            phone_purge_threshold: 64,
            tokens: TokenBook::default(),
            rng,
        }
    }

    pub(crate) fn app(&self, appid: &str) -> Option<&App> {
        self.apps.get(appid)
    }

    pub(crate) fn app_mut(&mut self, appid: &str) -> Option<&mut App> {
        self.apps.get_mut(appid)
    }

    /// `wx.login()` for `user` of `appid`: rotates the key if the rules say so and issues a
    /// code. Returns `(code, openid)`, or `None` for an unknown app.
    pub(crate) fn login(
        &mut self,
        appid: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Option<(String, String)> {
        let group = self.apps.get(appid)?.open_platform.clone();
        let record = self
            .users
            .entry((appid.to_owned(), user.to_owned()))
            .or_insert_with(|| {
                let openid = ids::openid(appid, user);
                self.by_openid
                    .insert((appid.to_owned(), openid.clone()), user.to_owned());
                User::new(openid, group.map(|g| ids::unionid(&g, user)), None)
            });
        record.stale_on_device = false;
        if needs_rotation(&self.rules, record.key.as_ref(), now) {
            record.key = Some(SessionKey {
                value: ids::session_key(&mut self.rng),
                created_at: now,
                expires_at: Some(now.saturating_add(self.rules.key_lifetime)),
            });
        }
        let openid = record.openid.clone();

        self.purge_codes(now);
        let code = loop {
            let code = ids::login_code(&mut self.rng);
            if !self.codes.contains_key(&code) {
                break code;
            }
        };
        let entry = LoginCode {
            appid: appid.to_owned(),
            user: user.to_owned(),
            issued_at: now,
            used: false,
        };
        self.codes.insert(code.clone(), entry);
        Some((code, openid))
    }

    /// Looks a code up as presented by `appid`.
    pub(crate) fn lookup_code(&self, appid: &str, code: &str, now: OffsetDateTime) -> CodeLookup {
        match self.codes.get(code) {
            Some(c) if c.appid == appid && now - c.issued_at < self.rules.code_lifetime => {
                CodeLookup::Valid {
                    user: c.user.clone(),
                    used: c.used,
                }
            }
            _ => CodeLookup::Invalid,
        }
    }

    /// Counts one exchange attempt for the user and returns the count in the current minute.
    pub(crate) fn count_exchange(&mut self, appid: &str, user: &str, now: OffsetDateTime) -> u32 {
        let minute = now.unix_timestamp().div_euclid(60);
        let Some(record) = self.users.get_mut(&(appid.to_owned(), user.to_owned())) else {
            return 0;
        };
        if record.minute.0 != minute {
            record.minute = (minute, 0);
        }
        record.minute.1 = record.minute.1.saturating_add(1);
        record.minute.1
    }

    /// Marks `code` used and returns the identity its user has *now*.
    ///
    /// The key returned is the current one, not the one current when the code was issued: a
    /// later `wx.login` may have rotated it (the §8.3 race). If it expired since, WeChat would
    /// not hand out a dead key, so a fresh one is minted.
    pub(crate) fn consume_code(&mut self, code: &str, now: OffsetDateTime) -> Option<Identity> {
        let entry = self.codes.get_mut(code)?;
        entry.used = true;
        let record = self
            .users
            .get_mut(&(entry.appid.clone(), entry.user.clone()))?;
        if record.key.as_ref().is_none_or(|k| k.is_expired(now)) {
            record.key = Some(SessionKey {
                value: ids::session_key(&mut self.rng),
                created_at: now,
                expires_at: Some(now.saturating_add(self.rules.key_lifetime)),
            });
        }
        Some(Identity {
            openid: record.openid.clone(),
            unionid: record.unionid.clone(),
            session_key: record.key.as_ref()?.value.clone(),
        })
    }

    fn user(&self, appid: &str, user: &str) -> Result<&User, DeviceError> {
        if !self.apps.contains_key(appid) {
            return Err(DeviceError::UnknownApp);
        }
        self.users
            .get(&(appid.to_owned(), user.to_owned()))
            .ok_or(DeviceError::NotLoggedIn)
    }

    fn user_mut(&mut self, appid: &str, user: &str) -> Result<&mut User, DeviceError> {
        if !self.apps.contains_key(appid) {
            return Err(DeviceError::UnknownApp);
        }
        self.users
            .get_mut(&(appid.to_owned(), user.to_owned()))
            .ok_or(DeviceError::NotLoggedIn)
    }

    /// The user's openid in this app.
    pub(crate) fn openid_of(&self, appid: &str, user: &str) -> Result<String, DeviceError> {
        Ok(self.user(appid, user)?.openid.clone())
    }

    /// The user and the key current *now*, which is what the device seals open data with.
    pub(crate) fn live_user(
        &self,
        appid: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<LiveUser, DeviceError> {
        let record = self.user(appid, user)?;
        let key = record.live_key(now).ok_or(DeviceError::NotLoggedIn)?;
        Ok(LiveUser {
            openid: record.openid.clone(),
            unionid: record.unionid.clone(),
            session_key: key.value.clone(),
        })
    }

    /// What `wx.checkSession` answers: the key from the device's last login is still the
    /// user's live key (not expired, not reset since).
    pub(crate) fn device_session_valid(
        &self,
        appid: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<bool, DeviceError> {
        match self.user(appid, user) {
            Ok(record) => Ok(!record.stale_on_device && record.live_key(now).is_some()),
            Err(DeviceError::NotLoggedIn) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The phone button: a new phone code for (appid, user) carrying `number`.
    pub(crate) fn issue_phone_code(
        &mut self,
        appid: &str,
        user: &str,
        number: String,
        now: OffsetDateTime,
    ) -> String {
        self.purge_phone_codes(now);
        let code = loop {
            let code = ids::phone_code(&mut self.rng);
            if !self.phone_codes.contains_key(&code) {
                break code;
            }
        };
        let entry = PhoneCode {
            appid: appid.to_owned(),
            user: user.to_owned(),
            number,
            issued_at: now,
            used: false,
        };
        self.phone_codes.insert(code.clone(), entry);
        code
    }

    /// `getuserphonenumber`'s rules for the code: unknown, another app's, expired, used, or
    /// (when `openid` is given) another user's are all 40029. Only success consumes it.
    pub(crate) fn redeem_phone_code(
        &mut self,
        appid: &str,
        code: &str,
        openid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<PhoneGrant, i64> {
        let lifetime = self.rules.phone_code_lifetime;
        let entry = self.phone_codes.get(code).ok_or(40029)?;
        if entry.appid != appid || entry.used || now - entry.issued_at >= lifetime {
            return Err(40029);
        }
        if let Some(openid) = openid {
            let owner = self
                .users
                .get(&(entry.appid.clone(), entry.user.clone()))
                .map(|user| user.openid.as_str());
            if owner != Some(openid) {
                return Err(40029);
            }
        }
        let entry = self.phone_codes.get_mut(code).ok_or(40029)?;
        entry.used = true;
        Ok(PhoneGrant {
            number: entry.number.clone(),
            issued_at: entry.issued_at.unix_timestamp(),
        })
    }

    /// The user handle behind `openid` in `appid`; 40003 if there is none.
    fn handle_of(&self, appid: &str, openid: &str) -> Result<String, i64> {
        self.by_openid
            .get(&(appid.to_owned(), openid.to_owned()))
            .cloned()
            .ok_or(40003)
    }

    /// `checksession`'s test (§5.2): `signature` (hex, any case) is the §5.1 signature over ""
    /// of the user's live key. 40003 for an openid this app never saw, else 87009.
    pub(crate) fn check_signature(
        &self,
        appid: &str,
        openid: &str,
        signature: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), i64> {
        let handle = self.handle_of(appid, openid)?;
        let record = self.user(appid, &handle).map_err(|_| 40003)?;
        let key = record.live_key(now).ok_or(87009)?;
        let expected = crate::crypto::login_signature(&key.value, b"");
        match signature {
            Some(given) if given.eq_ignore_ascii_case(&expected) => Ok(()),
            _ => Err(87009),
        }
    }

    /// `resetusersessionkey` once the signature checked out (§5.3): a fresh key that keeps
    /// the old key's expiry; the old key dies at once. 45011 past the per-user throttle.
    pub(crate) fn reset_key(
        &mut self,
        appid: &str,
        openid: &str,
        now: OffsetDateTime,
    ) -> Result<String, i64> {
        let handle = self.handle_of(appid, openid)?;
        let limit = self.rules.resets_per_user_per_minute;
        let value = ids::session_key(&mut self.rng);
        let record = self.user_mut(appid, &handle).map_err(|_| 40003)?;
        if record.resets.count(minute_index(now)) >= limit {
            return Err(45011);
        }
        record.resets.hit(minute_index(now));
        let expires_at = record.key.as_ref().and_then(|key| key.expires_at);
        record.key = Some(SessionKey {
            value: value.clone(),
            created_at: now,
            expires_at,
        });
        record.stale_on_device = true;
        Ok(value)
    }

    /// Admin: WeChat mints the user a new key with a fresh lifetime, as a `wx.login` whose code
    /// never reached the server would. The device holds it, so `wx.checkSession` succeeds.
    pub(crate) fn rotate_key(
        &mut self,
        appid: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<(), DeviceError> {
        let value = ids::session_key(&mut self.rng);
        let lifetime = self.rules.key_lifetime;
        let record = self.user_mut(appid, user)?;
        record.key = Some(SessionKey {
            value,
            created_at: now,
            expires_at: Some(now.saturating_add(lifetime)),
        });
        record.stale_on_device = false;
        Ok(())
    }

    /// Admin: the user's key expires now (pinned keys too); the next login mints a new one.
    pub(crate) fn expire_key(
        &mut self,
        appid: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<(), DeviceError> {
        let record = self.user_mut(appid, user)?;
        if let Some(key) = record.key.as_mut() {
            key.expires_at = Some(key.expires_at.map_or(now, |at| at.min(now)));
        }
        Ok(())
    }

    fn purge_phone_codes(&mut self, now: OffsetDateTime) {
        if self.phone_codes.len() < self.phone_purge_threshold {
            return;
        }
        let lifetime = self.rules.phone_code_lifetime;
        self.phone_codes.retain(|_, c| now - c.issued_at < lifetime);
        self.phone_purge_threshold = (self.phone_codes.len() * 2).max(64);
    }

    /// Drops codes past their lifetime. An expired code answers 40029 whether or not it is
    /// still in the table, so forgetting it changes no answer.
    fn purge_codes(&mut self, now: OffsetDateTime) {
        if self.codes.len() < self.purge_threshold {
            return;
        }
        let lifetime = self.rules.code_lifetime;
        self.codes.retain(|_, c| now - c.issued_at < lifetime);
        self.purge_threshold = (self.codes.len() * 2).max(64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppSpec, FixedUser};

    const APP: &str = "wx0000000000000001";

    fn start() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_040).unwrap()
    }

    fn world(mode: RotationMode) -> World {
        let config = SimulatorConfig {
            seed: Some(1),
            session_key_rotation: mode,
            apps: vec![AppSpec::new(APP, "secret")],
            ..SimulatorConfig::default()
        };
        World::new(&config, start())
    }

    fn login_and_exchange(world: &mut World, user: &str, now: OffsetDateTime) -> String {
        let (code, _) = world.login(APP, user, now).unwrap();
        world.consume_code(&code, now).unwrap().session_key
    }

    #[test]
    fn rotation_rules() {
        let rules = world(RotationMode::Interval).rules;
        let t0 = start();
        let key = SessionKey {
            value: "k".into(),
            created_at: t0,
            expires_at: Some(t0 + Duration::days(3)),
        };
        let pinned = SessionKey {
            expires_at: None,
            ..key.clone()
        };
        assert!(needs_rotation(&rules, None, t0), "first login mints a key");
        assert!(!needs_rotation(
            &rules,
            Some(&key),
            t0 + Duration::seconds(59)
        ));
        assert!(needs_rotation(
            &rules,
            Some(&key),
            t0 + Duration::seconds(60)
        ));
        assert!(!needs_rotation(
            &rules,
            Some(&pinned),
            t0 + Duration::days(30)
        ));

        let always = Rules {
            rotation: RotationMode::Always,
            ..rules.clone()
        };
        assert!(needs_rotation(&always, Some(&key), t0));
        assert!(!needs_rotation(&always, Some(&pinned), t0));

        let long_interval = Rules {
            rotation_interval: Duration::days(10),
            ..rules
        };
        assert!(!needs_rotation(
            &long_interval,
            Some(&key),
            t0 + Duration::days(2)
        ));
        assert!(
            needs_rotation(&long_interval, Some(&key), t0 + Duration::days(3)),
            "an expired key is replaced whatever the interval"
        );
    }

    #[test]
    fn interval_mode_keeps_the_key_within_the_interval() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        let k1 = login_and_exchange(&mut world, "alice", t0);
        let k2 = login_and_exchange(&mut world, "alice", t0 + Duration::seconds(30));
        let k3 = login_and_exchange(&mut world, "alice", t0 + Duration::seconds(61));
        assert_eq!(k1, k2);
        assert_ne!(k2, k3);
        assert_ne!(
            k1,
            login_and_exchange(&mut world, "bob", t0),
            "keys are per user"
        );
    }

    #[test]
    fn always_mode_rotates_on_every_login_and_exchange_returns_the_current_key() {
        let mut world = world(RotationMode::Always);
        let t0 = start();
        let (first, _) = world.login(APP, "alice", t0).unwrap();
        let (second, _) = world.login(APP, "alice", t0).unwrap();
        let newest = world.consume_code(&second, t0).unwrap().session_key;
        let late = world.consume_code(&first, t0).unwrap().session_key;
        assert_eq!(
            late, newest,
            "the older code yields the key current at exchange"
        );
    }

    #[test]
    fn codes_expire_belong_to_one_app_and_remember_use() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        let (code, _) = world.login(APP, "alice", t0).unwrap();
        let valid = CodeLookup::Valid {
            user: "alice".into(),
            used: false,
        };
        assert_eq!(
            world.lookup_code(APP, &code, t0 + Duration::seconds(299)),
            valid
        );
        assert_eq!(
            world.lookup_code(APP, &code, t0 + Duration::seconds(300)),
            CodeLookup::Invalid
        );
        assert_eq!(
            world.lookup_code("wx0000000000000002", &code, t0),
            CodeLookup::Invalid
        );
        world.consume_code(&code, t0).unwrap();
        assert_eq!(
            world.lookup_code(APP, &code, t0),
            CodeLookup::Valid {
                user: "alice".into(),
                used: true
            }
        );
        assert!(world.login("wx-unknown", "alice", t0).is_none());
    }

    #[test]
    fn the_exchange_counter_resets_with_the_clock_minute() {
        let mut world = world(RotationMode::Interval);
        let t0 = start(); // on a minute boundary
        world.login(APP, "alice", t0).unwrap();
        assert_eq!(world.count_exchange(APP, "alice", t0), 1);
        assert_eq!(
            world.count_exchange(APP, "alice", t0 + Duration::seconds(59)),
            2
        );
        assert_eq!(
            world.count_exchange(APP, "alice", t0 + Duration::seconds(60)),
            1
        );
    }

    #[test]
    fn fixed_users_keep_their_pinned_key_forever() {
        let config = SimulatorConfig {
            session_key_rotation: RotationMode::Always,
            apps: vec![AppSpec::new(APP, "secret")],
            fixed_users: vec![FixedUser {
                appid: APP.into(),
                user: "vector-a".into(),
                openid: "oGZUI0egBJY1zhBYw2KhdUfwVJJE".into(),
                unionid: None,
                session_key: SecretString::from("tiihtNczf5v6AKRyjwEUhQ==".to_owned()),
            }],
            ..SimulatorConfig::default()
        };
        let mut world = World::new(&config, start());
        let later = start() + Duration::days(365);
        let (code, openid) = world.login(APP, "vector-a", later).unwrap();
        assert_eq!(openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        let identity = world.consume_code(&code, later).unwrap();
        assert_eq!(identity.session_key, "tiihtNczf5v6AKRyjwEUhQ==");
        assert_eq!(identity.unionid, None);
    }

    #[test]
    fn phone_codes_are_single_use_per_app_and_expire() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        let (_, openid) = world.login(APP, "alice", t0).unwrap();
        let code = world.issue_phone_code(APP, "alice", "13800138000".into(), t0);
        assert_eq!(
            world.redeem_phone_code("wx0000000000000002", &code, None, t0),
            Err(40029)
        );
        assert_eq!(
            world.redeem_phone_code(APP, &code, Some("o-someone-else"), t0),
            Err(40029)
        );
        let grant = world
            .redeem_phone_code(APP, &code, Some(&openid), t0 + Duration::seconds(299))
            .unwrap();
        assert_eq!(grant.number, "13800138000");
        assert_eq!(grant.issued_at, t0.unix_timestamp());
        assert_eq!(world.redeem_phone_code(APP, &code, None, t0), Err(40029));

        let late = world.issue_phone_code(APP, "alice", "13800138000".into(), t0);
        assert_eq!(
            world.redeem_phone_code(APP, &late, None, t0 + Duration::seconds(300)),
            Err(40029)
        );
    }

    #[test]
    fn signatures_reset_and_the_device_view() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        let (code, openid) = world.login(APP, "alice", t0).unwrap();
        let key = world.consume_code(&code, t0).unwrap().session_key;
        let signature = crate::crypto::login_signature(&key, b"");
        assert_eq!(
            world.check_signature(APP, &openid, Some(&signature), t0),
            Ok(())
        );
        let upper = signature.to_ascii_uppercase();
        assert_eq!(
            world.check_signature(APP, &openid, Some(&upper), t0),
            Ok(())
        );
        assert_eq!(world.check_signature(APP, &openid, None, t0), Err(87009));
        assert_eq!(
            world.check_signature(APP, "o-nobody", Some(&signature), t0),
            Err(40003)
        );
        assert_eq!(world.device_session_valid(APP, "alice", t0), Ok(true));
        assert_eq!(world.device_session_valid(APP, "nobody", t0), Ok(false));

        let later = t0 + Duration::seconds(10);
        let fresh = world.reset_key(APP, &openid, later).unwrap();
        assert_ne!(fresh, key);
        assert_eq!(
            world.check_signature(APP, &openid, Some(&signature), later),
            Err(87009),
            "the old key dies at once"
        );
        let new_signature = crate::crypto::login_signature(&fresh, b"");
        assert_eq!(
            world.check_signature(APP, &openid, Some(&new_signature), later),
            Ok(())
        );
        assert_eq!(world.device_session_valid(APP, "alice", later), Ok(false));
        let expiry = t0 + Duration::days(3);
        assert_eq!(
            world.check_signature(APP, &openid, Some(&new_signature), expiry),
            Err(87009),
            "the reset key kept the old key's expiry"
        );
        world.login(APP, "alice", later).unwrap();
        assert_eq!(world.device_session_valid(APP, "alice", later), Ok(true));
    }

    #[test]
    fn resets_of_one_user_are_throttled_per_minute() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        let (_, openid) = world.login(APP, "alice", t0).unwrap();
        for _ in 0..5 {
            world.reset_key(APP, &openid, t0).unwrap();
        }
        assert_eq!(world.reset_key(APP, &openid, t0), Err(45011));
        assert!(
            world
                .reset_key(APP, &openid, t0 + Duration::seconds(60))
                .is_ok()
        );
    }

    #[test]
    fn admin_rotate_and_expire() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        assert_eq!(
            world.rotate_key(APP, "alice", t0),
            Err(DeviceError::NotLoggedIn)
        );
        assert_eq!(
            world.rotate_key("wx-unknown", "alice", t0),
            Err(DeviceError::UnknownApp)
        );
        let key = login_and_exchange(&mut world, "alice", t0);
        world.rotate_key(APP, "alice", t0).unwrap();
        let rotated = world.live_user(APP, "alice", t0).unwrap().session_key;
        assert_ne!(rotated, key);
        assert_eq!(world.device_session_valid(APP, "alice", t0), Ok(true));
        world.expire_key(APP, "alice", t0).unwrap();
        assert_eq!(
            world.live_user(APP, "alice", t0).unwrap_err(),
            DeviceError::NotLoggedIn
        );
        assert_eq!(world.device_session_valid(APP, "alice", t0), Ok(false));
        assert_ne!(login_and_exchange(&mut world, "alice", t0), rotated);
    }

    #[test]
    fn windows_count_per_index() {
        let mut window = Window::default();
        assert_eq!(window.hit(5), 1);
        assert_eq!(window.hit(5), 2);
        assert_eq!(window.count(5), 2);
        assert_eq!(window.count(6), 0);
        assert_eq!(window.hit(6), 1);
        // 16:00 UTC is Beijing midnight.
        let before = OffsetDateTime::from_unix_timestamp(1_700_063_999).unwrap();
        assert_eq!(
            day_index(before) + 1,
            day_index(before + Duration::seconds(1))
        );
    }

    #[test]
    fn expired_codes_are_eventually_forgotten() {
        let mut world = world(RotationMode::Interval);
        let t0 = start();
        for _ in 0..100 {
            world.login(APP, "alice", t0).unwrap();
        }
        let later = t0 + Duration::seconds(301);
        for _ in 0..100 {
            world.login(APP, "alice", later).unwrap();
        }
        assert!(world.codes.len() <= 128, "{} codes kept", world.codes.len());
    }
}
