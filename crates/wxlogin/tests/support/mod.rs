//! The black-box harness for `server.rs`: the real `wxlogin` binary, as child processes.
//!
//! An [`Env`] is one simulator (`wxlogin simulate`) and one login server
//! (`wxlogin serve --test-clock`) pointed at it, both on `127.0.0.1:0`, each with a config file
//! in a temporary directory that also holds the server's `data_dir`. The bound addresses come
//! from the `listening on ADDR` line each prints first. Everything a process writes after that
//! (its logs on stderr, anything else on stdout) is kept in a buffer, so a test can grep it;
//! processes are killed when dropped.
//!
//! Tests talk plain HTTP with `reqwest` and `serde_json::Value`: nothing here shares a type
//! with the server. Time only moves through `POST /sim/clock` and `POST /dev/clock`
//! ([`Env::advance_both_clocks`]); nothing sleeps to make something expire.
//!
//! Every identifier and secret the harness sees (login codes, openids, tokens) is remembered,
//! so the log-leak test can prove none of them reached the server's output.

mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

pub(crate) use process::Process;

/// App A: the server and the simulator agree on its secret.
pub(crate) const APP_A: &str = "wx00000000000000a1";
pub(crate) const SECRET_A: &str = "s3cret-A-4e7c1d-never-log-me";
/// App B: the simulator's secret differs from the one the server is configured with.
pub(crate) const APP_B: &str = "wx00000000000000b2";
pub(crate) const SECRET_B: &str = "s3cret-B-93af02-never-log-me";
pub(crate) const WRONG_SECRET_B: &str = "s3cret-B-WRONG-6d1e88-never-log-me";
/// An app neither side serves.
pub(crate) const UNKNOWN_APP: &str = "wx00000000000000ff";

/// A user WeChat's risk control blocks in app A (40226).
pub(crate) const BLOCKED_USER: &str = "mallory";

/// A user of app A whose identity and session_key are pinned in the simulator, so the log-leak
/// test knows what to look for.
pub(crate) const FIXED_USER: &str = "fixed-frida";
pub(crate) const FIXED_OPENID: &str = "oFIXEDfrida0penid9Qx7Lm2Kp4Zt";
pub(crate) const FIXED_UNIONID: &str = "uFIXEDfridaUni0nid3Hw8Rb5Nc1";
/// Base64 of 16 bytes, and the same bytes in other spellings a log might use.
pub(crate) const FIXED_SESSION_KEY: &str = "WhfA/+5LHS6fOmyNDi9HEQ==";
pub(crate) const FIXED_SESSION_KEY_SPELLINGS: &[&str] = &[
    "WhfA/+5LHS6fOmyNDi9HEQ",
    "WhfA_-5LHS6fOmyNDi9HEQ",
    "5a17c0ffee4b1d2e9f3a6c8d0e2f4711",
];

/// The simulator every test runs against.
const SIMULATOR_CONFIG: &str = r#"
[[apps]]
appid = "wx00000000000000a1"
secret = "s3cret-A-4e7c1d-never-log-me"
open_platform = "group-1"
high_risk_users = ["mallory"]

[[apps]]
appid = "wx00000000000000b2"
secret = "s3cret-B-93af02-never-log-me"

[[fixed_users]]
appid = "wx00000000000000a1"
user = "fixed-frida"
openid = "oFIXEDfrida0penid9Qx7Lm2Kp4Zt"
unionid = "uFIXEDfridaUni0nid3Hw8Rb5Nc1"
session_key = "WhfA/+5LHS6fOmyNDi9HEQ=="
"#;

/// How a test's login server is configured.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The `log` filter.
    pub(crate) log: &'static str,
    /// `(appid, secret)` as the server knows them.
    pub(crate) apps: Vec<(&'static str, &'static str)>,
    /// `wechat.timeout`.
    pub(crate) wechat_timeout: &'static str,
    /// Raw TOML for `[sessions]`.
    pub(crate) sessions: &'static str,
    /// `limits.failed_logins_per_ip_per_minute`.
    pub(crate) failed_logins_per_ip_per_minute: u32,
    /// `trusted_proxies`.
    pub(crate) trusted_proxies: Vec<&'static str>,
    /// Send every request with a fresh `X-Forwarded-For` (needs `127.0.0.1` trusted), so that
    /// a long run of failures spreads over many client addresses.
    pub(crate) rotate_client_ip: bool,
    /// Raw TOML appended to the config file, for tables of its own (`[forward_auth]`, …).
    pub(crate) extra_toml: &'static str,
}

