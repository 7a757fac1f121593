//! Self-tests of `wxlogin simulate` for the sensitive-data endpoints (issue 4): access_tokens,
//! `getuserphonenumber`, `checksession`, `resetusersessionkey`, and the device's encrypted
//! payloads.
//!
//! Like `simulator.rs`, each test starts the real binary on port 0 and speaks plain HTTP with
//! `serde_json::Value`; expiry is reached by advancing `/sim/clock`, never by sleeping. Reading
//! the device's encrypted output takes AES and the signatures: for that these tests use the
//! simulator's public `crypto` module, whose every function is pinned by the protocol's
//! published vectors A–E, §5.1 and §7 in its unit tests (and cross-checked by wechatpy in
//! `tests/wechatpy`).

#[path = "support/process.rs"]
mod process;

use std::ffi::OsStr;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wxlogin_simulator::crypto;

use process::Process;

const A1: &str = "wx00000000000000a1";
const A2: &str = "wx00000000000000a2";
/// An AppSecret-shaped secret (32 hex digits) for A2, to tell 40001 from 40125.
const A2_SECRET: &str = "0123456789abcdef0123456789abcdef";

const APPS: &str = r#"
[[apps]]
appid = "wx00000000000000a1"
secret = "secret-a1"
open_platform = "group-1"

[[apps]]
appid = "wx00000000000000a2"
secret = "0123456789abcdef0123456789abcdef"
"#;

fn secret_of(appid: &str) -> &'static str {
    match appid {
        A1 => "secret-a1",
        A2 => A2_SECRET,
        _ => "no-such-secret",
    }
}

