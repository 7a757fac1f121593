//! The `wxlogin simulate` configuration document.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use wxlogin_config::{
    ConfigError, ConfigSchema, ExposeSecret, SecretString, deserialize_duration,
    deserialize_optional_secret, resolve_secret,
};

/// The AppID of the app served when the configuration names none.
pub const DEMO_APPID: &str = "wx1234567890abcdef";
/// The AppSecret of the demo app. Public on purpose: it only ever unlocks the simulator.
pub const DEMO_SECRET: &str = "wxlogin-demo-secret-not-for-production";

/// Everything the simulator can be told.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Log filter, in `tracing` env-filter syntax.
    #[serde(default = "default_log")]
    pub log: String,
    /// Seeds the one random generator behind codes, session_keys, rids and fault dice.
    /// Unset: seeded from the operating system.
    #[serde(default)]
    pub seed: Option<u64>,
    /// When issuing a login code mints a new session_key.
    #[serde(default)]
    pub session_key_rotation: RotationMode,
    /// In `interval` mode, the shortest time between two rotations of one user's key.
    #[serde(
        default = "default_rotation_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub session_key_rotation_interval: Duration,
    /// How long a session_key lives, counted from its creation (not sliding).
    #[serde(
        default = "default_key_lifetime",
        deserialize_with = "deserialize_duration"
    )]
    pub session_key_lifetime: Duration,
    /// How long a login code can be exchanged.
    #[serde(
        default = "default_code_lifetime",
        deserialize_with = "deserialize_duration"
    )]
    pub code_lifetime: Duration,
    /// jscode2session calls allowed per user per clock minute before 45011.
    #[serde(default = "default_per_minute")]
    pub jscode2session_per_user_per_minute: u32,
    /// Lifetime of every access_token, classic and stable (`expires_in` of a new token).
    #[serde(
        default = "default_token_lifetime",
        deserialize_with = "deserialize_duration"
    )]
    pub access_token_lifetime: Duration,
    /// `cgi-bin/token` calls per app per (Beijing) day before 45009. WeChat's figure for
    /// mini-programs is unpublished; 2000 is the Official Account figure.
    #[serde(default = "default_token_daily_quota")]
    pub token_daily_quota: u32,
    /// `cgi-bin/stable_token` calls per app per clock minute before 45011.
    #[serde(default = "default_stable_per_minute")]
    pub stable_token_per_minute: u32,
    /// `cgi-bin/stable_token` calls per app per day before 45009.
    #[serde(default = "default_stable_daily_quota")]
    pub stable_token_daily_quota: u32,
    /// Effective `force_refresh` calls per app per day; the next one is 45009.
    #[serde(default = "default_force_refresh_daily")]
    pub stable_token_force_refresh_daily: u32,
    /// How long a phone code from `/sim/phone` can be redeemed.
    #[serde(
        default = "default_code_lifetime",
        deserialize_with = "deserialize_duration"
    )]
    pub phone_code_lifetime: Duration,
    /// `resetusersessionkey` calls per app per clock minute before 45011.
    #[serde(default = "default_resets_per_minute")]
    pub resetusersessionkey_per_minute: u32,
    /// Successful resets of one user per clock minute; the next is 45011 (WeChat only says
    /// "frequent resets of the same user are not allowed").
    #[serde(default = "default_resets_per_user")]
    pub resetusersessionkey_per_user_per_minute: u32,
    /// Serve HTTPS with a freshly generated certificate.
    #[serde(default)]
    pub tls: bool,
    /// Where to write the generated CA certificate (PEM); see [`Self::tls_ca_path`].
    #[serde(default)]
    pub tls_ca_out: Option<PathBuf>,
    /// The mini-programs WeChat knows. Empty: one demo app ([`DEMO_APPID`], [`DEMO_SECRET`]).
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// Users whose identity and session_key are pinned, e.g. to replay protocol vectors.
    #[serde(default)]
    pub fixed_users: Vec<FixedUser>,
}

