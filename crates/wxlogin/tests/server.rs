//! Black-box tests of the login server: the real `wxlogin serve` and `wxlogin simulate`
//! processes, talking HTTP over real sockets.
//!
//! Each test starts its own simulator and server (see `support`), so tests share nothing and
//! run in any order. Every error is checked against the pinned mapping of issue 3: the HTTP
//! status, the body's `error.code`, and the headers clients key on (`X-Request-Id`,
//! `WWW-Authenticate`, `Retry-After`). Every login attempt that should reach WeChat is checked
//! with `/sim/stats` to have reached it exactly once (a login code is never retried), and every
//! one that should not, to have left the counters alone. Expiry is driven by moving both clocks.
//!
//! The upstream, token and hostile-input scenarios are plain functions over an [`Env`]: each
//! has its own test, and `secrets_never_reach_the_logs` replays all of them against one server
//! logging at trace level, then greps its output.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::{
    APP_A, APP_B, BLOCKED_USER, Env, FIXED_OPENID, FIXED_SESSION_KEY, FIXED_SESSION_KEY_SPELLINGS,
    FIXED_UNIONID, FIXED_USER, SECRET_A, SECRET_B, Settings, SimStats, UNKNOWN_APP, WRONG_SECRET_B,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Every error code this file provokes, with the status it must come with.
const CODES_EXERCISED: &[(&str, u16)] = &[
    ("invalid_request", 400),
    ("unknown_appid", 400),
    ("invalid_code", 400),
    ("code_used", 400),
    ("missing_token", 401),
    ("invalid_token", 401),
    ("user_blocked", 403),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("rate_limited", 429),
    ("wechat_error", 502),
    ("wechat_misconfigured", 502),
    ("upstream_bad_response", 502),
    ("wechat_busy", 503),
    ("upstream_timeout", 504),
];

/// A login code WeChat never issued; distinctive, so the log-leak test can look for it.
fn bogus_code(n: u32) -> String {
    format!("bogusCode{n:04}Zq8xV3nT5wY7kR2m")
}

