//! Black-box tests of JWT mode against the real `wxlogin serve` and `wxlogin simulate`
//! processes (see `support`): access JWTs verified by PyJWT (a JWT implementation we did not
//! write) against the server's JWKS, refresh-token rotation with its replay grace and family
//! revocation, and which token each route takes.
//!
//! PyJWT runs as `tests/jwt/verify.py` with the virtualenv `scripts/test.sh` installs
//! (`target/pyenv`, with `PyJWT[crypto]`); without it these tests fail and say so. Time moves
//! only through the test clocks; PyJWT is told how far, so it judges expiry on the server's
//! clock.

#[allow(dead_code, reason = "shared with server.rs; this file uses part of it")]
mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use support::{
    APP_A, APP_B, Env, FIXED_OPENID, FIXED_UNIONID, FIXED_USER, Reply, SECRET_A, SECRET_B, Settings,
};

const ISSUER: &str = "wxlogin-jwt-test";
const KEY_ROTATION_SECS: u64 = 3600;
const ACCESS_TTL_SECS: u64 = 300;
const CLIENT_SECRET: &str = "jwt-backend-s3cret-77a1c4-never-log-me";

const JWT_TOML: &str = r#"
[jwt]
enabled = true
issuer = "wxlogin-jwt-test"
access_ttl = "5m"
refresh_grace = "30s"
key_rotation = "1h"

[[introspection.clients]]
id = "backend-a"
secret = "jwt-backend-s3cret-77a1c4-never-log-me"
appids = ["wx00000000000000a1"]
"#;

fn settings() -> Settings {
    Settings {
        log: "debug",
        apps: vec![(APP_A, SECRET_A), (APP_B, SECRET_B)],
        extra_toml: JWT_TOML,
        ..Settings::standard()
    }
}

/// An env in JWT mode that remembers how far its clocks moved (PyJWT needs to know).
struct JwtEnv {
    env: Env,
    advanced: AtomicU64,
}

/// A JWT-mode login or refresh answer.
#[derive(Debug, Clone)]
struct Pair {
    refresh: String,
    access: String,
    body: Value,
}

impl Pair {
    #[track_caller]
    fn of(reply: &Reply) -> Self {
        reply.expect(200);
        Self {
            refresh: reply.body["token"].as_str().unwrap().to_owned(),
            access: reply.body["access_token"].as_str().unwrap().to_owned(),
            body: reply.body.clone(),
        }
    }
}

/// What PyJWT said.
#[derive(Debug)]
enum Verdict {
    Valid(Value),
    /// The PyJWT exception class, e.g. `InvalidAudienceError`.
    Refused(String),
}

impl JwtEnv {
    fn start() -> Self {
        Self {
            env: Env::start(settings()),
            advanced: AtomicU64::new(0),
        }
    }

    async fn advance(&self, secs: u64) {
        self.env.advance_both_clocks(secs).await;
        self.advanced.fetch_add(secs, Ordering::SeqCst);
    }

    /// The server's clock, as Unix seconds (the wall clock plus what the test added).
    fn server_now(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        wall + self.advanced.load(Ordering::SeqCst)
    }

    async fn login(&self, appid: &str, user: &str) -> Pair {
        let code = self.env.sim_login(appid, user).await;
        let reply = self
            .env
            .login_with(&json!({"code": code.code, "appid": appid}))
            .await;
        let pair = Pair::of(&reply);
        self.env.remember(&pair.access);
        pair
    }

    async fn refresh(&self, token: &str) -> Reply {
        let reply = self
            .env
            .server
            .http
            .with_token(Method::POST, "/v1/token/refresh", token)
            .await;
        for field in ["token", "access_token"] {
            if let Some(value) = reply.body[field].as_str() {
                self.env.remember(value);
            }
        }
        reply
    }

    /// `tests/jwt/verify.py`: PyJWT against our JWKS, at the server's clock.
    async fn pyjwt(&self, token: &str, audience: &str) -> Verdict {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join("target/pyenv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/test.sh once (it installs PyJWT[crypto] into target/pyenv)",
            python.display()
        );
        let output = tokio::process::Command::new(&python)
            .arg(root.join("tests/jwt/verify.py"))
            .args([
                "--jwks-url",
                &self.env.server.http.url("/.well-known/jwks.json"),
            ])
            .args(["--token", token, "--audience", audience, "--issuer", ISSUER])
            .args([
                "--clock-offset",
                &self.advanced.load(Ordering::SeqCst).to_string(),
            ])
            .output()
            .await
            .expect("cannot run the PyJWT check");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "verify.py failed (is PyJWT[crypto] installed in target/pyenv?): {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
        if answer["ok"] == true {
            Verdict::Valid(answer["claims"].clone())
        } else {
            Verdict::Refused(answer["error"].as_str().unwrap().to_owned())
        }
    }

