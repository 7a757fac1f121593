//! [`WeChatClient`]: the transport every endpoint shares.
//!
//! One `reqwest::Client` (so one connection pool: TLS handshakes to WeChat are reused) built once
//! from [`ClientOptions`]. Policy that holds for every call lives here:
//! - rustls only, trusting the system roots plus an optional PEM file (the simulator's CA);
//! - a plain-`http` base URL only when explicitly allowed, and then only for a loopback host;
//! - a total timeout per call (connect, request and body) and a shorter connect timeout;
//! - no redirects (WeChat never redirects an API call; following one would resend the secret);
//! - no automatic retries (login and phone codes are single-use);
//! - a bounded response body.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Certificate, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope;
use crate::error::{BadResponse, ErrorKind, WeChatError};

/// WeChat's production API.
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

/// The default deadline for one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest response body accepted. WeChat's answers are a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The connect phase gets at most this long (and never more than the whole call's timeout).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How to reach WeChat. Mirrors the `[wechat]` configuration section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Base URL, e.g. `https://api.weixin.qq.com` or the simulator's `https://127.0.0.1:PORT`.
    /// A path prefix is kept (`http://127.0.0.1:8080/wechat` calls `/wechat/sns/jscode2session`).
    pub api_base: String,
    /// A PEM file of one or more CA certificates trusted *in addition to* the system roots.
    pub ca_file: Option<PathBuf>,
    /// Allow an `http://` base URL. Only honoured for loopback hosts (127.0.0.0/8, ::1,
    /// `localhost`): the app secret travels in the query string.
    pub allow_http: bool,
    /// Deadline for each call, from connecting until the body is read.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.to_owned(),
            ca_file: None,
            allow_http: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a [`WeChatClient`] could not be built from its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `api_base` is not an absolute `http(s)` URL without credentials, query or fragment.
    #[error("invalid WeChat api_base: {0}")]
    InvalidBaseUrl(String),
    /// `api_base` is `http://` but `allow_http` is off.
    #[error(
        "WeChat api_base uses plain http; use https, or set allow_http for a loopback simulator"
    )]
    HttpNotAllowed,
    /// `api_base` is `http://` to a host that is not loopback.
    #[error(
        "WeChat api_base uses plain http to {host}; plain http is only allowed to a loopback host (127.0.0.0/8, ::1, localhost)"
    )]
    HttpNotLoopback {
        /// The offending host.
        host: String,
    },
    /// `timeout` is zero.
    #[error("WeChat timeout must be greater than zero")]
    ZeroTimeout,
    /// The CA file could not be read.
    #[error("cannot read WeChat ca_file {}: {source}", path.display())]
    ReadCaFile {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("WeChat ca_file {} holds no PEM certificate", path.display())]
    InvalidCaFile {
        /// The configured path.
        path: PathBuf,
    },
    /// The HTTP client could not be built (e.g. no system root store, or a CA file whose
    /// certificate rustls rejects).
    #[error("cannot build the WeChat HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// A client for WeChat's server API. Cheap to clone: clones share one connection pool.
///
/// Endpoint methods live in `crate::api`, one module each.
#[derive(Clone)]
pub struct WeChatClient {
    http: reqwest::Client,
    base: Arc<Url>,
}