impl Settings {
    /// Two apps (B with the wrong secret), a 1 s WeChat timeout, short session lifetimes so
    /// expiry tests move the clocks by hours not weeks, and a quick revocation poll so the
    /// operator commands return fast.
    pub(crate) fn standard() -> Self {
        Self {
            log: "info",
            apps: vec![(APP_A, SECRET_A), (APP_B, WRONG_SECRET_B)],
            wechat_timeout: "1s",
            sessions: r#"
idle_timeout = "1h"
absolute_lifetime = "2h"
max_per_user = 2
revocation_poll = "250ms"
"#,
            failed_logins_per_ip_per_minute: 30,
            trusted_proxies: Vec::new(),
            rotate_client_ip: false,
            extra_toml: "",
        }
    }

    fn toml(&self, simulator: &str, data_dir: &Path) -> String {
        let quoted = |items: &[&str]| {
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "listen = \"127.0.0.1:0\"\nlog = {log:?}\ndata_dir = {dir:?}\ntrusted_proxies = [{proxies}]\n\n\
             [wechat]\napi_base = \"{simulator}\"\nallow_http = true\ntimeout = {timeout:?}\n\n\
             [sessions]\n{sessions}\n\
             [limits]\nfailed_logins_per_ip_per_minute = {limit}\n\n",
            log = self.log,
            dir = data_dir.display().to_string(),
            proxies = quoted(&self.trusted_proxies),
            timeout = self.wechat_timeout,
            sessions = self.sessions,
            limit = self.failed_logins_per_ip_per_minute,
        );
        for (appid, secret) in &self.apps {
            text.push_str(&format!(
                "[[apps]]\nappid = {appid:?}\nsecret = {secret:?}\n\n"
            ));
        }
        text.push_str(self.extra_toml);
        text
    }
}

/// One HTTP answer, read completely.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The body as JSON, `Null` when empty or not JSON.
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// `error.code` of an error body ("" if there is none).
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// Asserts a success status (and says what came instead).
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:?}");
        self
    }

    /// Asserts a registry error: the status, `error.code`, a message, and a `request_id` that
    /// is the response's `X-Request-Id`. 401s must also carry the `WWW-Authenticate` clients
    /// key on.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected answer: {self:?}"
        );
        assert!(
            self.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{self:?}"
        );
        let error = &self.body["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
        let header_id = self
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id: {self:?}"));
        assert!(!header_id.is_empty());
        assert_eq!(error["request_id"].as_str(), Some(header_id), "{self:?}");
        if status == 401 {
            assert_eq!(
                self.header("www-authenticate"),
                Some(r#"Bearer error="invalid_token""#),
                "{self:?}"
            );
        }
        self
    }

    /// `error.wechat_errcode`, if present.
    pub(crate) fn wechat_errcode(&self) -> Option<i64> {
        self.body["error"]["wechat_errcode"].as_i64()
    }

    /// The `Retry-After` header in seconds; panics if absent or not a number.
    #[track_caller]
    pub(crate) fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After: {self:?}"))
            .parse()
            .unwrap()
    }
}

/// A plain HTTP client for one base URL.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    /// With [`Settings::rotate_client_ip`]: the next `X-Forwarded-For` address.
    next_ip: Option<Arc<AtomicU32>>,
}

impl Http {
    pub(crate) fn new(base: String, rotate_client_ip: bool) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            client,
            base,
            next_ip: rotate_client_ip.then(|| Arc::new(AtomicU32::new(1))),
        }
    }

    /// The same client without IP rotation: requests come from the TCP peer, plus whatever
    /// `X-Forwarded-For` the caller adds.
    pub(crate) fn without_rotation(&self) -> Self {
        Self {
            next_ip: None,
            ..self.clone()
        }
    }

    /// The same, on a client that never reuses a connection: for requests after which the
    /// server may close the connection (see `server.rs`, `an_early_413_announces_the_close`).
    pub(crate) fn without_pool(&self) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            client,
            ..self.clone()
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to build on; with IP rotation it already carries its `X-Forwarded-For`.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.next_ip {
            Some(next) => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 | n);
                builder.header("x-forwarded-for", ip.to_string())
            }
            None => builder,
        }
    }

    pub(crate) async fn send(&self, builder: RequestBuilder) -> Reply {
        Reply::read(builder.send().await.unwrap()).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `method path` with `Authorization: Bearer token`.
    pub(crate) async fn with_token(&self, method: Method, path: &str, token: &str) -> Reply {
        self.send(self.request(method, path).bearer_auth(token))
            .await
    }
}

/// `wxlogin simulate`, with [`SIMULATOR_CONFIG`].
pub(crate) struct Simulator {
    process: Process,
    pub(crate) http: Http,
    _dir: tempfile::TempDir,
}

