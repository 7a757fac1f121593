//! Tiny throwaway stand-ins for WeChat, on real loopback sockets: they answer every request with
//! canned bytes (or misbehave on purpose) and record what they received. They know nothing about
//! WeChat's protocol; the real simulator is tested against this client elsewhere.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Distinctive values, so a leak is unmistakable.
pub(crate) const APPID: &str = "wx4f4bc4dec97d474b";
pub(crate) const SECRET: &str = "S3CR3T-appsecret-0f9e";
pub(crate) const JS_CODE: &str = "JSCODE-0712cDoV0cfty22Aelo";
pub(crate) const OPENID: &str = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
pub(crate) const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
pub(crate) const ACCESS_TOKEN: &str = "66_bMiyY3zN-ACCESSTOKEN-x9Qw";
pub(crate) const PHONE_CODE: &str =
    "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144";
pub(crate) const PHONE_NUMBER: &str = "13123456789";
/// §5.1 signature of the empty string under `SESSION_KEY`.
pub(crate) const SIGNATURE: &str =
    "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735";
pub(crate) const NEW_SESSION_KEY: &str = "o0q0otL8aEzpcZL/FT9WsQ==";

/// rustls needs one process-wide provider; the binary installs aws-lc-rs, and so do the tests.
pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        rustls::crypto::aws_lc_rs::default_provider()
            .install_default()
            .expect("no other provider is installed in this test binary");
    });
}

/// What the fake does with each connection.
#[derive(Clone)]
pub(crate) enum Behaviour {
    /// Answers every request with these bytes; closes after the first answer if `close`.
    Respond { raw: Vec<u8>, close: bool },
    /// Reads the request, then never answers (and never closes).
    Silent,
    /// Reads the request, then closes without a word.
    Hangup,
    /// Writes these bytes as soon as a connection opens, without reading, then closes — as a
    /// plain-HTTP server does when it gets a TLS ClientHello it cannot parse.
    Blurt(Vec<u8>),
}

impl Behaviour {
    /// A keep-alive answer with a Content-Length.
    pub(crate) fn respond(status: &str, content_type: Option<&str>, body: &str) -> Self {
        Self::Respond {
            raw: http_response(status, content_type, body),
            close: false,
        }
    }

    /// `200 OK`, `application/json; charset=utf-8`, as WeChat sends today.
    pub(crate) fn json(body: &str) -> Self {
        Self::respond("200 OK", Some("application/json; charset=utf-8"), body)
    }

    /// Raw bytes, connection closed afterwards (for bodies delimited by EOF).
    pub(crate) fn raw_then_close(raw: impl Into<Vec<u8>>) -> Self {
        Self::Respond {
            raw: raw.into(),
            close: true,
        }
    }
}

pub(crate) fn http_response(status: &str, content_type: Option<&str>, body: &str) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body.as_bytes());
    raw
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Vec<u8>>>,
}

/// A fake WeChat on `127.0.0.1:<random port>`, plain or TLS.
pub(crate) struct FakeWeChat {
    pub(crate) addr: SocketAddr,
    seen: Arc<Seen>,
}

impl FakeWeChat {
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
        Self::spawn(behaviour, None).await
    }

    pub(crate) async fn start_tls(behaviour: Behaviour, acceptor: TlsAcceptor) -> Self {
        Self::spawn(behaviour, Some(acceptor)).await
    }

    async fn spawn(behaviour: Behaviour, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let state = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let (behaviour, state, tls) = (behaviour.clone(), state.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(tcp, behaviour, state).await,
                        Some(acceptor) => {
                            // A client that rejects our certificate aborts here: fine.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, behaviour, state).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, seen }
    }

    pub(crate) fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn https_base(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// The heads (request line and headers) of the requests received so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.requests.lock().unwrap().clone()
    }

    /// The bodies of the requests received so far (empty for a GET), in the same order.
    pub(crate) fn bodies(&self) -> Vec<Vec<u8>> {
        self.seen.bodies.lock().unwrap().clone()
    }

    /// The request line of the only request received, and its body as text.
    pub(crate) fn only_request(&self) -> (String, String) {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let line = requests[0].lines().next().unwrap().to_owned();
        let body = String::from_utf8(self.bodies().remove(0)).unwrap();
        (line, body)
    }
}

/// The value of a header in a request head (name case-insensitive).
pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behaviour: Behaviour,
    seen: Arc<Seen>,
) {
    if let Behaviour::Blurt(raw) = &behaviour {
        let _ = stream.write_all(raw).await;
        let _ = stream.shutdown().await;
        return;
    }
    while let Some(head) = read_head(&mut stream).await {
        let length = header(&head, "content-length").map_or(0, |n| n.parse().unwrap());
        let mut body = vec![0; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        seen.requests.lock().unwrap().push(head);
        seen.bodies.lock().unwrap().push(body);
        match &behaviour {
            Behaviour::Respond { raw, close } => {
                if stream.write_all(raw).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
                if *close {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
            Behaviour::Silent => {
                let _keep_open = stream;
                std::future::pending::<()>().await;
                return;
            }
            Behaviour::Hangup | Behaviour::Blurt(_) => return,
        }
    }
}

/// Reads up to the blank line ending a request head; the body (by Content-Length) is read next.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A test CA and a server certificate it signed.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) acceptor: TlsAcceptor,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(sans: &[&str], issuer: Option<&Issuer<'_, KeyPair>>) -> TlsAcceptor {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "fake wechat");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    acceptor(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn acceptor(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> TlsAcceptor {
    install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A fresh CA and a server certificate for `sans` signed by it.
pub(crate) fn pki(sans: &[&str]) -> TestPki {
    let (ca_pem, issuer) = ca("wxlogin test CA");
    TestPki {
        ca_pem,
        acceptor: leaf(sans, Some(&issuer)),
    }
}

/// A self-signed server certificate for `sans`, trusted by no one.
pub(crate) fn self_signed(sans: &[&str]) -> TlsAcceptor {
    leaf(sans, None)
}

/// The PEM of an unrelated CA, to build multi-certificate bundles.
pub(crate) fn other_ca_pem() -> String {
    ca("some other CA").0
}