/// When a `wx.login` mints a new session_key (protocol §8.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotationMode {
    /// Every login code comes with a new key: reproduces the decryption race on demand.
    Always,
    /// At most one rotation per `session_key_rotation_interval` (unless the key expired).
    #[default]
    Interval,
}

/// `[[apps]]`: one mini-program.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The AppID.
    pub appid: String,
    /// The AppSecret, inline or through `secret_file`; required.
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    pub secret: Option<SecretString>,
    /// A file holding the AppSecret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The Open Platform account this app is bound to; apps sharing it share unionids.
    #[serde(default)]
    pub open_platform: Option<String>,
    /// User handles WeChat's risk control blocks (40226).
    #[serde(default)]
    pub high_risk_users: Vec<String>,
}

impl AppSpec {
    /// An unbound app with no high-risk users.
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            appid: appid.into(),
            secret: Some(SecretString::from(secret.into())),
            secret_file: None,
            open_platform: None,
            high_risk_users: Vec::new(),
        }
    }
}

/// `[[fixed_users]]`: a user whose openid, unionid and session_key are given, not derived.
/// The key never rotates and never expires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedUser {
    pub appid: String,
    /// The handle `/sim/login` is called with.
    pub user: String,
    pub openid: String,
    /// Returned as given, even for an app without an `open_platform` (a vector pins what it
    /// pins). When absent, derived from the app's `open_platform`, if it has one.
    #[serde(default)]
    pub unionid: Option<String>,
    pub session_key: SecretString,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            log: default_log(),
            seed: None,
            session_key_rotation: RotationMode::default(),
            session_key_rotation_interval: default_rotation_interval(),
            session_key_lifetime: default_key_lifetime(),
            code_lifetime: default_code_lifetime(),
            jscode2session_per_user_per_minute: default_per_minute(),
            access_token_lifetime: default_token_lifetime(),
            token_daily_quota: default_token_daily_quota(),
            stable_token_per_minute: default_stable_per_minute(),
            stable_token_daily_quota: default_stable_daily_quota(),
            stable_token_force_refresh_daily: default_force_refresh_daily(),
            phone_code_lifetime: default_code_lifetime(),
            resetusersessionkey_per_minute: default_resets_per_minute(),
            resetusersessionkey_per_user_per_minute: default_resets_per_user(),
            tls: false,
            tls_ca_out: None,
            apps: Vec::new(),
            fixed_users: Vec::new(),
        }
    }
}

impl SimulatorConfig {
    /// Where the CA certificate goes: `tls_ca_out`, else `wxlogin-simulator-ca.pem` in the
    /// system's temporary directory.
    pub fn tls_ca_path(&self) -> PathBuf {
        self.tls_ca_out
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("wxlogin-simulator-ca.pem"))
    }
}

