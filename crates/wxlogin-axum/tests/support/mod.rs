//! What the tests and the bench need in place of a wxlogin: Ed25519 keys made here, access
//! JWTs signed with them in wxlogin's claim shape, and a tiny JWKS server on 127.0.0.1 that
//! counts its fetches.

#![allow(
    dead_code,
    reason = "shared by the tests and the bench, each using part of it"
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub(crate) const ISSUER: &str = "wxlogin-test";
pub(crate) const APP_A: &str = "wx00000000000000a1";
pub(crate) const APP_B: &str = "wx00000000000000b2";

/// An Ed25519 signing key and its `kid`.
pub(crate) struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    public: Vec<u8>,
}

impl TestKey {
    pub(crate) fn generate(kid: &str) -> Self {
        // The v1 (shorter) PKCS#8 form: what jsonwebtoken's `from_ed_der` reads.
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public: pair.public_key().as_ref().to_vec(),
        }
    }

    /// The public key as wxlogin publishes it.
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&self.public),
            "kid": self.kid, "alg": "EdDSA", "use": "sig",
        })
    }

    /// A JWT of `claims` signed with this key, `kid` in the header.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// An access JWT as wxlogin issues it: for `appid`, expiring `ttl_secs` from now.
    pub(crate) fn access_jwt(&self, appid: &str, ttl_secs: i64) -> String {
        self.sign(&claims(appid, now_secs() + ttl_secs))
    }
}

/// wxlogin's claims, exactly.
pub(crate) fn claims(appid: &str, exp: i64) -> Value {
    json!({
        "iss": ISSUER, "sub": "0199aa00-0000-7000-8000-000000000001", "aud": appid,
        "exp": exp, "iat": exp - 300, "jti": "j1", "sid": "0199aa00-0000-7000-8000-0000000000s1",
        "openid": "oOPENID", "unionid": "uUNIONID",
    })
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// A JWKS server: serves whatever keys it is given, counts fetches, can be made to fail.
#[derive(Clone)]
pub(crate) struct JwksServer {
    pub(crate) base: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl JwksServer {
    pub(crate) async fn start(keys: Vec<Value>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get({
                let (keys, fetches, failing) = (keys.clone(), fetches.clone(), failing.clone());
                move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    let keys = keys.lock().unwrap().clone();
                    Json(json!({ "keys": keys })).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            keys,
            fetches,
            failing,
        }
    }

    pub(crate) fn set_keys(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

/// The body of a response, as JSON.
pub(crate) async fn json_body(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub(crate) const CLIENT_ID: &str = "svc";
pub(crate) const CLIENT_SECRET: &str = "svc-s3cret-never-log-me";

/// An introspection endpoint: answers what it is told per token, for the Basic credentials
/// above only (401 otherwise), counting calls.
#[derive(Clone)]
pub(crate) struct IntrospectionServer {
    pub(crate) base: String,
    answers: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
}

impl IntrospectionServer {
    pub(crate) async fn start() -> Self {
        use axum::http::HeaderMap;
        let answers: Arc<Mutex<std::collections::HashMap<String, Value>>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let credentials = format!("{CLIENT_ID}:{CLIENT_SECRET}");
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        let app = axum::Router::new().route(
            "/oauth2/introspect",
            axum::routing::post({
                let (answers, calls) = (answers.clone(), calls.clone());
                move |headers: HeaderMap, body: String| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let authorized = headers
                        .get("authorization")
                        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                    if !authorized {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    let token = body.strip_prefix("token=").unwrap_or_default().to_owned();
                    let answer = answers
                        .lock()
                        .unwrap()
                        .get(&token)
                        .cloned()
                        .unwrap_or_else(|| json!({"active": false}));
                    Json(answer).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            answers,
            calls,
        }
    }

    /// From now on, `token` is active for a user of `appid` until `exp`.
    pub(crate) fn activate(&self, token: &str, appid: &str, exp: i64) {
        let answer = json!({
            "active": true, "sub": "0199aa00-0000-7000-8000-000000000001", "client_id": appid,
            "exp": exp, "iat": exp - 3600, "openid": "oOPENID", "token_type": "Bearer",
        });
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    /// From now on, `token` is inactive (logged out).
    pub(crate) fn deactivate(&self, token: &str) {
        self.answers.lock().unwrap().remove(token);
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}
