//! The real `wxlogin-wechat` client against the real `wxlogin simulate` process.
//!
//! One test per `jscode2session` outcome. Each starts its own simulator on port 0, plays the
//! phone's side through the control API (`/sim/login`, `/sim/faults`, `/sim/clock`) with plain
//! `reqwest`, and asserts the client's *typed* result. Every failing call also proves, through
//! `/sim/stats`, that exactly one request reached "WeChat" (a login code is never retried), and
//! that the error's Display and Debug leak neither the secret nor the code.
//!
//! The simulator's own behaviour is tested in `simulator.rs`; here it is only the counterpart.

#[path = "support/process.rs"]
mod process;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use serde_json::{Value, json};
use wxlogin_wechat::{
    BuildError, ClientOptions, CodeSession, ExposeSecret, SecretString, WeChatClient, WeChatError,
};

use process::Process;

const OPEN: &str = "wx00000000000000a1";
const CLOSED: &str = "wx00000000000000b1";
const VECTOR_APPID: &str = "wx4f4bc4dec97d474b";
/// Distinctive, so a leak into an error message cannot be a coincidence.
const OPEN_SECRET: &str = "s3cret-OPEN-7f3a9c-do-not-leak";
const CLOSED_SECRET: &str = "s3cret-CLOSED-51d2e8-do-not-leak";
const VECTOR_SECRET: &str = "s3cret-VECTOR-0b6e4a-do-not-leak";

const CONFIG: &str = r#"
[[apps]]
appid = "wx00000000000000a1"
secret = "s3cret-OPEN-7f3a9c-do-not-leak"
open_platform = "group-1"
high_risk_users = ["mallory"]

[[apps]]
appid = "wx00000000000000b1"
secret = "s3cret-CLOSED-51d2e8-do-not-leak"

[[apps]]
appid = "wx4f4bc4dec97d474b"
secret = "s3cret-VECTOR-0b6e4a-do-not-leak"

[[fixed_users]]
appid = "wx4f4bc4dec97d474b"
user = "vector-a"
openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
session_key = "tiihtNczf5v6AKRyjwEUhQ=="
"#;

/// A running `wxlogin simulate`, killed when dropped.
struct Sim {
    _process: Process,
    /// `http://ADDR` or `https://ADDR`.
    base: String,
    /// For the control API (trusts the simulator's CA under `--tls`).
    control: reqwest::Client,
    ca_path: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn start(seed: u32) -> Self {
        Self::spawn(seed, false)
    }

    fn start_tls(seed: u32) -> Self {
        Self::spawn(seed, true)
    }

    fn spawn(seed: u32, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("simulator.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let seed = seed.to_string();
        let mut args: Vec<OsString> = vec![
            "simulate".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--config".into(),
            config.into(),
            "--seed".into(),
            seed.into(),
        ];
        if tls {
            args.extend(["--tls".into(), "--tls-ca-out".into()]);
            args.push(dir.path().join("ca.pem").into());
        }
        let process = Process::spawn(args);
        let ca_path = tls.then(|| PathBuf::from(process.next_stdout_line("tls ca written to ")));
        let control = match &ca_path {
            Some(ca) => reqwest::Client::builder()
                .tls_certs_only([
                    reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap()
                ])
                .build()
                .unwrap(),
            None => reqwest::Client::new(),
        };
        let scheme = if tls { "https" } else { "http" };
        Sim {
            base: format!("{scheme}://{}", process.addr()),
            _process: process,
            control,
            ca_path,
            _dir: dir,
        }
    }

    /// Options for this simulator: its CA under `--tls`, plain http allowed otherwise.
    fn options(&self, timeout: Duration) -> ClientOptions {
        ClientOptions {
            api_base: self.base.clone(),
            ca_file: self.ca_path.clone(),
            allow_http: self.ca_path.is_none(),
            timeout,
        }
    }

    /// A client for this simulator with the given per-call timeout.
    fn client(&self, timeout: Duration) -> WeChatClient {
        client(self.options(timeout)).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .control
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
        response.json().await.unwrap()
    }

    /// What `wx.login()` gives `user` of `appid`: (code, openid).
    async fn login(&self, appid: &str, user: &str) -> (String, String) {
        let body = self
            .post("/sim/login", json!({"appid": appid, "user": user}))
            .await;
        let field = |name: &str| body[name].as_str().unwrap().to_owned();
        (field("code"), field("openid"))
    }

    /// Advances the simulator's clock; returns its new time in Unix seconds.
    async fn advance(&self, secs: u64) -> u64 {
        let body = self.post("/sim/clock", json!({"advance_secs": secs})).await;
        body["now"].as_u64().unwrap()
    }

    /// Queues one fault for the next `jscode2session` call.
    async fn fault(&self, fault: Value) {
        let mut fault = fault;
        fault["endpoint"] = json!("jscode2session");
        fault["count"] = json!(1);
        self.post("/sim/faults", fault).await;
    }

    /// How many `jscode2session` calls have reached the simulator.
    async fn calls(&self) -> u64 {
        let response = self
            .control
            .get(format!("{}/sim/stats", self.base))
            .send()
            .await
            .unwrap();
        let stats: Value = response.json().await.unwrap();
        // Absent until the first call.
        stats["calls"]["jscode2session"]["total"]
            .as_u64()
            .unwrap_or(0)
    }

    /// One client call that must fail. Asserts that it reached the simulator exactly once (no
    /// retry, by the client or its transport) and that the error leaks neither secret nor code.
    async fn refused(
        &self,
        client: &WeChatClient,
        appid: &str,
        secret: &str,
        code: &str,
    ) -> WeChatError {
        let before = self.calls().await;
        let result = client
            .jscode2session(appid, &SecretString::from(secret), code)
            .await;
        let err = result.map(|_| ()).expect_err("the call should fail");
        assert_eq!(
            self.calls().await - before,
            1,
            "exactly one call reaches WeChat: {err:?}"
        );
        assert_redacted(&err, secret, code);
        err
    }
}

/// Reads one stdout line and returns what follows `prefix`.
/// Builds a client, installing the aws-lc-rs provider first as the binary does.
fn client(options: ClientOptions) -> Result<WeChatClient, BuildError> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another test binary's choice cannot reach this process; "already installed" is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
    WeChatClient::new(options)
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn assert_redacted(err: &WeChatError, secret: &str, code: &str) {
    let text = format!("{err} {err:?} {err:#?}");
    for leak in [secret, code, "secret=", "js_code="] {
        assert!(!text.contains(leak), "{leak:?} leaked into {text}");
    }
}

/// A WeChat refusal with `errcode` and a rid shaped `xxxxxxxx-xxxxxxxx-xxxxxxxx` (hex).
fn assert_api_error(err: &WeChatError, errcode: i64) {
    assert_eq!(err.errcode(), Some(errcode), "{err:?}");
    let rid = err.rid().unwrap_or_else(|| panic!("no rid in {err:?}"));
    let groups: Vec<&str> = rid.split('-').collect();
    assert!(
        groups.len() == 3
            && groups
                .iter()
                .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit())),
        "rid {rid:?}"
    );
}

