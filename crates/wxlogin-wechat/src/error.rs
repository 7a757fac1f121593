//! [`WeChatError`]: one opaque error for every WeChat API call.
//!
//! Modelled on `reqwest::Error`: a single pointer to a boxed inner value, inspected through
//! predicates (`errcode()`, `is_timeout()`, …) rather than matched on. That keeps
//! `Result<T, WeChatError>` small on the happy path and lets us add detail later without breaking
//! callers.
//!
//! **Redaction.** The request URL of most WeChat calls carries secrets in its query string
//! (`secret=` and `js_code=` for jscode2session, `access_token=` for the `wxa/*` calls). So:
//! - a transport error is kept as a source only after `reqwest::Error::without_url()`;
//! - `Display` and `Debug` are written by hand and print only the kind, the errcode, the rid,
//!   WeChat's `errmsg` (Debug only) and the HTTP status — never a URL, a secret, a session_key or
//!   the response body;
//! - every sensitive value a call sent (secret, token, code, signature, openid) is scrubbed from
//!   WeChat's `errmsg` before the error is built, in case WeChat ever echoes one.

use std::error::Error as StdError;
use std::fmt;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The longest `errmsg` we keep, in characters. WeChat's are well under 200; the cap only stops a
/// misbehaving upstream from flooding our logs through this field.
const MAX_ERRMSG_CHARS: usize = 256;

/// An error from a WeChat API call. Opaque: inspect it with the predicates.
///
/// How a caller usually maps it (see the protocol reference §14):
/// - [`errcode()`](Self::errcode) is `Some`: WeChat answered and refused; branch on the code.
/// - [`is_timeout()`](Self::is_timeout): no answer in time; for a login code its fate is unknown.
/// - [`is_connect()`](Self::is_connect): the request never reached WeChat (refused, DNS, TLS).
/// - [`is_transport()`](Self::is_transport): the connection broke after the request was sent.
/// - [`is_bad_response()`](Self::is_bad_response): something answered, but not like WeChat does
///   (HTML, not JSON, a success without its fields, too large, an unexpected HTTP status).
pub struct WeChatError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    /// The HTTP status of the response, when there was one.
    http_status: Option<u16>,
    /// A URL-free transport error, kept for logs.
    source: Option<BoxError>,
}

enum Kind {
    Api {
        errcode: i64,
        errmsg: Option<String>,
        rid: Option<String>,
    },
    Timeout,
    Connect,
    Transport,
    BadResponse(BadResponse),
}

/// The broad class of a [`WeChatError`], for callers that map errors with a `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// WeChat answered with a non-zero `errcode`.
    Api,
    /// The call did not complete within the configured timeout (connecting included).
    Timeout,
    /// No connection could be established: refused, unreachable, DNS or TLS failure. The request
    /// was not sent.
    Connect,
    /// The connection failed after the request may have been sent (reset, closed early).
    Transport,
    /// A response arrived but is not a WeChat answer.
    BadResponse,
}

/// Why a response is not a WeChat answer. Internal: only its Display is visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadResponse {
    Empty,
    Html,
    NotJson,
    NotAnObject,
    InvalidErrcode,
    /// A JSON body without an errcode but with a non-2xx status.
    UnexpectedStatus,
    MissingField(&'static str),
    /// A success field is present but its value makes no sense (e.g. `expires_in: 0`).
    InvalidField(&'static str),
    /// A success field contradicts the request (e.g. another user's `openid`).
    Mismatch(&'static str),
    UnexpectedShape,
    TooLarge {
        limit: usize,
    },
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("sent an empty response"),
            Self::Html => f.write_str("sent an HTML page instead of JSON"),
            Self::NotJson => f.write_str("sent a response that is not JSON"),
            Self::NotAnObject => f.write_str("sent JSON that is not an object"),
            Self::InvalidErrcode => f.write_str("sent an errcode that is not an integer"),
            Self::UnexpectedStatus => f.write_str("answered with an unexpected HTTP status"),
            Self::MissingField(field) => write!(f, "sent a success response without `{field}`"),
            Self::InvalidField(field) => {
                write!(f, "sent a success response with an invalid `{field}`")
            }
            Self::Mismatch(field) => {
                write!(
                    f,
                    "sent a success response whose `{field}` is not the one asked for"
                )
            }
            Self::UnexpectedShape => {
                f.write_str("sent a success response with fields of unexpected types")
            }
            Self::TooLarge { limit } => write!(f, "sent a response larger than {limit} bytes"),
        }
    }
}

