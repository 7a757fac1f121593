//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009), for business
//! backends holding service credentials.
//!
//! Both take `application/x-www-form-urlencoded` with a `token` field and HTTP Basic
//! credentials of a client from `[[introspection.clients]]`. A client sees only the tokens of
//! its own apps: any other token is answered exactly as an unknown one — `{"active": false}`,
//! or a revocation that does nothing — so a client cannot even learn that it exists.
//!
//! Neither renews the session: a backend asking about a token is not the user acting, and a
//! session the user abandoned must still idle out however often services ask about it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wxlogin_domain::{SessionError, VerifiedSession};

use crate::{ApiError, AppState, ErrorCode};

/// One service client: an id, the SHA-256 of its secret, the apps it may ask about.
///
/// Only the digest is kept: comparing digests takes the same time whatever the secrets'
/// lengths, and the plain secret need not live in the HTTP layer at all.
#[derive(Clone)]
pub struct ServiceClient {
    id: String,
    secret_digest: [u8; 32],
    appids: Vec<String>,
}

impl ServiceClient {
    pub fn new(id: impl Into<String>, secret: &str, appids: Vec<String>) -> Self {
        Self {
            id: id.into(),
            secret_digest: Sha256::digest(secret.as_bytes()).into(),
            appids,
        }
    }

    /// Whether this client may see the tokens of `appid`.
    fn serves(&self, appid: &str) -> bool {
        self.appids.iter().any(|a| a == appid)
    }
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .field("appids", &self.appids)
            .finish()
    }
}

/// The configured service clients, by id. None by default: every call is then refused.
#[derive(Debug, Clone, Default)]
pub struct ServiceClients {
    by_id: Arc<HashMap<String, Arc<ServiceClient>>>,
}

impl ServiceClients {
    pub fn new(clients: impl IntoIterator<Item = ServiceClient>) -> Self {
        Self {
            by_id: Arc::new(
                clients
                    .into_iter()
                    .map(|c| (c.id.clone(), Arc::new(c)))
                    .collect(),
            ),
        }
    }

    /// The client named by `id` if `secret` is its secret.
    ///
    /// An unknown id costs what a wrong secret costs (one digest, one constant-time compare,
    /// against a digest no secret has in practice), so timing does not tell which ids exist.
    fn authenticate(&self, id: &str, secret: &str) -> Option<&Arc<ServiceClient>> {
        const NO_CLIENT: [u8; 32] = [0; 32];
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let client = self.by_id.get(id);
        let expected = client.map_or(&NO_CLIENT, |c| &c.secret_digest);
        let matches: bool = presented.ct_eq(expected).into();
        client.filter(|_| matches)
    }
}

/// The service client that authenticated this request with HTTP Basic.
pub(crate) struct Authenticated(Arc<ServiceClient>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let refused = |reason: &'static str| {
            // The id is the caller's input and says nothing useful; the reason is enough.
            tracing::debug!(reason, "service client refused");
            ApiError::new(ErrorCode::InvalidClient)
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| refused("no credentials"))?;
        let (id, secret) =
            basic_credentials(value.as_bytes()).ok_or_else(|| refused("malformed"))?;
        state
            .settings
            .service_clients
            .authenticate(&id, &secret)
            .cloned()
            .map(Self)
            .ok_or_else(|| refused("wrong credentials"))
    }
}

/// `Basic base64(id:secret)` → (id, secret). The values are taken as sent: no form-decoding.
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// An `application/x-www-form-urlencoded` body, failing with registry errors.
pub(crate) struct ApiForm<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(FormRejection::InvalidFormContentType(_)) => {
                Err(ApiError::new(ErrorCode::UnsupportedMediaType)
                    .with_message("Send the body as application/x-www-form-urlencoded."))
            }
            Err(FormRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(ErrorCode::PayloadTooLarge))
            }
            Err(other) => {
                Err(ApiError::new(ErrorCode::InvalidRequest).with_message(other.body_text()))
            }
        }
    }
}