    #[track_caller]
    fn assert_no_leaks(&self) {
        let output = self.env.server_output();
        let mut secrets = self.env.sensitive();
        secrets.extend([CLIENT_SECRET, FIXED_OPENID, FIXED_UNIONID].map(str::to_owned));
        for secret in secrets {
            assert!(
                !output.contains(&secret),
                "{secret} reached the log:\n{output}"
            );
        }
    }
}

#[track_caller]
fn claims_of(verdict: Verdict) -> Value {
    match verdict {
        Verdict::Valid(claims) => claims,
        Verdict::Refused(error) => panic!("PyJWT refused our token: {error}"),
    }
}

#[track_caller]
fn refusal(verdict: Verdict) -> String {
    match verdict {
        Verdict::Refused(error) => error,
        Verdict::Valid(claims) => panic!("PyJWT accepted what it should refuse: {claims}"),
    }
}

async fn kids(env: &JwtEnv) -> Vec<String> {
    let reply = env.env.server.http.get("/.well-known/jwks.json").await;
    reply.expect(200);
    reply.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Access JWTs, PyJWT, JWKS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn access_jwts_verify_with_pyjwt_and_fail_on_audience_and_expiry() {
    let env = JwtEnv::start();
    let frida = env.login(APP_A, FIXED_USER).await;
    let body = &frida.body;
    assert_eq!(body["token_type"], "Bearer");
    assert!(frida.refresh.starts_with("wxl_"), "{body}");
    assert_eq!(body["access_expires_in"], ACCESS_TTL_SECS);
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!(
        (3598..=3600).contains(&expires_in),
        "the session's idle deadline: {body}"
    );
    assert!(body["expires_at"].is_string(), "{body}");
    assert_eq!(body["user"]["appid"], APP_A);
    assert_eq!(body["user"]["new"], true);

    let session = env.env.assert_live(&frida.access).await;
    let claims = claims_of(env.pyjwt(&frida.access, APP_A).await);
    let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(|k| &**k).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud", "exp", "iat", "iss", "jti", "openid", "sid", "sub", "unionid"
        ]
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], APP_A);
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(claims["sid"], session["session_id"]);
    assert_eq!(claims["openid"], FIXED_OPENID);
    assert_eq!(claims["unionid"], FIXED_UNIONID);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        ACCESS_TTL_SECS
    );

    // A user without a unionid: the claim is omitted.
    let bob = env.login(APP_B, "bob").await;
    let claims = claims_of(env.pyjwt(&bob.access, APP_B).await);
    assert!(claims.get("unionid").is_none(), "{claims}");

    // Another app's backend must refuse the token.
    assert_eq!(
        refusal(env.pyjwt(&frida.access, APP_B).await),
        "InvalidAudienceError"
    );

    // Each route takes its token: the access JWT everywhere but refresh/logout/revoke.
    env.env.assert_dead(&frida.refresh).await;
    let http = &env.env.server.http;
    let auth = http
        .send(
            http.request(Method::GET, "/v1/auth")
                .bearer_auth(&frida.access)
                .header("x-wxlogin-appid", APP_A),
        )
        .await;
    auth.expect(200);
    assert_eq!(auth.header("x-wx-openid"), Some(FIXED_OPENID));
    http.send(
        http.request(Method::GET, "/v1/auth")
            .bearer_auth(&frida.access)
            .header("x-wxlogin-appid", APP_B),
    )
    .await
    .expect_error(401, "invalid_token");
    http.with_token(Method::GET, "/v1/session/check", &frida.refresh)
        .await
        .expect_error(401, "invalid_token");
    env.refresh(&frida.access)
        .await
        .expect_error(401, "invalid_token");

    // Introspection takes the access JWT.
    let introspect = |token: &str| {
        http.send(
            http.request(Method::POST, "/oauth2/introspect")
                .basic_auth("backend-a", Some(CLIENT_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}")),
        )
    };
    let active = introspect(&frida.access).await;
    active.expect(200);
    assert_eq!(active.body["active"], true, "{active:?}");
    assert_eq!(active.body["sub"], body["user"]["id"]);
    assert_eq!(
        introspect(&frida.refresh).await.body,
        json!({"active": false})
    );

    // Expiry, on the server's clock: PyJWT and the server agree.
    env.advance(ACCESS_TTL_SECS - 10).await;
    claims_of(env.pyjwt(&frida.access, APP_A).await);
    env.env.assert_live(&frida.access).await;
    env.advance(11).await;
    assert_eq!(
        refusal(env.pyjwt(&frida.access, APP_A).await),
        "ExpiredSignatureError"
    );
    env.env.assert_dead(&frida.access).await;
    assert_eq!(
        introspect(&frida.access).await.body,
        json!({"active": false})
    );

    // The refresh token still works and brings a fresh access JWT.
    let renewed = Pair::of(&env.refresh(&frida.refresh).await);
    claims_of(env.pyjwt(&renewed.access, APP_A).await);
    env.env.assert_live(&renewed.access).await;
    env.assert_no_leaks();
}

