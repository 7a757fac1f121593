//! Introspection mode against an RFC 7662 endpoint on 127.0.0.1 that counts its calls: the
//! positive cache (its TTL, TTL 0, no negative caching), the appid scope, and failures.

mod support;

use std::time::Duration;

use support::{APP_A, APP_B, CLIENT_ID, CLIENT_SECRET, IntrospectionServer, now_secs};
use wxlogin_axum::{IntrospectionConfig, ManualClock, Verifier, VerifyError, WxUser};

const TOKEN: &str = "wxl_token-of-a-user-of-app-a";

fn config(server: &IntrospectionServer, clock: &ManualClock) -> IntrospectionConfig {
    IntrospectionConfig::new(server.base.clone(), CLIENT_ID, CLIENT_SECRET, [APP_A])
        .clock(clock.clone())
}

#[track_caller]
fn assert_invalid(result: Result<WxUser, VerifyError>) {
    assert!(
        matches!(result, Err(VerifyError::InvalidToken(_))),
        "{result:?}"
    );
}

#[track_caller]
fn assert_unavailable(result: Result<WxUser, VerifyError>) {
    assert!(
        matches!(result, Err(VerifyError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_active_token_gives_its_user_and_is_cached_for_the_ttl() {
    let server = IntrospectionServer::start().await;
    server.activate(TOKEN, APP_A, now_secs() + 3600);
    let clock = ManualClock::new();
    let verifier = Verifier::introspection(config(&server, &clock)).unwrap();

    let user = verifier.verify(TOKEN).await.unwrap();
    assert_eq!(user.user_id, "0199aa00-0000-7000-8000-000000000001");
    assert_eq!(user.appid, APP_A);
    assert_eq!(user.openid, "oOPENID");
    assert_eq!(user.unionid, None);
    // This stand-in sends no `sid` (wxlogin does: tests/middleware.rs in the wxlogin crate).
    assert_eq!(user.session_id, None);
    assert_eq!(server.calls(), 1);

    // Logged out at wxlogin: the cached answer is used for at most 5 s.
    server.deactivate(TOKEN);
    clock.advance(Duration::from_millis(4999));
    assert_eq!(verifier.verify(TOKEN).await.unwrap(), user);
    assert_eq!(server.calls(), 1);
    clock.advance(Duration::from_millis(1));
    assert_invalid(verifier.verify(TOKEN).await);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn with_ttl_zero_every_call_asks_and_a_logout_is_seen_at_once() {
    let server = IntrospectionServer::start().await;
    server.activate(TOKEN, APP_A, now_secs() + 3600);
    let clock = ManualClock::new();
    let verifier =
        Verifier::introspection(config(&server, &clock).cache_ttl(Duration::ZERO)).unwrap();
    verifier.verify(TOKEN).await.unwrap();
    verifier.verify(TOKEN).await.unwrap();
    assert_eq!(server.calls(), 2);
    server.deactivate(TOKEN);
    assert_invalid(verifier.verify(TOKEN).await);
}

#[tokio::test]
async fn negative_answers_are_never_cached() {
    let server = IntrospectionServer::start().await;
    let clock = ManualClock::new();
    let verifier = Verifier::introspection(config(&server, &clock)).unwrap();
    assert_invalid(verifier.verify(TOKEN).await);
    assert_invalid(verifier.verify(TOKEN).await);
    assert_eq!(server.calls(), 2);
    // A login just happened: accepted on the very next request.
    server.activate(TOKEN, APP_A, now_secs() + 3600);
    verifier.verify(TOKEN).await.unwrap();
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn a_token_of_an_app_outside_the_appids_is_refused() {
    let server = IntrospectionServer::start().await;
    // The service client serves both apps; this backend accepts only A.
    server.activate(TOKEN, APP_B, now_secs() + 3600);
    let verifier = Verifier::introspection(config(&server, &ManualClock::new())).unwrap();
    assert_invalid(verifier.verify(TOKEN).await);
    assert_invalid(verifier.verify(TOKEN).await);
    assert_eq!(server.calls(), 2, "refusals are not cached either");
}

#[tokio::test]
async fn a_cached_answer_never_outlives_the_session() {
    let server = IntrospectionServer::start().await;
    let clock = ManualClock::new();
    server.activate(TOKEN, APP_A, now_secs() + 2);
    let verifier = Verifier::introspection(config(&server, &clock)).unwrap();
    verifier.verify(TOKEN).await.unwrap();
    clock.advance(Duration::from_secs(3));
    // Still "active" at the server (a stale answer), but past its own exp.
    assert_invalid(verifier.verify(TOKEN).await);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn wrong_credentials_or_no_server_are_503_not_401() {
    let server = IntrospectionServer::start().await;
    server.activate(TOKEN, APP_A, now_secs() + 3600);
    let wrong = IntrospectionConfig::new(server.base.clone(), CLIENT_ID, "wrong", [APP_A]);
    assert_unavailable(Verifier::introspection(wrong).unwrap().verify(TOKEN).await);

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let gone = IntrospectionConfig::new(closed, CLIENT_ID, CLIENT_SECRET, [APP_A]);
    assert_unavailable(Verifier::introspection(gone).unwrap().verify(TOKEN).await);
}

#[tokio::test]
async fn an_absurdly_long_token_is_refused_without_asking() {
    let server = IntrospectionServer::start().await;
    let verifier = Verifier::introspection(config(&server, &ManualClock::new())).unwrap();
    assert_invalid(verifier.verify(&"A".repeat(5000)).await);
    assert_eq!(server.calls(), 0);
}
