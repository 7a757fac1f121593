//! Local mode against keys made here and a JWKS server on 127.0.0.1: the JWT checks, and the
//! JWKS cache (unknown `kid` refetches at most once per 30 s, background refresh, outages),
//! with a manual clock, never sleeping for time to pass.

mod support;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{APP_A, APP_B, ISSUER, JwksServer, TestKey, claims, now_secs};
use wxlogin_axum::{
    ConfigError, LocalConfig, ManualClock, REFETCH_INTERVAL, Verifier, VerifyError,
};

fn config(jwks: &JwksServer, clock: &ManualClock) -> LocalConfig {
    LocalConfig::new(jwks.base.clone(), [APP_A])
        .issuer(ISSUER)
        .clock(clock.clone())
}

#[track_caller]
fn assert_invalid(result: Result<wxlogin_axum::WxUser, VerifyError>, why: &str) {
    match result {
        Err(VerifyError::InvalidToken(_)) => {}
        other => panic!("{why}: expected InvalidToken, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_token_gives_its_user() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let verifier = Verifier::local(config(&jwks, &ManualClock::new())).unwrap();
    let exp = now_secs() + 300;
    let user = verifier
        .verify(&key.sign(&claims(APP_A, exp)))
        .await
        .unwrap();
    assert_eq!(user.user_id, "0199aa00-0000-7000-8000-000000000001");
    assert_eq!(user.appid, APP_A);
    assert_eq!(user.openid, "oOPENID");
    assert_eq!(user.unionid.as_deref(), Some("uUNIONID"));
    assert_eq!(
        user.session_id.as_deref(),
        Some("0199aa00-0000-7000-8000-0000000000s1")
    );
    assert_eq!(
        user.expires_at,
        SystemTime::UNIX_EPOCH + Duration::from_secs(exp as u64)
    );

    // unionid is omitted, not null, for a user without one.
    let mut no_unionid = claims(APP_A, exp);
    no_unionid.as_object_mut().unwrap().remove("unionid");
    let user = verifier.verify(&key.sign(&no_unionid)).await.unwrap();
    assert_eq!(user.unionid, None);
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn wrong_audience_issuer_key_or_claims_are_refused() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let verifier = Verifier::local(config(&jwks, &ManualClock::new())).unwrap();
    let exp = now_secs() + 300;

    assert_invalid(
        verifier.verify(&key.sign(&claims(APP_B, exp))).await,
        "an app outside the configured appids",
    );
    let mut other_issuer = claims(APP_A, exp);
    other_issuer["iss"] = json!("https://evil.example");
    assert_invalid(verifier.verify(&key.sign(&other_issuer)).await, "issuer");
    for claim in ["iss", "aud", "exp", "sub", "sid", "openid"] {
        let mut missing = claims(APP_A, exp);
        missing.as_object_mut().unwrap().remove(claim);
        assert_invalid(verifier.verify(&key.sign(&missing)).await, claim);
    }
    let mut aud_list = claims(APP_A, exp);
    aud_list["aud"] = json!([APP_A, APP_B]);
    assert_invalid(verifier.verify(&key.sign(&aud_list)).await, "aud list");

    // Signed by another key that claims the published kid.
    let impostor = TestKey::generate("k1");
    assert_invalid(
        verifier.verify(&impostor.access_jwt(APP_A, 300)).await,
        "signature",
    );
    // A payload swapped under a good signature.
    let good = key.access_jwt(APP_A, 300);
    let other = key.access_jwt(APP_B, 300);
    let parts: Vec<&str> = good.split('.').collect();
    let other_payload = other.split('.').nth(1).unwrap();
    let spliced = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    assert_invalid(verifier.verify(&spliced).await, "spliced");

    for garbage in ["", "abc", "a.b.c", "wxl_AAAA"] {
        assert_invalid(verifier.verify(garbage).await, garbage);
    }
    // None of this needed another JWKS fetch.
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn only_eddsa_is_accepted() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let verifier = Verifier::local(config(&jwks, &ManualClock::new())).unwrap();
    let body = URL_SAFE_NO_PAD.encode(claims(APP_A, now_secs() + 300).to_string());

    // alg: none, with and without a signature.
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1","typ":"JWT"}"#);
    assert_invalid(verifier.verify(&format!("{none}.{body}.")).await, "none");
    assert_invalid(
        verifier.verify(&format!("{none}.{body}.c2ln")).await,
        "none+sig",
    );

    // HS256 with the public key (as published) as the HMAC secret: the classic confusion.
    let x = key.jwk()["x"].as_str().unwrap().to_owned();
    for secret in [x.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(&x).unwrap()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims(APP_A, now_secs() + 300),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_invalid(verifier.verify(&token).await, "HS256");
    }

    // No kid.
    let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
    let good = key.access_jwt(APP_A, 300);
    let signature = good.rsplit('.').next().unwrap();
    assert_invalid(
        verifier
            .verify(&format!("{no_kid}.{body}.{signature}"))
            .await,
        "no kid",
    );
    assert_eq!(jwks.fetches(), 0, "a refused alg must not cost a fetch");
}

#[tokio::test]
async fn expiry_is_checked_on_the_clock_with_the_leeway() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let clock = ManualClock::new();
    let strict = Verifier::local(config(&jwks, &clock).leeway(Duration::from_secs(10))).unwrap();
    let default = Verifier::local(config(&jwks, &clock)).unwrap();
    let exp = now_secs() + 300;
    let token = key.sign(&claims(APP_A, exp));
    strict.verify(&token).await.unwrap();

    clock.advance(Duration::from_secs(305));
    strict.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(10));
    assert_invalid(strict.verify(&token).await, "past exp + 10 s");
    // The default leeway is the maximum, 60 s.
    default.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(50));
    assert_invalid(default.verify(&token).await, "past exp + 60 s");
}

