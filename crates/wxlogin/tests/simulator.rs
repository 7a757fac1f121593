//! Self-tests of `wxlogin simulate`: the real binary, driven over HTTP like WeChat would be.
//!
//! Each test starts its own simulator process on port 0 and talks to it with plain `reqwest`
//! and `serde_json::Value`, so nothing here shares types with the simulator either. Expiry is
//! tested by advancing the simulator's clock (`/sim/clock`), never by sleeping.

#[path = "support/process.rs"]
mod process;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use process::Process;

const A1: &str = "wx00000000000000a1";
const A2: &str = "wx00000000000000a2";
const B1: &str = "wx00000000000000b1";
const VECTOR_APPID: &str = "wx4f4bc4dec97d474b";
const DEMO_APPID: &str = "wx1234567890abcdef";
const DEMO_SECRET: &str = "wxlogin-demo-secret-not-for-production";

/// Two apps bound to one Open Platform account, one unbound app, and protocol vector A pinned.
const CONFIG: &str = r#"
session_key_rotation = "interval"

[[apps]]
appid = "wx00000000000000a1"
secret = "secret-a1"
open_platform = "group-1"
high_risk_users = ["mallory"]

[[apps]]
appid = "wx00000000000000a2"
secret = "secret-a2"
open_platform = "group-1"

[[apps]]
appid = "wx00000000000000b1"
secret = "secret-b1"

[[apps]]
appid = "wx4f4bc4dec97d474b"
secret = "vector-secret"
open_platform = "vectors"

[[fixed_users]]
appid = "wx4f4bc4dec97d474b"
user = "vector-a"
openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
session_key = "tiihtNczf5v6AKRyjwEUhQ=="
"#;

fn secret_of(appid: &str) -> &'static str {
    match appid {
        A1 => "secret-a1",
        A2 => "secret-a2",
        B1 => "secret-b1",
        VECTOR_APPID => "vector-secret",
        DEMO_APPID => DEMO_SECRET,
        _ => "no-such-secret",
    }
}

/// A running simulator process, killed when dropped.
struct Sim {
    _process: Process,
    base: String,
    client: reqwest::Client,
    /// Second stdout line, with `--tls`.
    ca_path: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn start(config: &str) -> Self {
        Self::start_with(config, &[])
    }

