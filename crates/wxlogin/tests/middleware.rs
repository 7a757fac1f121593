//! The Rust middleware library (`wxlogin-axum`) against the real `wxlogin serve` and
//! `wxlogin simulate` processes (see `support`): introspection mode with and without its
//! positive cache, and local mode against the server's own JWKS in JWT mode.
//!
//! The server's service client may see apps A and B; the library is configured for A only,
//! so a token of B is the library's own refusal, not the server's. The library's clock is a
//! `ManualClock`, so the cache's lag is asserted exactly, without sleeping.

#[allow(dead_code, reason = "shared with server.rs; this file uses part of it")]
mod support;

use std::time::Duration;

use reqwest::Method;
use support::{APP_A, APP_B, Env, SECRET_A, SECRET_B, Settings};
use wxlogin_axum::{IntrospectionConfig, LocalConfig, ManualClock, Verifier, VerifyError, WxUser};

const CLIENT_ID: &str = "backend-ab";
const CLIENT_SECRET: &str = "backend-ab-s3cret-19c7e2-never-log-me";
const ISSUER: &str = "wxlogin-middleware-test";

const INTROSPECTION_TOML: &str = r#"
[[introspection.clients]]
id = "backend-ab"
secret = "backend-ab-s3cret-19c7e2-never-log-me"
appids = ["wx00000000000000a1", "wx00000000000000b2"]
"#;

const JWT_TOML: &str = r#"
[jwt]
enabled = true
issuer = "wxlogin-middleware-test"
access_ttl = "5m"
key_rotation = "1h"

[[introspection.clients]]
id = "backend-ab"
secret = "backend-ab-s3cret-19c7e2-never-log-me"
appids = ["wx00000000000000a1", "wx00000000000000b2"]
"#;

fn settings(extra_toml: &'static str) -> Settings {
    Settings {
        apps: vec![(APP_A, SECRET_A), (APP_B, SECRET_B)],
        extra_toml,
        ..Settings::standard()
    }
}

fn base(env: &Env) -> String {
    env.server.http.url("")
}

/// The library in introspection mode for app A, caching positive answers for `cache`.
fn introspection(env: &Env, cache: Duration, clock: &ManualClock) -> Verifier {
    Verifier::introspection(
        IntrospectionConfig::new(base(env), CLIENT_ID, CLIENT_SECRET, [APP_A])
            .cache_ttl(cache)
            .clock(clock.clone()),
    )
    .unwrap()
}

#[track_caller]
fn assert_refused(result: Result<WxUser, VerifyError>, why: &str) {
    assert!(
        matches!(result, Err(VerifyError::InvalidToken(_))),
        "{why}: {result:?}"
    );
}

#[tokio::test]
async fn introspection_mode_accepts_real_tokens_and_sees_logouts_at_once_without_cache() {
    let env = Env::start(settings(INTROSPECTION_TOML));
    let clock = ManualClock::new();
    let verifier = introspection(&env, Duration::ZERO, &clock);

    let alice = env.login_as(APP_A, "alice").await;
    let user = verifier.verify(&alice.token).await.unwrap();
    assert_eq!(user.user_id, alice.user_id);
    assert_eq!(user.appid, APP_A);
    assert_eq!(user.openid, alice.openid);
    // App A is bound to an Open Platform account in the simulator.
    let session = env.assert_live(&alice.token).await;
    assert_eq!(user.unionid.as_deref(), session["unionid"].as_str());
    assert_eq!(user.session_id.as_deref(), session["session_id"].as_str());
    assert!(user.expires_at > std::time::SystemTime::now());

    // The server would answer for B (the client serves it); the library accepts only A.
    let bob = env.login_as(APP_B, "bob").await;
    assert_refused(verifier.verify(&bob.token).await, "token of app B");
    assert_refused(verifier.verify("wxl_not-a-real-token").await, "unknown");

    env.logout(&alice.token).await.expect(204);
    assert_refused(verifier.verify(&alice.token).await, "logged out, no cache");

    // Wrong credentials are the backend's problem, not the user's: 503, not 401.
    let wrong = Verifier::introspection(IntrospectionConfig::new(
        base(&env),
        CLIENT_ID,
        "not-the-secret",
        [APP_A],
    ))
    .unwrap();
    let carol = env.login_as(APP_A, "carol").await;
    assert!(matches!(
        wrong.verify(&carol.token).await,
        Err(VerifyError::Unavailable(_))
    ));
}

