//! Reference server for `GET /v1/session`: the ceiling wxlogin is compared against.
//! Also answers `GET /v1/auth` with a bare 200 whatever the request: the trivial auth server
//! that bench/forward-auth.sh puts behind nginx's `auth_request` as the yardstick for wxlogin's.
//!
//! Usage: `wxlogin-bench-reference TOKENS.tsv [LISTEN_ADDR]` (default 127.0.0.1:0; loopback only).
//! TOKENS.tsv is what `bench/seed` writes, one session per line:
//! `token \t user_id \t session_id \t appid \t openid \t unionid(or empty) \t issued_at \t expires_at`.
//! Prints `listening on ADDR` first, like wxlogin.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The same JSON shape as wxlogin's `GET /v1/session`.
#[derive(Serialize)]
struct Session {
    user_id: String,
    session_id: String,
    appid: String,
    openid: String,
    unionid: Option<String>,
    issued_at: String,
    expires_at: String,
}

type Map = Arc<RwLock<HashMap<[u8; 32], Arc<Session>>>>;

async fn session(State(map): State<Map>, headers: HeaderMap) -> Result<Json<Arc<Session>>, StatusCode> {
    let value = headers.get(header::AUTHORIZATION).ok_or(StatusCode::UNAUTHORIZED)?;
    let text = value.to_str().map_err(|_| StatusCode::UNAUTHORIZED)?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(StatusCode::UNAUTHORIZED)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    let found = map.read().unwrap().get(&hash).cloned();
    found.map(Json).ok_or(StatusCode::UNAUTHORIZED)
}

fn load(path: &str) -> std::io::Result<HashMap<[u8; 32], Arc<Session>>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut map = HashMap::new();
    for line in file.lines() {
        let line = line?;
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 8 {
            continue;
        }
        let hash: [u8; 32] = Sha256::digest(f[0].as_bytes()).into();
        map.insert(
            hash,
            Arc::new(Session {
                user_id: f[1].to_owned(),
                session_id: f[2].to_owned(),
                appid: f[3].to_owned(),
                openid: f[4].to_owned(),
                unionid: (!f[5].is_empty()).then(|| f[5].to_owned()),
                issued_at: f[6].to_owned(),
                expires_at: f[7].to_owned(),
            }),
        );
    }
    Ok(map)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let tokens = args.next().expect("usage: wxlogin-bench-reference TOKENS.tsv [ADDR]");
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .expect("listen address");
    assert!(addr.ip().is_loopback(), "the reference server listens on loopback only");
    let started = std::time::Instant::now();
    let map = load(&tokens)?;
    eprintln!("reference: {} sessions loaded in {:?}", map.len(), started.elapsed());
    let state: Map = Arc::new(RwLock::new(map));
    let app = Router::new()
        .route("/v1/session", get(session))
        .route("/v1/auth", get(|| async { StatusCode::OK }))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
