//! The extractor and the layer inside a real axum Router, driven with `oneshot`: what a
//! handler gets, what a refused client gets, and where the verifier comes from.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use support::{
    APP_A, APP_B, CLIENT_ID, CLIENT_SECRET, ISSUER, IntrospectionServer, JwksServer, TestKey,
    json_body, now_secs,
};
use tower::ServiceExt as _;
use wxlogin_axum::{
    IntrospectionConfig, LocalConfig, Verifier, VerifierState, WxLoginLayer, WxUser,
};

async fn hello(user: WxUser) -> String {
    format!("hello {} of {}", user.user_id, user.appid)
}

async fn maybe(user: Option<WxUser>) -> String {
    match user {
        Some(user) => format!("hello {}", user.user_id),
        None => "hello stranger".to_owned(),
    }
}

fn routes<S: VerifierState + Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/hello", get(hello))
        .route("/maybe", get(maybe))
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> Response {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[track_caller]
fn assert_challenge(response: &Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer error="invalid_token""#
    );
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

async fn local_verifier(key: &TestKey) -> (Verifier, JwksServer) {
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let verifier =
        Verifier::local(LocalConfig::new(jwks.base.clone(), [APP_A]).issuer(ISSUER)).unwrap();
    (verifier, jwks)
}

#[tokio::test]
async fn optional_layer_handlers_opt_in() {
    let key = TestKey::generate("k1");
    let (verifier, _jwks) = local_verifier(&key).await;
    let app: Router = routes().layer(WxLoginLayer::optional(verifier));
    let token = key.access_jwt(APP_A, 300);

    let response = call(&app, "/hello", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        text(response).await,
        format!("hello 0199aa00-0000-7000-8000-000000000001 of {APP_A}")
    );

    let response = call(&app, "/hello", None).await;
    assert_challenge(&response);
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], "missing_token");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    let response = call(&app, "/hello", Some(&key.access_jwt(APP_B, 300))).await;
    assert_challenge(&response);
    assert_eq!(json_body(response).await["error"]["code"], "invalid_token");

    // Option<WxUser>: no header is a stranger; a bad token is still a 401.
    assert_eq!(
        text(call(&app, "/maybe", None).await).await,
        "hello stranger"
    );
    let response = call(&app, "/maybe", Some(&token)).await;
    assert_eq!(
        text(response).await,
        "hello 0199aa00-0000-7000-8000-000000000001"
    );
    assert_challenge(&call(&app, "/maybe", Some("garbage")).await);
}

#[tokio::test]
async fn require_layer_refuses_before_the_handler_and_verifies_once() {
    let server = IntrospectionServer::start().await;
    let token = "wxl_a-live-token";
    server.activate(token, APP_A, now_secs() + 3600);
    // No cache: every verification is a call we can count.
    let verifier = Verifier::introspection(
        IntrospectionConfig::new(server.base.clone(), CLIENT_ID, CLIENT_SECRET, [APP_A])
            .cache_ttl(std::time::Duration::ZERO),
    )
    .unwrap();
    let reached = Arc::new(AtomicUsize::new(0));
    let app: Router = Router::new()
        .route(
            "/open",
            get({
                let reached = reached.clone();
                move || async move {
                    reached.fetch_add(1, Ordering::SeqCst);
                    "open"
                }
            }),
        )
        .route("/hello", get(hello))
        .layer(WxLoginLayer::require(verifier));

    let response = call(&app, "/open", None).await;
    assert_challenge(&response);
    assert_eq!(json_body(response).await["error"]["code"], "missing_token");
    assert_challenge(&call(&app, "/open", Some("wxl_unknown")).await);
    assert_eq!(reached.load(Ordering::SeqCst), 0);

    let calls = server.calls();
    let response = call(&app, "/hello", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server.calls(),
        calls + 1,
        "the extractor reuses the layer's user"
    );
}

#[tokio::test]
async fn an_unreachable_wxlogin_is_a_503() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let verifier = Verifier::local(LocalConfig::new(closed, [APP_A]).issuer(ISSUER)).unwrap();
    let app: Router = routes().layer(WxLoginLayer::require(verifier));
    let token = TestKey::generate("k1").access_jwt(APP_A, 300);
    let response = call(&app, "/hello", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(json_body(response).await["error"]["code"], "unavailable");
}

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    greeting: &'static str,
}

impl VerifierState for AppState {
    fn verifier(&self) -> Option<&Verifier> {
        Some(&self.verifier)
    }
}

#[tokio::test]
async fn the_verifier_may_live_in_the_app_state() {
    let key = TestKey::generate("k1");
    let (verifier, _jwks) = local_verifier(&key).await;
    let token = key.access_jwt(APP_A, 300);

    // The verifier as the whole state.
    let app: Router = routes().with_state(verifier.clone());
    assert_eq!(
        call(&app, "/hello", Some(&token)).await.status(),
        StatusCode::OK
    );

    // Inside a state of the app's own.
    let app: Router = Router::new()
        .route(
            "/greet",
            get(|State(state): State<AppState>, user: WxUser| async move {
                format!("{} {}", state.greeting, user.appid)
            }),
        )
        .with_state(AppState {
            verifier,
            greeting: "hi",
        });
    let response = call(&app, "/greet", Some(&token)).await;
    assert_eq!(text(response).await, format!("hi {APP_A}"));
}

#[tokio::test]
async fn no_verifier_anywhere_is_a_500() {
    let app: Router = routes();
    let response = call(&app, "/hello", Some("anything")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_body(response).await["error"]["code"], "internal");
}