impl WeChatError {
    fn new(kind: Kind, http_status: Option<u16>, source: Option<BoxError>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                http_status,
                source,
            }),
        }
    }

    /// An error WeChat reported in the body; the rid is parsed out of `errmsg`.
    pub(crate) fn api(errcode: i64, errmsg: Option<&str>, http_status: Option<u16>) -> Self {
        let errmsg = errmsg.map(|msg| msg.chars().take(MAX_ERRMSG_CHARS).collect::<String>());
        let rid = errmsg
            .as_deref()
            .and_then(crate::envelope::extract_rid)
            .map(str::to_owned);
        Self::new(
            Kind::Api {
                errcode,
                errmsg,
                rid,
            },
            http_status,
            None,
        )
    }

    pub(crate) fn bad_response(reason: BadResponse, http_status: Option<u16>) -> Self {
        Self::new(Kind::BadResponse(reason), http_status, None)
    }

    /// Classifies a transport error. The URL (with its secret-bearing query) is dropped here, the
    /// only place a `reqwest::Error` enters this type.
    pub(crate) fn from_reqwest(err: reqwest::Error, http_status: Option<u16>) -> Self {
        let kind = if err.is_timeout() {
            Kind::Timeout
        } else if err.is_connect() {
            Kind::Connect
        } else {
            Kind::Transport
        };
        Self::new(kind, http_status, Some(Box::new(err.without_url())))
    }

    /// Builds an API error as if WeChat had answered `{"errcode": errcode, "errmsg": errmsg}`.
    ///
    /// For fakes of this client in other crates' tests (e.g. a login service tested without a
    /// network); the client itself only creates errors from real responses.
    pub fn from_errcode(errcode: i64, errmsg: &str) -> Self {
        Self::api(errcode, Some(errmsg), Some(200))
    }

    /// Builds an error of the given kind with no detail, for fakes in other crates' tests.
    /// `ErrorKind::Api` gives errcode -1 (`system error`), WeChat's generic failure.
    pub fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Api => Self::from_errcode(-1, "system error"),
            ErrorKind::Timeout => Self::new(Kind::Timeout, None, None),
            ErrorKind::Connect => Self::new(Kind::Connect, None, None),
            ErrorKind::Transport => Self::new(Kind::Transport, None, None),
            ErrorKind::BadResponse => Self::bad_response(BadResponse::NotJson, Some(502)),
        }
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.inner.kind {
            Kind::Api { .. } => ErrorKind::Api,
            Kind::Timeout => ErrorKind::Timeout,
            Kind::Connect => ErrorKind::Connect,
            Kind::Transport => ErrorKind::Transport,
            Kind::BadResponse(_) => ErrorKind::BadResponse,
        }
    }

    /// WeChat's non-zero `errcode`, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self.inner.kind {
            Kind::Api { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// WeChat's request id from `errmsg` (`652d44d0-1d0af18b-5b069232`, or an older `req_id`),
    /// the reference WeChat support asks for. Safe to log.
    pub fn rid(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Api { rid, .. } => rid.as_deref(),
            _ => None,
        }
    }

    /// WeChat's `errmsg`, for logs only: never branch on it (WeChat changes the wording).
    pub fn errmsg(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Api { errmsg, .. } => errmsg.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of the response, if one arrived.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// True if the call did not complete in time (connect, request or response body).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout)
    }

    /// True if no connection to WeChat could be established (refused, unreachable, DNS, TLS).
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect)
    }

    /// True if the connection failed after it was established (reset or closed before a complete
    /// response).
    pub fn is_transport(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport)
    }

    /// True if something answered, but not like WeChat does.
    pub fn is_bad_response(&self) -> bool {
        matches!(self.inner.kind, Kind::BadResponse(_))
    }

    /// True if repeating an *idempotent* call may succeed: errcode -1 (`system error`), a
    /// timeout or a connection failure. Never retry a call that consumes a single-use code
    /// (jscode2session, getuserphonenumber), whatever this says.
    ///
    /// Per call (each method's doc repeats it):
    /// - `access_token`, `stable_token` (normal mode), `check_session_key`: may be retried with
    ///   back-off when this is true.
    /// - `stable_token` with `force_refresh`: each success burns one of 20 daily forced
    ///   refreshes; retry only if the caller's own cap allows it.
    /// - `jscode2session`, `get_user_phone_number`: never retried (single-use codes).
    /// - `reset_user_session_key`: not blindly — a lost answer may have rotated the key already,
    ///   and the signature then no longer matches (87009).
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            Kind::Api { errcode, .. } => errcode == -1,
            Kind::Timeout | Kind::Connect | Kind::Transport => true,
            Kind::BadResponse(_) => false,
        }
    }

    /// True if WeChat refused the **access_token** a call was made with: 40001 (invalid or
    /// superseded), 40014 (malformed) or 42001 (expired) — the codes after which the caller drops
    /// its cached token, fetches one again and repeats the call once (protocol reference §3.4).
    /// 41001 (`access_token missing`) is a bug in the caller, not a stale token, so it is not
    /// included.
    ///
    /// Only meaningful for calls that *use* a token (`get_user_phone_number`,
    /// `check_session_key`, `reset_user_session_key`). From a token *fetch* (`access_token`,
    /// `stable_token`), 40001 means the AppSecret is wrong: fetching again cannot help, so a
    /// token manager must not loop on this predicate there.
    pub fn is_token_error(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }
}

