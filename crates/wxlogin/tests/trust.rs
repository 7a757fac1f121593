//! Black-box tests of how business backends trust wxlogin: `GET /v1/auth` (forward-auth for
//! gateways), `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009), against
//! the real `wxlogin serve` and `wxlogin simulate` processes (see `support`).
//!
//! The server serves apps A and B, reads the legacy `X-WX-Skey` header for `/v1/auth`, and
//! knows two service clients, each scoped to one app. Users of A have a unionid, users of B
//! do not. Time moves only through both test clocks.

#[allow(dead_code, reason = "shared with server.rs; this file uses part of it")]
mod support;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::{
    APP_A, APP_B, Env, FIXED_OPENID, FIXED_UNIONID, FIXED_USER, LoggedIn, Reply, SECRET_A,
    SECRET_B, Settings,
};

const CLIENT_A: &str = "backend-a";
const CLIENT_A_SECRET: &str = "backend-a-s3cret-5c0d9e-never-log-me";
const CLIENT_B: &str = "backend-b";
const CLIENT_B_SECRET: &str = "backend-b-s3cret-a81f27-never-log-me";

const TRUST_TOML: &str = r#"
[forward_auth]
token_header = "X-WX-Skey"

[[introspection.clients]]
id = "backend-a"
secret = "backend-a-s3cret-5c0d9e-never-log-me"
appids = ["wx00000000000000a1"]

[[introspection.clients]]
id = "backend-b"
secret = "backend-b-s3cret-a81f27-never-log-me"
appids = ["wx00000000000000b2"]
"#;

/// Both apps with the right secrets, the trust settings above, debug logs (refused tokens
/// and clients are logged at debug: the leak check must see those lines too).
fn settings() -> Settings {
    Settings {
        log: "debug",
        apps: vec![(APP_A, SECRET_A), (APP_B, SECRET_B)],
        extra_toml: TRUST_TOML,
        ..Settings::standard()
    }
}

