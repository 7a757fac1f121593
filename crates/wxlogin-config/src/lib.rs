//! Configuration shared by every wxlogin command.
//!
//! Settings are layered: built-in defaults, then a TOML file (`--config FILE`), then
//! `WXLOGIN_*` environment variables, which win. Nested keys are joined with `__`
//! (`WXLOGIN_WECHAT__API_BASE`), and every secret can instead be read from a file named by the
//! same key with a `_file` suffix (`secret_file`, `WXLOGIN_DATABASE_URL_FILE`), which is how
//! container secrets are usually mounted.
//!
//! Secrets are held as [`SecretString`]: its `Debug` prints `[REDACTED]`, it has no `Display`,
//! and the only way to the text is the explicit [`ExposeSecret::expose_secret`] call, which makes
//! every place that needs the plain text easy to find in review.

mod loader;
mod secret;
mod server;
mod trust;
mod values;

pub use loader::{ConfigError, ConfigSchema, ENV_PREFIX, Loaded, load};
pub use secrecy::ExposeSecret;
pub use secret::{SecretString, resolve_secret};
pub use server::{
    AppConfig, DEFAULT_API_BASE, DatabaseConfig, LimitsConfig, PurgeConfig, RedisConfig,
    ServerConfig, SessionsConfig, TokenSourceConfig, WeChatConfig,
};
pub use trust::{ForwardAuthConfig, IntrospectionConfig, JwtConfig, ServiceClientConfig};
pub use values::{
    deserialize_duration, deserialize_optional_duration, deserialize_optional_secret,
};