impl fmt::Display for WeChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Api { errcode, rid, .. } => {
                write!(f, "WeChat API error {errcode}")?;
                if let Some(rid) = rid {
                    write!(f, " (rid {rid})")?;
                }
                return Ok(());
            }
            Kind::Timeout => f.write_str("WeChat API timed out")?,
            Kind::Connect => f.write_str("could not connect to the WeChat API")?,
            Kind::Transport => f.write_str("connection to the WeChat API failed mid-request")?,
            Kind::BadResponse(reason) => write!(f, "WeChat API {reason}")?,
        }
        if let Some(status) = self.inner.http_status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WeChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("WeChatError");
        out.field("kind", &self.kind());
        match &self.inner.kind {
            Kind::Api {
                errcode,
                errmsg,
                rid,
            } => {
                out.field("errcode", errcode);
                out.field("rid", rid);
                out.field("errmsg", errmsg);
            }
            Kind::BadResponse(reason) => {
                out.field("reason", reason);
            }
            Kind::Timeout | Kind::Connect | Kind::Transport => {}
        }
        if let Some(status) = self.inner.http_status {
            out.field("http_status", &status);
        }
        if let Some(source) = &self.inner.source {
            // A reqwest::Error stripped of its URL: its Debug shows kind and cause only.
            out.field("source", source);
        }
        out.finish()
    }
}

impl StdError for WeChatError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|source| &**source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_one_pointer_wide() {
        assert_eq!(
            std::mem::size_of::<WeChatError>(),
            std::mem::size_of::<usize>()
        );
        // And so a Result of it costs nothing extra over a pointer-sized success.
        assert_eq!(
            std::mem::size_of::<Result<(), WeChatError>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn api_error_display_names_errcode_and_rid_only() {
        let err = WeChatError::from_errcode(40029, "invalid code, rid: 652d44d0-1d0af18b-5b069232");
        assert_eq!(
            err.to_string(),
            "WeChat API error 40029 (rid 652d44d0-1d0af18b-5b069232)"
        );
        assert_eq!(err.errcode(), Some(40029));
        assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));
        assert_eq!(
            err.errmsg(),
            Some("invalid code, rid: 652d44d0-1d0af18b-5b069232")
        );
        assert_eq!(err.kind(), ErrorKind::Api);
        assert!(!err.is_timeout() && !err.is_connect() && !err.is_bad_response());
        assert!(!err.is_retryable());
    }

    #[test]
    fn api_error_without_rid_has_a_short_display() {
        assert_eq!(
            WeChatError::from_errcode(-1, "system error").to_string(),
            "WeChat API error -1"
        );
        assert!(WeChatError::from_errcode(-1, "system error").is_retryable());
    }

    #[test]
    fn bad_response_display_names_the_reason_and_status() {
        let err = WeChatError::bad_response(BadResponse::NotJson, Some(502));
        assert_eq!(
            err.to_string(),
            "WeChat API sent a response that is not JSON (HTTP 502)"
        );
        assert_eq!(err.http_status(), Some(502));
        assert!(err.is_bad_response());
        assert_eq!(err.errcode(), None);
        let missing =
            WeChatError::bad_response(BadResponse::MissingField("session_key"), Some(200));
        assert_eq!(
            missing.to_string(),
            "WeChat API sent a success response without `session_key` (HTTP 200)"
        );
    }

    #[test]
    fn token_errors_are_exactly_40001_40014_42001() {
        for errcode in [40001, 40014, 42001] {
            let err = WeChatError::from_errcode(errcode, "invalid credential");
            assert!(err.is_token_error(), "{errcode}");
            assert!(
                !err.is_retryable(),
                "{errcode}: retried only after a new token"
            );
        }
        for errcode in [
            -1, 0, 41001, 40013, 40125, 40029, 42003, 45009, 48001, 87009,
        ] {
            assert!(
                !WeChatError::from_errcode(errcode, "x").is_token_error(),
                "{errcode}"
            );
        }
        for kind in [
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::BadResponse,
        ] {
            assert!(!WeChatError::from_kind(kind).is_token_error(), "{kind:?}");
        }
    }

    #[test]
    fn errmsg_is_capped() {
        let long = "x".repeat(10_000);
        let err = WeChatError::from_errcode(-1, &long);
        assert_eq!(err.errmsg().unwrap().len(), MAX_ERRMSG_CHARS);
    }

    #[test]
    fn from_kind_round_trips_the_kind() {
        for kind in [
            ErrorKind::Api,
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::Transport,
            ErrorKind::BadResponse,
        ] {
            assert_eq!(WeChatError::from_kind(kind).kind(), kind);
        }
        assert!(WeChatError::from_kind(ErrorKind::Timeout).is_timeout());
        assert_eq!(
            WeChatError::from_kind(ErrorKind::Timeout).to_string(),
            "WeChat API timed out"
        );
    }

    #[test]
    fn debug_shows_the_fields_a_log_needs() {
        let err = WeChatError::from_errcode(40163, "code been used, rid: 1");
        let debug = format!("{err:?}");
        assert!(debug.contains("errcode: 40163"), "{debug}");
        assert!(debug.contains("kind: Api"), "{debug}");
        let pretty = format!("{err:#?}");
        assert!(pretty.contains("40163"), "{pretty}");
    }
}
