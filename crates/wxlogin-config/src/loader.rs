//! Defaults → TOML file → `WXLOGIN_*` environment.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;

/// Every environment variable we read starts with this.
pub const ENV_PREFIX: &str = "WXLOGIN_";

/// A configuration document: what one command reads.
pub trait ConfigSchema: DeserializeOwned {
    /// The top-level keys this document knows.
    ///
    /// Environment variables are global to a process, so a `WXLOGIN_*` variable meant for
    /// another command (or a typo) must not make this one fail to start; it is skipped and
    /// reported as a warning instead. Unknown keys in a file are an error: the file is this
    /// command's own.
    const TOP_LEVEL_KEYS: &'static [&'static str];

    /// Checks that cannot be expressed in types and reads `*_file` secrets.
    fn finish(self) -> Result<Self, ConfigError> {
        Ok(self)
    }
}

/// Why a configuration could not be loaded. Messages name the setting, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, is not TOML, or a value has the wrong type or an unknown key.
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    /// A setting is present but not acceptable.
    #[error("configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// A required setting is absent.
    #[error("configuration: `{key}` is required: {hint}")]
    Missing { key: String, hint: String },
    /// A `*_file` secret could not be read.
    #[error("configuration: `{key}`: cannot read {}: {source}", path.display())]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A loaded configuration and what the loader wants the operator to know.
#[derive(Debug)]
pub struct Loaded<T> {
    pub config: T,
    /// Ignored environment variables, to be logged once logging is up.
    pub warnings: Vec<String>,
}

/// Loads `T` from an optional file and the process environment.
pub fn load<T: ConfigSchema>(file: Option<&Path>) -> Result<Loaded<T>, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    let warnings = std::env::vars()
        .filter_map(|(name, _)| {
            let top = top_level_key(name.strip_prefix(ENV_PREFIX)?);
            (!T::TOP_LEVEL_KEYS.contains(&top.as_str())).then(|| {
                format!(
                    "ignoring environment variable {name}: `{top}` is not a setting of this command"
                )
            })
        })
        .collect();
    let env = Env::prefixed(ENV_PREFIX)
        .filter(|key| T::TOP_LEVEL_KEYS.contains(&top_level_key(key.as_str()).as_str()))
        .split("__");
    let config: T = figment.merge(env).extract().map_err(Box::new)?;
    Ok(Loaded {
        config: config.finish()?,
        warnings,
    })
}

/// `WECHAT__API_BASE` → `wechat`.
fn top_level_key(env_key: &str) -> String {
    env_key
        .split("__")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}
