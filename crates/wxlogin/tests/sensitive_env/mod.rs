//! The harness for `sensitive.rs`: one `wxlogin simulate` and one `wxlogin serve --test-clock`
//! per test, configured for the sensitive-data endpoints.
//!
//! `support` (shared with `server.rs`) pins one simulator configuration and one server
//! configuration; these tests need others: the simulator rotating the session_key on every
//! `wx.login` (the decryption race) and pinning vector A's user, so tests can seal data under
//! a key they know; the server with phone storage and its open-data limits set per test. So
//! this module configures and spawns them itself (with `support`'s [`Process`]) and answers with `support`'s
//! [`Reply`], so both files assert errors identically.
//!
//! Everything sensitive the harness sees (openids, bearer tokens, login and phone codes, phone
//! numbers) is remembered, so the leak test can grep the server's output for it. Time moves only
//! through `POST /sim/clock` and `POST /dev/clock`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::{Process, Reply};

/// Vector A of the protocol reference (§6.4): its app, its user's session_key and payload.
pub(crate) const VEC_APPID: &str = "wx4f4bc4dec97d474b";
pub(crate) const VEC_SECRET: &str = "vector-app-secret-9c2e71-never-log-me";
/// The simulator's handle for vector A's user (a `[[fixed_users]]` entry).
pub(crate) const VEC_USER: &str = "band";
pub(crate) const VEC_OPENID: &str = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
pub(crate) const VEC_UNIONID: &str = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA";
pub(crate) const VEC_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
pub(crate) const VEC_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
pub(crate) const VEC_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
/// What vector A's data decrypts to (393 bytes, so 7 bytes of PKCS#7 padding).
pub(crate) const VEC_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

/// A second pinned user holding vector A's key under another openid: vector A's data names
/// someone else for them.
pub(crate) const TWIN_USER: &str = "band-twin";
pub(crate) const TWIN_OPENID: &str = "oTWINband0penid7Xq2Lm9Kp4Zt0";

/// Every spelling of vector A's session_key a careless log line could use.
pub(crate) fn vec_key_spellings() -> Vec<String> {
    let bytes = STANDARD.decode(VEC_KEY).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        VEC_KEY.to_owned(),
        STANDARD_NO_PAD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(&bytes),
        hex.clone(),
        hex.to_uppercase(),
    ]
}

/// How a test's pair of processes is configured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The server's and the simulator's `log` filter.
    pub(crate) log: &'static str,
    /// `store_phone_numbers`.
    pub(crate) store_phone_numbers: bool,
    /// `limits.decrypt_failures_per_user` (0 = off).
    pub(crate) decrypt_failures_per_user: u32,
}

impl Settings {
    /// The server's defaults for everything this file is about.
    pub(crate) fn standard() -> Self {
        Self {
            log: "info",
            store_phone_numbers: false,
            decrypt_failures_per_user: 20,
        }
    }

    fn simulator_toml(&self) -> String {
        format!(
            r#"log = {log:?}
seed = 4
session_key_rotation = "always"

[[apps]]
appid = "{VEC_APPID}"
secret = "{VEC_SECRET}"

[[fixed_users]]
appid = "{VEC_APPID}"
user = "{VEC_USER}"
openid = "{VEC_OPENID}"
unionid = "{VEC_UNIONID}"
session_key = "{VEC_KEY}"

[[fixed_users]]
appid = "{VEC_APPID}"
user = "{TWIN_USER}"
openid = "{TWIN_OPENID}"
session_key = "{VEC_KEY}"
"#,
            log = self.log
        )
    }

    /// The server's config; everything not set here is the documented default (notably
    /// `sessions.previous_key_window = 10 min` and the per-user phone and check limits).
    fn server_toml(&self, simulator: &str, data_dir: &Path) -> String {
        format!(
            r#"listen = "127.0.0.1:0"
log = {log:?}
data_dir = {dir:?}
store_phone_numbers = {store}

[wechat]
api_base = "{simulator}"
allow_http = true
timeout = "5s"

[sessions]
revocation_poll = "250ms"

[limits]
failed_logins_per_ip_per_minute = 1000
decrypt_failures_per_user = {failures}

[[apps]]
appid = "{VEC_APPID}"
secret = "{VEC_SECRET}"
"#,
            log = self.log,
            dir = data_dir.display().to_string(),
            store = self.store_phone_numbers,
            failures = self.decrypt_failures_per_user,
        )
    }
}

