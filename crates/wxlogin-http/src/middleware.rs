//! Request ids and the optional access log.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::REQUEST_ID_HEADER;

/// Gives every request and its response an `X-Request-Id`, keeping a sane one a gateway already set (so one id
/// follows the request through nginx and us) and replacing anything else, which could
/// otherwise smuggle junk into our logs.
pub(crate) async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let keep = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_some_and(|v| is_sane_request_id(v.as_bytes()));
    if !keep {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(value) = HeaderValue::from_str(&id) {
            request.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
    }
    let id = request.headers().get(REQUEST_ID_HEADER).cloned();
    let mut response = next.run(request).await;
    if let Some(id) = id {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One line per request at info level — only when `access_log = true`. The path is logged
/// without its query string, and no header (tokens live in `Authorization`) is logged.
pub(crate) async fn access_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "wxlogin::access",
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        %request_id,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane_request_id;

    #[test]
    fn request_ids_are_kept_only_when_harmless() {
        assert!(is_sane_request_id(b"3f1c0c6e-5d2a-4e7e-9d1b-2c4a0c9e8f11"));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"a b"));
        assert!(!is_sane_request_id(b"x\nlevel=error"));
        assert!(!is_sane_request_id(&[b'a'; 65]));
    }
}
