//! The `wxlogin serve` / `wxlogin dev` configuration document.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    ConfigError, ConfigSchema, ForwardAuthConfig, IntrospectionConfig, JwtConfig,
    deserialize_duration, deserialize_optional_duration, deserialize_optional_secret,
    resolve_secret,
};

/// Where WeChat's API lives unless told otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

/// The login server's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Log filter, in `tracing` env-filter syntax (`info`, `wxlogin=debug,info`).
    #[serde(default = "default_log")]
    pub log: String,
    /// How to reach WeChat.
    #[serde(default)]
    pub wechat: WeChatConfig,
    /// The mini-programs this server logs users in for.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Where the embedded store and its generated at-rest key live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The store: `sqlite://PATH` (default: `wxlogin.db` in `data_dir`). May hold a password,
    /// so it is a secret (`database_url_file` works too).
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    pub database_url: Option<SecretString>,
    #[serde(default)]
    database_url_file: Option<PathBuf>,
    /// Keys that encrypt session_keys at rest: `id:base64(32 bytes)`, comma-separated, the
    /// first seals. Generated into `data_dir` when absent (embedded store only).
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    pub at_rest_keys: Option<SecretString>,
    #[serde(default)]
    at_rest_keys_file: Option<PathBuf>,
    /// `[database]`: pool bounds and migrations for PostgreSQL / MySQL.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Redis for cluster coordination (`redis://HOST:PORT/DB`, `rediss://` for TLS): the
    /// access_token refresh lock, rate-limit counters, the login-code fast path, cache
    /// invalidation nudges and the single purge runner. Optional; a secret (`redis_url_file`).
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    pub redis_url: Option<SecretString>,
    #[serde(default)]
    redis_url_file: Option<PathBuf>,
    /// `[redis]`: timeouts for the Redis layer.
    #[serde(default)]
    pub redis: RedisConfig,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// One log line per request.
    #[serde(default)]
    pub access_log: bool,
    /// Keep verified phone numbers (encrypted) so `/v1/session` shows them to backends.
    /// Off by default: personal data.
    #[serde(default)]
    pub store_phone_numbers: bool,
    /// `[sessions]`: lifetimes, caps, the cache.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// `[limits]`: abuse limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[purge]`: the background clean-up of expired data.
    #[serde(default)]
    pub purge: PurgeConfig,
    /// `[forward_auth]`: `GET /v1/auth` for gateways.
    #[serde(default)]
    pub forward_auth: ForwardAuthConfig,
    /// `[introspection]`: service clients of `/oauth2/introspect` and `/oauth2/revoke`.
    #[serde(default)]
    pub introspection: IntrospectionConfig,
    /// `[jwt]`: access JWTs and refresh-token rotation; off by default.
    #[serde(default)]
    pub jwt: JwtConfig,
}

/// `[sessions]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    #[serde(deserialize_with = "deserialize_duration")]
    pub idle_timeout: Duration,
    #[serde(deserialize_with = "deserialize_duration")]
    pub absolute_lifetime: Duration,
    /// Devices per user; the oldest session is evicted beyond it.
    pub max_per_user: u32,
    /// Sliding renewal writes at most once per this interval per session. Default: 1 % of
    /// `idle_timeout` (about 100 minutes for 7 days), which keeps renewal writes rare on the
    /// verification hot path while an active session still never idles out.
    #[serde(deserialize_with = "deserialize_optional_duration")]
    pub renew_interval: Option<Duration>,
    /// Previous session_keys kept per user, and for how long.
    pub previous_keys: u32,
    #[serde(deserialize_with = "deserialize_duration")]
    pub previous_key_window: Duration,
    /// Users with no login for this long are deleted.
    #[serde(deserialize_with = "deserialize_duration")]
    pub inactive_user_retention: Duration,
    /// Sessions held in memory (0 = no cache).
    pub cache_capacity: usize,
    /// How often the store's revocation epoch is polled: the most an operator command run in
    /// another process can take to reach this server's cache.
    #[serde(deserialize_with = "deserialize_duration")]
    pub revocation_poll: Duration,
    /// On a shared store (PostgreSQL, MySQL): the session cache serves an entry only while a
    /// revocation-epoch read started within this bound confirmed it, and a logout (or revoke,
    /// delete, eviction) waits this long before answering, so no instance can still accept
    /// the ended session afterwards. Smaller is a shorter logout and more epoch reads (three
    /// per bound per instance).
    #[serde(deserialize_with = "deserialize_duration")]
    pub shared_cache_lease: Duration,
}