/// A client that never goes through a proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A successful login as the mini-program saw it.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) token: String,
    pub(crate) openid: String,
}

/// What `/sim/user-info` gives the phone.
#[derive(Debug, Clone)]
pub(crate) struct UserInfo {
    pub(crate) encrypted_data: String,
    pub(crate) iv: String,
    pub(crate) raw_data: String,
    pub(crate) signature: String,
}

impl UserInfo {
    /// The `/v1/decrypt` body without rawData.
    pub(crate) fn request(&self) -> Value {
        json!({"kind": "user_info", "encrypted_data": self.encrypted_data, "iv": self.iv})
    }

    /// The `/v1/decrypt` body with rawData and its signature.
    pub(crate) fn signed_request(&self) -> Value {
        let mut body = self.request();
        body["raw_data"] = self.raw_data.clone().into();
        body["signature"] = self.signature.clone().into();
        body
    }
}

/// Calls of one WeChat endpoint, per `/sim/stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Calls {
    pub(crate) total: u64,
    pub(crate) errcodes: Value,
}

impl Calls {
    pub(crate) fn outcome(&self, outcome: &str) -> u64 {
        self.errcodes[outcome].as_u64().unwrap_or(0)
    }
}

/// A simulator and a server using it, in a temporary directory of their own.
pub(crate) struct Env {
    /// Held only to be killed with the env.
    _sim: Process,
    server: Process,
    pub(crate) sim_base: String,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) config_path: PathBuf,
    _dir: tempfile::TempDir,
    seen: Mutex<BTreeSet<String>>,
}

