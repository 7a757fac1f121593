//! What WeChat knows: apps, users, their session_keys, and outstanding login codes.
//!
//! Pure state, no I/O: every method takes the current time as an argument, so the rules below
//! are unit-tested with exact instants. The endpoint modules combine these primitives in the
//! order WeChat checks things; this module only keeps the books.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};
use wxlogin_config::{ExposeSecret, SecretString};

use crate::config::{RotationMode, SimulatorConfig};
use crate::ids;

/// The rules that come from configuration, converted once to `time` durations.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) rotation: RotationMode,
    pub(crate) rotation_interval: Duration,
    pub(crate) key_lifetime: Duration,
    pub(crate) code_lifetime: Duration,
    pub(crate) exchanges_per_minute: u32,
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
        }
    }
}

/// A registered mini-program.
#[derive(Debug)]
pub(crate) struct App {
    secret: SecretString,
    open_platform: Option<String>,
    high_risk_users: HashSet<String>,
}

impl App {
    /// Whether `secret` is this app's AppSecret.
    pub(crate) fn secret_matches(&self, secret: &str) -> bool {
        self.secret.expose_secret() == secret
    }

    pub(crate) fn is_high_risk(&self, user: &str) -> bool {
        self.high_risk_users.contains(user)
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
    codes: HashMap<String, LoginCode>,
    /// Purge expired codes once the table reaches this size (amortised O(1) per code).
    purge_threshold: usize,
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
                };
                (spec.appid.clone(), app)
            })
            .collect();
        let mut users = HashMap::new();
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
            let user = User {
                openid: fixed.openid.clone(),
                unionid,
                key: Some(key),
                minute: (0, 0),
            };
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
            codes: HashMap::new(),
            purge_threshold: 64,
            rng,
        }
    }

    pub(crate) fn app(&self, appid: &str) -> Option<&App> {
        self.apps.get(appid)
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
            .or_insert_with(|| User {
                openid: ids::openid(appid, user),
                unionid: group.map(|g| ids::unionid(&g, user)),
                key: None,
                minute: (0, 0),
            });
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