impl fmt::Debug for WeChatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatClient")
            .field("api_base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl WeChatClient {
    /// Validates `options` and builds the client.
    ///
    /// rustls needs a process-wide crypto provider; the binary installs aws-lc-rs at start-up.
    /// If none is installed, reqwest falls back to aws-lc-rs itself.
    pub fn new(options: ClientOptions) -> Result<Self, BuildError> {
        let base = parse_base(&options.api_base, options.allow_http)?;
        if options.timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(MAX_CONNECT_TIMEOUT))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .referer(false)
            .user_agent(concat!("wxlogin/", env!("CARGO_PKG_VERSION")));
        if base.scheme() == "https" {
            builder = builder.https_only(true);
        }
        if let Some(path) = &options.ca_file {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        let http = builder.build().map_err(BuildError::Http)?;
        Ok(Self {
            http,
            base: Arc::new(base),
        })
    }

    /// The validated base URL.
    pub fn api_base(&self) -> &Url {
        &self.base
    }

    /// `{base}{path}`, keeping any path prefix of the base. `path` starts with `/`.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = (*self.base).clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    /// `GET {base}{path}?{query}` and decodes the answer with the shared envelope rules.
    ///
    /// `query` may hold secrets: they end up only in the request, never in an error or a log.
    /// `secrets` lists every sensitive value the call sends (secret, token, code, openid, …): if
    /// WeChat echoes one in its `errmsg`, it is scrubbed before the error exists.
    pub(crate) async fn get_json<R, T>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        secrets: &[&str],
        finish: impl FnOnce(R) -> Result<T, BadResponse>,
    ) -> Result<T, WeChatError>
    where
        R: DeserializeOwned,
    {
        let request = self.http.get(self.endpoint(path)).query(query);
        self.execute(path, request, secrets, finish).await
    }

    /// `POST {base}{path}?{query}` with `body` as JSON (`Content-Type: application/json`; WeChat
    /// answers a form body with 47001), decoded like [`get_json`](Self::get_json). An empty
    /// `query` adds no `?` at all.
    pub(crate) async fn post_json<B, R, T>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        body: &B,
        secrets: &[&str],
        finish: impl FnOnce(R) -> Result<T, BadResponse>,
    ) -> Result<T, WeChatError>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let mut request = self.http.post(self.endpoint(path));
        if !query.is_empty() {
            request = request.query(query);
        }
        self.execute(path, request.json(body), secrets, finish)
            .await
    }

    async fn execute<R, T>(
        &self,
        path: &'static str,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
        finish: impl FnOnce(R) -> Result<T, BadResponse>,
    ) -> Result<T, WeChatError>
    where
        R: DeserializeOwned,
    {
        let result = match send(request).await {
            Ok((status, body)) => envelope::decode_scrubbed(status, &body, secrets, finish),
            Err(err) => Err(err),
        };
        if let Err(err) = &result {
            log_failure(path, err);
        }
        result
    }
}

