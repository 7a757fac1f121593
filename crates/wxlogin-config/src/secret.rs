//! Secrets and their `*_file` variants.

use std::path::{Path, PathBuf};

pub use secrecy::SecretString;

use crate::ConfigError;

/// Picks a secret from either its inline value or a `*_file` path, never both.
///
/// `key` is the setting's name for error messages (e.g. `apps[0].secret`); the error never
/// contains the value itself. A file's trailing newline is dropped because `echo` and most
/// secret stores add one, and a secret never legitimately ends with one.
pub fn resolve_secret(
    key: &str,
    inline: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            key: key.to_owned(),
            message: format!("set either `{key}` or `{key}_file`, not both"),
        }),
        (Some(secret), None) => Ok(Some(secret)),
        (None, Some(path)) => read_secret_file(key, path).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        key: format!("{key}_file"),
        path: PathBuf::from(path),
        source,
    })?;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(ConfigError::Invalid {
            key: format!("{key}_file"),
            message: format!("{} is empty", path.display()),
        });
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let secret = SecretString::from("appsecret-8c1f0e6a".to_owned());
        let debug = format!("{secret:?}");
        assert!(!debug.contains("appsecret-8c1f0e6a"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        let nested = format!("{:?}", Some(vec![secret]));
        assert!(!nested.contains("8c1f0e6a"), "{nested}");
    }

    #[test]
    fn reads_a_secret_file_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let secret = resolve_secret("apps[0].secret", None, Some(&path))
            .unwrap()
            .unwrap();
        assert_eq!(secret.expose_secret(), "s3cr3t");
    }

    #[test]
    fn refuses_both_inline_and_file_and_names_the_key_not_the_value() {
        let err = resolve_secret(
            "database_url",
            Some(SecretString::from("postgres://u:pw@h/db".to_owned())),
            Some(Path::new("/nonexistent")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("database_url"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
    }

    #[test]
    fn a_missing_secret_file_is_a_clear_error() {
        let err = resolve_secret("apps[0].secret", None, Some(Path::new("/no/such/file")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apps[0].secret_file"), "{err}");
        assert!(err.contains("/no/such/file"), "{err}");
    }
}