/// `GET /v1/auth`, with whatever headers `build` adds.
async fn forward_auth(env: &Env, build: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Reply {
    let http = &env.server.http;
    http.send(build(http.request(Method::GET, "/v1/auth")))
        .await
}

/// `POST path` as a service client, with `body` as an urlencoded form.
async fn as_client(
    env: &Env,
    path: &str,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Reply {
    let http = &env.server.http;
    let mut request = http
        .request(Method::POST, path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(form));
    if let Some((id, secret)) = client {
        request = request.basic_auth(id, Some(secret));
    }
    http.send(request).await
}

async fn introspect(env: &Env, client: (&str, &str), token: &str) -> Reply {
    as_client(env, "/oauth2/introspect", Some(client), &[("token", token)]).await
}

async fn revoke(env: &Env, client: (&str, &str), token: &str) -> Reply {
    as_client(env, "/oauth2/revoke", Some(client), &[("token", token)]).await
}

fn urlencoded(form: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A 200 of `/v1/auth`: empty body, and the identity in headers.
#[track_caller]
fn assert_identity(reply: &Reply, user: &LoggedIn, session: &Value, appid: &str) {
    reply.expect(200);
    assert!(reply.text.is_empty(), "{reply:?}");
    assert_eq!(reply.header("x-wx-openid"), Some(user.openid.as_str()));
    assert_eq!(reply.header("x-wx-appid"), Some(appid));
    assert_eq!(
        reply.header("x-wxlogin-user-id"),
        Some(user.user_id.as_str())
    );
    assert_eq!(
        reply.header("x-wxlogin-session-id"),
        session["session_id"].as_str()
    );
    assert_eq!(reply.header("x-wx-unionid"), session["unionid"].as_str());
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
}

/// A refused service client: 401 `invalid_client` with a Basic challenge, in our error shape.
#[track_caller]
fn assert_invalid_client(reply: &Reply) {
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (401, "invalid_client"),
        "{reply:?}"
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Basic realm="wxlogin""#),
        "{reply:?}"
    );
    assert_eq!(
        reply.body["error"]["request_id"].as_str(),
        reply.header("x-request-id"),
        "{reply:?}"
    );
}

/// Exactly `{"active": false}`: nothing else, not even a null field.
#[track_caller]
fn assert_inactive(reply: &Reply) {
    reply.expect(200);
    assert_eq!(reply.body, json!({"active": false}), "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// GET /v1/auth
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forward_auth_answers_identity_headers_like_cloud_run() {
    let env = Env::start(settings());
    // A user with a unionid (app A), and one without (app B).
    let frida = env.login_as(APP_A, FIXED_USER).await;
    let frida_session = env.assert_live(&frida.token).await;
    assert_eq!(frida.openid, FIXED_OPENID);
    assert_eq!(frida_session["unionid"], FIXED_UNIONID);
    let bob = env.login_as(APP_B, "bob").await;
    let bob_session = env.assert_live(&bob.token).await;
    assert_eq!(bob_session["unionid"], Value::Null);

    let reply = forward_auth(&env, |r| r.bearer_auth(&frida.token)).await;
    assert_identity(&reply, &frida, &frida_session, APP_A);
    assert_eq!(reply.header("x-wx-unionid"), Some(FIXED_UNIONID));
    let reply = forward_auth(&env, |r| r.bearer_auth(&bob.token)).await;
    assert_identity(&reply, &bob, &bob_session, APP_B);
    assert_eq!(reply.header("x-wx-unionid"), None, "{reply:?}");

    // The expected app, as a gateway pins it.
    let reply = forward_auth(&env, |r| {
        r.bearer_auth(&frida.token).header("x-wxlogin-appid", APP_A)
    })
    .await;
    assert_identity(&reply, &frida, &frida_session, APP_A);
    forward_auth(&env, |r| {
        r.bearer_auth(&frida.token).header("x-wxlogin-appid", APP_B)
    })
    .await
    .expect_error(401, "invalid_token");

    // No token, a malformed one, an unknown one, another scheme.
    forward_auth(&env, |r| r)
        .await
        .expect_error(401, "missing_token");
    forward_auth(&env, |r| r.bearer_auth("nonsense"))
        .await
        .expect_error(401, "invalid_token");
    let unknown = format!("wxl_{}", "A".repeat(43));
    forward_auth(&env, |r| r.bearer_auth(&unknown))
        .await
        .expect_error(401, "invalid_token");
    forward_auth(&env, |r| r.header(AUTHORIZATION, "Basic YTpi"))
        .await
        .expect_error(401, "invalid_token");

    // Ended sessions are refused at once.
    env.logout(&bob.token).await.expect(204);
    forward_auth(&env, |r| r.bearer_auth(&bob.token))
        .await
        .expect_error(401, "invalid_token");
    assert_no_leaks(&env);
}

#[tokio::test]
async fn forward_auth_reads_the_legacy_header_only_without_authorization() {
    let env = Env::start(settings());
    let user = env.login_as(APP_A, "lena").await;
    let session = env.assert_live(&user.token).await;

    let reply = forward_auth(&env, |r| r.header("x-wx-skey", &user.token)).await;
    assert_identity(&reply, &user, &session, APP_A);
    // Authorization, when present, is the token: a bad one is not rescued by the legacy header.
    forward_auth(&env, |r| {
        r.bearer_auth("nonsense").header("x-wx-skey", &user.token)
    })
    .await
    .expect_error(401, "invalid_token");
    forward_auth(&env, |r| r.header("x-wx-skey", "nonsense"))
        .await
        .expect_error(401, "invalid_token");
    forward_auth(&env, |r| r.header("x-wx-skey", ""))
        .await
        .expect_error(401, "invalid_token");

    // Off by default: a server without `forward_auth.token_header` never reads the header.
    let plain = env.extra_server(
        &Settings {
            apps: vec![(APP_A, SECRET_A)],
            ..Settings::standard()
        },
        "plain",
    );
    let request = plain
        .http
        .request(Method::GET, "/v1/auth")
        .header("x-wx-skey", "nonsense");
    plain
        .http
        .send(request)
        .await
        .expect_error(401, "missing_token");
    // Nor is the header accepted by the other Bearer routes.
    let request = env
        .server
        .http
        .request(Method::GET, "/v1/session")
        .header("x-wx-skey", &user.token);
    env.server
        .http
        .send(request)
        .await
        .expect_error(401, "missing_token");
    assert_no_leaks(&env);
}

// ---------------------------------------------------------------------------------------------
// POST /oauth2/introspect
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_needs_the_right_credentials() {
    let env = Env::start(settings());
    let user = env.login_as(APP_A, "carla").await;
    let form = [("token", user.token.as_str())];

    let none = as_client(&env, "/oauth2/introspect", None, &form).await;
    assert_invalid_client(&none);
    for creds in [
        (CLIENT_A, "wrong-secret"),
        (CLIENT_A, ""),
        (CLIENT_A, CLIENT_B_SECRET),
        ("nobody", CLIENT_A_SECRET),
        ("", ""),
    ] {
        let reply = as_client(&env, "/oauth2/introspect", Some(creds), &form).await;
        assert_invalid_client(&reply);
        assert!(!reply.text.contains(&user.token), "{reply:?}");
        let reply = as_client(&env, "/oauth2/revoke", Some(creds), &form).await;
        assert_invalid_client(&reply);
    }
    // The user's own Bearer token is no service credential.
    let request = env
        .server
        .http
        .request(Method::POST, "/oauth2/introspect")
        .bearer_auth(&user.token)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(&form));
    assert_invalid_client(&env.server.http.send(request).await);
    // Credentials come before the body: a refused client learns nothing from its form.
    let reply = as_client(&env, "/oauth2/introspect", Some(("nobody", "x")), &[]).await;
    assert_invalid_client(&reply);

    // A known client, a bad request.
    let a = (CLIENT_A, CLIENT_A_SECRET);
    as_client(
        &env,
        "/oauth2/introspect",
        Some(a),
        &[("token_type_hint", "access_token")],
    )
    .await
    .expect_error(400, "invalid_request");
    let json_body = env
        .server
        .http
        .request(Method::POST, "/oauth2/introspect")
        .basic_auth(CLIENT_A, Some(CLIENT_A_SECRET))
        .json(&json!({"token": user.token}));
    env.server
        .http
        .send(json_body)
        .await
        .expect_error(415, "unsupported_media_type");

    // And the session is still there: nothing above touched it.
    env.assert_live(&user.token).await;
    assert_no_leaks(&env);
}

#[tokio::test]
async fn introspection_tells_only_in_scope_active_tokens() {
    let env = Env::start(settings());
    let a = (CLIENT_A, CLIENT_A_SECRET);
    let b = (CLIENT_B, CLIENT_B_SECRET);
    let frida = env.login_as(APP_A, FIXED_USER).await;
    let session = env.assert_live(&frida.token).await;

    let reply = introspect(&env, a, &frida.token).await;
    reply.expect(200);
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    let body = &reply.body;
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "active",
            "client_id",
            "exp",
            "iat",
            "openid",
            "sid",
            "sub",
            "token_type",
            "unionid"
        ],
        "{body}"
    );
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], frida.user_id.as_str());
    assert_eq!(body["client_id"], APP_A);
    assert_eq!(body["openid"], FIXED_OPENID);
    assert_eq!(body["unionid"], FIXED_UNIONID);
    assert_eq!(body["sid"], session["session_id"], "{body} {session}");
    assert_eq!(body["token_type"], "Bearer");
    // Idle 1 h, absolute 2 h: the session's current expiry is its idle deadline.
    let (exp, iat) = (body["exp"].as_i64().unwrap(), body["iat"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600, "{body}");
    assert_eq!(exp, unix(&session["expires_at"]), "{body} {session}");
    assert_eq!(iat, unix(&session["issued_at"]), "{body} {session}");
    // The hint is accepted and ignored.
    let hinted = as_client(
        &env,
        "/oauth2/introspect",
        Some(a),
        &[
            ("token", &frida.token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(hinted.body, reply.body);

    // A user without a unionid has no unionid field (not a null one).
    let bob = env.login_as(APP_B, "bob").await;
    let reply = introspect(&env, b, &bob.token).await;
    reply.expect(200);
    assert_eq!(reply.body["client_id"], APP_B);
    assert!(reply.body.get("unionid").is_none(), "{reply:?}");

    // Out of scope, unknown, malformed, empty: exactly {"active": false}.
    assert_inactive(&introspect(&env, b, &frida.token).await);
    assert_inactive(&introspect(&env, a, &bob.token).await);
    assert_inactive(&introspect(&env, a, &format!("wxl_{}", "A".repeat(43))).await);
    assert_inactive(&introspect(&env, a, "nonsense").await);
    assert_inactive(&introspect(&env, a, "").await);

    // Ended sessions are inactive on the next call.
    env.logout(&frida.token).await.expect(204);
    assert_inactive(&introspect(&env, a, &frida.token).await);
    assert_no_leaks(&env);
}

#[tokio::test]
async fn introspection_does_not_renew_but_forward_auth_does() {
    let env = Env::start(settings());
    let a = (CLIENT_A, CLIENT_A_SECRET);
    // Idle timeout 1 h, renewal at most every 36 s (1 %).
    let asked_about = env.login_as(APP_A, "quinn").await;
    let active = env.login_as(APP_A, "rosa").await;
    let exp_of = |reply: &Reply| reply.body["exp"].as_i64().unwrap();
    let first_exp = exp_of(&introspect(&env, a, &asked_about.token).await);

    env.advance_both_clocks(40 * 60).await;
    // A backend asks about one token; the user of the other one acts through a gateway.
    for _ in 0..3 {
        let reply = introspect(&env, a, &asked_about.token).await;
        assert_eq!(
            exp_of(&reply),
            first_exp,
            "introspection renewed: {reply:?}"
        );
    }
    forward_auth(&env, |r| r.bearer_auth(&active.token))
        .await
        .expect(200);
    let renewed_exp = exp_of(&introspect(&env, a, &active.token).await);
    assert!(
        renewed_exp >= first_exp + 40 * 60 - 5,
        "{renewed_exp} vs {first_exp}"
    );

    // Past the first idle deadline: only the renewed session lives.
    env.advance_both_clocks(30 * 60).await;
    assert_inactive(&introspect(&env, a, &asked_about.token).await);
    env.assert_dead(&asked_about.token).await;
    forward_auth(&env, |r| r.bearer_auth(&active.token))
        .await
        .expect(200);
}

/// Unix seconds of an RFC 3339 time as the API writes it.
#[track_caller]
fn unix(text: &Value) -> i64 {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {text}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

// ---------------------------------------------------------------------------------------------
// POST /oauth2/revoke
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revocation_ends_in_scope_sessions_at_once() {
    let env = Env::start(settings());
    let a = (CLIENT_A, CLIENT_A_SECRET);
    let b = (CLIENT_B, CLIENT_B_SECRET);
    let user = env.login_as(APP_A, "tara").await;
    let other_device = env.login_as(APP_A, "tara").await;

    // Out of scope: 200, and nothing happens.
    let reply = revoke(&env, b, &user.token).await;
    reply.expect(200);
    assert!(reply.text.is_empty(), "{reply:?}");
    env.assert_live(&user.token).await;

    // In scope: ended as /v1/logout ends it — on the very next call, everywhere.
    let reply = revoke(&env, a, &user.token).await;
    reply.expect(200);
    assert!(reply.text.is_empty(), "{reply:?}");
    env.assert_dead(&user.token).await;
    assert_inactive(&introspect(&env, a, &user.token).await);
    forward_auth(&env, |r| r.bearer_auth(&user.token))
        .await
        .expect_error(401, "invalid_token");
    env.logout(&user.token)
        .await
        .expect_error(401, "invalid_token");
    // Only that session: the user's other device is still logged in.
    env.assert_live(&other_device.token).await;

    // Already revoked, unknown, malformed: still 200 (RFC 7009 §2.2).
    for token in [user.token.as_str(), "nonsense", ""] {
        let reply = revoke(&env, a, token).await;
        reply.expect(200);
    }
    as_client(&env, "/oauth2/revoke", Some(a), &[])
        .await
        .expect_error(400, "invalid_request");
    assert_no_leaks(&env);
}

#[tokio::test]
async fn the_document_lists_the_trust_endpoints() {
    let env = Env::start(settings());
    let doc = env.server.http.get("/openapi.json").await;
    doc.expect(200);
    let paths = &doc.body["paths"];
    assert!(paths["/v1/auth"]["get"].is_object(), "{paths}");
    assert!(paths["/oauth2/introspect"]["post"].is_object(), "{paths}");
    assert!(paths["/oauth2/revoke"]["post"].is_object(), "{paths}");
    let headers = paths["/v1/auth"]["get"]["responses"]["200"]["headers"]
        .as_object()
        .unwrap();
    let mut listed: Vec<String> = headers.keys().map(|h| h.to_ascii_lowercase()).collect();
    listed.sort();
    let mut emitted: Vec<String> = wxlogin_http::IDENTITY_HEADERS
        .iter()
        .map(|h| h.as_str().to_owned())
        .collect();
    emitted.sort();
    assert_eq!(listed, emitted);
    assert!(
        doc.body["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("invalid_client"))
    );
}

/// No token, openid, unionid, login code or service secret reached the server's output.
#[track_caller]
fn assert_no_leaks(env: &Env) {
    let output = env.server_output();
    let mut secrets = env.sensitive();
    secrets.extend(
        [
            CLIENT_A_SECRET,
            CLIENT_B_SECRET,
            FIXED_UNIONID,
            FIXED_OPENID,
        ]
        .map(str::to_owned),
    );
    for secret in secrets {
        assert!(
            !output.contains(&secret),
            "{secret} reached the log:\n{output}"
        );
    }
}