impl SessionsConfig {
    /// The renewal interval in force: configured, or 1 % of the idle timeout (at least 1 s).
    pub fn effective_renew_interval(&self) -> Duration {
        self.renew_interval
            .unwrap_or_else(|| (self.idle_timeout / 100).max(Duration::from_secs(1)))
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            idle_timeout: Duration::from_secs(7 * DAY),
            absolute_lifetime: Duration::from_secs(30 * DAY),
            max_per_user: 10,
            renew_interval: None,
            previous_keys: 2,
            previous_key_window: Duration::from_secs(600),
            inactive_user_retention: Duration::from_secs(180 * DAY),
            cache_capacity: 200_000,
            revocation_poll: Duration::from_secs(1),
            shared_cache_lease: Duration::from_millis(250),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failed logins (bad or used code, bad request) per client IP per minute; 0 = off.
    pub failed_logins_per_ip_per_minute: u32,
    /// Logins per appid per minute; 0 = off (the default: one attacker must not be able to
    /// lock out a whole app).
    pub logins_per_app_per_minute: u32,
    /// Failed decrypts per user per `decrypt_failure_window`.
    pub decrypt_failures_per_user: u32,
    #[serde(deserialize_with = "deserialize_duration")]
    pub decrypt_failure_window: Duration,
    /// `/v1/phone` calls per user per minute (each is billed by WeChat).
    pub phone_calls_per_user_per_minute: u32,
    /// `/v1/session/check` calls per user per minute.
    pub session_checks_per_user_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            failed_logins_per_ip_per_minute: 30,
            logins_per_app_per_minute: 0,
            decrypt_failures_per_user: 20,
            decrypt_failure_window: Duration::from_secs(600),
            phone_calls_per_user_per_minute: 10,
            session_checks_per_user_per_minute: 10,
        }
    }
}

/// `[database]`: how one instance uses a PostgreSQL or MySQL store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Most connections this instance opens.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a request waits for a connection before the store counts as unavailable (503).
    #[serde(deserialize_with = "deserialize_duration")]
    pub acquire_timeout: Duration,
    /// Longest one statement may run on the server.
    #[serde(deserialize_with = "deserialize_duration")]
    pub statement_timeout: Duration,
    /// Apply pending migrations at start-up (safe with several instances starting at once);
    /// when off, run `wxlogin migrate` before starting new versions.
    pub auto_migrate: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            auto_migrate: true,
        }
    }
}

/// `[redis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Every Redis command must answer within this; a timeout counts as a disconnect.
    #[serde(deserialize_with = "deserialize_duration")]
    pub command_timeout: Duration,
    /// Connecting (and reconnecting) gives up after this.
    #[serde(deserialize_with = "deserialize_duration")]
    pub connect_timeout: Duration,
    /// Prefix of every key and channel, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(2),
            key_prefix: "wxlogin:".to_owned(),
        }
    }
}

/// `[purge]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// Rows of each kind per pass.
    pub batch_size: u32,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            batch_size: 1000,
        }
    }
}

/// `[wechat]`: the upstream API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatConfig {
    /// Base URL of WeChat's server API (or of `wxlogin simulate`).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Extra PEM CA certificate(s) to trust, e.g. the simulator's generated CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow a plain-`http` base URL; only ever honoured for loopback hosts.
    #[serde(default)]
    pub allow_http: bool,
    /// Deadline for each upstream call.
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Where access_tokens come from: `stable` (`cgi-bin/stable_token`) or `classic`
    /// (`cgi-bin/token`, where every fetch invalidates the previous token).
    #[serde(default)]
    pub token_source: TokenSourceConfig,
}

/// `wechat.token_source`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSourceConfig {
    #[default]
    Stable,
    Classic,
}

impl Default for WeChatConfig {
    fn default() -> Self {
        Self {
            api_base: default_api_base(),
            ca_file: None,
            allow_http: false,
            timeout: default_timeout(),
            token_source: TokenSourceConfig::default(),
        }
    }
}

/// `[[apps]]`: one mini-program.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The AppID, `wx` + 16 hex digits.
    pub appid: String,
    /// The AppSecret; required, inline or through `secret_file`.
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    secret: Option<SecretString>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
}

