//! Builds the login service from a [`ServerConfig`]: the one place config meets the crates.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use wxlogin_clock::{OffsetClock, SharedClock};
use wxlogin_config::{ExposeSecret, ServerConfig, TokenSourceConfig};
use wxlogin_domain::{
    AccessTokens, App, Apps, Limit, LoginService, LoginServiceParts, OpenData, OpenDataLimits,
    OpenDataParts, SessionPolicy, TokenSource,
};
use wxlogin_http::{HttpSettings, TrustedProxies};
use wxlogin_store::SqliteStore;
use wxlogin_store::at_rest::AtRestKeys;
use wxlogin_wechat::{ClientOptions, WeChatClient};

/// Loads the server configuration, printing loader warnings to stderr.
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<ServerConfig> {
    let loaded = wxlogin_config::load::<ServerConfig>(path)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded.config)
}

/// Everything a running server needs.
pub(crate) struct Built {
    pub(crate) service: LoginService,
    pub(crate) open_data: OpenData,
    pub(crate) http: HttpSettings,
}

/// What can be built from the configuration without touching the store or the network.
pub(crate) struct Prepared {
    wechat: WeChatClient,
    apps: Apps,
    policy: SessionPolicy,
    http: HttpSettings,
}

fn per_minute(max: u32) -> Limit {
    Limit {
        max,
        window: Duration::from_secs(60),
    }
}

/// Opens the store and builds the service. `test_clock` is set by `--test-clock`.
pub(crate) async fn build(
    config: &ServerConfig,
    test_clock: Option<Arc<OffsetClock>>,
) -> anyhow::Result<Built> {
    let clock: SharedClock = match &test_clock {
        Some(clock) => clock.clone(),
        None => wxlogin_clock::SystemClock::shared(),
    };
    let Prepared {
        wechat,
        apps,
        policy,
        mut http,
    } = prepare(config)?;
    http.test_clock = test_clock;
    let (store, at_rest) = open_store(config).await?;
    let token_source = match config.wechat.token_source {
        TokenSourceConfig::Stable => TokenSource::Stable,
        TokenSourceConfig::Classic => TokenSource::Classic,
    };
    let tokens = AccessTokens::new(
        store.clone(),
        wechat.clone(),
        clock.clone(),
        at_rest.clone(),
        token_source,
    );
    let limits = &config.limits;
    let open_data = OpenData::new(OpenDataParts {
        store: store.clone(),
        wechat: wechat.clone(),
        clock: clock.clone(),
        apps: apps.clone(),
        at_rest: at_rest.clone(),
        tokens,
        policy: policy.clone(),
        limits: OpenDataLimits {
            decrypt_failures: Limit {
                max: limits.decrypt_failures_per_user,
                window: limits.decrypt_failure_window,
            },
            phone_calls: per_minute(limits.phone_calls_per_user_per_minute),
            session_checks: per_minute(limits.session_checks_per_user_per_minute),
        },
        store_phone_numbers: config.store_phone_numbers,
    });
    let service = LoginService::new(LoginServiceParts {
        store,
        wechat,
        clock,
        apps,
        at_rest,
        policy,
        cache_capacity: config.sessions.cache_capacity,
    });
    Ok(Built {
        service,
        open_data,
        http,
    })
}

/// Validates everything that needs no I/O (what `check-config` reports on).
pub(crate) fn prepare(config: &ServerConfig) -> anyhow::Result<Prepared> {
    if config.apps.is_empty() {
        bail!("no [[apps]] configured: add at least one mini-program (appid and secret)");
    }
    let wechat = WeChatClient::new(ClientOptions {
        api_base: config.wechat.api_base.clone(),
        ca_file: config.wechat.ca_file.clone(),
        allow_http: config.wechat.allow_http,
        timeout: config.wechat.timeout,
    })
    .context("configuration: `wechat`")?;
    let apps = Apps::new(config.apps.iter().map(|app| {
        App {
            appid: app.appid.clone(),
            secret: app
                .secret()
                .cloned()
                .expect("config loading guarantees every app has a secret"),
        }
    }));
    let s = &config.sessions;
    let policy = SessionPolicy {
        idle_timeout: s.idle_timeout,
        absolute_lifetime: s.absolute_lifetime,
        max_sessions_per_user: s.max_per_user,
        renew_interval: s.effective_renew_interval(),
        previous_keys_kept: s.previous_keys,
        previous_key_window: s.previous_key_window,
        inactive_user_retention: s.inactive_user_retention,
        ..SessionPolicy::default()
    };
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("configuration: `trusted_proxies`: {e}"))?;
    let http = HttpSettings {
        trusted_proxies,
        failed_login_limit: per_minute(config.limits.failed_logins_per_ip_per_minute),
        app_login_limit: per_minute(config.limits.logins_per_app_per_minute),
        access_log: config.access_log,
        ..HttpSettings::default()
    };
    if let Some(keys) = &config.at_rest_keys {
        AtRestKeys::parse_list(keys.expose_secret()).context("configuration: `at_rest_keys`")?;
    }
    store_url(config)?;
    Ok(Prepared {
        wechat,
        apps,
        policy,
        http,
    })
}

/// The store URL: configured, or the embedded SQLite file in `data_dir`.
fn store_url(config: &ServerConfig) -> anyhow::Result<String> {
    let url = match &config.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => format!("sqlite://{}", config.data_dir.join("wxlogin.db").display()),
    };
    if !url.starts_with("sqlite:") {
        // Never echo the URL: it may hold a password.
        bail!(
            "configuration: `database_url`: only sqlite:// URLs are supported by this build (PostgreSQL and MySQL are coming)"
        );
    }
    Ok(url)
}

/// A one-line description of the store for `check-config`, without credentials.
pub(crate) fn describe_store(config: &ServerConfig) -> String {
    match &config.database_url {
        Some(_) => "sqlite (database_url)".to_owned(),
        None => format!("embedded sqlite in {}", config.data_dir.display()),
    }
}

/// Opens the configured store with its at-rest keys.
///
/// Only the embedded SQLite store may generate its own key: a shared store needs every
/// instance to agree on the keys, so they must come from configuration.
async fn open_store(
    config: &ServerConfig,
) -> anyhow::Result<(Arc<dyn wxlogin_store::Store>, AtRestKeys)> {
    let url = store_url(config)?;
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    }
    let keys = match &config.at_rest_keys {
        Some(keys) => {
            AtRestKeys::parse_list(keys.expose_secret()).context("configuration: `at_rest_keys`")?
        }
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
            AtRestKeys::load_or_generate(&config.data_dir)
                .context("cannot load or create the at-rest key in data_dir")?
        }
    };
    let store = SqliteStore::open(&url)
        .await
        .context("cannot open the store")?;
    Ok((Arc::new(store), keys))
}