    fn start_with(config: &str, extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("simulator.toml");
        std::fs::write(&config_path, config).unwrap();
        let args = [
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "7",
            "--config",
        ];
        let process = Process::spawn(
            args.iter()
                .map(OsStr::new)
                .chain([config_path.as_os_str()])
                .chain(extra_args.iter().map(OsStr::new)),
        );
        let tls = extra_args.contains(&"--tls");
        let ca_path = tls.then(|| PathBuf::from(process.next_stdout_line("tls ca written to ")));
        let scheme = if tls { "https" } else { "http" };
        let client = match &ca_path {
            Some(path) => trusting_client(path),
            None => reqwest::Client::new(),
        };
        Sim {
            base: format!("{scheme}://{}", process.addr()),
            _process: process,
            client,
            ca_path,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// `/sim/login`: returns (code, openid).
    async fn login(&self, appid: &str, user: &str) -> (String, String) {
        let (status, body) = self
            .post("/sim/login", json!({"appid": appid, "user": user}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let code = body["code"].as_str().unwrap().to_owned();
        let openid = body["openid"].as_str().unwrap().to_owned();
        (code, openid)
    }

    /// `jscode2session` with exactly these query parameters.
    async fn jscode2session_raw(&self, query: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url("/sns/jscode2session"))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// A well-formed exchange of `code` for `appid`; returns the JSON body.
    async fn exchange(&self, appid: &str, code: &str) -> Value {
        let response = self
            .jscode2session_raw(&[
                ("appid", appid),
                ("secret", secret_of(appid)),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Login then exchange; returns the session_key.
    async fn session_key(&self, appid: &str, user: &str) -> String {
        let (code, _) = self.login(appid, user).await;
        let body = self.exchange(appid, &code).await;
        body["session_key"]
            .as_str()
            .unwrap_or_else(|| panic!("no session_key in {body}"))
            .to_owned()
    }

    /// Advances the simulator's clock; returns its new time in Unix seconds.
    async fn advance(&self, secs: u64) -> i64 {
        let (status, body) = self.post("/sim/clock", json!({"advance_secs": secs})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["now"].as_i64().unwrap()
    }

    async fn fault(&self, fault: Value) {
        let (status, body) = self.post("/sim/faults", fault).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn stats(&self) -> Value {
        let response = self
            .client
            .get(self.url("/sim/stats"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["calls"]["jscode2session"].clone()
    }
}

fn trusting_client(ca_path: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_path).unwrap();
    let ca = reqwest::Certificate::from_pem(&pem).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

/// Asserts a WeChat error body: exactly `errcode` and `errmsg`, the message and a rid.
fn assert_wechat_error(body: &Value, errcode: i64, errmsg: &str) {
    assert_eq!(body["errcode"], errcode, "{body}");
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 2, "only errcode and errmsg: {body}");
    let text = body["errmsg"].as_str().unwrap();
    let rid = text
        .strip_prefix(&format!("{errmsg}, rid: "))
        .unwrap_or_else(|| panic!("errmsg {text:?} is not `{errmsg}, rid: …`"));
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "{rid}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 8 && g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))),
        "rid {rid}"
    );
}

fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn a_code_is_exchanged_once_for_the_documented_success_shape() {
    let sim = Sim::start(CONFIG);
    let (code, openid) = sim.login(A1, "alice").await;
    assert_eq!(code.len(), 32);
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");

    let response = sim
        .jscode2session_raw(&[
            ("appid", A1),
            ("secret", "secret-a1"),
            ("js_code", &code),
            ("grant_type", "authorization_code"),
            // wechatpy and WxJava add this to every call; WeChat ignores it.
            ("access_token", "dummy"),
            ("unexpected", "1"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["openid", "session_key", "unionid"], "{body}");
    assert_eq!(body["openid"], openid.as_str());
    assert_eq!(openid.len(), 28);
    assert!(openid.starts_with('o'));
    let key = body["session_key"].as_str().unwrap();
    assert_eq!(key.len(), 24);
    assert!(key.ends_with("=="), "{key}");

    let again = sim.exchange(A1, &code).await;
    assert_wechat_error(&again, 40163, "code been used");

    let (code, _) = sim.login(B1, "alice").await;
    let unbound = sim.exchange(B1, &code).await;
    assert_eq!(keys(&unbound), ["openid", "session_key"], "{unbound}");

    let stats = sim.stats().await;
    assert_eq!(stats["total"], 3, "{stats}");
    assert_eq!(stats["errcodes"], json!({"0": 2, "40163": 1}));
}

#[tokio::test]
async fn unknown_foreign_and_expired_codes_are_40029() {
    let sim = Sim::start(CONFIG);
    assert_wechat_error(
        &sim.exchange(A1, "0712cDoV0cfty22AeloV0daMoV02cDog").await,
        40029,
        "invalid code",
    );

    let (foreign, _) = sim.login(A2, "alice").await;
    assert_wechat_error(&sim.exchange(A1, &foreign).await, 40029, "invalid code");
    assert!(
        sim.exchange(A2, &foreign).await["openid"].is_string(),
        "the right app can still use it"
    );

    let (early, _) = sim.login(A1, "alice").await;
    let (late, _) = sim.login(A1, "alice").await;
    sim.advance(290).await;
    assert!(sim.exchange(A1, &early).await["openid"].is_string());
    sim.advance(11).await;
    assert_wechat_error(&sim.exchange(A1, &late).await, 40029, "invalid code");
}

#[tokio::test]
async fn request_errors_come_in_the_documented_order_and_leave_the_code_usable() {
    let sim = Sim::start(CONFIG);
    let (code, _) = sim.login(A1, "alice").await;
    let grant = ("grant_type", "authorization_code");
    type Query<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Query, i64, &str); 8] = [
        (
            &[("secret", "secret-a1"), ("js_code", &code), grant],
            41002,
            "appid missing",
        ),
        (
            &[
                ("appid", "wx0000000000000000"),
                ("secret", "secret-a1"),
                ("js_code", &code),
                grant,
            ],
            40013,
            "invalid appid",
        ),
        (
            &[("appid", A1), ("js_code", &code), grant],
            41004,
            "appsecret missing",
        ),
        (
            &[
                ("appid", A1),
                ("secret", "secret-a2"),
                ("js_code", &code),
                grant,
            ],
            40125,
            "invalid appsecret",
        ),
        (
            &[
                ("appid", A1),
                ("secret", "secret-a1"),
                ("js_code", &code),
                ("grant_type", "client_credential"),
            ],
            40002,
            "invalid grant_type",
        ),
        (
            &[("appid", A1), ("secret", "secret-a1"), ("js_code", &code)],
            40002,
            "invalid grant_type",
        ),
        (
            &[("appid", A1), ("secret", "secret-a1"), grant],
            41008,
            "missing code",
        ),
        // Both wrong: the appid is checked first.
        (
            &[
                ("appid", "wx0000000000000000"),
                ("secret", "nope"),
                ("js_code", &code),
                grant,
            ],
            40013,
            "invalid appid",
        ),
    ];
    for (query, errcode, errmsg) in cases {
        let response = sim.jscode2session_raw(query).await;
        assert_eq!(response.status(), StatusCode::OK, "errors are HTTP 200");
        assert_wechat_error(&response.json().await.unwrap(), errcode, errmsg);
    }
    assert!(
        sim.exchange(A1, &code).await["session_key"].is_string(),
        "no failed call consumed the code"
    );
}

#[tokio::test]
async fn a_high_risk_user_is_blocked_and_the_code_is_not_consumed() {
    let sim = Sim::start(CONFIG);
    let (code, _) = sim.login(A1, "mallory").await;
    assert_wechat_error(&sim.exchange(A1, &code).await, 40226, "code blocked");
    assert_wechat_error(&sim.exchange(A1, &code).await, 40226, "code blocked");
    let (code, _) = sim.login(A2, "mallory").await;
    assert!(
        sim.exchange(A2, &code).await["openid"].is_string(),
        "high risk is per app"
    );
}

#[tokio::test]
async fn the_101st_exchange_of_a_user_in_one_minute_is_45011() {
    let sim = Sim::start(CONFIG);
    // Start at the top of a simulated minute, so the whole burst falls inside it.
    let now = sim.advance(0).await;
    sim.advance(u64::try_from(60 - now.rem_euclid(60)).unwrap())
        .await;

    let (code, _) = sim.login(A1, "alice").await;
    assert!(sim.exchange(A1, &code).await["openid"].is_string());
    for _ in 0..99 {
        assert_eq!(sim.exchange(A1, &code).await["errcode"], 40163);
    }
    let (fresh, _) = sim.login(A1, "alice").await;
    let limited = sim.exchange(A1, &fresh).await;
    assert_wechat_error(
        &limited,
        45011,
        "api minute-quota reach limit mustslower retry next minute",
    );
    let (other_user, _) = sim.login(A1, "bob").await;
    assert!(
        sim.exchange(A1, &other_user).await["openid"].is_string(),
        "the limit is per user"
    );

    sim.advance(60).await;
    assert!(
        sim.exchange(A1, &fresh).await["openid"].is_string(),
        "next minute, and the limited call did not consume the code"
    );
}

#[tokio::test]
async fn interval_rotation_keeps_the_key_for_a_minute_and_exchanges_return_the_current_key() {
    let sim = Sim::start(CONFIG);
    let k1 = sim.session_key(A1, "alice").await;
    let k2 = sim.session_key(A1, "alice").await;
    assert_eq!(k1, k2, "two logins within 60 s keep the key");

    let (older_code, _) = sim.login(A1, "alice").await;
    sim.advance(61).await;
    let k3 = sim.session_key(A1, "alice").await;
    assert_ne!(k3, k1, "a login 61 s later rotates it");
    let late = sim.exchange(A1, &older_code).await;
    assert_eq!(
        late["session_key"], k3,
        "a code issued before the rotation yields the key current at exchange"
    );
}

#[tokio::test]
async fn always_rotation_mints_a_key_per_login_except_for_fixed_users() {
    let config = CONFIG.replace(
        "session_key_rotation = \"interval\"",
        "session_key_rotation = \"always\"",
    );
    let sim = Sim::start(&config);
    let k1 = sim.session_key(A1, "alice").await;
    let k2 = sim.session_key(A1, "alice").await;
    assert_ne!(k1, k2);
    assert_eq!(
        sim.session_key(VECTOR_APPID, "vector-a").await,
        "tiihtNczf5v6AKRyjwEUhQ=="
    );
    assert_eq!(
        sim.session_key(VECTOR_APPID, "vector-a").await,
        "tiihtNczf5v6AKRyjwEUhQ=="
    );
}

#[tokio::test]
async fn a_session_key_expires_after_its_absolute_lifetime() {
    let config = format!(
        "session_key_rotation_interval = \"10days\"\nsession_key_lifetime = \"1h\"\n{}",
        CONFIG.replace("session_key_rotation = \"interval\"", "")
    );
    let sim = Sim::start(&config);
    let k1 = sim.session_key(A1, "alice").await;
    sim.advance(1800).await;
    assert_eq!(
        sim.session_key(A1, "alice").await,
        k1,
        "alive, and not extended by use"
    );
    sim.advance(1801).await;
    assert_ne!(sim.session_key(A1, "alice").await, k1);
}

#[tokio::test]
async fn unionid_is_shared_within_an_open_platform_group_only() {
    let sim = Sim::start(CONFIG);
    let (code, openid_a1) = sim.login(A1, "carol").await;
    let a1 = sim.exchange(A1, &code).await;
    let (code, openid_a2) = sim.login(A2, "carol").await;
    let a2 = sim.exchange(A2, &code).await;
    let (code, _) = sim.login(B1, "carol").await;
    let b1 = sim.exchange(B1, &code).await;

    assert_ne!(openid_a1, openid_a2, "openids are per app");
    assert!(a1["unionid"].is_string(), "{a1}");
    assert_eq!(a1["unionid"], a2["unionid"]);
    assert_eq!(a1["unionid"].as_str().unwrap().len(), 28);
    assert!(b1.get("unionid").is_none(), "unbound app: no unionid: {b1}");

    let (code, _) = sim.login(A1, "dave").await;
    assert_ne!(sim.exchange(A1, &code).await["unionid"], a1["unionid"]);
    let (_, again) = sim.login(A1, "carol").await;
    assert_eq!(again, openid_a1, "a handle is always the same person");
}

#[tokio::test]
async fn fixed_user_vector_a_gets_exactly_its_pinned_identity_forever() {
    let sim = Sim::start(CONFIG);
    for advance in [0, 61, 4 * 24 * 3600] {
        sim.advance(advance).await;
        let (code, openid) = sim.login(VECTOR_APPID, "vector-a").await;
        assert_eq!(openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        let body = sim.exchange(VECTOR_APPID, &code).await;
        assert_eq!(
            body,
            json!({
                "openid": "oGZUI0egBJY1zhBYw2KhdUfwVJJE",
                "unionid": "ocMvos6NjeKLIBqg5Mr9QjxrP1FA",
                "session_key": "tiihtNczf5v6AKRyjwEUhQ==",
            })
        );
    }
}

#[tokio::test]
async fn injected_faults_behave_as_documented_and_are_counted() {
    let sim = Sim::start(CONFIG);
    let (code, _) = sim.login(A1, "alice").await;

    // errcode, twice: short-circuits, so the code survives.
    sim.fault(json!({"endpoint": "jscode2session", "errcode": -1, "count": 2}))
        .await;
    assert_wechat_error(&sim.exchange(A1, &code).await, -1, "system error");
    assert_wechat_error(&sim.exchange(A1, &code).await, -1, "system error");

    // malformed JSON, with the JSON content type.
    sim.fault(json!({"endpoint": "jscode2session", "body": "malformed"}))
        .await;
    let response = sim.jscode2session_raw(&[("appid", A1)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    // an HTML gateway page.
    sim.fault(json!({"endpoint": "jscode2session", "body": "html"}))
        .await;
    let response = sim.jscode2session_raw(&[("appid", A1)]).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("<html>"));

    // a dropped connection: no complete response at all.
    sim.fault(json!({"endpoint": "jscode2session", "drop": true}))
        .await;
    let dropped = sim.client.get(sim.url("/sns/jscode2session")).send().await;
    assert!(dropped.is_err(), "not even a status line: {dropped:?}");

    // a delay with an errcode: waits, then fails.
    sim.fault(json!({"endpoint": "jscode2session", "delay_ms": 300, "errcode": 45011}))
        .await;
    let started = Instant::now();
    let body = sim.exchange(A1, &code).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(body["errcode"], 45011);

    // probability 0 never fires; probability 1 fires until cleared.
    sim.fault(json!({"endpoint": "jscode2session", "drop": true, "probability": 0.0}))
        .await;
    sim.fault(json!({"endpoint": "jscode2session", "errcode": 40164, "probability": 1.0}))
        .await;
    for _ in 0..3 {
        assert_wechat_error(
            &sim.exchange(A1, &code).await,
            40164,
            "invalid ip, not in whitelist",
        );
    }
    let response = sim
        .client
        .delete(sim.url("/sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // a delay alone: the client gives up, but WeChat still finishes and consumes the code.
    sim.fault(json!({"endpoint": "jscode2session", "delay_ms": 800}))
        .await;
    let impatient = sim
        .client
        .get(sim.url("/sns/jscode2session"))
        .query(&[
            ("appid", A1),
            ("secret", "secret-a1"),
            ("js_code", &code),
            ("grant_type", "authorization_code"),
        ])
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(impatient.unwrap_err().is_timeout());
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().await["errcodes"]["0"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the delayed call never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_wechat_error(&sim.exchange(A1, &code).await, 40163, "code been used");

    let stats = sim.stats().await;
    assert_eq!(stats["total"], 11, "{stats}");
    assert_eq!(
        stats["errcodes"],
        json!({"-1": 2, "malformed": 1, "html": 1, "drop": 1, "45011": 1, "40164": 3,
               "0": 1, "40163": 1}),
    );
}

#[tokio::test]
async fn the_control_api_refuses_bad_input_with_json_errors() {
    let sim = Sim::start(CONFIG);
    let cases = [
        (
            "/sim/login",
            json!({"appid": "wx0000000000000000", "user": "a"}),
        ),
        ("/sim/login", json!({"appid": A1})),
        ("/sim/login", json!({"appid": A1, "user": ""})),
        ("/sim/login", json!({"appid": A1, "user": "a", "extra": 1})),
        ("/sim/faults", json!({"endpoint": "jscode2session"})),
        ("/sim/faults", json!({"endpoint": "tokens", "errcode": -1})),
        (
            "/sim/faults",
            json!({"endpoint": "jscode2session", "bad_token": true}),
        ),
        ("/sim/clock", json!({"advance_secs": -5})),
    ];
    for (path, body) in cases {
        let (status, reply) = sim.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {reply}");
        assert!(reply["error"].is_string(), "{reply}");
    }

    let response = sim
        .client
        .post(sim.url("/sim/login"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());

    let response = sim
        .client
        .post(sim.url("/sim/login"))
        .body(format!(
            r#"{{"appid":"{A1}","user":"{}"}}"#,
            "x".repeat(64 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());

    let response = sim
        .client
        .get(sim.url("/cgi-bin/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Still serving after all that.
    let (code, _) = sim.login(A1, "alice").await;
    assert!(sim.exchange(A1, &code).await["openid"].is_string());
}

#[tokio::test]
async fn over_tls_a_trusting_client_gets_through_and_an_untrusting_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // An empty configuration: the demo app is served.
    let sim = Sim::start_with("", &["--tls", "--tls-ca-out", ca.to_str().unwrap()]);
    assert_eq!(sim.ca_path.as_deref(), Some(ca.as_path()));
    assert!(sim.base.starts_with("https://127.0.0.1:"), "{}", sim.base);

    let untrusting = reqwest::Client::new()
        .get(sim.url("/sim/stats"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    let plain = reqwest::Client::new()
        .get(sim.url("/sim/stats").replacen("https", "http", 1))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");

    let (code, openid) = sim.login(DEMO_APPID, "alice").await;
    assert_eq!(
        openid, "oC54HsVcIbs54tpc8CLJLUXtCtt6",
        "openids are derived, independent of seed and process"
    );
    let body = sim.exchange(DEMO_APPID, &code).await;
    assert_eq!(keys(&body), ["openid", "session_key"], "{body}");
    assert_wechat_error(
        &sim.exchange(DEMO_APPID, &code).await,
        40163,
        "code been used",
    );
}