/// A running simulator process, killed when dropped.
struct Sim {
    _process: Process,
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Sim {
    /// Starts the simulator with `settings` (top-level keys) before the two apps.
    fn start(settings: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("simulator.toml");
        std::fs::write(&config_path, format!("{settings}\n{APPS}")).unwrap();
        let args = [
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "3",
            "--config",
        ];
        let process = Process::spawn(args.iter().map(OsStr::new).chain([config_path.as_os_str()]));
        Sim {
            base: format!("http://{}", process.addr()),
            _process: process,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A control or JSON POST; returns status and JSON body.
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

    /// A WeChat call whose body is JSON; asserts HTTP 200 and WeChat's content type.
    async fn wechat(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "WeChat errors are 200");
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        self.wechat(self.client.get(self.url(path)).query(query))
            .await
    }

    async fn classic_token(&self, appid: &str) -> Value {
        self.get(
            "/cgi-bin/token",
            &[
                ("grant_type", "client_credential"),
                ("appid", appid),
                ("secret", secret_of(appid)),
            ],
        )
        .await
    }

    async fn stable_token(&self, appid: &str, force_refresh: bool) -> Value {
        let body = json!({
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret_of(appid),
            "force_refresh": force_refresh,
        });
        self.wechat(
            self.client
                .post(self.url("/cgi-bin/stable_token"))
                .json(&body),
        )
        .await
    }

    /// A working stable token for `appid`.
    async fn token(&self, appid: &str) -> String {
        let body = self.stable_token(appid, false).await;
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_owned()
    }

    /// `/sim/login` + `jscode2session`: returns (openid, session_key, full body).
    async fn login(&self, appid: &str, user: &str) -> (String, String, Value) {
        let (status, login) = self
            .post("/sim/login", json!({"appid": appid, "user": user}))
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        let body = self
            .get(
                "/sns/jscode2session",
                &[
                    ("appid", appid),
                    ("secret", secret_of(appid)),
                    ("js_code", login["code"].as_str().unwrap()),
                    ("grant_type", "authorization_code"),
                ],
            )
            .await;
        let openid = body["openid"].as_str().unwrap().to_owned();
        let key = body["session_key"].as_str().unwrap().to_owned();
        (openid, key, body)
    }

    /// `wxa/checksession` signing with `key`; returns the errcode.
    async fn checksession(&self, token: &str, openid: &str, key: &str) -> Value {
        let signature = crypto::login_signature(key, b"");
        self.get(
            "/wxa/checksession",
            &[
                ("access_token", token),
                ("openid", openid),
                ("signature", &signature),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await
    }

    async fn reset(&self, token: &str, openid: &str, key: &str) -> Value {
        let signature = crypto::login_signature(key, b"");
        self.get(
            "/wxa/resetusersessionkey",
            &[
                ("access_token", token),
                ("openid", openid),
                ("signature", &signature),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await
    }

    async fn phone_number(&self, token: &str, body: Value) -> Value {
        let request = self
            .client
            .post(self.url("/wxa/business/getuserphonenumber"))
            .query(&[("access_token", token)])
            .json(&body);
        self.wechat(request).await
    }

    /// Whether `token` works for a wxa API: a checksession of a throwaway user, which
    /// answers 0 or 87009 with a working token and a token error otherwise.
    async fn token_errcode(&self, token: &str) -> i64 {
        let body = self.checksession(token, "o-probe", "probe").await;
        match body["errcode"].as_i64().unwrap() {
            40003 | 87009 => 0,
            code => code,
        }
    }

    async fn advance(&self, secs: u64) -> i64 {
        let (status, body) = self.post("/sim/clock", json!({"advance_secs": secs})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["now"].as_i64().unwrap()
    }

    /// Moves the clock to the next noon in Beijing: the top of a minute, and far from the
    /// midnight where daily quotas roll over.
    async fn beijing_noon(&self) {
        let now = self.advance(0).await;
        let beijing = 8 * 3600;
        let next_noon = ((now + beijing).div_euclid(86_400) + 1) * 86_400 + 43_200 - beijing;
        self.advance(u64::try_from(next_noon - now).unwrap()).await;
    }

    /// Moves the clock to the start of the next simulated minute.
    async fn top_of_minute(&self) {
        let now = self.advance(0).await;
        self.advance(u64::try_from(60 - now.rem_euclid(60)).unwrap())
            .await;
    }

    async fn stats(&self, endpoint: &str) -> Value {
        let body: Value = self
            .client
            .get(self.url("/sim/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["calls"][endpoint].clone()
    }
}

/// Asserts a WeChat error: exactly `errcode` and an `errmsg` starting with `errmsg, rid: `.
fn assert_error(body: &Value, errcode: i64, errmsg: &str) {
    assert_eq!(body["errcode"], errcode, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let text = body["errmsg"].as_str().unwrap();
    assert!(text.starts_with(&format!("{errmsg}, rid: ")), "{text}");
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

fn assert_token_shape(token: &str) {
    let (digits, rest) = token.split_once('_').expect("`<digits>_…`");
    assert!(
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
        "{token}"
    );
    assert!(
        rest.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{token}"
    );
    assert!((130..=160).contains(&token.len()), "{} chars", token.len());
}

/// Decrypts device output with `key`, as a server would; `None` when the key is wrong.
fn open(key: &str, sealed: &Value) -> Option<Value> {
    let data = sealed["encryptedData"].as_str().unwrap();
    let iv = sealed["iv"].as_str().unwrap();
    let plain = crypto::decrypt(key, iv, data)?;
    Some(serde_json::from_slice(&plain).expect("a JSON payload"))
}

#[tokio::test]
async fn classic_tokens_supersede_each_other_after_five_minutes_and_expire() {
    let sim = Sim::start("");
    let first = sim.classic_token(A1).await;
    assert_eq!(keys(&first), ["access_token", "expires_in"], "{first}");
    assert_eq!(first["expires_in"], 7200);
    let first = first["access_token"].as_str().unwrap().to_owned();
    assert_token_shape(&first);
    assert_eq!(sim.token_errcode(&first).await, 0);

    let second = sim.classic_token(A1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first, "every call mints a new token");
    sim.advance(290).await;
    assert_eq!(sim.token_errcode(&first).await, 0, "still in its 300 s");
    sim.advance(15).await;
    assert_eq!(sim.token_errcode(&first).await, 40001, "superseded");
    assert_eq!(sim.token_errcode(&second).await, 0);
    sim.advance(7200).await;
    assert_eq!(sim.token_errcode(&second).await, 42001, "past its lifetime");
}

#[tokio::test]
async fn token_checks_missing_garbage_and_malformed() {
    let sim = Sim::start("");
    let missing = sim
        .get(
            "/wxa/checksession",
            &[
                ("openid", "o"),
                ("signature", "00"),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await;
    assert_error(&missing, 41001, "access_token missing");
    let garbage = sim.checksession("86_notATokenWeIssued", "o", "k").await;
    assert_error(
        &garbage,
        40001,
        "invalid credential, access_token is invalid or not latest",
    );
    let malformed = sim.checksession("not a token!", "o", "k").await;
    assert_error(&malformed, 40014, "invalid access_token");
    let phone = sim.phone_number("a+b/c==", json!({"code": "x"})).await;
    assert_error(&phone, 40014, "invalid access_token");
}

#[tokio::test]
async fn token_fetch_errors_follow_the_documented_codes_and_the_daily_quota() {
    let sim = Sim::start("token_daily_quota = 2");
    sim.beijing_noon().await;
    let grant = ("grant_type", "client_credential");
    let cases: [(&[(&str, &str)], i64); 7] = [
        (&[("secret", "secret-a1"), grant], 41002),
        (
            &[("appid", "wx0000000000000000"), ("secret", "x"), grant],
            40013,
        ),
        (&[("appid", A1), grant], 41004),
        (&[("appid", A1), ("secret", "secret-a2"), grant], 40125),
        (
            &[
                ("appid", A2),
                ("secret", "ffffffffffffffffffffffffffffffff"),
                grant,
            ],
            40001,
        ),
        (&[("appid", A1), ("secret", "secret-a1")], 40002),
        (
            &[
                ("appid", A1),
                ("secret", "secret-a1"),
                ("grant_type", "authorization_code"),
            ],
            40002,
        ),
    ];
    for (query, errcode) in cases {
        let body = sim.get("/cgi-bin/token", query).await;
        assert_eq!(body["errcode"], errcode, "{query:?}: {body}");
    }
    // None of those counted: the quota of 2 is all there.
    assert!(sim.classic_token(A1).await["access_token"].is_string());
    assert!(sim.classic_token(A1).await["access_token"].is_string());
    assert_error(
        &sim.classic_token(A1).await,
        45009,
        "reach max api daily quota limit",
    );
    assert!(
        sim.classic_token(A2).await["access_token"].is_string(),
        "per app"
    );
    sim.advance(24 * 3600).await;
    assert!(
        sim.classic_token(A1).await["access_token"].is_string(),
        "a new day"
    );
}

#[tokio::test]
async fn stable_token_is_post_json_only() {
    let sim = Sim::start("");
    let url = sim.url("/cgi-bin/stable_token");
    let get = sim
        .wechat(sim.client.get(&url).query(&[
            ("grant_type", "client_credential"),
            ("appid", A1),
            ("secret", "secret-a1"),
        ]))
        .await;
    assert_error(&get, 43002, "require POST method");
    let form = sim
        .wechat(
            sim.client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=client_credential&appid={A1}&secret=secret-a1"
                )),
        )
        .await;
    assert_error(&form, 47001, "data format error");
    let empty = sim.wechat(sim.client.post(&url)).await;
    assert_error(&empty, 44002, "empty post data");
    let typed = sim
        .wechat(sim.client.post(&url).json(&json!({
            "grant_type": "client_credential", "appid": A1, "secret": "secret-a1",
            "force_refresh": "yes",
        })))
        .await;
    assert_error(&typed, 47001, "data format error");
    let wrong = sim
        .wechat(sim.client.post(&url).json(&json!({
            "grant_type": "client_credential", "appid": A1, "secret": "nope",
        })))
        .await;
    assert_error(&wrong, 40125, "invalid appsecret");
    let ok = sim.stable_token(A1, false).await;
    assert_eq!(keys(&ok), ["access_token", "expires_in"], "{ok}");
    assert_token_shape(ok["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn stable_token_normal_mode_repeats_until_the_last_five_minutes_then_hands_over() {
    let sim = Sim::start("");
    let first = sim.stable_token(A1, false).await;
    assert_eq!(first["expires_in"], 7200);
    sim.advance(1000).await;
    let again = sim.stable_token(A1, false).await;
    assert_eq!(again["access_token"], first["access_token"]);
    let left = again["expires_in"].as_i64().unwrap();
    assert!((6195..=6200).contains(&left), "decreasing: {left}");

    // Isolated from classic tokens: minting those changes nothing here.
    sim.classic_token(A1).await;
    let classic = sim.classic_token(A1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sim.stable_token(A1, false).await["access_token"],
        first["access_token"]
    );

    sim.advance(5905).await; // 295 s left: the handover
    let renewed = sim.stable_token(A1, false).await;
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert_eq!(renewed["expires_in"], 7200);
    let old = first["access_token"].as_str().unwrap();
    assert_eq!(
        sim.token_errcode(old).await,
        0,
        "valid until its own expiry"
    );
    sim.advance(300).await;
    assert_eq!(sim.token_errcode(old).await, 42001);
    let new = renewed["access_token"].as_str().unwrap();
    assert_eq!(sim.token_errcode(new).await, 0);
    assert_eq!(
        sim.token_errcode(&classic).await,
        0,
        "the stable handover did not touch the classic token"
    );
}

#[tokio::test]
async fn force_refresh_invalidates_at_once_is_ignored_within_30s_and_capped() {
    let sim = Sim::start("stable_token_force_refresh_daily = 2");
    let classic = sim.classic_token(A1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let normal = sim.token(A1).await;
    let forced = sim.stable_token(A1, true).await;
    assert_eq!(forced["expires_in"], 7200);
    let forced = forced["access_token"].as_str().unwrap().to_owned();
    assert_ne!(forced, normal);
    assert_eq!(sim.token_errcode(&normal).await, 40001, "no grace");
    assert_eq!(
        sim.token_errcode(&classic).await,
        0,
        "other family untouched"
    );

    sim.advance(20).await;
    let ignored = sim.stable_token(A1, true).await;
    assert_eq!(ignored["access_token"], forced.as_str(), "< 30 s: ignored");
    assert_eq!(sim.token_errcode(&forced).await, 0);

    sim.advance(15).await;
    let second = sim.stable_token(A1, true).await;
    assert_ne!(second["access_token"], forced.as_str());
    sim.advance(40).await;
    assert_error(
        &sim.stable_token(A1, true).await,
        45009,
        "reach max api daily quota limit",
    );
    assert_eq!(
        sim.token(A1).await,
        second["access_token"].as_str().unwrap(),
        "normal mode still works and the token survived"
    );
}

#[tokio::test]
async fn stable_token_minute_and_daily_limits_are_configurable() {
    let sim = Sim::start("stable_token_per_minute = 3\nstable_token_daily_quota = 5");
    sim.beijing_noon().await;
    for _ in 0..3 {
        assert!(sim.stable_token(A1, false).await["access_token"].is_string());
    }
    assert_error(
        &sim.stable_token(A1, false).await,
        45011,
        "api minute-quota reach limit mustslower retry next minute",
    );
    assert!(
        sim.stable_token(A2, false).await["access_token"].is_string(),
        "per app"
    );
    sim.advance(60).await;
    assert!(sim.stable_token(A1, false).await["access_token"].is_string());
    assert_eq!(
        sim.stable_token(A1, false).await["errcode"],
        45009,
        "the 6th call of the day (the limited one counted)"
    );
}

#[tokio::test]
async fn the_bad_token_fault_hands_out_a_rejected_token_until_a_forced_refresh() {
    let sim = Sim::start("");
    let good = sim.token(A1).await;
    let (status, body) = sim
        .post(
            "/sim/faults",
            json!({"endpoint": "stable_token", "bad_token": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bad = sim.stable_token(A1, false).await;
    assert_eq!(
        keys(&bad),
        ["access_token", "expires_in"],
        "looks valid: {bad}"
    );
    let bad = bad["access_token"].as_str().unwrap().to_owned();
    assert_ne!(bad, good);
    assert_token_shape(&bad);
    assert_eq!(sim.token_errcode(&bad).await, 40001);
    assert_eq!(
        sim.token(A1).await,
        bad,
        "normal mode returns the same bad token"
    );
    let forced = sim.stable_token(A1, true).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sim.token_errcode(&forced).await, 0);
    assert_eq!(sim.stats("stable_token").await["errcodes"]["0"], 4);
}

#[tokio::test]
async fn revoking_kills_every_token_of_the_app_and_the_next_fetch_works() {
    let sim = Sim::start("");
    let stable = sim.token(A1).await;
    let classic = sim.classic_token(A1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = sim.token(A2).await;
    let (status, body) = sim.post("/sim/tokens/revoke", json!({"appid": A1})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"revoked": 2})));
    assert_eq!(sim.token_errcode(&stable).await, 40001);
    assert_eq!(sim.token_errcode(&classic).await, 40001);
    assert_eq!(sim.token_errcode(&other).await, 0, "other apps untouched");
    let fresh = sim.token(A1).await;
    assert_ne!(fresh, stable);
    assert_eq!(sim.token_errcode(&fresh).await, 0);
    let (status, _) = sim
        .post("/sim/tokens/revoke", json!({"appid": "wx0000000000000000"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_phone_code_gives_the_number_once_and_the_old_payload_matches() {
    let sim = Sim::start("");
    let (openid, key, _) = sim.login(A1, "alice").await;
    let now = sim.advance(0).await;
    let (status, button) = sim
        .post(
            "/sim/phone",
            json!({"appid": A1, "user": "alice", "phone": "13912345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{button}");
    assert_eq!(keys(&button), ["code", "encryptedData", "iv"]);
    let code = button["code"].as_str().unwrap();
    assert_eq!(code.len(), 64);

    let payload = open(&key, &button).expect("sealed with the key from jscode2session");
    assert_eq!(payload["phoneNumber"], "13912345678");
    assert_eq!(payload["purePhoneNumber"], "13912345678");
    assert_eq!(payload["countryCode"], "86", "a string");
    assert_eq!(payload["watermark"]["appid"], A1);
    let stamp = payload["watermark"]["timestamp"].as_i64().unwrap();
    assert!((now..now + 5).contains(&stamp), "{stamp} vs {now}");

    let token = sim.token(A1).await;
    let body = sim
        .phone_number(&token, json!({"code": code, "openid": openid}))
        .await;
    assert_eq!(keys(&body), ["errcode", "errmsg", "phone_info"], "{body}");
    assert_eq!(
        (&body["errcode"], &body["errmsg"]),
        (&json!(0), &json!("ok"))
    );
    assert_eq!(
        body["phone_info"],
        json!({
            "phoneNumber": "13912345678",
            "purePhoneNumber": "13912345678",
            "countryCode": "86",
            "watermark": {"timestamp": stamp, "appid": A1},
        })
    );
    assert_error(
        &sim.phone_number(&token, json!({"code": code})).await,
        40029,
        "invalid code",
    );
}

#[tokio::test]
async fn phone_codes_refuse_everything_but_a_fresh_code_of_this_app_and_user() {
    let sim = Sim::start("");
    sim.login(A1, "alice").await;
    sim.login(A2, "alice").await;
    let (bob, _, _) = sim.login(A1, "bob").await;
    let token = sim.token(A1).await;
    let button = |user: &'static str, appid: &'static str| {
        let sim = &sim;
        async move {
            let (status, body) = sim
                .post("/sim/phone", json!({"appid": appid, "user": user}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["code"].as_str().unwrap().to_owned()
        }
    };
    let code = button("alice", A1).await;
    let url = sim.url("/wxa/business/getuserphonenumber");

    let form = sim
        .wechat(
            sim.client
                .post(&url)
                .query(&[("access_token", token.as_str())])
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("code={code}")),
        )
        .await;
    assert_error(&form, 47001, "data format error");
    let in_query = sim
        .wechat(
            sim.client
                .post(&url)
                .query(&[("access_token", token.as_str()), ("code", code.as_str())])
                .json(&json!({})),
        )
        .await;
    assert_error(&in_query, 40029, "invalid code");
    let get = sim
        .wechat(
            sim.client
                .get(&url)
                .query(&[("access_token", token.as_str())]),
        )
        .await;
    assert_error(&get, 43002, "require POST method");
    let no_token = sim
        .wechat(sim.client.post(&url).json(&json!({"code": code})))
        .await;
    assert_error(&no_token, 41001, "access_token missing");
    let mismatch = sim
        .phone_number(&token, json!({"code": code, "openid": bob}))
        .await;
    assert_error(&mismatch, 40029, "invalid code");
    let foreign = sim
        .phone_number(&sim.token(A2).await, json!({"code": code}))
        .await;
    assert_error(&foreign, 40029, "invalid code");
    let garbage = sim
        .phone_number(&token, json!({"code": "0".repeat(64)}))
        .await;
    assert_error(&garbage, 40029, "invalid code");

    // None of that consumed it; the default number is derived from the user.
    let body = sim.phone_number(&token, json!({"code": code})).await;
    let number = body["phone_info"]["phoneNumber"].as_str().unwrap();
    assert_eq!(number.len(), 11, "{body}");

    let late = button("alice", A1).await;
    sim.advance(301).await;
    let token = sim.token(A1).await;
    assert_error(
        &sim.phone_number(&token, json!({"code": late})).await,
        40029,
        "invalid code",
    );
    let (status, _) = sim
        .post("/sim/phone", json!({"appid": A1, "user": "nobody"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "never logged in");
    let (status, _) = sim
        .post(
            "/sim/phone",
            json!({"appid": A1, "user": "alice", "phone": "+86 139"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn checksession_accepts_only_the_live_key_signature() {
    let sim = Sim::start("session_key_lifetime = \"1h\"");
    let token = sim.token(A1).await;
    let (openid, key, _) = sim.login(A1, "alice").await;
    let ok = sim.checksession(&token, &openid, &key).await;
    assert_eq!(ok, json!({"errcode": 0, "errmsg": "ok"}));

    let upper = crypto::login_signature(&key, b"").to_ascii_uppercase();
    let mut query = vec![
        ("access_token", token.as_str()),
        ("openid", openid.as_str()),
        ("signature", upper.as_str()),
        ("sig_method", "hmac_sha256"),
    ];
    assert_eq!(sim.get("/wxa/checksession", &query).await["errcode"], 0);
    query[3].1 = "hmac_sha1";
    assert_error(
        &sim.get("/wxa/checksession", &query).await,
        87008,
        "invalid sig_method",
    );
    // Keyed with the *decoded* key bytes: the classic mistake of §5.1.
    let wrong = sim
        .checksession(&token, &openid, "AAECAwQFBgcICQoLDA0ODw==")
        .await;
    assert_error(&wrong, 87009, "invalid signature");
    let stranger = sim.checksession(&token, "oNobodyAtAll", &key).await;
    assert_error(&stranger, 40003, "invalid openid");
    let (_, _, other_app) = sim.login(A2, "alice").await;
    let foreign = sim
        .checksession(&token, other_app["openid"].as_str().unwrap(), &key)
        .await;
    assert_eq!(foreign["errcode"], 40003, "openids are per app: {foreign}");

    sim.advance(61).await;
    let (_, rotated, _) = sim.login(A1, "alice").await;
    assert_ne!(rotated, key);
    assert_eq!(
        sim.checksession(&token, &openid, &key).await["errcode"],
        87009
    );
    assert_eq!(
        sim.checksession(&token, &openid, &rotated).await["errcode"],
        0
    );
    sim.advance(3600).await;
    let token = sim.token(A1).await;
    assert_eq!(
        sim.checksession(&token, &openid, &rotated).await["errcode"],
        87009,
        "expired"
    );
}

#[tokio::test]
async fn reset_mints_a_key_that_keeps_the_old_expiry_and_kills_the_old_key() {
    let sim =
        Sim::start("session_key_lifetime = \"1h\"\nresetusersessionkey_per_user_per_minute = 2");
    sim.top_of_minute().await;
    let token = sim.token(A1).await;
    let (openid, key, _) = sim.login(A1, "alice").await;
    let check = |user| {
        let sim = &sim;
        async move {
            let (status, body) = sim
                .post("/sim/check-session", json!({"appid": A1, "user": user}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["valid"].as_bool().unwrap()
        }
    };
    assert!(check("alice").await);
    assert!(!check("nobody").await, "never logged in");

    let wrong = sim.reset(&token, &openid, "AAECAwQFBgcICQoLDA0ODw==").await;
    assert_error(&wrong, 87009, "invalid signature");
    let reset = sim.reset(&token, &openid, &key).await;
    assert_eq!(keys(&reset), ["errcode", "errmsg", "openid", "session_key"]);
    assert_eq!(
        (&reset["errcode"], &reset["errmsg"]),
        (&json!(0), &json!("ok"))
    );
    assert_eq!(reset["openid"], openid.as_str());
    let fresh = reset["session_key"].as_str().unwrap().to_owned();
    assert_eq!(fresh.len(), 24);
    assert_ne!(fresh, key);
    assert_eq!(
        sim.checksession(&token, &openid, &key).await["errcode"],
        87009
    );
    assert_eq!(
        sim.checksession(&token, &openid, &fresh).await["errcode"],
        0
    );
    assert!(!check("alice").await, "the device's login state is stale");

    let again = sim.reset(&token, &openid, &fresh).await;
    let third_key = again["session_key"].as_str().unwrap().to_owned();
    assert_error(
        &sim.reset(&token, &openid, &third_key).await,
        45011,
        "api minute-quota reach limit mustslower retry next minute",
    );
    let mut query = [
        ("access_token", token.as_str()),
        ("openid", openid.as_str()),
        ("signature", "00"),
        ("sig_method", "md5"),
    ];
    assert_eq!(
        sim.get("/wxa/resetusersessionkey", &query).await["errcode"],
        87008
    );
    query[0].1 = "";
    assert_eq!(
        sim.get("/wxa/resetusersessionkey", &query).await["errcode"],
        41001
    );

    // The reset key inherited the first key's expiry (1 h from the login), not a new hour.
    sim.advance(3000).await;
    let token = sim.token(A1).await;
    assert_eq!(
        sim.checksession(&token, &openid, &third_key).await["errcode"],
        0
    );
    sim.advance(601).await;
    assert_eq!(
        sim.checksession(&token, &openid, &third_key).await["errcode"],
        87009
    );
    sim.login(A1, "alice").await;
    assert!(check("alice").await, "a new login restores the device");
}

#[tokio::test]
async fn user_info_is_sealed_with_the_current_key_and_signed_per_section_7() {
    let sim = Sim::start("");
    let (openid, key, session) = sim.login(A1, "alice").await;
    let now = sim.advance(0).await;
    let (status, info) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(keys(&info), ["encryptedData", "iv", "rawData", "signature"]);

    let raw = info["rawData"].as_str().unwrap();
    assert_eq!(info["signature"], crypto::raw_data_signature(raw, &key));
    assert!(!raw.contains(&openid), "no openId in rawData: {raw}");
    let raw_value: Value = serde_json::from_str(raw).unwrap();
    assert_eq!(
        keys(&raw_value),
        [
            "avatarUrl",
            "city",
            "country",
            "gender",
            "language",
            "nickName",
            "province"
        ]
    );

    let plain = crypto::decrypt(
        &key,
        info["iv"].as_str().unwrap(),
        info["encryptedData"].as_str().unwrap(),
    )
    .unwrap();
    let text = String::from_utf8(plain).unwrap();
    assert!(
        text.starts_with(&format!(r#"{{"openId":"{openid}","nickName":""#)),
        "documented field order: {text}"
    );
    let payload: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(payload["unionId"], session["unionid"]);
    for field in [
        "nickName",
        "gender",
        "language",
        "city",
        "province",
        "country",
        "avatarUrl",
    ] {
        assert_eq!(payload[field], raw_value[field], "{field}");
    }
    assert_eq!(payload["watermark"]["appid"], A1);
    let stamp = payload["watermark"]["timestamp"].as_i64().unwrap();
    assert!((now..now + 5).contains(&stamp), "{stamp} vs {now}");

    let (_, again) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    assert_ne!(again["iv"], info["iv"], "a random IV per payload");
    assert_ne!(again["encryptedData"], info["encryptedData"]);

    let (_, unbound_key, _) = sim.login(A2, "alice").await;
    let (_, unbound) = sim
        .post("/sim/user-info", json!({"appid": A2, "user": "alice"}))
        .await;
    let payload = open(&unbound_key, &unbound).unwrap();
    assert!(payload.get("unionId").is_none(), "{payload}");

    let (status, body) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "nobody"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn data_fetched_before_a_rotating_login_needs_the_previous_key() {
    let sim = Sim::start("session_key_rotation = \"always\"");
    let (_, old_key, _) = sim.login(A1, "alice").await;
    let (_, info) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    let (_, phone) = sim
        .post("/sim/phone", json!({"appid": A1, "user": "alice"}))
        .await;
    let (_, new_key, _) = sim.login(A1, "alice").await;
    assert_ne!(new_key, old_key);
    assert!(open(&new_key, &info).is_none(), "the race: new key fails");
    assert!(open(&old_key, &info).is_some(), "the previous key works");
    assert!(open(&new_key, &phone).is_none());
    assert!(open(&old_key, &phone).is_some());
    let (_, after) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    assert!(open(&new_key, &after).is_some(), "fetched after the login");
}

#[tokio::test]
async fn admin_rotate_and_expire_act_on_one_users_key() {
    let sim = Sim::start("");
    let token = sim.token(A1).await;
    let (openid, key, _) = sim.login(A1, "alice").await;
    let (status, body) = sim
        .post(
            "/sim/session-key/rotate",
            json!({"appid": A1, "user": "alice"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"openid": openid})));
    assert_eq!(
        sim.checksession(&token, &openid, &key).await["errcode"],
        87009
    );
    let (_, valid) = sim
        .post("/sim/check-session", json!({"appid": A1, "user": "alice"}))
        .await;
    assert_eq!(
        valid,
        json!({"valid": true}),
        "the device holds the new key"
    );
    let (_, info) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    assert!(open(&key, &info).is_none());
    // Within the rotation interval a login keeps the (rotated) key: the server catches up.
    let (_, rotated, _) = sim.login(A1, "alice").await;
    assert_ne!(rotated, key);
    assert!(open(&rotated, &info).is_some());

    let (status, _) = sim
        .post(
            "/sim/session-key/expire",
            json!({"appid": A1, "user": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sim.checksession(&token, &openid, &rotated).await["errcode"],
        87009
    );
    let (_, valid) = sim
        .post("/sim/check-session", json!({"appid": A1, "user": "alice"}))
        .await;
    assert_eq!(valid, json!({"valid": false}));
    let (status, _) = sim
        .post("/sim/user-info", json!({"appid": A1, "user": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, renewed, _) = sim.login(A1, "alice").await;
    assert_ne!(renewed, rotated);
    assert_eq!(
        sim.checksession(&token, &openid, &renewed).await["errcode"],
        0
    );

    let (status, _) = sim
        .post(
            "/sim/session-key/rotate",
            json!({"appid": A1, "user": "nobody"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn faults_and_stats_cover_every_new_endpoint() {
    let sim = Sim::start("");
    let names = [
        "token",
        "stable_token",
        "getuserphonenumber",
        "checksession",
        "resetusersessionkey",
    ];
    for name in names {
        let (status, body) = sim
            .post("/sim/faults", json!({"endpoint": name, "errcode": -1}))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
    assert_error(&sim.classic_token(A1).await, -1, "system error");
    assert_error(&sim.stable_token(A1, false).await, -1, "system error");
    let token = sim.token(A1).await;
    let (openid, key, _) = sim.login(A1, "alice").await;
    let (_, button) = sim
        .post("/sim/phone", json!({"appid": A1, "user": "alice"}))
        .await;
    let code = button["code"].as_str().unwrap();
    assert_error(
        &sim.phone_number(&token, json!({"code": code})).await,
        -1,
        "system error",
    );
    assert_eq!(
        sim.phone_number(&token, json!({"code": code})).await["errcode"],
        0,
        "a fault does not consume the phone code"
    );
    assert_error(
        &sim.checksession(&token, &openid, &key).await,
        -1,
        "system error",
    );
    assert_error(&sim.reset(&token, &openid, &key).await, -1, "system error");
    assert_eq!(sim.checksession(&token, &openid, &key).await["errcode"], 0);

    sim.post(
        "/sim/faults",
        json!({"endpoint": "checksession", "body": "html"}),
    )
    .await;
    let response = sim
        .client
        .get(sim.url("/wxa/checksession"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);

    assert_eq!(
        sim.stats("token").await,
        json!({"total": 1, "errcodes": {"-1": 1}})
    );
    assert_eq!(
        sim.stats("stable_token").await,
        json!({"total": 2, "errcodes": {"-1": 1, "0": 1}})
    );
    assert_eq!(
        sim.stats("getuserphonenumber").await,
        json!({"total": 2, "errcodes": {"-1": 1, "0": 1}})
    );
    assert_eq!(
        sim.stats("checksession").await,
        json!({"total": 3, "errcodes": {"-1": 1, "0": 1, "html": 1}})
    );
    assert_eq!(
        sim.stats("resetusersessionkey").await,
        json!({"total": 1, "errcodes": {"-1": 1}})
    );
}
