//! Builds the login service from a [`ServerConfig`]: the one place config meets the crates.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use wxlogin_clock::{OffsetClock, SharedClock};
use wxlogin_config::{ExposeSecret, ServerConfig, TokenSourceConfig};
use wxlogin_domain::{
    AccessTokens, App, Apps, JwtKeys, JwtParts, JwtSettings, KeyRingCache, Limit, LoginService,
    LoginServiceParts, OpenData, OpenDataLimits, OpenDataParts, SessionPolicy, SharedCoordinator,
    TokenSource,
};
use wxlogin_http::{HeaderName, HttpSettings, ServiceClient, ServiceClients, TrustedProxies};
use wxlogin_redis::{RedisCoordinator, RedisSettings};
use wxlogin_store::at_rest::AtRestKeys;
use wxlogin_store::{MySqlStore, PoolSettings, PostgresStore, SqliteStore, Store};
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
    let shared = StoreKind::of(config)? != StoreKind::Sqlite;
    let coordinator = connect_coordinator(config)?;
    let key_rings = Arc::new(KeyRingCache::new(
        config.sessions.cache_capacity.min(100_000),
    ));
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
        coordinator.clone(),
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
        coordinator: coordinator.clone(),
        key_rings: Arc::clone(&key_rings),
    });
    // JWT mode: keys and secrets are created lazily, on first use, through the store.
    http.jwt = config.jwt.enabled.then(|| {
        JwtKeys::new(JwtParts {
            store: store.clone(),
            at_rest: at_rest.clone(),
            clock: clock.clone(),
            settings: JwtSettings {
                issuer: config.jwt.issuer.clone(),
                access_ttl: config.jwt.access_ttl,
                refresh_grace: config.jwt.refresh_grace,
                key_rotation: config.jwt.key_rotation,
            },
        })
    });
    let service = LoginService::new(LoginServiceParts {
        store,
        wechat,
        clock,
        apps,
        at_rest,
        policy,
        cache_capacity: config.sessions.cache_capacity,
        shared_cache_lease: shared.then_some(config.sessions.shared_cache_lease),
        coordinator,
        key_rings,
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
        forward_auth_token_header: forward_auth_token_header(config)?,
        service_clients: service_clients(config),
        ..HttpSettings::default()
    };
    if let Some(keys) = &config.at_rest_keys {
        AtRestKeys::parse_list(keys.expose_secret()).context("configuration: `at_rest_keys`")?;
    }
    StoreKind::of(config)?;
    Ok(Prepared {
        wechat,
        apps,
        policy,
        http,
    })
}

/// `forward_auth.token_header`, already checked by the config loader.
fn forward_auth_token_header(config: &ServerConfig) -> anyhow::Result<Option<HeaderName>> {
    config
        .forward_auth
        .token_header
        .as_deref()
        .map(HeaderName::try_from)
        .transpose()
        .context("configuration: `forward_auth.token_header`")
}

/// `[[introspection.clients]]`; the HTTP layer keeps only a digest of each secret.
fn service_clients(config: &ServerConfig) -> ServiceClients {
    ServiceClients::new(config.introspection.clients.iter().filter_map(|client| {
        // Config loading guarantees every client has a secret.
        let secret = client.secret()?.expose_secret();
        Some(ServiceClient::new(
            &client.id,
            secret,
            client.appids.clone(),
        ))
    }))
}

/// Which backend a store URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Sqlite,
    Postgres,
    MySql,
}

