//! The mini-programs this server logs users in for.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::LoginError;

/// One configured mini-program.
#[derive(Debug)]
pub struct App {
    pub appid: String,
    pub secret: SecretString,
}

/// The configured mini-programs, looked up by appid. Identifiers are case-sensitive.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    by_id: Arc<HashMap<String, Arc<App>>>,
    /// Set when exactly one app is configured: requests may then omit the appid.
    only: Option<Arc<App>>,
}

impl Apps {
    pub fn new(apps: impl IntoIterator<Item = App>) -> Self {
        let by_id: HashMap<_, _> = apps
            .into_iter()
            .map(|app| (app.appid.clone(), Arc::new(app)))
            .collect();
        let only = (by_id.len() == 1)
            .then(|| by_id.values().next().cloned())
            .flatten();
        Self {
            by_id: Arc::new(by_id),
            only,
        }
    }

    /// Finds the app a request names; with none named, the only configured app.
    pub fn resolve(&self, appid: Option<&str>) -> Result<Arc<App>, LoginError> {
        match appid {
            Some(appid) => self.by_id.get(appid).cloned().ok_or(LoginError::UnknownApp),
            None => self.only.clone().ok_or(LoginError::AppRequired),
        }
    }

    /// Whether `appid` is one of ours.
    pub fn contains(&self, appid: &str) -> bool {
        self.by_id.contains_key(appid)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