/// A login code as `wx.login()` gives it, with the user's openid.
#[derive(Debug, Clone)]
pub(crate) struct SimCode {
    pub(crate) code: String,
    pub(crate) openid: String,
}

/// `/sim/stats` for jscode2session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimStats {
    pub(crate) total: u64,
    /// Outcome (`"0"`, an errcode, `"malformed"`, `"html"`, `"drop"`) → calls.
    pub(crate) outcomes: BTreeMap<String, u64>,
}

impl SimStats {
    pub(crate) fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }
}

impl Simulator {
    /// Starts a simulator logging at `log`.
    pub(crate) fn start(log: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("simulator.toml");
        std::fs::write(&config, format!("log = {log:?}\n{SIMULATOR_CONFIG}")).unwrap();
        let process = Process::spawn([
            "simulate".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--seed".as_ref(),
            "11".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ]);
        let http = Http::new(format!("http://{}", process.addr()), false);
        Self {
            process,
            http,
            _dir: dir,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.http.base
    }

    pub(crate) fn output(&self) -> String {
        self.process.output()
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let reply = self.http.post_json(path, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{path} {body}: {reply:?}");
        reply.body
    }

    /// `POST /sim/login`: what `wx.login()` gives `user` of `appid`.
    pub(crate) async fn login(&self, appid: &str, user: &str) -> SimCode {
        let body = self
            .control("/sim/login", json!({"appid": appid, "user": user}))
            .await;
        SimCode {
            code: body["code"].as_str().unwrap().to_owned(),
            openid: body["openid"].as_str().unwrap().to_owned(),
        }
    }

    /// `POST /sim/faults` for jscode2session; `fault` holds everything but the endpoint.
    pub(crate) async fn fault(&self, mut fault: Value) {
        fault["endpoint"] = "jscode2session".into();
        self.control("/sim/faults", fault).await;
    }

    pub(crate) async fn advance(&self, secs: u64) {
        self.control("/sim/clock", json!({"advance_secs": secs}))
            .await;
    }

    pub(crate) async fn stats(&self) -> SimStats {
        let reply = self.http.get("/sim/stats").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let calls = &reply.body["calls"]["jscode2session"];
        SimStats {
            total: calls["total"].as_u64().unwrap(),
            outcomes: calls["errcodes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect(),
        }
    }
}

/// `wxlogin serve --test-clock` with a config file written from [`Settings`].
pub(crate) struct Server {
    process: Process,
    pub(crate) http: Http,
    pub(crate) config_path: PathBuf,
}

impl Server {
    /// Starts a server for `simulator` whose config file and `data_dir` live in `dir`.
    pub(crate) fn start(settings: &Settings, simulator: &Simulator, dir: &Path) -> Self {
        let config_path = dir.join("wxlogin.toml");
        std::fs::write(
            &config_path,
            settings.toml(simulator.base(), &dir.join("data")),
        )
        .unwrap();
        let process = Process::spawn([
            "serve".as_ref(),
            "--test-clock".as_ref(),
            "--config".as_ref(),
            config_path.as_os_str(),
        ]);
        let http = Http::new(
            format!("http://{}", process.addr()),
            settings.rotate_client_ip,
        );
        Self {
            process,
            http,
            config_path,
        }
    }

    pub(crate) fn output(&self) -> String {
        self.process.output()
    }
}

/// A successful login, as the client saw it.
#[derive(Debug, Clone)]
pub(crate) struct LoggedIn {
    pub(crate) token: String,
    pub(crate) user_id: String,
    pub(crate) new: bool,
    pub(crate) openid: String,
    pub(crate) body: Value,
}

/// A simulator and a login server using it, in a temporary directory of their own.
pub(crate) struct Env {
    pub(crate) sim: Simulator,
    pub(crate) server: Server,
    settings: Settings,
    /// What earlier server processes of this env wrote (see [`Env::restart`]).
    past_output: String,
    /// Every code, openid and token the harness has seen.
    sensitive: Mutex<BTreeSet<String>>,
    /// How far [`Env::advance_both_clocks`] has moved time, to re-apply after a restart.
    advanced_secs: AtomicU64,
    dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn start(settings: Settings) -> Self {
        let sim = Simulator::start(settings.log);
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&settings, &sim, dir.path());
        Self {
            sim,
            server,
            settings,
            past_output: String::new(),
            sensitive: Mutex::new(BTreeSet::new()),
            advanced_secs: AtomicU64::new(0),
            dir,
        }
    }

    /// Another login server against this env's simulator, in a directory of its own.
    pub(crate) fn extra_server(&self, settings: &Settings, name: &str) -> Server {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Server::start(settings, &self.sim, &dir)
    }

    /// Kills the server and starts a new process on the same config and `data_dir`, its test
    /// clock moved to where the old one was (a new process starts at the wall clock).
    pub(crate) async fn restart(&mut self) {
        self.server.process.kill();
        self.past_output.push_str(&self.server.output());
        self.server = Server::start(&self.settings, &self.sim, self.dir.path());
        let secs = self.advanced_secs.load(Ordering::SeqCst);
        self.advance_server_clock(secs).await;
    }

    async fn advance_server_clock(&self, secs: u64) {
        let reply = self
            .server
            .http
            .post_json("/dev/clock", &json!({"advance_secs": secs}))
            .await;
        reply.expect(200);
    }

    /// Everything every server process of this env wrote, stderr and stdout.
    pub(crate) fn server_output(&self) -> String {
        format!("{}{}", self.past_output, self.server.output())
    }

    /// Remembers a value that must never show up in the server's output.
    pub(crate) fn remember(&self, value: &str) {
        self.sensitive.lock().unwrap().insert(value.to_owned());
    }

    pub(crate) fn sensitive(&self) -> BTreeSet<String> {
        self.sensitive.lock().unwrap().clone()
    }

    /// `wx.login()` for `user` of `appid`.
    pub(crate) async fn sim_login(&self, appid: &str, user: &str) -> SimCode {
        let code = self.sim.login(appid, user).await;
        self.remember(&code.code);
        self.remember(&code.openid);
        code
    }

    /// `POST /v1/login` with `body` as JSON.
    pub(crate) async fn login_with(&self, body: &Value) -> Reply {
        if let Some(code) = body["code"].as_str() {
            self.remember(code);
        }
        let reply = self.server.http.post_json("/v1/login", body).await;
        if let Some(token) = reply.body["token"].as_str() {
            self.remember(token);
        }
        reply
    }

    /// `POST /v1/login` for app A.
    pub(crate) async fn login(&self, code: &str) -> Reply {
        self.login_with(&json!({"code": code, "appid": APP_A}))
            .await
    }

    /// `wx.login()` then `POST /v1/login`, which must succeed.
    pub(crate) async fn login_as(&self, appid: &str, user: &str) -> LoggedIn {
        let code = self.sim_login(appid, user).await;
        let reply = self
            .login_with(&json!({"code": code.code, "appid": appid}))
            .await;
        reply.expect(200);
        LoggedIn {
            token: reply.body["token"].as_str().unwrap().to_owned(),
            user_id: reply.body["user"]["id"].as_str().unwrap().to_owned(),
            new: reply.body["user"]["new"].as_bool().unwrap(),
            openid: code.openid,
            body: reply.body,
        }
    }

    /// `GET /v1/session` with `token`.
    pub(crate) async fn session(&self, token: &str) -> Reply {
        let reply = self
            .server
            .http
            .with_token(Method::GET, "/v1/session", token)
            .await;
        for field in ["openid", "unionid"] {
            if let Some(id) = reply.body[field].as_str() {
                self.remember(id);
            }
        }
        reply
    }

    /// `GET /v1/session` must answer 401 `invalid_token`.
    pub(crate) async fn assert_dead(&self, token: &str) {
        self.session(token).await.expect_error(401, "invalid_token");
    }

    /// `GET /v1/session` must answer 200 for this token.
    pub(crate) async fn assert_live(&self, token: &str) -> Value {
        let reply = self.session(token).await;
        reply.expect(200);
        reply.body
    }

    pub(crate) async fn logout(&self, token: &str) -> Reply {
        self.server
            .http
            .with_token(Method::POST, "/v1/logout", token)
            .await
    }

    pub(crate) async fn delete_me(&self, token: &str) -> Reply {
        self.server
            .http
            .with_token(Method::DELETE, "/v1/me", token)
            .await
    }

    /// Moves the simulator's and the server's clocks forward together.
    pub(crate) async fn advance_both_clocks(&self, secs: u64) {
        self.sim.advance(secs).await;
        self.advance_server_clock(secs).await;
        self.advanced_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// What reached "WeChat" so far.
    pub(crate) async fn stats(&self) -> SimStats {
        self.sim.stats().await
    }

    /// Runs `wxlogin user ACTION --appid A --openid O --config F` against this env's store
    /// and returns once the command has exited: whether it succeeded, and what it printed.
    pub(crate) async fn user_cli(&self, action: &str, appid: &str, openid: &str) -> (bool, String) {
        let mut command = tokio::process::Command::from(Process::command());
        command
            .args([
                "user", action, "--appid", appid, "--openid", openid, "--config",
            ])
            .arg(&self.server.config_path)
            .stdin(Stdio::null());
        let output = command.output().await.expect("cannot run wxlogin user");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), printed)
    }
}