impl StoreKind {
    pub(crate) fn of(config: &ServerConfig) -> anyhow::Result<Self> {
        let url = store_url(config);
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Ok(match scheme {
            "sqlite" => Self::Sqlite,
            "postgres" | "postgresql" => Self::Postgres,
            "mysql" | "mariadb" => Self::MySql,
            // Never echo the URL: it may hold a password.
            _ => bail!(
                "configuration: `database_url`: unsupported scheme; use sqlite://, postgres:// or mysql://"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
            Self::MySql => "mysql",
        }
    }
}

/// The store URL: configured, or the embedded SQLite file in `data_dir`.
fn store_url(config: &ServerConfig) -> String {
    match &config.database_url {
        // MariaDB speaks the MySQL protocol; accept its name too.
        Some(url) => match url.expose_secret().strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => url.expose_secret().to_owned(),
        },
        None => format!("sqlite://{}", config.data_dir.join("wxlogin.db").display()),
    }
}

/// A one-line description of the store for `check-config`, without credentials.
pub(crate) fn describe_store(config: &ServerConfig) -> String {
    match (&config.database_url, StoreKind::of(config)) {
        (None, _) => format!("embedded sqlite in {}", config.data_dir.display()),
        (Some(_), Ok(kind)) => format!("{} (database_url)", kind.name()),
        (Some(_), Err(_)) => "unsupported database_url".to_owned(),
    }
}

fn pool_settings(config: &ServerConfig) -> PoolSettings {
    let d = &config.database;
    PoolSettings {
        max_connections: d.max_connections,
        min_connections: d.min_connections,
        acquire_timeout: d.acquire_timeout,
        statement_timeout: d.statement_timeout,
    }
}

/// Connects the configured store; applies migrations when `migrate` (SQLite always migrates
/// at open).
pub(crate) async fn connect_store(
    config: &ServerConfig,
    migrate: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    let url = store_url(config);
    Ok(match StoreKind::of(config)? {
        StoreKind::Sqlite => {
            if config.database_url.is_none() {
                std::fs::create_dir_all(&config.data_dir).with_context(|| {
                    format!("cannot create data_dir {}", config.data_dir.display())
                })?;
            }
            Arc::new(
                SqliteStore::open(&url)
                    .await
                    .context("cannot open the store")?,
            )
        }
        StoreKind::Postgres => {
            let store = PostgresStore::connect(&url, &pool_settings(config))
                .await
                .context("cannot connect to PostgreSQL")?;
            if migrate {
                store
                    .migrate()
                    .await
                    .context("cannot migrate the PostgreSQL store")?;
            }
            Arc::new(store)
        }
        StoreKind::MySql => {
            let store = MySqlStore::connect(&url, &pool_settings(config))
                .await
                .context("cannot connect to MySQL")?;
            if migrate {
                store
                    .migrate()
                    .await
                    .context("cannot migrate the MySQL store")?;
            }
            Arc::new(store)
        }
    })
}

/// The Redis coordinator, when `redis_url` is set. Starting it needs no running Redis.
fn connect_coordinator(config: &ServerConfig) -> anyhow::Result<SharedCoordinator> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let coordinator = RedisCoordinator::start(
        url.expose_secret(),
        RedisSettings {
            command_timeout: config.redis.command_timeout,
            connect_timeout: config.redis.connect_timeout,
            key_prefix: config.redis.key_prefix.clone(),
        },
    )
    .map_err(|e| anyhow::anyhow!("configuration: `redis_url`: {e}"))?;
    Ok(Some(coordinator))
}

/// Opens the configured store with its at-rest keys.
///
/// Only the embedded SQLite store may generate its own key: a shared store needs every
/// instance to agree on the keys, so they must come from configuration.
async fn open_store(config: &ServerConfig) -> anyhow::Result<(Arc<dyn Store>, AtRestKeys)> {
    let kind = StoreKind::of(config)?;
    let keys = match &config.at_rest_keys {
        Some(keys) => {
            AtRestKeys::parse_list(keys.expose_secret()).context("configuration: `at_rest_keys`")?
        }
        None if kind != StoreKind::Sqlite => bail!(
            "configuration: `at_rest_keys` (or `at_rest_keys_file`) is required with a shared {} store: every instance must seal and open with the same keys",
            kind.name()
        ),
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
            AtRestKeys::load_or_generate(&config.data_dir)
                .context("cannot load or create the at-rest key in data_dir")?
        }
    };
    let store = connect_store(config, config.database.auto_migrate).await?;
    Ok((store, keys))
}