impl ConfigSchema for SimulatorConfig {
    const TOP_LEVEL_KEYS: &'static [&'static str] = &[
        "listen",
        "log",
        "seed",
        "session_key_rotation",
        "session_key_rotation_interval",
        "session_key_lifetime",
        "code_lifetime",
        "jscode2session_per_user_per_minute",
        "access_token_lifetime",
        "token_daily_quota",
        "stable_token_per_minute",
        "stable_token_daily_quota",
        "stable_token_force_refresh_daily",
        "phone_code_lifetime",
        "resetusersessionkey_per_minute",
        "resetusersessionkey_per_user_per_minute",
        "tls",
        "tls_ca_out",
        "apps",
        "fixed_users",
    ];

    /// Reads `secret_file`s, adds the demo app when none is configured, and checks what types
    /// cannot. Idempotent, so [`crate::Simulator::new`] can run it on hand-built configs too.
    fn finish(mut self) -> Result<Self, ConfigError> {
        if self.apps.is_empty() {
            self.apps.push(AppSpec::new(DEMO_APPID, DEMO_SECRET));
        }
        for (i, app) in self.apps.iter_mut().enumerate() {
            let key = format!("apps[{i}].secret");
            if app.appid.trim().is_empty() {
                return Err(invalid(format!("apps[{i}].appid"), "must not be empty"));
            }
            app.secret =
                resolve_secret(&key, app.secret.take(), app.secret_file.take().as_deref())?;
            if app
                .secret
                .as_ref()
                .is_none_or(|s| s.expose_secret().is_empty())
            {
                return Err(ConfigError::Missing {
                    key,
                    hint: format!("set `secret` or `secret_file` for app {}", app.appid),
                });
            }
        }
        let mut seen = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            if !seen.insert(app.appid.as_str()) {
                return Err(invalid(
                    format!("apps[{i}].appid"),
                    format!("{} is configured twice", app.appid),
                ));
            }
        }
        self.check_fixed_users()?;
        for (key, value) in [
            ("code_lifetime", self.code_lifetime),
            ("session_key_lifetime", self.session_key_lifetime),
            ("access_token_lifetime", self.access_token_lifetime),
            ("phone_code_lifetime", self.phone_code_lifetime),
        ] {
            if value.is_zero() {
                return Err(invalid(key.into(), "must be greater than zero"));
            }
        }
        for (key, value) in [
            (
                "jscode2session_per_user_per_minute",
                self.jscode2session_per_user_per_minute,
            ),
            ("token_daily_quota", self.token_daily_quota),
            ("stable_token_per_minute", self.stable_token_per_minute),
            ("stable_token_daily_quota", self.stable_token_daily_quota),
            (
                "resetusersessionkey_per_minute",
                self.resetusersessionkey_per_minute,
            ),
            (
                "resetusersessionkey_per_user_per_minute",
                self.resetusersessionkey_per_user_per_minute,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key.into(), "must be at least 1"));
            }
        }
        Ok(self)
    }
}

impl SimulatorConfig {
    fn check_fixed_users(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, fixed) in self.fixed_users.iter().enumerate() {
            if !self.apps.iter().any(|a| a.appid == fixed.appid) {
                return Err(invalid(
                    format!("fixed_users[{i}].appid"),
                    format!("{} is not one of the configured apps", fixed.appid),
                ));
            }
            if !seen.insert((fixed.appid.as_str(), fixed.user.as_str())) {
                return Err(invalid(
                    format!("fixed_users[{i}].user"),
                    format!("{} is pinned twice for {}", fixed.user, fixed.appid),
                ));
            }
            if fixed.openid.is_empty() {
                return Err(invalid(
                    format!("fixed_users[{i}].openid"),
                    "must not be empty",
                ));
            }
            let decoded = STANDARD.decode(fixed.session_key.expose_secret());
            if decoded.map(|bytes| bytes.len()) != Ok(16) {
                return Err(invalid(
                    format!("fixed_users[{i}].session_key"),
                    "must be standard base64 of 16 bytes (24 characters ending in `==`)",
                ));
            }
        }
        Ok(())
    }
}

fn invalid(key: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9100))
}

fn default_log() -> String {
    "info".into()
}

fn default_rotation_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_key_lifetime() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}

fn default_code_lifetime() -> Duration {
    Duration::from_secs(300)
}

fn default_per_minute() -> u32 {
    100
}

fn default_token_lifetime() -> Duration {
    Duration::from_secs(7200)
}

fn default_token_daily_quota() -> u32 {
    2000
}

fn default_stable_per_minute() -> u32 {
    10_000
}

fn default_stable_daily_quota() -> u32 {
    500_000
}

fn default_force_refresh_daily() -> u32 {
    20
}

fn default_resets_per_minute() -> u32 {
    60_000
}

