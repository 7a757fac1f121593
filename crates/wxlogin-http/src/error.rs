//! The one place where failures become HTTP responses.
//!
//! Handlers return [`ApiError`]. Its `IntoResponse` only records the error in the response's
//! extensions; the [`render_errors`] middleware then writes the body, because only a middleware
//! sees both the response and the request id. The same middleware turns the framework's own bare
//! error responses (405 from the router, 413 from the body limit, a panic caught as 500) into
//! registry errors, so every error a client sees has the same shape:
//!
//! ```json
//! {"error": {"code": "invalid_code", "message": "…", "request_id": "…", "wechat_errcode": 40029}}
//! ```

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::error_codes::ErrorCode;

/// The header carrying the request id, set by the request-id layer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An error answer: a registry code plus what the client may be told.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    wechat_errcode: Option<i64>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: Cow::Borrowed(code.summary()),
            wechat_errcode: None,
            retry_after_secs: None,
        }
    }

    /// Replaces the message. It is sent to the client: never put a secret, a token or
    /// personal data in it.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Attaches the WeChat errcode that caused this error.
    pub fn with_wechat_errcode(mut self, errcode: i64) -> Self {
        self.wechat_errcode = Some(errcode);
        self
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// An internal failure: the detail goes to the log (under the request id), the client
    /// gets the generic message.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal)
    }

    fn render(&self, request_id: Option<&HeaderValue>) -> Response {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "request_id": request_id.and_then(|v| v.to_str().ok()),
        });
        if let Some(errcode) = self.wechat_errcode {
            error["wechat_errcode"] = errcode.into();
        }
        let mut response =
            (self.code.status(), axum::Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == ErrorCode::PayloadTooLarge {
            // The body limit answers before the body is read; the connection cannot be reused,
            // and saying so keeps pooling clients from sending their next request into it.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.code == ErrorCode::InvalidClient {
            // A service client (RFC 6749 §5.2): it authenticates with HTTP Basic.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="wxlogin""#),
            );
        } else if self.code.status() == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self.code.status();
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: renders every error response with the request id (see the module doc).
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID_HEADER).cloned();
    let response = next.run(request).await;
    if let Some(error) = response.extensions().get::<ApiError>() {
        return with_request_id(error.render(request_id.as_ref()), request_id);
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if is_ours {
        return response;
    }
    // A bare error from the framework or a tower layer.
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut rendered = ApiError::new(code).render(request_id.as_ref());
    if let Some(allow) = allow {
        rendered.headers_mut().insert(header::ALLOW, allow);
    }
    with_request_id(rendered, request_id)
}

fn with_request_id(mut response: Response, request_id: Option<HeaderValue>) -> Response {
    if let Some(id) = request_id {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}