impl Env {
    pub(crate) fn start(settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim_config = dir.path().join("simulator.toml");
        std::fs::write(&sim_config, settings.simulator_toml()).unwrap();
        let sim = Process::spawn([
            "simulate".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--config".as_ref(),
            sim_config.as_os_str(),
        ]);
        let sim_base = format!("http://{}", sim.addr());
        let config_path = dir.path().join("wxlogin.toml");
        std::fs::write(
            &config_path,
            settings.server_toml(&sim_base, &dir.path().join("data")),
        )
        .unwrap();
        let server = Process::spawn([
            "serve".as_ref(),
            "--test-clock".as_ref(),
            "--config".as_ref(),
            config_path.as_os_str(),
        ]);
        let base = format!("http://{}", server.addr());
        Self {
            _sim: sim,
            server,
            sim_base,
            base,
            http: client(),
            config_path,
            _dir: dir,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Remembers a value that must never appear in the server's output.
    pub(crate) fn remember(&self, value: &str) {
        self.seen.lock().unwrap().insert(value.to_owned());
    }

    pub(crate) fn sensitive(&self) -> BTreeSet<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The server's `data_dir`: its SQLite store and generated at-rest key.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Everything the server wrote after its `listening on` line.
    pub(crate) fn server_output(&self) -> String {
        self.server.output()
    }

    // --- the simulator -------------------------------------------------------------------

    /// `POST` to a `/sim/*` route; returns the answer whatever its status.
    pub(crate) async fn sim_post(&self, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.sim_base))
            .json(&body)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// `POST` to a `/sim/*` route that must succeed.
    pub(crate) async fn sim_ok(&self, path: &str, body: Value) -> Value {
        let reply = self.sim_post(path, body.clone()).await;
        assert_eq!(reply.status.as_u16(), 200, "{path} {body}: {reply:?}");
        reply.body
    }

    /// `wx.login()` for `user` of `appid`: a login code (rotating the key: `always` mode).
    pub(crate) async fn sim_login(&self, appid: &str, user: &str) -> (String, String) {
        let body = self
            .sim_ok("/sim/login", json!({"appid": appid, "user": user}))
            .await;
        let code = body["code"].as_str().unwrap().to_owned();
        let openid = body["openid"].as_str().unwrap().to_owned();
        self.remember(&code);
        self.remember(&openid);
        (code, openid)
    }

    /// `wx.getUserInfo()` for `user` of vector A's app, sealed with the user's current key.
    pub(crate) async fn user_info(&self, user: &str) -> UserInfo {
        let body = self
            .sim_ok("/sim/user-info", json!({"appid": VEC_APPID, "user": user}))
            .await;
        let field = |name: &str| body[name].as_str().unwrap().to_owned();
        UserInfo {
            encrypted_data: field("encryptedData"),
            iv: field("iv"),
            raw_data: field("rawData"),
            signature: field("signature"),
        }
    }

    /// The getPhoneNumber button for `user`: a phone code bound to `number`.
    pub(crate) async fn phone_code(&self, user: &str, number: &str) -> String {
        let body = self
            .sim_ok(
                "/sim/phone",
                json!({"appid": VEC_APPID, "user": user, "phone": number}),
            )
            .await;
        let code = body["code"].as_str().unwrap().to_owned();
        self.remember(&code);
        self.remember(number);
        code
    }

    /// Queues a fault (`fault` holds the endpoint too).
    pub(crate) async fn fault(&self, fault: Value) {
        self.sim_ok("/sim/faults", fault).await;
    }

    /// `/sim/stats` for one endpoint.
    pub(crate) async fn calls(&self, endpoint: &str) -> Calls {
        let response = self
            .http
            .get(format!("{}/sim/stats", self.sim_base))
            .send()
            .await
            .unwrap();
        let reply = Reply::read(response).await;
        assert_eq!(reply.status.as_u16(), 200, "{reply:?}");
        let calls = &reply.body["calls"][endpoint];
        Calls {
            total: calls["total"]
                .as_u64()
                .unwrap_or_else(|| panic!("no {endpoint} in {}", reply.text)),
            errcodes: calls["errcodes"].clone(),
        }
    }

    /// Moves the simulator's and the server's clocks forward together.
    pub(crate) async fn advance_both_clocks(&self, secs: u64) {
        self.sim_ok("/sim/clock", json!({"advance_secs": secs}))
            .await;
        let reply = self
            .send(
                self.request(Method::POST, "/dev/clock")
                    .json(&json!({"advance_secs": secs})),
            )
            .await;
        reply.expect(200);
    }

    // --- the server ----------------------------------------------------------------------

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub(crate) async fn send(&self, builder: RequestBuilder) -> Reply {
        Reply::read(builder.send().await.unwrap()).await
    }

    /// `wx.login()` then `POST /v1/login` in vector A's app, which must succeed.
    pub(crate) async fn login(&self, user: &str) -> Login {
        let (code, openid) = self.sim_login(VEC_APPID, user).await;
        let reply = self
            .send(
                self.request(Method::POST, "/v1/login")
                    .json(&json!({"code": code, "appid": VEC_APPID})),
            )
            .await;
        reply.expect(200);
        let token = reply.body["token"].as_str().unwrap().to_owned();
        self.remember(&token);
        Login { token, openid }
    }

    /// `POST path` with a JSON body and the user's Bearer token.
    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(
            self.request(Method::POST, path)
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub(crate) async fn decrypt(&self, token: &str, body: &Value) -> Reply {
        self.post("/v1/decrypt", token, body).await
    }

    pub(crate) async fn phone(&self, token: &str, code: &str) -> Reply {
        self.post("/v1/phone", token, &json!({"code": code})).await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(self.request(Method::GET, path).bearer_auth(token))
            .await
    }

    pub(crate) async fn check(&self, token: &str) -> Reply {
        self.get("/v1/session/check", token).await
    }

    pub(crate) async fn session(&self, token: &str) -> Reply {
        self.get("/v1/session", token).await
    }

    /// Runs `wxlogin ARGS…` to completion: exit code, stdout, stderr.
    pub(crate) async fn cli(&self, args: &[&OsStr]) -> (i32, String, String) {
        run_cli(args).await
    }
}

/// Runs `wxlogin ARGS…` to completion, with no `WXLOGIN_*` variable: exit code, stdout, stderr.
pub(crate) async fn run_cli(args: &[&OsStr]) -> (i32, String, String) {
    let mut command = tokio::process::Command::from(Process::command());
    command.args(args).stdin(std::process::Stdio::null());
    let output = command.output().await.expect("cannot run wxlogin");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