fn default_resets_per_user() -> u32 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<SimulatorConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, toml_text).unwrap();
        wxlogin_config::load::<SimulatorConfig>(Some(&path))
            .map(|loaded| loaded.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_file_serves_the_demo_app_with_documented_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(config.apps.len(), 1);
        assert_eq!(config.apps[0].appid, DEMO_APPID);
        assert_eq!(
            config.apps[0].secret.as_ref().unwrap().expose_secret(),
            DEMO_SECRET
        );
        assert_eq!(config.session_key_rotation, RotationMode::Interval);
        assert_eq!(
            config.session_key_rotation_interval,
            Duration::from_secs(60)
        );
        assert_eq!(config.session_key_lifetime, Duration::from_secs(259_200));
        assert_eq!(config.code_lifetime, Duration::from_secs(300));
        assert_eq!(config.jscode2session_per_user_per_minute, 100);
        assert_eq!(config.access_token_lifetime, Duration::from_secs(7200));
        assert_eq!(config.token_daily_quota, 2000);
        assert_eq!(config.stable_token_per_minute, 10_000);
        assert_eq!(config.stable_token_daily_quota, 500_000);
        assert_eq!(config.stable_token_force_refresh_daily, 20);
        assert_eq!(config.phone_code_lifetime, Duration::from_secs(300));
        assert_eq!(config.resetusersessionkey_per_minute, 60_000);
        assert_eq!(config.resetusersessionkey_per_user_per_minute, 5);
        assert!(parse("stable_token_per_minute = 0").is_err());
        assert!(parse("access_token_lifetime = 0").is_err());
        assert!(config.tls_ca_path().ends_with("wxlogin-simulator-ca.pem"));
    }

    #[test]
    fn durations_take_seconds_or_units_and_rotation_takes_its_two_words() {
        let config = parse(
            r#"
            session_key_rotation = "always"
            session_key_rotation_interval = "2m"
            code_lifetime = 30
            [[apps]]
            appid = "wx0000000000000001"
            secret = "s"
            open_platform = "g"
            high_risk_users = ["mallory"]
            "#,
        )
        .unwrap();
        assert_eq!(config.session_key_rotation, RotationMode::Always);
        assert_eq!(
            config.session_key_rotation_interval,
            Duration::from_secs(120)
        );
        assert_eq!(config.code_lifetime, Duration::from_secs(30));
        assert_eq!(config.apps.len(), 1, "no demo app next to configured ones");
        assert!(parse("session_key_rotation = \"sometimes\"").is_err());
    }

    #[test]
    fn fixed_users_are_checked_against_their_app() {
        let app = "[[apps]]\nappid = \"wxa\"\nsecret = \"s\"\n";
        let user = "[[fixed_users]]\nappid = \"wxa\"\nuser = \"u\"\nopenid = \"o1\"\n";
        let good_key = "session_key = \"tiihtNczf5v6AKRyjwEUhQ==\"\n";
        assert!(parse(&format!("{app}{user}{good_key}")).is_ok());

        let err = parse(&format!("{app}{user}session_key = \"c2hvcnQ=\"\n")).unwrap_err();
        assert!(err.contains("fixed_users[0].session_key"), "{err}");
        assert!(!err.contains("c2hvcnQ="), "the key is not echoed: {err}");

        let pinned = parse(&format!("{app}{user}{good_key}unionid = \"ou\"\n")).unwrap();
        assert_eq!(pinned.fixed_users[0].unionid.as_deref(), Some("ou"));

        let err = parse(&format!(
            "{app}{}{good_key}",
            user.replace("\"wxa\"", "\"wxb\"")
        ))
        .unwrap_err();
        assert!(err.contains("fixed_users[0].appid"), "{err}");
    }

    #[test]
    fn unknown_keys_and_duplicate_apps_are_refused() {
        let err = parse("sesion_key_rotation = \"always\"").unwrap_err();
        assert!(err.contains("sesion_key_rotation"), "{err}");
        let app = "[[apps]]\nappid = \"wxa\"\nsecret = \"s\"\n";
        let err = parse(&format!("{app}{app}")).unwrap_err();
        assert!(err.contains("configured twice"), "{err}");
        let err = parse("[[apps]]\nappid = \"wxa\"\n").unwrap_err();
        assert!(err.contains("apps[0].secret"), "{err}");
    }

    #[test]
    fn finishing_twice_is_harmless() {
        let config = SimulatorConfig::default().finish().unwrap();
        let again = config.finish().unwrap();
        assert_eq!(again.apps.len(), 1);
    }
}