#[tokio::test]
async fn introspection_cache_lags_a_logout_by_at_most_its_ttl() {
    let env = Env::start(settings(INTROSPECTION_TOML));
    let clock = ManualClock::new();
    let verifier = introspection(&env, Duration::from_secs(5), &clock);
    let alice = env.login_as(APP_A, "alice").await;
    let user = verifier.verify(&alice.token).await.unwrap();
    assert_eq!(user.user_id, alice.user_id);

    env.logout(&alice.token).await.expect(204);
    // The cached answer is still served...
    clock.advance(Duration::from_millis(4999));
    assert_eq!(verifier.verify(&alice.token).await.unwrap(), user);
    // ...but not once it is 5 s old: the logout is seen.
    clock.advance(Duration::from_millis(1));
    assert_refused(verifier.verify(&alice.token).await, "logged out, 5 s on");
    // And a refusal is not cached: a new login is accepted at once.
    let again = env.login_as(APP_A, "alice").await;
    verifier.verify(&again.token).await.unwrap();
}

#[tokio::test]
async fn local_mode_verifies_access_jwts_against_the_real_jwks() {
    let env = Env::start(settings(JWT_TOML));
    let login = |appid: &'static str, user: &'static str| {
        let env = &env;
        async move {
            let logged_in = env.login_as(appid, user).await;
            let access = logged_in.body["access_token"].as_str().unwrap().to_owned();
            env.remember(&access);
            (logged_in, access)
        }
    };
    let clock = ManualClock::new();
    let local = Verifier::local(
        LocalConfig::new(base(&env), [APP_A])
            .issuer(ISSUER)
            .leeway(Duration::from_secs(10))
            .clock(clock.clone()),
    )
    .unwrap();

    let (alice, access) = login(APP_A, "alice").await;
    let user = local.verify(&access).await.unwrap();
    assert_eq!(user.user_id, alice.user_id);
    assert_eq!(user.appid, APP_A);
    assert_eq!(user.openid, alice.openid);
    let session = env
        .server
        .http
        .with_token(Method::GET, "/v1/session", &access)
        .await;
    session.expect(200);
    assert_eq!(
        user.session_id.as_deref(),
        session.body["session_id"].as_str()
    );
    assert_eq!(user.unionid.as_deref(), session.body["unionid"].as_str());

    // Another app's JWT, the refresh token, another issuer: refused.
    let (_, bob_access) = login(APP_B, "bob").await;
    assert_refused(local.verify(&bob_access).await, "JWT of app B");
    assert_refused(local.verify(&alice.token).await, "the refresh token");
    let other_issuer = Verifier::local(LocalConfig::new(base(&env), [APP_A])).unwrap();
    assert_refused(other_issuer.verify(&access).await, "issuer");

    // In introspection mode the same JWT is asked about, so a logout is seen at once; the
    // local verifier keeps accepting it until it expires (the documented offline lag).
    let remote = introspection(&env, Duration::ZERO, &clock);
    assert_eq!(remote.verify(&access).await.unwrap().user_id, alice.user_id);
    env.logout(&alice.token).await.expect(204);
    assert_refused(remote.verify(&access).await, "introspection after logout");
    local.verify(&access).await.unwrap();
    clock.advance(Duration::from_secs(300 + 10));
    assert_refused(local.verify(&access).await, "expired (5 min + leeway)");
}