fn assert_session_key(session: &CodeSession) {
    let key = session.session_key.expose_secret();
    assert_eq!(key.len(), 24, "a base64 16-byte key");
    assert!(key.ends_with("=="), "base64 of 16 bytes ends with ==");
}

#[tokio::test]
async fn success_returns_the_openid_a_24_char_key_and_a_unionid_only_for_open_platform_apps() {
    let sim = Sim::start(1);
    let client = sim.client(TIMEOUT);

    let (code, openid) = sim.login(OPEN, "alice").await;
    let session = client
        .jscode2session(OPEN, &SecretString::from(OPEN_SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.openid, openid);
    assert_session_key(&session);
    let unionid = session
        .unionid
        .expect("an open_platform app gets a unionid");
    assert_eq!(unionid.len(), 28, "{unionid}");
    assert_ne!(unionid, openid);

    let (code, openid) = sim.login(CLOSED, "alice").await;
    let session = client
        .jscode2session(CLOSED, &SecretString::from(CLOSED_SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.openid, openid);
    assert_session_key(&session);
    assert_eq!(session.unionid, None, "no open_platform, no unionid");
}

#[tokio::test]
async fn vector_a_fixed_user_comes_back_exactly() {
    let sim = Sim::start(2);
    let (code, openid) = sim.login(VECTOR_APPID, "vector-a").await;
    assert_eq!(openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    let session = sim
        .client(TIMEOUT)
        .jscode2session(VECTOR_APPID, &SecretString::from(VECTOR_SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(
        session.unionid.as_deref(),
        Some("ocMvos6NjeKLIBqg5Mr9QjxrP1FA")
    );
    assert_eq!(
        session.session_key.expose_secret(),
        "tiihtNczf5v6AKRyjwEUhQ=="
    );
}

#[tokio::test]
async fn a_reused_code_is_40163() {
    let sim = Sim::start(3);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    let secret = SecretString::from(OPEN_SECRET);
    client.jscode2session(OPEN, &secret, &code).await.unwrap();

    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert_api_error(&err, 40163);
}

#[tokio::test]
async fn a_garbage_code_is_40029() {
    let sim = Sim::start(4);
    let client = sim.client(TIMEOUT);
    let err = sim
        .refused(&client, OPEN, OPEN_SECRET, "garbageCodeQx7Zk2Vw9NotIssued")
        .await;
    assert_api_error(&err, 40029);
}

#[tokio::test]
async fn an_expired_code_is_40029() {
    let sim = Sim::start(5);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    // Codes live 300 s; move the simulator's clock rather than sleeping.
    sim.advance(301).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert_api_error(&err, 40029);
}

#[tokio::test]
async fn an_unknown_appid_is_40013() {
    let sim = Sim::start(6);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    let err = sim
        .refused(&client, "wx00000000000000ff", OPEN_SECRET, &code)
        .await;
    assert_api_error(&err, 40013);
}

#[tokio::test]
async fn a_wrong_secret_is_40125() {
    let sim = Sim::start(7);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    let err = sim
        .refused(&client, OPEN, "s3cret-WRONG-c4f1a0-do-not-leak", &code)
        .await;
    assert_api_error(&err, 40125);
    // Its own secret must not leak either, though this call did not send it.
    assert_redacted(&err, OPEN_SECRET, &code);
}

#[tokio::test]
async fn a_high_risk_user_is_40226() {
    let sim = Sim::start(8);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "mallory").await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert_api_error(&err, 40226);
}

#[tokio::test]
async fn the_101st_exchange_of_one_user_within_a_minute_is_45011() {
    let sim = Sim::start(9);
    let client = sim.client(TIMEOUT);
    let secret = SecretString::from(OPEN_SECRET);
    // The limit counts per clock minute: start at the top of one, leaving a real minute for
    // 200 local requests, so the count cannot be split across two minutes.
    let now = sim.advance(0).await;
    sim.advance(60 - now % 60).await;

    for attempt in 1..=100 {
        let (code, _) = sim.login(OPEN, "bob").await;
        let result = client.jscode2session(OPEN, &secret, &code).await;
        assert!(result.is_ok(), "attempt {attempt}: {:?}", result.err());
    }
    let (code, _) = sim.login(OPEN, "bob").await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert_api_error(&err, 45011);
}

#[tokio::test]
async fn an_injected_errcode_minus_1_is_typed() {
    let sim = Sim::start(10);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    sim.fault(json!({"errcode": -1})).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert_api_error(&err, -1);
    // WeChat calls -1 retryable, yet only one call reached it (`refused` checked): the client
    // leaves a single-use code's retry to its caller.
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_html_page_is_a_bad_response() {
    let sim = Sim::start(11);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    sim.fault(json!({"body": "html"})).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert!(err.is_bad_response(), "{err:?}");
    assert_eq!(err.errcode(), None);
    assert_eq!(err.http_status(), Some(502));
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    let sim = Sim::start(12);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    sim.fault(json!({"body": "malformed"})).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert!(err.is_bad_response(), "{err:?}");
    assert_eq!(err.errcode(), None);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let sim = Sim::start(13);
    let client = sim.client(TIMEOUT);
    let (code, _) = sim.login(OPEN, "alice").await;
    sim.fault(json!({"drop": true})).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    // Transport, not connect: the TCP connection was established and the request sent (the
    // simulator counted it) before the socket closed without a response. `is_connect` would
    // claim the request never left, which is false here and matters for a single-use code.
    assert!(err.is_transport(), "{err:?}");
    assert!(!err.is_connect() && !err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let sim = Sim::start(14);
    let client = sim.client(Duration::from_millis(300));
    let (code, _) = sim.login(OPEN, "alice").await;
    sim.fault(json!({"delay_ms": 1500})).await;
    let err = sim.refused(&client, OPEN, OPEN_SECRET, &code).await;
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.errcode(), None);
}

#[tokio::test]
async fn over_tls_the_simulators_ca_is_trusted_and_without_it_nothing_connects() {
    let sim = Sim::start_tls(15);
    assert!(sim.base.starts_with("https://127.0.0.1:"), "{}", sim.base);
    let (code, openid) = sim.login(OPEN, "alice").await;
    let secret = SecretString::from(OPEN_SECRET);

    // Without the CA first: the handshake fails, so the code is still unused afterwards.
    let untrusting = client(ClientOptions {
        ca_file: None,
        ..sim.options(TIMEOUT)
    })
    .unwrap();
    let before = sim.calls().await;
    let err = untrusting
        .jscode2session(OPEN, &secret, &code)
        .await
        .map(|_| ())
        .expect_err("an unknown CA must be refused");
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(sim.calls().await, before, "nothing reached WeChat");
    assert_redacted(&err, OPEN_SECRET, &code);

    let trusting = sim.client(TIMEOUT);
    let session = trusting.jscode2session(OPEN, &secret, &code).await.unwrap();
    assert_eq!(session.openid, openid);
    assert_session_key(&session);
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    let options = ClientOptions {
        api_base: "http://127.0.0.1:8080".to_owned(),
        ca_file: None,
        allow_http: false,
        timeout: TIMEOUT,
    };
    let err = client(options.clone()).unwrap_err();
    assert!(matches!(err, BuildError::HttpNotAllowed), "{err:?}");
    client(ClientOptions {
        allow_http: true,
        ..options
    })
    .expect("allowed for loopback");
}