#[test]
fn config_limits() {
    let leeway = LocalConfig::new("http://127.0.0.1:1", [APP_A]).leeway(Duration::from_secs(61));
    assert!(matches!(
        Verifier::local(leeway),
        Err(ConfigError::Leeway(_))
    ));
    let none: [&str; 0] = [];
    assert!(matches!(
        Verifier::local(LocalConfig::new("http://127.0.0.1:1", none)),
        Err(ConfigError::NoAppids)
    ));
    assert!(matches!(
        Verifier::local(LocalConfig::new("http://u:p@127.0.0.1:1", [APP_A])),
        Err(ConfigError::Url { .. })
    ));
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_30_seconds() {
    let k1 = TestKey::generate("k1");
    let k2 = TestKey::generate("k2");
    let jwks = JwksServer::start(vec![k1.jwk()]).await;
    let clock = ManualClock::new();
    let verifier = Verifier::local(config(&jwks, &clock)).unwrap();
    verifier.verify(&k1.access_jwt(APP_A, 3600)).await.unwrap();
    assert_eq!(jwks.fetches(), 1);

    // The first fetch counts: an unknown kid right after it is refused without another.
    let t2 = k2.access_jwt(APP_A, 3600);
    assert_invalid(verifier.verify(&t2).await, "unpublished kid");
    assert_eq!(jwks.fetches(), 1);
    // 30 s on, k2 (still not published) refetches once, then none for 30 s however many
    // tokens come.
    clock.advance(REFETCH_INTERVAL);
    assert_invalid(verifier.verify(&t2).await, "unpublished kid");
    assert_eq!(jwks.fetches(), 2);
    let forged: Vec<_> = (0..20)
        .map(|n| TestKey::generate(&format!("made-up-{n}")).access_jwt(APP_A, 3600))
        .collect();
    for token in &forged {
        assert_invalid(verifier.verify(token).await, "made-up kid");
    }
    // Published now, but the interval has not passed.
    jwks.set_keys(vec![k1.jwk(), k2.jwk()]);
    clock.advance(REFETCH_INTERVAL - Duration::from_secs(1));
    assert_invalid(verifier.verify(&t2).await, "within the interval");
    assert_eq!(jwks.fetches(), 2);

    clock.advance(Duration::from_secs(1));
    verifier.verify(&t2).await.unwrap();
    assert_eq!(jwks.fetches(), 3);
    // Known kids never fetch.
    for _ in 0..5 {
        verifier.verify(&k1.access_jwt(APP_A, 3600)).await.unwrap();
        verifier.verify(&t2).await.unwrap();
    }
    assert_eq!(jwks.fetches(), 3);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let k1 = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![k1.jwk()]).await;
    let verifier = Verifier::local(config(&jwks, &ManualClock::new())).unwrap();
    let token = k1.access_jwt(APP_A, 3600);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_503_and_recovers() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    jwks.fail(true);
    let clock = ManualClock::new();
    let verifier = Verifier::local(config(&jwks, &clock)).unwrap();
    let token = key.access_jwt(APP_A, 3600);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Unavailable(_))
    ));
    // No queue of retries behind a dead server: the next second answers at once.
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Unavailable(_))
    ));
    assert_eq!(jwks.fetches(), 1);

    jwks.fail(false);
    clock.advance(Duration::from_secs(1));
    verifier.verify(&token).await.unwrap();
    assert_eq!(jwks.fetches(), 2);

    // Nothing listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let verifier = Verifier::local(LocalConfig::new(closed, [APP_A]).issuer(ISSUER)).unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Unavailable(_))
    ));
}

#[tokio::test]
async fn an_old_jwks_is_refreshed_in_the_background() {
    let k1 = TestKey::generate("k1");
    let k2 = TestKey::generate("k2");
    let jwks = JwksServer::start(vec![k1.jwk()]).await;
    let clock = ManualClock::new();
    let verifier =
        Verifier::local(config(&jwks, &clock).jwks_max_age(Duration::from_secs(60))).unwrap();
    let t1 = k1.access_jwt(APP_A, 3600);
    verifier.verify(&t1).await.unwrap();

    // k1 withdrawn (say, compromised), k2 published.
    jwks.set_keys(vec![k2.jwk()]);
    clock.advance(Duration::from_secs(60));
    // The request that notices does not wait: it is served from the old keys.
    verifier.verify(&t1).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while jwks.fetches() < 2 {
        assert!(std::time::Instant::now() < deadline, "no background fetch");
        tokio::task::yield_now().await;
    }
    // Wait for the new set to land: then k1 is gone, k2 known without another fetch.
    while verifier.verify(&t1).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "k1 still accepted");
        tokio::task::yield_now().await;
    }
    verifier.verify(&k2.access_jwt(APP_A, 3600)).await.unwrap();
    assert_eq!(jwks.fetches(), 2);
}