#[tokio::test]
async fn discovery_documents_point_at_the_endpoints() {
    let env = JwtEnv::start();
    let http = &env.env.server.http;
    let doc = http.get("/.well-known/openid-configuration").await;
    doc.expect(200);
    assert_eq!(doc.body["issuer"], ISSUER);
    assert_eq!(
        doc.body["jwks_uri"],
        http.url("/.well-known/jwks.json").as_str()
    );
    assert_eq!(
        doc.body["token_endpoint"],
        http.url("/v1/token/refresh").as_str()
    );
    assert_eq!(
        doc.body["introspection_endpoint"],
        http.url("/oauth2/introspect").as_str()
    );
    assert_eq!(
        doc.body["revocation_endpoint"],
        http.url("/oauth2/revoke").as_str()
    );
    assert_eq!(
        doc.body["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );

    let jwks = http.get("/.well-known/jwks.json").await;
    jwks.expect(200);
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    assert_eq!(
        key["x"].as_str().unwrap().len(),
        43,
        "32 bytes, base64url: {key}"
    );
    assert!(key.get("d").is_none(), "never the private key: {key}");

    // Tokens name their key, and it is the published one.
    let frida = env.login(APP_A, FIXED_USER).await;
    let header = frida.access.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        kids(&env)
            .await
            .contains(&header["kid"].as_str().unwrap().to_owned())
    );
}

#[tokio::test]
async fn rotated_out_keys_stay_published_until_their_tokens_expired() {
    let env = JwtEnv::start();
    // Move to 60 s before a key period ends (periods are multiples of key_rotation).
    let into = env.server_now() % KEY_ROTATION_SECS;
    let to_end = KEY_ROTATION_SECS - into;
    if to_end <= 90 {
        env.advance(to_end + 10).await;
    }
    let into = env.server_now() % KEY_ROTATION_SECS;
    env.advance(KEY_ROTATION_SECS - into - 60).await;

    let frida = env.login(APP_A, FIXED_USER).await;
    let old_kid = {
        let published = kids(&env).await;
        assert_eq!(
            published.len(),
            2,
            "the next key is pre-published: {published:?}"
        );
        published[0].clone()
    };

    // 60 s into the next period: new tokens use the new key, the old token still verifies.
    env.advance(120).await;
    let published = kids(&env).await;
    assert!(published.contains(&old_kid), "{published:?}");
    claims_of(env.pyjwt(&frida.access, APP_A).await);
    env.env.assert_live(&frida.access).await;
    let renewed = Pair::of(&env.refresh(&frida.refresh).await);
    claims_of(env.pyjwt(&renewed.access, APP_A).await);

    // access_ttl after the change every token of the old key has expired: it is withdrawn,
    // and PyJWT no longer finds the key at all.
    env.advance(ACCESS_TTL_SECS).await;
    let published = kids(&env).await;
    assert!(!published.contains(&old_kid), "{published:?}");
    assert_eq!(
        refusal(env.pyjwt(&frida.access, APP_A).await),
        "PyJWKClientError"
    );
    env.env.assert_dead(&frida.access).await;

    // A whole period later the same holds for the key after it (refreshing on the way, or the
    // session would idle out).
    env.advance(KEY_ROTATION_SECS / 2).await;
    let midway = Pair::of(&env.refresh(&renewed.refresh).await);
    env.advance(KEY_ROTATION_SECS / 2).await;
    let again = Pair::of(&env.refresh(&midway.refresh).await);
    assert_eq!(
        refusal(env.pyjwt(&renewed.access, APP_A).await),
        "PyJWKClientError"
    );
    claims_of(env.pyjwt(&again.access, APP_A).await);
    env.assert_no_leaks();
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_replays_within_the_grace_then_revokes_the_family() {
    let env = JwtEnv::start();
    let first = env.login(APP_A, FIXED_USER).await;

    let second = Pair::of(&env.refresh(&first.refresh).await);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(second.body["access_expires_in"], ACCESS_TTL_SECS);
    assert_eq!(second.body["user"]["id"], first.body["user"]["id"]);
    env.env.assert_live(&second.access).await;
    // The rotated-out token no longer logs out or refreshes into anything new.
    env.env
        .logout(&first.refresh)
        .await
        .expect_error(401, "invalid_token");

    // A lost response: the same token again within 30 s gets the same new refresh token.
    env.advance(20).await;
    let replayed = Pair::of(&env.refresh(&first.refresh).await);
    assert_eq!(replayed.refresh, second.refresh);
    env.env.assert_live(&replayed.access).await;

    // After the grace a replay is theft: the whole session ends, the current token too.
    env.advance(11).await;
    env.refresh(&first.refresh)
        .await
        .expect_error(401, "invalid_token");
    env.refresh(&second.refresh)
        .await
        .expect_error(401, "invalid_token");
    env.env.assert_dead(&second.access).await;
    env.env.assert_dead(&replayed.access).await;

    // Garbage and unknown tokens.
    env.refresh("nonsense")
        .await
        .expect_error(401, "invalid_token");
    env.refresh(&format!("wxl_{}", "A".repeat(43)))
        .await
        .expect_error(401, "invalid_token");
    env.assert_no_leaks();
}

#[tokio::test]
async fn the_grace_holds_for_the_newest_rotation_only() {
    let env = JwtEnv::start();
    let first = env.login(APP_A, FIXED_USER).await;
    let second = Pair::of(&env.refresh(&first.refresh).await);
    let third = Pair::of(&env.refresh(&second.refresh).await);
    // `first` was rotated out two steps ago: it is unknown, not a replay of the newest step,
    // and ends nothing.
    env.refresh(&first.refresh)
        .await
        .expect_error(401, "invalid_token");
    env.env.assert_live(&third.access).await;
    let again = Pair::of(&env.refresh(&second.refresh).await);
    assert_eq!(again.refresh, third.refresh);
}

#[tokio::test]
async fn concurrent_refreshes_all_get_the_same_new_token() {
    let env = JwtEnv::start();
    let first = env.login(APP_A, FIXED_USER).await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let http = env.env.server.http.clone();
        let token = first.refresh.clone();
        requests.spawn(async move {
            http.with_token(Method::POST, "/v1/token/refresh", &token)
                .await
        });
    }
    let mut successors = Vec::new();
    while let Some(reply) = requests.join_next().await {
        let pair = Pair::of(&reply.unwrap());
        env.env.remember(&pair.refresh);
        env.env.remember(&pair.access);
        successors.push(pair.refresh);
    }
    assert_eq!(successors.len(), 10);
    successors.dedup();
    assert_eq!(successors.len(), 1, "{successors:?}");
    assert_ne!(successors[0], first.refresh);
    let next = Pair::of(&env.refresh(&successors[0]).await);
    env.env.assert_live(&next.access).await;
}

#[tokio::test]
async fn logout_with_the_refresh_token_ends_the_access_jwt_at_once() {
    let env = JwtEnv::start();
    let frida = env.login(APP_A, FIXED_USER).await;
    env.env.assert_live(&frida.access).await;
    // Logout takes the refresh token, not the access JWT.
    env.env
        .logout(&frida.access)
        .await
        .expect_error(401, "invalid_token");
    env.env.logout(&frida.refresh).await.expect(204);
    env.env.assert_dead(&frida.access).await;
    env.refresh(&frida.refresh)
        .await
        .expect_error(401, "invalid_token");
    // PyJWT, offline, still accepts it until it expires: the documented lag.
    claims_of(env.pyjwt(&frida.access, APP_A).await);
    env.assert_no_leaks();
}

#[tokio::test]
async fn without_jwt_mode_nothing_changes() {
    let env = Env::start(Settings::standard());
    let user = env.login_as(APP_A, "alice").await;
    assert!(user.body.get("access_token").is_none(), "{}", user.body);
    env.assert_live(&user.token).await;
    let http = &env.server.http;
    http.with_token(Method::POST, "/v1/token/refresh", &user.token)
        .await
        .expect_error(404, "not_found");
    http.get("/.well-known/jwks.json")
        .await
        .expect_error(404, "not_found");
    http.get("/.well-known/openid-configuration")
        .await
        .expect_error(404, "not_found");
}