impl AppConfig {
    /// Builds an app entry in code (e.g. `wxlogin dev`'s demo app).
    pub fn new(appid: impl Into<String>, secret: SecretString) -> Self {
        Self {
            appid: appid.into(),
            secret: Some(secret),
            secret_file: None,
        }
    }

    /// The AppSecret. Present on every loaded config: [`ConfigSchema::finish`] enforces it.
    pub fn secret(&self) -> Option<&SecretString> {
        self.secret.as_ref()
    }
}

impl ConfigSchema for ServerConfig {
    const TOP_LEVEL_KEYS: &'static [&'static str] = &[
        "listen",
        "log",
        "wechat",
        "apps",
        "data_dir",
        "database_url",
        "database_url_file",
        "at_rest_keys",
        "at_rest_keys_file",
        "database",
        "redis_url",
        "redis_url_file",
        "redis",
        "trusted_proxies",
        "access_log",
        "store_phone_numbers",
        "sessions",
        "limits",
        "purge",
        "forward_auth",
        "introspection",
        "jwt",
    ];

    fn finish(mut self) -> Result<Self, ConfigError> {
        self.database_url = resolve_secret(
            "database_url",
            self.database_url.take(),
            self.database_url_file.as_deref(),
        )?;
        self.at_rest_keys = resolve_secret(
            "at_rest_keys",
            self.at_rest_keys.take(),
            self.at_rest_keys_file.as_deref(),
        )?;
        self.redis_url = resolve_secret(
            "redis_url",
            self.redis_url.take(),
            self.redis_url_file.as_deref(),
        )?;
        if self.database.max_connections == 0
            || self.database.min_connections > self.database.max_connections
        {
            return Err(ConfigError::Invalid {
                key: "database.max_connections".into(),
                message: "must be at least 1 and at least database.min_connections".into(),
            });
        }
        for (key, value) in [
            ("database.acquire_timeout", self.database.acquire_timeout),
            (
                "database.statement_timeout",
                self.database.statement_timeout,
            ),
            ("redis.command_timeout", self.redis.command_timeout),
            ("redis.connect_timeout", self.redis.connect_timeout),
            (
                "sessions.shared_cache_lease",
                self.sessions.shared_cache_lease,
            ),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    message: "must be greater than zero".into(),
                });
            }
        }
        let s = &self.sessions;
        if s.idle_timeout.is_zero() || s.absolute_lifetime.is_zero() {
            return Err(ConfigError::Invalid {
                key: "sessions.idle_timeout".into(),
                message: "session lifetimes must be greater than zero".into(),
            });
        }
        if s.max_per_user == 0 {
            return Err(ConfigError::Invalid {
                key: "sessions.max_per_user".into(),
                message: "must be at least 1".into(),
            });
        }
        if s.revocation_poll.is_zero() {
            return Err(ConfigError::Invalid {
                key: "sessions.revocation_poll".into(),
                message: "must be greater than zero".into(),
            });
        }
        for (i, app) in self.apps.iter_mut().enumerate() {
            let key = format!("apps[{i}].secret");
            if app.appid.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("apps[{i}].appid"),
                    message: "must not be empty".into(),
                });
            }
            app.secret = resolve_secret(&key, app.secret.take(), app.secret_file.as_deref())?;
            if app.secret.is_none() {
                return Err(ConfigError::Missing {
                    key,
                    hint: format!("set `secret` or `secret_file` for app {}", app.appid),
                });
            }
        }
        if let Some((i, dup)) = self
            .apps
            .iter()
            .enumerate()
            .find(|(i, a)| self.apps[..*i].iter().any(|b| b.appid == a.appid))
        {
            return Err(ConfigError::Invalid {
                key: format!("apps[{i}].appid"),
                message: format!("{} is configured twice", dup.appid),
            });
        }
        crate::trust::finish(
            &self.forward_auth,
            &mut self.introspection,
            &self.jwt,
            &self.apps,
        )?;
        if self.wechat.timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: "wechat.timeout".into(),
                message: "must be greater than zero".into(),
            });
        }
        Ok(self)
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("wxlogin-data")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_log() -> String {
    "info".into()
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

#[cfg(test)]
// figment::Jail closures return figment::Error, which is large; fine in tests.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;
    use secrecy::ExposeSecret;

    use super::*;
    use crate::load;

    #[test]
    fn defaults_apply_with_no_file_and_no_environment() {
        Jail::expect_with(|_| {
            let config = load::<ServerConfig>(None).unwrap().config;
            assert_eq!(config.listen, default_listen());
            assert_eq!(config.wechat.api_base, DEFAULT_API_BASE);
            assert_eq!(config.wechat.timeout, Duration::from_secs(5));
            assert!(config.apps.is_empty());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_with_double_underscore_nesting() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "wxlogin.toml",
                r#"
                listen = "127.0.0.1:9000"
                [wechat]
                api_base = "https://file.example"
                timeout = "2s"
                [[apps]]
                appid = "wx4f4bc4dec97d474b"
                secret = "from-file"
                "#,
            )?;
            jail.set_env("WXLOGIN_WECHAT__API_BASE", "http://127.0.0.1:1");
            jail.set_env("WXLOGIN_WECHAT__TIMEOUT", "0.5");
            jail.set_env("WXLOGIN_SOMETHING_ELSE", "x");
            let loaded = load::<ServerConfig>(Some("wxlogin.toml".as_ref())).unwrap();
            let config = loaded.config;
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.wechat.api_base, "http://127.0.0.1:1");
            assert_eq!(config.wechat.timeout, Duration::from_millis(500));
            assert_eq!(
                config.apps[0].secret().unwrap().expose_secret(),
                "from-file"
            );
            assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
            assert!(loaded.warnings[0].contains("WXLOGIN_SOMETHING_ELSE"));
            Ok(())
        });
    }

    #[test]
    fn apps_can_come_from_the_environment_with_a_secret_file() {
        Jail::expect_with(|jail| {
            jail.create_file("app.secret", "0123456789\n")?;
            jail.set_env(
                "WXLOGIN_APPS",
                r#"[{appid="wx0123456789abcdef", secret_file="app.secret"}]"#,
            );
            let config = load::<ServerConfig>(None).unwrap().config;
            assert_eq!(config.apps[0].appid, "wx0123456789abcdef");
            assert_eq!(
                config.apps[0].secret().unwrap().expose_secret(),
                "0123456789"
            );
            Ok(())
        });
    }

    #[test]
    fn an_all_digit_secret_from_the_environment_stays_text() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "WXLOGIN_APPS",
                r#"[{appid="wx0123456789abcdef", secret=123}]"#,
            );
            let config = load::<ServerConfig>(None).unwrap().config;
            assert_eq!(config.apps[0].secret().unwrap().expose_secret(), "123");
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_setting() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[wechat]\ntimeout = \"soon\"\n")?;
            let err = load::<ServerConfig>(Some("bad.toml".as_ref()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("timeout"), "{err}");

            jail.create_file("typo.toml", "[wechat]\napi_bse = \"x\"\n")?;
            let err = load::<ServerConfig>(Some("typo.toml".as_ref()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("api_bse"), "{err}");

            jail.create_file(
                "nosecret.toml",
                "[[apps]]\nappid = \"wx0123456789abcdef\"\n",
            )?;
            let err = load::<ServerConfig>(Some("nosecret.toml".as_ref()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("apps[0].secret"), "{err}");

            let err = load::<ServerConfig>(Some("missing.toml".as_ref()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_example_config_at_the_repository_root_loads() {
        let example = include_str!("../../../wxlogin.example.toml");
        Jail::expect_with(|jail| {
            jail.create_file("app.secret", "example-secret")?;
            let text = example.replace("/run/secrets/wx1234567890abcdef", "app.secret");
            jail.create_file("example.toml", &text)?;
            let config = load::<ServerConfig>(Some("example.toml".as_ref()))
                .unwrap()
                .config;
            assert_eq!(config.apps.len(), 1);
            assert_eq!(config.sessions.max_per_user, 10);
            assert_eq!(config.limits.failed_logins_per_ip_per_minute, 30);
            Ok(())
        });
    }

    #[test]
    fn a_malformed_secret_error_does_not_echo_it() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "[[apps]]\nappid = \"wx1\"\nsecret = [\"hunter2-secret\"]\n",
            )?;
            let err = load::<ServerConfig>(Some("s.toml".as_ref())).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2"), "{text}");
            Ok(())
        });
    }
}