/// Parses an RFC 3339 UTC time as the API writes it.
#[track_caller]
fn utc(text: &Value) -> OffsetDateTime {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {text}"));
    assert!(text.ends_with('Z'), "not UTC: {text}");
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Asserts that exactly one jscode2session call happened since `before`, ending in `outcome`.
async fn assert_one_call(env: &Env, before: &SimStats, outcome: &str) {
    let after = env.stats().await;
    assert_eq!(
        after.total,
        before.total + 1,
        "expected one call: {before:?} → {after:?}"
    );
    assert_eq!(
        after.outcome(outcome),
        before.outcome(outcome) + 1,
        "expected outcome {outcome}: {before:?} → {after:?}"
    );
}

async fn assert_no_call(env: &Env, before: &SimStats) {
    let after = env.stats().await;
    assert_eq!(&after, before, "WeChat should not have been called");
}

// ---------------------------------------------------------------------------------------------
// 1. The flow
// ---------------------------------------------------------------------------------------------

async fn flow(env: &Env, user: &str) {
    let code = env.sim_login(APP_A, user).await;
    let before = env.stats().await;
    let login = env.login(&code.code).await;
    login.expect(200);
    assert_one_call(env, &before, "0").await;
    let body = &login.body;
    let token = body["token"].as_str().unwrap();
    let random = token.strip_prefix("wxl_").expect("token prefix");
    assert!(
        random.len() >= 43
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "≥ 256 bits, URL-safe: {token}"
    );
    assert_eq!(body["token_type"], "Bearer");
    // Idle 1 h, absolute 2 h: the idle deadline comes first.
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{body}");
    let expires_at = utc(&body["expires_at"]);
    let user_id = body["user"]["id"].as_str().unwrap();
    assert!(!user_id.is_empty());
    assert_eq!(body["user"]["appid"], APP_A);
    assert_eq!(body["user"]["new"], true);

    let session = env.assert_live(token).await;
    assert_eq!(session["user_id"], user_id);
    assert!(
        session["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_ne!(session["session_id"], user_id, "a session has its own id");
    assert_eq!(session["appid"], APP_A);
    assert_eq!(session["openid"], code.openid.as_str());
    // App A is bound to an Open Platform account, so WeChat gave a unionid.
    assert!(session["unionid"].as_str().is_some_and(|u| !u.is_empty()));
    let issued_at = utc(&session["issued_at"]);
    assert_eq!(utc(&session["expires_at"]), expires_at);
    assert_eq!(expires_at - issued_at, time::Duration::hours(1));
    assert!(session.as_object().unwrap().len() == 7, "{session}");

    // The same person again, on a second device.
    let again = env.login_as(APP_A, user).await;
    assert!(!again.new);
    assert_eq!(again.user_id, user_id);
    assert_ne!(again.token, token);

    let logout = env.logout(token).await;
    logout.expect(204);
    assert!(logout.text.is_empty(), "{logout:?}");
    env.assert_dead(token).await;
    env.logout(token).await.expect_error(401, "invalid_token");
    // Only that device was logged out.
    env.assert_live(&again.token).await;
}

#[tokio::test]
async fn login_session_logout_flow() {
    let env = Env::start(Settings::standard());
    flow(&env, "alice").await;

    // A gateway's sane request id is kept and echoed in the error body.
    let reply = env
        .server
        .http
        .send(
            env.server
                .http
                .request(Method::GET, "/v1/session")
                .header("x-request-id", "gw-1234.abcd_ef"),
        )
        .await;
    reply.expect_error(401, "missing_token");
    assert_eq!(reply.header("x-request-id"), Some("gw-1234.abcd_ef"));
    // Anything else is replaced, never echoed.
    let reply = env
        .server
        .http
        .send(
            env.server
                .http
                .request(Method::GET, "/v1/session")
                .header("x-request-id", "evil id\tlevel=error"),
        )
        .await;
    reply.expect_error(401, "missing_token");
    assert!(!reply.text.contains("evil"), "{reply:?}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let env = Env::start(Settings::standard());
    let code = env.sim_login(APP_A, "rita").await;
    let login = env.login(&code.code).await;
    let token = login.body["token"].as_str().unwrap().to_owned();
    let replies = [
        ("login", login),
        ("session", env.session(&token).await),
        ("logout", env.logout(&token).await),
        ("healthz", env.server.http.get("/healthz").await),
        ("readyz", env.server.http.get("/readyz").await),
        ("openapi", env.server.http.get("/openapi.json").await),
    ];
    for (what, reply) in &replies {
        assert!(reply.status.is_success(), "{what}: {reply:?}");
        assert!(
            reply
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty()),
            "{what} has no X-Request-Id: {:?}",
            reply.headers
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Upstream outcomes
// ---------------------------------------------------------------------------------------------

async fn code_reuse(env: &Env) {
    let code = env.sim_login(APP_A, "carol").await;
    env.login(&code.code).await.expect(200);
    let before = env.stats().await;
    let reply = env.login(&code.code).await;
    reply.expect_error(400, "code_used");
    assert_eq!(reply.wechat_errcode(), None, "WeChat was never asked");
    assert_no_call(env, &before).await;
}

async fn expired_code(env: &Env) {
    let code = env.sim_login(APP_A, "dave").await;
    env.advance_both_clocks(301).await;
    let before = env.stats().await;
    let reply = env.login(&code.code).await;
    reply.expect_error(400, "invalid_code");
    assert_eq!(reply.wechat_errcode(), Some(40029));
    assert_one_call(env, &before, "40029").await;
}

async fn wrong_secret(env: &Env) {
    let code = env.sim_login(APP_B, "erin").await;
    let before = env.stats().await;
    let reply = env
        .login_with(&json!({"code": code.code, "appid": APP_B}))
        .await;
    reply.expect_error(502, "wechat_misconfigured");
    assert_eq!(reply.wechat_errcode(), Some(40125));
    for secret in [WRONG_SECRET_B, SECRET_B, SECRET_A] {
        assert!(!reply.text.contains(secret), "{reply:?}");
    }
    assert!(!reply.text.contains(&code.code), "{reply:?}");
    assert_one_call(env, &before, "40125").await;
}

async fn blocked_user(env: &Env) {
    let code = env.sim_login(APP_A, BLOCKED_USER).await;
    let before = env.stats().await;
    let reply = env.login(&code.code).await;
    reply.expect_error(403, "user_blocked");
    assert_eq!(reply.wechat_errcode(), Some(40226));
    assert_one_call(env, &before, "40226").await;
}

/// Queues `fault`, logs in with a fresh code, and checks the one call it made.
async fn login_against_fault(env: &Env, fault: Value, outcome: &str) -> support::Reply {
    let code = env.sim_login(APP_A, "faulty-fred").await;
    env.sim.fault(fault).await;
    let before = env.stats().await;
    let reply = env.login(&code.code).await;
    assert_one_call(env, &before, outcome).await;
    // A failed exchange leaves the code claimed: WeChat may have consumed it. Trying it again
    // is `code_used` without asking WeChat a second time.
    let before = env.stats().await;
    env.login(&code.code).await.expect_error(400, "code_used");
    assert_no_call(env, &before).await;
    reply
}

async fn wechat_busy(env: &Env) {
    let reply = login_against_fault(env, json!({"errcode": -1}), "-1").await;
    reply.expect_error(503, "wechat_busy");
    assert_eq!(reply.wechat_errcode(), Some(-1));
    assert!(reply.retry_after() >= 1, "{reply:?}");
}

async fn wechat_rate_limit(env: &Env) {
    let reply = login_against_fault(env, json!({"errcode": 45011}), "45011").await;
    reply.expect_error(429, "rate_limited");
    assert_eq!(reply.wechat_errcode(), Some(45011));
    assert_eq!(reply.retry_after(), 60);
}

async fn other_errcode(env: &Env) {
    let reply = login_against_fault(env, json!({"errcode": 40003}), "40003").await;
    reply.expect_error(502, "wechat_error");
    assert_eq!(reply.wechat_errcode(), Some(40003));
}

/// Every errcode of the pinned mapping, injected as a fault: status, code, `wechat_errcode`.
async fn every_pinned_errcode(env: &Env) {
    let table: &[(i64, u16, &str)] = &[
        (40029, 400, "invalid_code"),
        (42003, 400, "invalid_code"),
        (40163, 400, "code_used"),
        (45011, 429, "rate_limited"),
        (-1, 503, "wechat_busy"),
        (40226, 403, "user_blocked"),
        (40002, 502, "wechat_misconfigured"),
        (40013, 502, "wechat_misconfigured"),
        (40125, 502, "wechat_misconfigured"),
        (40164, 502, "wechat_misconfigured"),
        (40243, 502, "wechat_misconfigured"),
        (48001, 502, "wechat_misconfigured"),
        (50004, 502, "wechat_misconfigured"),
        (40003, 502, "wechat_error"),
        (99999, 502, "wechat_error"),
    ];
    for &(errcode, status, code) in table {
        let reply =
            login_against_fault(env, json!({"errcode": errcode}), &errcode.to_string()).await;
        reply.expect_error(status, code);
        assert_eq!(reply.wechat_errcode(), Some(errcode), "{reply:?}");
        if status == 429 || status == 503 {
            assert!(reply.retry_after() >= 1, "{reply:?}");
        }
    }
}

async fn slow_upstream(env: &Env) {
    // The server's WeChat timeout is 1 s (Settings::standard).
    let code = env.sim_login(APP_A, "slow-sam").await;
    env.sim.fault(json!({"delay_ms": 2500})).await;
    let before = env.stats().await;
    let started = Instant::now();
    let reply = env.login(&code.code).await;
    let took = started.elapsed();
    reply.expect_error(504, "upstream_timeout");
    assert_eq!(reply.wechat_errcode(), None);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2400),
        "answered after {took:?}"
    );
    // The call is counted on arrival; its outcome only after the simulator's delay.
    let after = env.stats().await;
    assert_eq!(after.total, before.total + 1, "{before:?} → {after:?}");
}

async fn unreadable_upstream(env: &Env) {
    for (fault, outcome) in [
        (json!({"body": "malformed"}), "malformed"),
        (json!({"body": "html"}), "html"),
        (json!({"drop": true}), "drop"),
    ] {
        let reply = login_against_fault(env, fault, outcome).await;
        reply.expect_error(502, "upstream_bad_response");
        assert_eq!(reply.wechat_errcode(), None);
        assert!(!reply.text.contains("<html"), "{reply:?}");
    }
}

async fn unknown_appid(env: &Env) {
    let code = env.sim_login(APP_A, "uma").await;
    let before = env.stats().await;
    for appid in [
        UNKNOWN_APP,
        &APP_A.to_uppercase(),
        "",
        " wx00000000000000a1",
    ] {
        env.login_with(&json!({"code": code.code, "appid": appid}))
            .await
            .expect_error(400, "unknown_appid");
    }
    assert_no_call(env, &before).await;
    // The code was not spent.
    env.login(&code.code).await.expect(200);
}

async fn appid_required_with_two_apps(env: &Env) {
    let code = env.sim_login(APP_A, "olga").await;
    let before = env.stats().await;
    let reply = env.login_with(&json!({"code": code.code})).await;
    reply.expect_error(400, "invalid_request");
    assert_no_call(env, &before).await;

    // With one app configured, the appid may be left out.
    let one_app = Settings {
        apps: vec![(APP_A, SECRET_A)],
        ..Settings::standard()
    };
    let server = env.extra_server(&one_app, "one-app");
    let reply = server
        .http
        .post_json("/v1/login", &json!({"code": code.code}))
        .await;
    reply.expect(200);
    env.remember(reply.body["token"].as_str().unwrap());
    assert_eq!(reply.body["user"]["appid"], APP_A);
    assert_one_call(env, &before, "0").await;
}

#[tokio::test]
async fn reused_code_is_code_used_without_asking_wechat() {
    code_reuse(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn expired_code_is_invalid_code_40029() {
    expired_code(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn wrong_secret_is_wechat_misconfigured_without_echoing_it() {
    wrong_secret(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn high_risk_user_is_user_blocked() {
    blocked_user(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn wechat_busy_is_503_with_retry_after() {
    wechat_busy(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn wechat_45011_is_429_retry_after_60() {
    wechat_rate_limit(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn any_other_errcode_is_wechat_error_with_the_errcode() {
    other_errcode(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn every_pinned_errcode_maps_as_pinned() {
    every_pinned_errcode(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn slow_upstream_is_upstream_timeout() {
    slow_upstream(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn malformed_html_or_dropped_answers_are_upstream_bad_response() {
    unreadable_upstream(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn unknown_appid_is_refused_before_wechat() {
    unknown_appid(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn appid_may_be_omitted_only_with_one_app() {
    appid_required_with_two_apps(&Env::start(Settings::standard())).await;
}

// ---------------------------------------------------------------------------------------------
// 3. One code, two concurrent logins
// ---------------------------------------------------------------------------------------------

async fn concurrent_logins(env: &Env) {
    for round in 0..3 {
        let code = env.sim_login(APP_A, &format!("twin-{round}")).await;
        let before = env.stats().await;
        let (first, second) = tokio::join!(env.login(&code.code), env.login(&code.code));
        let (winner, loser) = if first.status == 200 {
            (first, second)
        } else {
            (second, first)
        };
        winner.expect(200);
        loser.expect_error(400, "code_used");
        assert_one_call(env, &before, "0").await;
    }
}

#[tokio::test]
async fn one_code_twice_at_once_reaches_wechat_once() {
    concurrent_logins(&Env::start(Settings::standard())).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Tokens and the ways a session ends
// ---------------------------------------------------------------------------------------------

async fn bad_tokens(env: &Env) {
    let http = &env.server.http;
    for (method, path) in [
        (Method::GET, "/v1/session"),
        (Method::POST, "/v1/logout"),
        (Method::DELETE, "/v1/me"),
    ] {
        http.send(http.request(method.clone(), path))
            .await
            .expect_error(401, "missing_token");
        let well_formed_unknown = format!("wxl_{}", "A".repeat(43));
        for token in [
            "garbage",
            "wxl_",
            "wxl_short",
            well_formed_unknown.as_str(),
            "WXL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            http.with_token(method.clone(), path, token)
                .await
                .expect_error(401, "invalid_token");
        }
        for authorization in [
            "Bearer".as_bytes(),
            b"Bearer ",
            b"Basic dXNlcjpwYXNz",
            b"wxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            b"Bearer \xff\xfe\x80",
        ] {
            let value = reqwest::header::HeaderValue::from_bytes(authorization).unwrap();
            http.send(
                http.request(method.clone(), path)
                    .header("authorization", value),
            )
            .await
            .expect_error(401, "invalid_token");
        }
    }
}

async fn other_app(env: &Env) {
    let alice = env.login_as(APP_A, "alice-other-app").await;
    let http = &env.server.http;
    let with_query = |appid: &str| {
        http.request(Method::GET, &format!("/v1/session?appid={appid}"))
            .bearer_auth(&alice.token)
    };
    let with_header = |appid: &str| {
        http.request(Method::GET, "/v1/session")
            .bearer_auth(&alice.token)
            .header("x-wxlogin-appid", appid)
    };
    for appid in [APP_B, UNKNOWN_APP] {
        http.send(with_query(appid))
            .await
            .expect_error(401, "invalid_token");
        http.send(with_header(appid))
            .await
            .expect_error(401, "invalid_token");
    }
    http.send(with_query(APP_A)).await.expect(200);
    http.send(with_header(APP_A)).await.expect(200);
}

async fn idle_expiry(env: &Env) {
    let bob = env.login_as(APP_A, "bob-idle").await;
    // Verified once, so the server may hold it in its cache: a cache hit must re-check expiry.
    env.assert_live(&bob.token).await;
    env.advance_both_clocks(3601).await;
    env.assert_dead(&bob.token).await;
}

async fn session_cap(env: &Env) {
    let first = env.login_as(APP_A, "cap-carl").await;
    env.assert_live(&first.token).await;
    let second = env.login_as(APP_A, "cap-carl").await;
    env.assert_live(&second.token).await;
    let third = env.login_as(APP_A, "cap-carl").await;
    env.assert_dead(&first.token).await;
    env.assert_live(&second.token).await;
    env.assert_live(&third.token).await;
}

async fn delete_me(env: &Env) {
    let phone = env.login_as(APP_A, "dora-deletes").await;
    let tablet = env.login_as(APP_A, "dora-deletes").await;
    env.assert_live(&tablet.token).await;
    let reply = env.delete_me(&phone.token).await;
    reply.expect(204);
    env.assert_dead(&phone.token).await;
    env.assert_dead(&tablet.token).await;
    env.delete_me(&phone.token)
        .await
        .expect_error(401, "invalid_token");
    let back = env.login_as(APP_A, "dora-deletes").await;
    assert!(back.new, "the user was deleted, so they are new again");
    assert_ne!(back.user_id, phone.user_id);
}

/// `wxlogin user revoke|delete` in another process: when it exits, the running server already
/// refuses the user's tokens, even the ones it has verified (and may have cached).
async fn operator(env: &Env, action: &str) {
    let user = format!("olaf-{action}");
    let phone = env.login_as(APP_A, &user).await;
    let tablet = env.login_as(APP_A, &user).await;
    let bystander = env.login_as(APP_A, &format!("bystander-{action}")).await;
    for token in [&phone.token, &tablet.token, &bystander.token] {
        env.assert_live(token).await;
        env.assert_live(token).await;
    }
    // Identifiers are case-sensitive: another case is another (unknown) user.
    let (ok, printed) = env
        .user_cli(action, APP_A, &phone.openid.to_lowercase())
        .await;
    assert!(!ok, "{printed}");
    env.assert_live(&phone.token).await;

    let (ok, printed) = env.user_cli(action, APP_A, &phone.openid).await;
    assert!(ok, "wxlogin user {action} failed: {printed}");
    env.assert_dead(&phone.token).await;
    env.assert_dead(&tablet.token).await;
    env.assert_live(&bystander.token).await;
    let back = env.login_as(APP_A, &user).await;
    match action {
        "revoke" => {
            assert!(!back.new, "revoke keeps the user");
            assert_eq!(back.user_id, phone.user_id);
        }
        _ => {
            assert!(back.new, "delete removes the user");
            assert_ne!(back.user_id, phone.user_id);
        }
    }
}

#[tokio::test]
async fn garbage_malformed_and_missing_tokens_are_401() {
    bad_tokens(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn a_token_of_another_app_fails_the_expected_app_check() {
    other_app(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn idle_sessions_expire() {
    idle_expiry(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn sliding_renewal_keeps_an_active_session_alive() {
    let env = Env::start(Settings::standard());
    let eve = env.login_as(APP_A, "eve-active").await;
    let first_deadline = utc(&eve.body["expires_at"]);
    env.advance_both_clocks(40 * 60).await;
    let session = env.assert_live(&eve.token).await;
    let renewed = utc(&session["expires_at"]);
    assert!(
        renewed - first_deadline >= time::Duration::minutes(39),
        "{first_deadline} → {renewed}"
    );
    env.advance_both_clocks(40 * 60).await;
    // 80 minutes after login, more than the 1 h idle timeout, but active.
    env.assert_live(&eve.token).await;
    env.advance_both_clocks(3601).await;
    env.assert_dead(&eve.token).await;
}

#[tokio::test]
async fn absolute_lifetime_ends_even_an_active_session() {
    let env = Env::start(Settings::standard());
    let fay = env.login_as(APP_A, "fay-forever").await;
    let issued = utc(&env.assert_live(&fay.token).await["issued_at"]);
    for _ in 0..2 {
        env.advance_both_clocks(50 * 60).await;
        let session = env.assert_live(&fay.token).await;
        assert!(utc(&session["expires_at"]) <= issued + time::Duration::hours(2));
    }
    // 100 minutes in, the idle deadline is capped by the absolute one.
    let session = env.assert_live(&fay.token).await;
    assert_eq!(
        utc(&session["expires_at"]),
        issued + time::Duration::hours(2)
    );
    // 150 minutes: last seen 50 minutes ago (idle would allow it), past the 2 h lifetime.
    env.advance_both_clocks(50 * 60).await;
    env.assert_dead(&fay.token).await;
}

#[tokio::test]
async fn session_cap_evicts_the_oldest() {
    session_cap(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn restart_keeps_every_session() {
    let mut env = Env::start(Settings::standard());
    let gus = env.login_as(APP_A, "gus").await;
    let gus2 = env.login_as(APP_A, "gus").await;
    let hal = env.login_as(APP_A, "hal").await;
    let gone = env.login_as(APP_A, "ida").await;
    env.logout(&gone.token).await.expect(204);
    let mut sessions = Vec::new();
    for login in [&gus, &gus2, &hal] {
        sessions.push((login.token.clone(), env.assert_live(&login.token).await));
    }

    env.restart().await;

    for (token, session) in &sessions {
        assert_eq!(&env.assert_live(token).await, session);
    }
    env.assert_dead(&gone.token).await;
    let gus3 = env.login_as(APP_A, "gus").await;
    assert!(!gus3.new);
    assert_eq!(gus3.user_id, gus.user_id);
}

/// A sliding renewal is written to the store, not only to the process's cache: after a
/// restart, a session renewed 40 minutes in is still alive 80 minutes in (idle timeout 1 h).
#[tokio::test]
async fn restart_keeps_a_renewed_deadline() {
    let mut env = Env::start(Settings::standard());
    let jan = env.login_as(APP_A, "jan").await;
    env.advance_both_clocks(40 * 60).await;
    env.assert_live(&jan.token).await;
    env.restart().await;
    env.advance_both_clocks(40 * 60).await;
    env.assert_live(&jan.token).await;
    env.advance_both_clocks(3601).await;
    env.assert_dead(&jan.token).await;
}

#[tokio::test]
async fn delete_me_removes_the_user_and_every_session() {
    delete_me(&Env::start(Settings::standard())).await;
}

#[tokio::test]
async fn operator_revoke_reaches_the_running_server() {
    operator(&Env::start(Settings::standard()), "revoke").await;
}

#[tokio::test]
async fn operator_delete_reaches_the_running_server() {
    operator(&Env::start(Settings::standard()), "delete").await;
}

// ---------------------------------------------------------------------------------------------
// 5. Abuse limits
// ---------------------------------------------------------------------------------------------

/// Five failed logins from `ip` (through the trusted proxy, or from the TCP peer when `None`),
/// each asking WeChat once; the sixth attempt is refused by the limit without asking.
async fn exhaust_failed_logins(env: &Env, ip: Option<&str>, first_bogus: u32) {
    let http = env.server.http.without_rotation();
    let login = |body: Value| {
        let builder = http.request(Method::POST, "/v1/login").json(&body);
        let builder = match ip {
            Some(ip) => builder.header("x-forwarded-for", ip),
            None => builder,
        };
        http.send(builder)
    };
    let before = env.stats().await;
    for n in 0..5 {
        let code = bogus_code(first_bogus + n);
        env.remember(&code);
        login(json!({"code": code, "appid": APP_A}))
            .await
            .expect_error(400, "invalid_code");
    }
    let after = env.stats().await;
    assert_eq!(
        after.total,
        before.total + 5,
        "each failure asked WeChat once"
    );

    let code = bogus_code(first_bogus + 5);
    env.remember(&code);
    let reply = login(json!({"code": code, "appid": APP_A})).await;
    reply.expect_error(429, "rate_limited");
    assert_eq!(reply.wechat_errcode(), None);
    let retry = reply.retry_after();
    assert!((1..=60).contains(&retry), "{reply:?}");
    assert_no_call(env, &after).await;
}

async fn failed_login_limit(env: &Env) {
    exhaust_failed_logins(env, None, 0).await;
    let http = env.server.http.without_rotation();

    // Observed behaviour: once an address is over its failed-login limit, *every* login from
    // it is refused before the code is looked at, a valid one included. The code is neither
    // claimed nor sent to WeChat, so it still works once the window has passed.
    let good = env.sim_login(APP_A, "nat-nora").await;
    let before = env.stats().await;
    http.post_json("/v1/login", &json!({"code": good.code, "appid": APP_A}))
        .await
        .expect_error(429, "rate_limited");
    assert_no_call(env, &before).await;

    env.advance_both_clocks(61).await;
    let reply = http
        .post_json("/v1/login", &json!({"code": good.code, "appid": APP_A}))
        .await;
    reply.expect(200);
    env.remember(reply.body["token"].as_str().unwrap());
    let code = bogus_code(99);
    env.remember(&code);
    http.post_json("/v1/login", &json!({"code": code, "appid": APP_A}))
        .await
        .expect_error(400, "invalid_code");
}

async fn forwarded_clients(env: &Env) {
    exhaust_failed_logins(env, Some("198.51.100.1"), 200).await;
    let http = env.server.http.without_rotation();
    let from = |ip: &'static str, body: Value| {
        http.send(
            http.request(Method::POST, "/v1/login")
                .header("x-forwarded-for", ip)
                .json(&body),
        )
    };
    let code = bogus_code(300);
    env.remember(&code);
    from("198.51.100.2", json!({"code": code, "appid": APP_A}))
        .await
        .expect_error(400, "invalid_code");
    let good = env.sim_login(APP_A, "xff-xena").await;
    let reply = from("198.51.100.2", json!({"code": good.code, "appid": APP_A})).await;
    reply.expect(200);
    env.remember(reply.body["token"].as_str().unwrap());
    // The proxy itself (no X-Forwarded-For) is yet another client.
    let code = bogus_code(301);
    env.remember(&code);
    http.post_json("/v1/login", &json!({"code": code, "appid": APP_A}))
        .await
        .expect_error(400, "invalid_code");
    // A client cannot escape by prepending an address: the right-most untrusted hop counts.
    let code = bogus_code(302);
    env.remember(&code);
    from(
        "203.0.113.77, 198.51.100.1",
        json!({"code": code, "appid": APP_A}),
    )
    .await
    .expect_error(429, "rate_limited");
}

fn limited(trusted_proxies: Vec<&'static str>) -> Settings {
    Settings {
        failed_logins_per_ip_per_minute: 5,
        trusted_proxies,
        ..Settings::standard()
    }
}

#[tokio::test]
async fn failed_logins_are_limited_per_ip() {
    failed_login_limit(&Env::start(limited(Vec::new()))).await;
}

#[tokio::test]
async fn forwarded_clients_behind_a_trusted_proxy_are_counted_separately() {
    forwarded_clients(&Env::start(limited(vec!["127.0.0.1"]))).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Hostile input
// ---------------------------------------------------------------------------------------------

async fn hostile_input(env: &Env) {
    // A fresh connection per request: after an early 413 the server closes the connection
    // without announcing it, which a pooled client would trip over (see below).
    let hostile = env.server.http.without_pool();
    let http = &hostile;
    let login = || http.request(Method::POST, "/v1/login");
    let good_json = serde_json::to_vec(&json!({"code": "whatever", "appid": APP_A})).unwrap();

    let mut cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "text/plain",
            login()
                .header("content-type", "text/plain")
                .body(good_json.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            "form",
            login()
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("code=whatever&appid={APP_A}")),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            login().body(good_json.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            "just over 16 KiB of valid JSON",
            login().json(&json!({"code": "c".repeat(16 * 1024), "appid": APP_A})),
            413,
            "payload_too_large",
        ),
        (
            "invalid UTF-8",
            login()
                .header("content-type", "application/json")
                .body(vec![0xff, 0xfe, 0x7b, 0x80, 0x7d]),
            400,
            "invalid_request",
        ),
        (
            "invalid UTF-8 in a string",
            login()
                .header("content-type", "application/json")
                .body(b"{\"code\": \"\xc3\x28\xa0\xa1\", \"appid\": \"x\"}".to_vec()),
            400,
            "invalid_request",
        ),
        (
            "10 000 open brackets",
            login()
                .header("content-type", "application/json")
                .body("[".repeat(10_000)),
            400,
            "invalid_request",
        ),
        (
            "3 000 nested objects under code",
            login()
                .header("content-type", "application/json")
                .body(format!("{{\"code\":{}", "{\"a\":".repeat(3_000))),
            400,
            "invalid_request",
        ),
        (
            "10 000 closed levels (over the size limit)",
            login()
                .header("content-type", "application/json")
                .body(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
            413,
            "payload_too_large",
        ),
        (
            "code is a number",
            login().json(&json!({"code": 123, "appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "appid is an object",
            login().json(&json!({"code": "x", "appid": {"a": 1}})),
            400,
            "invalid_request",
        ),
        (
            "code missing",
            login().json(&json!({"appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "empty object",
            login().json(&json!({})),
            400,
            "invalid_request",
        ),
        ("array", login().json(&json!([])), 400, "invalid_request"),
        ("null", login().json(&Value::Null), 400, "invalid_request"),
        (
            "empty body",
            login().header("content-type", "application/json"),
            400,
            "invalid_request",
        ),
        (
            "empty code",
            login().json(&json!({"code": "", "appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "control characters in the code",
            login().json(&json!({"code": "abc\u{0}\n\u{1b}[31m", "appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "a 1000-character code",
            login().json(&json!({"code": "k".repeat(1000), "appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "a 10 000-character header on /v1/login",
            login()
                .header("x-junk", "j".repeat(10_000))
                .json(&json!({"appid": APP_A})),
            400,
            "invalid_request",
        ),
        (
            "a 10 000-character bearer token",
            http.request(Method::GET, "/v1/session")
                .bearer_auth(format!("wxl_{}", "A".repeat(10_000))),
            401,
            "invalid_token",
        ),
        (
            "a 10 000-character request id",
            http.request(Method::GET, "/v1/session")
                .header("x-request-id", "r".repeat(10_000)),
            401,
            "missing_token",
        ),
        (
            "a 10 000-character expected appid",
            http.request(
                Method::GET,
                &format!("/v1/session?appid={}", "a".repeat(10_000)),
            )
            .bearer_auth("garbage"),
            401,
            "invalid_token",
        ),
        (
            "unknown route",
            http.request(Method::GET, "/v2/login"),
            404,
            "not_found",
        ),
        (
            "unknown route with a body",
            http.request(Method::POST, "/../../etc/passwd")
                .json(&json!({})),
            404,
            "not_found",
        ),
        (
            "wrong method",
            http.request(Method::GET, "/v1/login"),
            405,
            "method_not_allowed",
        ),
        (
            "wrong method on session",
            http.request(Method::PUT, "/v1/session"),
            405,
            "method_not_allowed",
        ),
        (
            "dev clock with a bad body",
            http.request(Method::POST, "/dev/clock")
                .json(&json!({"advance_secs": -5})),
            400,
            "invalid_request",
        ),
    ];
    two_megabytes(http).await;
    env.server.http.get("/healthz").await.expect(200);
    for (what, request, status, code) in cases.drain(..) {
        let reply = http.send(request).await;
        assert!(
            reply.status.is_client_error(),
            "{what}: expected a 4xx, got {reply:?}"
        );
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (status, code),
            "{what}: {reply:?}"
        );
        reply.expect_error(status, code);
        if what == "a 10 000-character request id" {
            assert!(reply.header("x-request-id").unwrap().len() <= 64);
        }
        if what.starts_with("wrong method") {
            assert!(reply.header("allow").is_some(), "{what}: {reply:?}");
        }
        env.server.http.get("/healthz").await.expect(200);
    }
    // Still serving real users.
    env.login_as(APP_A, "after-the-storm").await;
}

/// A 2 MB login body is refused with 413 as soon as its `Content-Length` is seen. The server
/// then closes the connection without reading the rest, so the client may still be writing
/// when it does and see a broken pipe instead of the answer; a few attempts are allowed for
/// that, but every answer that does arrive must be the 413.
async fn two_megabytes(http: &support::Http) {
    let mut answers = 0;
    for _ in 0..10 {
        let request = http
            .request(Method::POST, "/v1/login")
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024]);
        match request.send().await {
            Ok(response) => {
                answers += 1;
                support::Reply::read(response)
                    .await
                    .expect_error(413, "payload_too_large");
                if answers == 3 {
                    return;
                }
            }
            Err(error) => assert!(error.is_request(), "{error:?}"),
        }
    }
    assert!(answers > 0, "no 413 arrived in ten attempts");
}

/// HTTP/1.1 keep-alive: a server that answers before reading the body and then closes the
/// connection must say so (`Connection: close`, RFC 9112 §9.6), or the client's next request on
/// that connection fails. Seen as an intermittent `IncompleteMessage` on the request after a
/// 2 MB login.
#[tokio::test]
async fn an_early_413_announces_the_close() {
    let env = Env::start(Settings::standard());
    let http = env.server.http.without_pool();
    for _ in 0..10 {
        let request = http
            .request(Method::POST, "/v1/login")
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024]);
        // A broken pipe while sending is the race described above; try again.
        if let Ok(response) = request.send().await {
            let reply = support::Reply::read(response).await;
            reply.expect_error(413, "payload_too_large");
            assert_eq!(reply.header("connection"), Some("close"), "{reply:?}");
            return;
        }
    }
    panic!("no answer arrived in ten attempts");
}

#[tokio::test]
async fn hostile_input_is_refused_with_registry_codes() {
    let env = Env::start(Settings {
        failed_logins_per_ip_per_minute: 1000,
        ..Settings::standard()
    });
    hostile_input(&env).await;
}

// ---------------------------------------------------------------------------------------------
// 7. Secrets never logged
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let mut env = Env::start(Settings {
        log: "trace",
        // Each request comes from its own address through a trusted proxy, so the failures of
        // one scenario do not rate-limit the next; the abuse scenario picks its own addresses.
        failed_logins_per_ip_per_minute: 5,
        trusted_proxies: vec!["127.0.0.1"],
        rotate_client_ip: true,
        ..Settings::standard()
    });

    // The pinned user: we know their session_key, openid and unionid.
    let frida = env.login_as(APP_A, FIXED_USER).await;
    assert_eq!(env.assert_live(&frida.token).await["openid"], FIXED_OPENID);
    let frida2 = env.login_as(APP_A, FIXED_USER).await;
    assert_eq!(frida2.user_id, frida.user_id);

    flow(&env, "leaky-lou").await;
    code_reuse(&env).await;
    expired_code(&env).await;
    wrong_secret(&env).await;
    blocked_user(&env).await;
    wechat_busy(&env).await;
    wechat_rate_limit(&env).await;
    other_errcode(&env).await;
    every_pinned_errcode(&env).await;
    slow_upstream(&env).await;
    unreadable_upstream(&env).await;
    unknown_appid(&env).await;
    appid_required_with_two_apps(&env).await;
    concurrent_logins(&env).await;
    bad_tokens(&env).await;
    other_app(&env).await;
    session_cap(&env).await;
    delete_me(&env).await;
    operator(&env, "revoke").await;
    forwarded_clients(&env).await;
    hostile_input(&env).await;
    env.restart().await;
    env.assert_live(&frida2.token).await;
    env.logout(&frida2.token).await.expect(204);
    idle_expiry(&env).await;

    let output = env.server_output();
    // The test could fail: the server logged at trace level, and about these very requests.
    assert!(
        output.len() > 10_000,
        "suspiciously little output:\n{output}"
    );
    for expected in ["TRACE", "user_id=", "errcode=Some(40125)", &frida.user_id] {
        assert!(
            output.contains(expected),
            "the log lacks {expected:?}:\n{output}"
        );
    }

    let mut forbidden: BTreeSet<String> = env.sensitive();
    assert!(
        forbidden.len() > 50,
        "too few values collected: {forbidden:?}"
    );
    for value in [
        SECRET_A,
        SECRET_B,
        WRONG_SECRET_B,
        FIXED_OPENID,
        FIXED_UNIONID,
        FIXED_SESSION_KEY,
    ]
    .into_iter()
    .chain(FIXED_SESSION_KEY_SPELLINGS.iter().copied())
    {
        forbidden.insert(value.to_owned());
    }
    let leaked: Vec<&String> = forbidden
        .iter()
        .filter(|value| output.contains(value.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "the server's output contains {} secret(s) or identifier(s): {leaked:?}",
        leaked.len()
    );

    // The simulator promises the same of its own logs (it knows the secrets and keys).
    let simulator = env.sim.output();
    assert!(simulator.contains("jscode2session"), "{simulator}");
    let leaked: Vec<&String> = forbidden
        .iter()
        .filter(|value| simulator.contains(value.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "the simulator's output contains {leaked:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Operations endpoints and the OpenAPI document
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_readiness_and_openapi() {
    let env = Env::start(Settings::standard());
    let http = &env.server.http;
    let health = http.get("/healthz").await;
    health.expect(200);
    assert_eq!(health.body["status"], "ok");
    let ready = http.get("/readyz").await;
    ready.expect(200);
    assert_eq!(ready.body["checks"]["store"], "ok");

    let doc = http.get("/openapi.json").await;
    doc.expect(200);
    let schemas = &doc.body["components"]["schemas"];
    let listed: BTreeSet<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let registry: BTreeSet<&str> = wxlogin_http::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, registry, "the document lists the whole registry");
    let statuses: Vec<(String, u64)> = schemas["ErrorCode"]["x-registry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    for (code, status) in CODES_EXERCISED {
        assert!(
            statuses
                .iter()
                .any(|(c, s)| c == code && *s == u64::from(*status)),
            "{code} ({status}) is not documented as such: {statuses:?}"
        );
    }
    for path in [
        "/v1/login",
        "/v1/session",
        "/v1/logout",
        "/v1/me",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc.body["paths"][path].is_object(), "{path} undocumented");
    }
}
