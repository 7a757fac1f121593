//! Why a simulator could not be built.

use wxlogin_config::ConfigError;

/// Start-up errors. Once running, the simulator answers every request and has no errors.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The configuration is inconsistent (see [`crate::SimulatorConfig`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate or server configuration could not be made.
    #[error("tls: {0}")]
    Tls(String),
}

impl From<rcgen::Error> for SimulatorError {
    fn from(err: rcgen::Error) -> Self {
        Self::Tls(err.to_string())
    }
}

impl From<tokio_rustls::rustls::Error> for SimulatorError {
    fn from(err: tokio_rustls::rustls::Error) -> Self {
        Self::Tls(err.to_string())
    }
}