/// Sends the request and reads at most [`MAX_RESPONSE_BYTES`] of the body.
async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), WeChatError> {
    let mut response = request
        .send()
        .await
        .map_err(|err| WeChatError::from_reqwest(err, None))?;
    let status = response.status().as_u16();
    let too_large = || {
        WeChatError::bad_response(
            BadResponse::TooLarge {
                limit: MAX_RESPONSE_BYTES,
            },
            Some(status),
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| WeChatError::from_reqwest(err, Some(status)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// Logs a failed call. Only the error's own fields are logged: they are redacted by design.
/// WeChat-level refusals are routine (a user's expired code) and logged at debug; the caller
/// decides whether one deserves more. Transport trouble is an operator matter: warn.
fn log_failure(endpoint: &'static str, err: &WeChatError) {
    match err.kind() {
        ErrorKind::Api => tracing::debug!(
            endpoint,
            errcode = err.errcode(),
            rid = err.rid(),
            errmsg = err.errmsg(),
            "WeChat API refused the call"
        ),
        _ => tracing::warn!(
            endpoint,
            error = %err,
            cause = err_chain(err),
            http_status = err.http_status(),
            "WeChat API call failed"
        ),
    }
}

/// The `source()` chain of an error, joined with `: ` (empty if none).
fn err_chain(err: &WeChatError) -> String {
    let mut out = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn parse_base(text: &str, allow_http: bool) -> Result<Url, BuildError> {
    let invalid = |why: &str| BuildError::InvalidBaseUrl(why.to_owned());
    let url = Url::parse(text.trim()).map_err(|err| invalid(&err.to_string()))?;
    // Don't echo the URL itself into errors: someone may have pasted credentials into it.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not contain a query or a fragment"));
    }
    let host = url.host_str().ok_or_else(|| invalid("it has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if !allow_http => return Err(BuildError::HttpNotAllowed),
        "http" if !is_loopback(&url) => {
            return Err(BuildError::HttpNotLoopback {
                host: host.to_owned(),
            });
        }
        "http" => {}
        _ => {
            return Err(invalid(
                "the scheme must be https (or http for a loopback simulator)",
            ));
        }
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            IpAddr::V6(ip).is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate>, BuildError> {
    let pem = std::fs::read(path).map_err(|source| BuildError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let invalid = || BuildError::InvalidCaFile {
        path: path.to_owned(),
    };
    let certs = Certificate::from_pem_bundle(&pem).map_err(|_| invalid())?;
    if certs.is_empty() {
        return Err(invalid());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(api_base: &str, allow_http: bool) -> ClientOptions {
        ClientOptions {
            api_base: api_base.to_owned(),
            allow_http,
            ..ClientOptions::default()
        }
    }

    #[test]
    fn defaults_point_at_wechat() {
        let options = ClientOptions::default();
        assert_eq!(options.api_base, "https://api.weixin.qq.com");
        assert_eq!(options.timeout, Duration::from_secs(5));
        assert!(!options.allow_http);
        let client = WeChatClient::new(options).unwrap();
        assert_eq!(client.api_base().as_str(), "https://api.weixin.qq.com/");
    }

    #[test]
    fn https_is_accepted_for_any_host() {
        for base in [
            "https://api.weixin.qq.com",
            "https://127.0.0.1:8443",
            "https://example.com/",
        ] {
            assert!(parse_base(base, false).is_ok(), "{base}");
        }
    }

    #[test]
    fn plain_http_needs_allow_http() {
        assert!(matches!(
            parse_base("http://127.0.0.1:8080", false),
            Err(BuildError::HttpNotAllowed)
        ));
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://localhost:1234",
            "http://LOCALHOST",
            "http://[::1]:9000/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(parse_base(base, true).is_ok(), "{base}");
        }
        for base in [
            "http://api.weixin.qq.com",
            "http://10.0.0.1",
            "http://0.0.0.0:80",
            "http://[::]:80",
            "http://localhost.example.com",
            "http://128.0.0.1",
        ] {
            let err = parse_base(base, true).unwrap_err();
            assert!(
                matches!(err, BuildError::HttpNotLoopback { .. }),
                "{base}: {err}"
            );
        }
    }

    #[test]
    fn malformed_bases_are_refused_without_echoing_them() {
        for base in [
            "api.weixin.qq.com",
            "",
            "ftp://127.0.0.1",
            "https://user:pa55word@api.weixin.qq.com",
            "https://api.weixin.qq.com/?secret=pa55word",
            "https://api.weixin.qq.com/#pa55word",
        ] {
            let err = parse_base(base, true).unwrap_err();
            assert!(
                matches!(err, BuildError::InvalidBaseUrl(_)),
                "{base}: {err}"
            );
            assert!(!err.to_string().contains("pa55word"), "{err}");
        }
    }

    #[test]
    fn zero_timeout_is_refused() {
        let err = WeChatClient::new(ClientOptions {
            timeout: Duration::ZERO,
            ..ClientOptions::default()
        })
        .unwrap_err();
        assert!(matches!(err, BuildError::ZeroTimeout), "{err}");
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let client = WeChatClient::new(options("http://127.0.0.1:8080", true)).unwrap();
        assert_eq!(
            client.endpoint("/sns/jscode2session").as_str(),
            "http://127.0.0.1:8080/sns/jscode2session"
        );
        let client = WeChatClient::new(options("http://localhost:8080/wechat/", true)).unwrap();
        assert_eq!(
            client.endpoint("/sns/jscode2session").as_str(),
            "http://localhost:8080/wechat/sns/jscode2session"
        );
    }

    #[test]
    fn ca_file_errors_name_the_path() {
        let err = WeChatClient::new(ClientOptions {
            ca_file: Some("/no/such/ca.pem".into()),
            ..ClientOptions::default()
        })
        .unwrap_err();
        assert!(matches!(err, BuildError::ReadCaFile { .. }), "{err}");
        assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = WeChatClient::new(ClientOptions {
            ca_file: Some(path.clone()),
            ..ClientOptions::default()
        })
        .unwrap_err();
        assert!(matches!(err, BuildError::InvalidCaFile { .. }), "{err}");
    }

    #[test]
    fn debug_shows_the_base_only() {
        let client = WeChatClient::new(ClientOptions::default()).unwrap();
        assert_eq!(
            format!("{client:?}"),
            r#"WeChatClient { api_base: "https://api.weixin.qq.com/", .. }"#
        );
    }
}