/// The form of both endpoints. `token_type_hint` is accepted and ignored: we have one kind
/// of token, and RFC 7662 / 7009 let a server ignore the hint.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    token: String,
}

/// RFC 7662 §2.2 for an active token.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    sub: String,
    client_id: &'a str,
    exp: i64,
    iat: i64,
    openid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
    /// The session's id (an extension member, as RFC 7662 §2.2 allows): what a backend needs
    /// to tell one device's session from another's, as `X-WXLOGIN-SESSION-ID` does.
    sid: String,
    token_type: &'static str,
}

/// `POST /oauth2/introspect`.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    Authenticated(client): Authenticated,
    ApiForm(form): ApiForm<TokenForm>,
) -> Result<Response, ApiError> {
    // In JWT mode `token` is the access JWT (its session checked in the store).
    let session = match state.inspect_access(&form.token).await {
        Ok(VerifiedSession(session)) if client.serves(&session.appid) => session,
        Ok(_) => return Ok(no_store(Json(json!({"active": false})))),
        Err(error) if error.code() == ErrorCode::InvalidToken => {
            return Ok(no_store(Json(json!({"active": false}))));
        }
        Err(error) => return Err(error),
    };
    Ok(no_store(Json(Active {
        active: true,
        sub: session.user_id.to_string(),
        client_id: &session.appid,
        exp: session.expires_at().unix_timestamp(),
        iat: session.created_at.unix_timestamp(),
        openid: &session.openid,
        unionid: session.unionid.as_deref(),
        sid: session.session_id.to_string(),
        token_type: "Bearer",
    })))
}

/// `POST /oauth2/revoke`: 200 whether or not the token existed (RFC 7009 §2.2), so the answer
/// tells nothing about other apps' tokens either.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Authenticated(client): Authenticated,
    ApiForm(form): ApiForm<TokenForm>,
) -> Result<Response, ApiError> {
    match state
        .service
        .revoke(&form.token, |session| client.serves(&session.appid))
        .await
    {
        Ok(_) | Err(SessionError::Malformed | SessionError::NotFound | SessionError::OtherApp) => {
            Ok(no_store(StatusCode::OK))
        }
        Err(error @ SessionError::Store(_)) => Err(error.into()),
    }
}

/// RFC 7662 §2.2 / RFC 6749 §5.1: token information must not be cached.
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> ServiceClients {
        ServiceClients::new([ServiceClient::new(
            "billing",
            "billing-s3cret",
            vec!["wx0123456789abcdef".into()],
        )])
    }

    #[test]
    fn only_the_right_id_and_secret_authenticate() {
        let clients = clients();
        let client = clients.authenticate("billing", "billing-s3cret").unwrap();
        assert!(client.serves("wx0123456789abcdef"));
        assert!(!client.serves("wx00000000000000ff"));
        assert!(clients.authenticate("billing", "billing-s3cre").is_none());
        assert!(clients.authenticate("billing", "").is_none());
        assert!(clients.authenticate("crm", "billing-s3cret").is_none());
        assert!(ServiceClients::default().authenticate("", "").is_none());
    }

    #[test]
    fn basic_credentials_are_parsed_strictly() {
        let header = |creds: &str| format!("Basic {}", STANDARD.encode(creds));
        assert_eq!(
            basic_credentials(header("billing:a:b").as_bytes()),
            Some(("billing".into(), "a:b".into()))
        );
        assert_eq!(
            basic_credentials(b"basic YTpi"),
            Some(("a".into(), "b".into()))
        );
        for bad in [
            "Bearer YTpi".to_owned(),
            "Basic".to_owned(),
            "Basic !!!".to_owned(),
            header("no-colon"),
        ] {
            assert_eq!(basic_credentials(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret_or_its_digest() {
        let debug = format!("{:?}", clients());
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        assert!(debug.contains("billing"), "{debug}");
        assert!(!debug.contains("digest"), "{debug}");
    }
}
