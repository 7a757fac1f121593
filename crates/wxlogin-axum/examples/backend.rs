//! A business backend that greets the wxlogin user: `GET /hello` needs a token,
//! `GET /healthz` does not.
//!
//! Configured by environment variables:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WXLOGIN_URL` | wxlogin's base URL, e.g. `http://127.0.0.1:8080` | required |
//! | `WXLOGIN_APPIDS` | the apps whose tokens are accepted, comma-separated | required |
//! | `WXLOGIN_MODE` | `local` (access JWTs against the JWKS) or `introspection` | `local` |
//! | `WXLOGIN_ISSUER` | local: wxlogin's `[jwt] issuer` | `wxlogin` |
//! | `WXLOGIN_CLIENT_ID`, `WXLOGIN_CLIENT_SECRET` | introspection: an `[[introspection.clients]]` entry | required in that mode |
//! | `WXLOGIN_CACHE_MS` | introspection: positive cache lifetime, `0` for none | `5000` |
//! | `LISTEN` | where to listen | `127.0.0.1:3000` |
//!
//! ```sh
//! WXLOGIN_URL=http://127.0.0.1:8080 WXLOGIN_APPIDS=wx1234567890abcdef \
//!   cargo run -p wxlogin-axum --example backend
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/hello
//! ```

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use wxlogin_axum::{IntrospectionConfig, LocalConfig, Verifier, WxLoginLayer, WxUser};

/// `GET /hello`. Only ids that are safe to show; the openid stays out of logs and answers
/// that might be logged.
async fn hello(user: WxUser) -> String {
    format!("hello, user {} of {}\n", user.user_id, user.appid)
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/healthz", get(|| async { "ok\n" }))
        // `optional`: routes opt in by taking a `WxUser`, so /healthz stays open.
        .layer(WxLoginLayer::optional(verifier))
}

/// The verifier the environment asks for; `var` reads a variable.
fn verifier_from(var: impl Fn(&str) -> Option<String>) -> Result<Verifier, String> {
    let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
    let url = required("WXLOGIN_URL")?;
    let appids: Vec<String> = required("WXLOGIN_APPIDS")?
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let mode = var("WXLOGIN_MODE").unwrap_or_else(|| "local".to_owned());
    let verifier = match mode.as_str() {
        "local" => {
            let mut config = LocalConfig::new(url, appids);
            if let Some(issuer) = var("WXLOGIN_ISSUER") {
                config = config.issuer(issuer);
            }
            Verifier::local(config)
        }
        "introspection" => {
            let cache_ms = match var("WXLOGIN_CACHE_MS") {
                Some(ms) => ms
                    .parse()
                    .map_err(|_| format!("WXLOGIN_CACHE_MS is not a number: {ms:?}"))?,
                None => 5000,
            };
            let config = IntrospectionConfig::new(
                url,
                required("WXLOGIN_CLIENT_ID")?,
                required("WXLOGIN_CLIENT_SECRET")?,
                appids,
            )
            .cache_ttl(Duration::from_millis(cache_ms));
            Verifier::introspection(config)
        }
        other => {
            return Err(format!(
                "WXLOGIN_MODE must be local or introspection, not {other:?}"
            ));
        }
    };
    verifier.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wxlogin_axum=debug".into()),
        )
        .init();
    let verifier = verifier_from(|name| std::env::var(name).ok())?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    use super::*;
    use crate::support::{APP_A, ISSUER, JwksServer, TestKey};

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[tokio::test]
    async fn hello_greets_the_user_and_healthz_is_open() {
        let key = TestKey::generate("k1");
        let jwks = JwksServer::start(vec![key.jwk()]).await;
        let verifier = verifier_from(env(&[
            ("WXLOGIN_URL", &jwks.base),
            ("WXLOGIN_APPIDS", &format!(" {APP_A} ,wx00000000000000b2")),
            ("WXLOGIN_ISSUER", ISSUER),
        ]))
        .unwrap();
        let app = app(verifier);
        let get = |path: &str, token: Option<String>| {
            let mut request = Request::get(path);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            app.clone().oneshot(request.body(Body::empty()).unwrap())
        };

        let response = get("/hello", Some(key.access_jwt(APP_A, 300)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            body,
            format!("hello, user 0199aa00-0000-7000-8000-000000000001 of {APP_A}\n")
        );
        let response = get("/hello", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = get("/healthz", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn bad_environments_say_what_is_wrong() {
        let error = |pairs: &[(&str, &str)]| verifier_from(env(pairs)).unwrap_err();
        assert!(error(&[]).contains("WXLOGIN_URL"));
        assert!(error(&[("WXLOGIN_URL", "http://h")]).contains("WXLOGIN_APPIDS"));
        let base = [("WXLOGIN_URL", "http://h"), ("WXLOGIN_APPIDS", "wx1")];
        assert!(error(&[base[0], base[1], ("WXLOGIN_MODE", "magic")]).contains("WXLOGIN_MODE"));
        let introspection = [base[0], base[1], ("WXLOGIN_MODE", "introspection")];
        assert!(error(&introspection).contains("WXLOGIN_CLIENT_ID"));
        let mut with_client = introspection.to_vec();
        with_client.extend([("WXLOGIN_CLIENT_ID", "svc"), ("WXLOGIN_CLIENT_SECRET", "s")]);
        assert!(verifier_from(env(&with_client)).is_ok());
        with_client.push(("WXLOGIN_CACHE_MS", "soon"));
        assert!(error(&with_client).contains("WXLOGIN_CACHE_MS"));
        assert!(error(&[("WXLOGIN_URL", "http://h"), ("WXLOGIN_APPIDS", ",")]).contains("appids"));
    }
}
