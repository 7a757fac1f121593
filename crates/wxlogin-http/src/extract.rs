//! Request extractors whose failures are registry errors, never the framework's plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::{ApiError, ErrorCode};

/// A JSON request body. Wrong content type → 415, too large → 413, anything else → 400
/// `invalid_request` with a message saying what was wrong (never echoing more than the
/// client's own input).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(ErrorCode::UnsupportedMediaType),
        JsonRejection::JsonDataError(e) => {
            ApiError::new(ErrorCode::InvalidRequest).with_message(e.body_text())
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(ErrorCode::InvalidRequest).with_message(e.body_text())
        }
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::new(ErrorCode::PayloadTooLarge)
        }
        other => ApiError::new(ErrorCode::InvalidRequest).with_message(other.body_text()),
    }
}

/// The bearer token of a request, if it sent one.
///
/// Missing → `missing_token`; an `Authorization` header that is not `Bearer <token>` →
/// `invalid_token`. Whether the token is any good is the domain's question.
#[derive(Clone)]
pub struct Bearer(pub String);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer([REDACTED])")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(ErrorCode::MissingToken));
        };
        let text = value
            .to_str()
            .map_err(|_| ApiError::new(ErrorCode::InvalidToken))?;
        let (scheme, token) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidToken));
        }
        Ok(Self(token.to_owned()))
    }
}
