//! [`WxLoginLayer`]: the tower layer that puts a [`Verifier`] in front of a router.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::Verifier;

/// Verifies the Bearer token of every request ([`require`](Self::require)), or only makes a
/// [`Verifier`] available so that handlers opt in with the [`WxUser`](crate::WxUser)
/// extractor ([`optional`](Self::optional)).
///
/// Either way the verifier goes in the request's extensions; with `require`, the verified
/// `WxUser` does too, and the extractor takes it from there without verifying again.
#[derive(Debug, Clone)]
pub struct WxLoginLayer {
    verifier: Verifier,
    require: bool,
}

impl WxLoginLayer {
    /// Every request needs a valid token: others are answered 401 (or 503 when wxlogin
    /// cannot be reached) and never reach the inner service.
    pub fn require(verifier: Verifier) -> Self {
        Self {
            verifier,
            require: true,
        }
    }

    /// Requests pass untouched; handlers taking a `WxUser` (or `Option<WxUser>`) verify.
    pub fn optional(verifier: Verifier) -> Self {
        Self {
            verifier,
            require: false,
        }
    }
}

impl<S> Layer<S> for WxLoginLayer {
    type Service = WxLogin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WxLogin {
            inner,
            verifier: self.verifier.clone(),
            require: self.require,
        }
    }
}

/// The service [`WxLoginLayer`] wraps around the inner one.
#[derive(Debug, Clone)]
pub struct WxLogin<S> {
    inner: S,
    verifier: Verifier,
    require: bool,
}

impl<S> Service<Request> for WxLogin<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        request.extensions_mut().insert(self.verifier.clone());
        if !self.require {
            return Box::pin(self.inner.call(request));
        }
        // The instance polled ready is the one to call; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match verifier.verify_headers(request.headers()).await {
                Ok(user) => {
                    request.extensions_mut().insert(user);
                    inner.call(request).await
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}
