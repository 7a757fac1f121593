//! The client over real loopback sockets, against tiny fakes that answer with canned bytes (see
//! `support`). Covers every transport outcome: success, WeChat errors, non-WeChat answers,
//! timeouts, refused connections, TLS failures and a custom CA — and proves that no error and no
//! log line carries the secret, the code or the request URL.

mod support;

use std::error::Error as _;
use std::time::Duration;

use support::{
    APPID, Behaviour, FakeWeChat, JS_CODE, OPENID, SECRET, SESSION_KEY, install_crypto_provider,
    other_ca_pem, pki, self_signed,
};
use wxlogin_wechat::{
    BuildError, ClientOptions, ErrorKind, ExposeSecret, SecretString, WeChatClient, WeChatError,
};

/// For the tests that wait for a timeout; the others keep a generous one, so a loaded machine
/// does not turn a success into a flaky failure.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

fn client_for(api_base: String) -> WeChatClient {
    client_with(ClientOptions {
        api_base,
        allow_http: true,
        ..ClientOptions::default()
    })
}

fn impatient_client_for(api_base: String) -> WeChatClient {
    client_with(ClientOptions {
        api_base,
        allow_http: true,
        timeout: SHORT_TIMEOUT,
        ..ClientOptions::default()
    })
}

fn client_with(options: ClientOptions) -> WeChatClient {
    install_crypto_provider();
    WeChatClient::new(options).expect("valid options")
}

/// A client for `https://{host}:PORT` trusting `ca_pem` (written to a temporary file).
fn tls_client(fake: &FakeWeChat, host: &str, ca_pem: Option<&str>) -> WeChatClient {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca_pem.map(|pem| {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    });
    // The file is read while building; the directory may go afterwards.
    client_with(ClientOptions {
        api_base: fake.https_base(host),
        ca_file,
        allow_http: false,
        timeout: ClientOptions::default().timeout,
    })
}

async fn exchange(client: &WeChatClient) -> Result<wxlogin_wechat::CodeSession, WeChatError> {
    client
        .jscode2session(APPID, &SecretString::from(SECRET), JS_CODE)
        .await
}

fn success_body() -> String {
    format!(r#"{{"openid":"{OPENID}","session_key":"{SESSION_KEY}"}}"#)
}

#[tokio::test]
async fn success_sends_the_documented_query_and_decodes_the_session() {
    let fake = FakeWeChat::start(Behaviour::json(&format!(
        r#"{{"openid":"{OPENID}","session_key":"{SESSION_KEY}","unionid":"oUnion0123456789abcdefghijk"}}"#
    )))
    .await;
    let session = exchange(&client_for(fake.http_base())).await.unwrap();
    assert_eq!(session.openid, OPENID);
    assert_eq!(session.session_key.expose_secret(), SESSION_KEY);
    assert_eq!(
        session.unionid.as_deref(),
        Some("oUnion0123456789abcdefghijk")
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request_line = requests[0].lines().next().unwrap();
    assert!(
        request_line.starts_with("GET /sns/jscode2session?"),
        "{request_line}"
    );
    assert!(request_line.ends_with(" HTTP/1.1"), "{request_line}");
    for param in [
        format!("appid={APPID}"),
        format!("secret={SECRET}"),
        format!("js_code={JS_CODE}"),
        "grant_type=authorization_code".to_owned(),
    ] {
        assert!(
            request_line.contains(&param),
            "{param} missing in {request_line}"
        );
    }
}

#[tokio::test]
async fn secrets_are_percent_encoded_in_the_query() {
    let fake = FakeWeChat::start(Behaviour::json(&success_body())).await;
    let client = client_for(fake.http_base());
    client
        .jscode2session(
            APPID,
            &SecretString::from("a&b=c d+e"),
            "code/with?odd#chars",
        )
        .await
        .unwrap();
    let line = fake.requests()[0].lines().next().unwrap().to_owned();
    assert!(line.contains("secret=a%26b%3Dc+d%2Be"), "{line}");
    assert!(line.contains("js_code=code%2Fwith%3Fodd%23chars"), "{line}");
}

#[tokio::test]
async fn json_is_decoded_whatever_the_content_type() {
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("application/json; encoding=utf-8"),
        Some("text/plain"),
        Some("text/html; charset=utf-8"),
        None,
    ] {
        let fake =
            FakeWeChat::start(Behaviour::respond("200 OK", content_type, &success_body())).await;
        let session = exchange(&client_for(fake.http_base()))
            .await
            .unwrap_or_else(|err| panic!("{content_type:?}: {err}"));
        assert_eq!(session.openid, OPENID);
    }
}

#[tokio::test]
async fn errcode_is_an_api_error_with_rid() {
    let fake = FakeWeChat::start(Behaviour::json(
        r#"{"errcode":40029,"errmsg":"invalid code, rid: 652d44d0-1d0af18b-5b069232"}"#,
    ))
    .await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.errcode(), Some(40029));
    assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));
    assert_eq!(err.http_status(), Some(200));
    assert_eq!(
        err.to_string(),
        "WeChat API error 40029 (rid 652d44d0-1d0af18b-5b069232)"
    );
}

#[tokio::test]
async fn system_error_is_not_retried() {
    let fake =
        FakeWeChat::start(Behaviour::json(r#"{"errcode":-1,"errmsg":"system error"}"#)).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert!(err.is_retryable(), "an idempotent call could retry -1 …");
    assert_eq!(fake.requests().len(), 1, "… but a code exchange never is");
}

#[tokio::test]
async fn html_502_is_a_bad_response() {
    let fake = FakeWeChat::start(Behaviour::respond(
        "502 Bad Gateway",
        Some("text/html"),
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ))
    .await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert_eq!(err.http_status(), Some(502));
    assert_eq!(
        err.to_string(),
        "WeChat API sent an HTML page instead of JSON (HTTP 502)"
    );
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    let fake = FakeWeChat::start(Behaviour::json(r#"{"openid":"oGZUI0eg"#)).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "WeChat API sent a response that is not JSON (HTTP 200)"
    );
}

#[tokio::test]
async fn success_without_session_key_is_a_bad_response() {
    let fake = FakeWeChat::start(Behaviour::json(&format!(r#"{{"openid":"{OPENID}"}}"#))).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert!(err.to_string().contains("`session_key`"), "{err}");
}

#[tokio::test]
async fn silence_is_a_timeout_and_is_not_retried() {
    let fake = FakeWeChat::start(Behaviour::Silent).await;
    let err = exchange(&impatient_client_for(fake.http_base()))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.to_string(), "WeChat API timed out");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_body_that_stalls_is_a_timeout() {
    // Headers promise 100 bytes, 10 arrive, then nothing: the deadline covers the body too.
    let fake = FakeWeChat::start(Behaviour::Respond {
        raw: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"openid\":".to_vec(),
        close: false,
    })
    .await;
    let err = exchange(&impatient_client_for(fake.http_base()))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.http_status(), Some(200));
}

#[tokio::test]
async fn a_hangup_is_a_transport_error_and_is_not_retried() {
    let fake = FakeWeChat::start(Behaviour::Hangup).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_transport(), "{err:?}");
    assert!(!err.is_connect() && !err.is_timeout() && !err.is_bad_response());
    assert_eq!(fake.connections(), 1);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let err = exchange(&client_for(format!("http://{}", refused_addr().await)))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert_eq!(err.http_status(), None);
    assert!(err.source().is_some(), "the cause is kept for logs");
}

/// An address nothing listens on: bind a port, then free it.
async fn refused_addr() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn https_to_a_plain_tcp_server_is_a_connect_error() {
    let fake = FakeWeChat::start(plain_http_400()).await;
    let err = exchange(&tls_client(&fake, "127.0.0.1", None))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

/// What nginx answers on a plain-HTTP port to a TLS ClientHello.
fn plain_http_400() -> Behaviour {
    Behaviour::Blurt(support::http_response(
        "400 Bad Request",
        Some("text/html"),
        "<html><body>400 The plain HTTP request was sent to HTTPS port</body></html>",
    ))
}

#[tokio::test]
async fn a_self_signed_certificate_is_rejected() {
    let fake = FakeWeChat::start_tls(
        Behaviour::json(&success_body()),
        self_signed(&["localhost", "127.0.0.1"]),
    )
    .await;
    let err = exchange(&tls_client(&fake, "localhost", None))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(
        fake.requests().is_empty(),
        "nothing is sent over an untrusted connection"
    );
}

#[tokio::test]
async fn a_custom_ca_from_ca_file_is_trusted_alongside_the_system_roots() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let fake = FakeWeChat::start_tls(Behaviour::json(&success_body()), pki.acceptor).await;
    for host in ["localhost", "127.0.0.1"] {
        let session = exchange(&tls_client(&fake, host, Some(&pki.ca_pem)))
            .await
            .unwrap_or_else(|err| panic!("{host}: {err:?}"));
        assert_eq!(session.openid, OPENID);
    }
    // A bundle of several certificates works too, whatever the order.
    let bundle = format!("{}\n{}", other_ca_pem(), pki.ca_pem);
    exchange(&tls_client(&fake, "localhost", Some(&bundle)))
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn the_custom_ca_does_not_switch_off_hostname_checks() {
    let pki = pki(&["wechat.test"]);
    let fake = FakeWeChat::start_tls(Behaviour::json(&success_body()), pki.acceptor).await;
    let err = exchange(&tls_client(&fake, "localhost", Some(&pki.ca_pem)))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn an_unrelated_ca_does_not_help() {
    let pki = pki(&["localhost"]);
    let fake = FakeWeChat::start_tls(Behaviour::json(&success_body()), pki.acceptor).await;
    let err = exchange(&tls_client(&fake, "localhost", Some(&other_ca_pem())))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let fake = FakeWeChat::start(Behaviour::Respond {
        raw: b"HTTP/1.1 302 Found\r\nLocation: /sns/jscode2session?again=1\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
        close: false,
    })
    .await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert_eq!(err.http_status(), Some(302));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_oversized_body_is_a_bad_response() {
    let padding = "x".repeat(wxlogin_wechat::MAX_RESPONSE_BYTES);
    let body = format!(r#"{{"openid":"o","session_key":"k","pad":"{padding}"}}"#);
    // Announced by Content-Length …
    let fake = FakeWeChat::start(Behaviour::json(&body)).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    // … or only discovered while reading a body delimited by the end of the connection.
    let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend_from_slice(body.as_bytes());
    let fake = FakeWeChat::start(Behaviour::raw_then_close(raw)).await;
    let err = exchange(&client_for(fake.http_base())).await.unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
}

#[tokio::test]
async fn an_eof_delimited_body_within_the_limit_is_fine() {
    let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend_from_slice(success_body().as_bytes());
    let fake = FakeWeChat::start(Behaviour::raw_then_close(raw)).await;
    assert_eq!(
        exchange(&client_for(fake.http_base()))
            .await
            .unwrap()
            .openid,
        OPENID
    );
}

#[tokio::test]
async fn connections_are_reused_across_calls_and_clones() {
    let fake = FakeWeChat::start(Behaviour::json(&success_body())).await;
    let client = client_for(fake.http_base());
    exchange(&client).await.unwrap();
    exchange(&client.clone()).await.unwrap();
    exchange(&client).await.unwrap();
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed_and_loopback() {
    install_crypto_provider();
    let err = WeChatClient::new(ClientOptions {
        api_base: "http://127.0.0.1:8080".into(),
        allow_http: false,
        ..ClientOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, BuildError::HttpNotAllowed), "{err}");

    let err = WeChatClient::new(ClientOptions {
        api_base: "http://api.weixin.qq.com".into(),
        allow_http: true,
        ..ClientOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, BuildError::HttpNotLoopback { .. }), "{err}");
    assert!(err.to_string().contains("api.weixin.qq.com"), "{err}");

    WeChatClient::new(ClientOptions {
        api_base: "http://localhost:8080".into(),
        allow_http: true,
        ..ClientOptions::default()
    })
    .expect("loopback http with allow_http");
}

/// Every text a log line could be built from.
fn renderings(err: &WeChatError) -> Vec<String> {
    let mut out = vec![err.to_string(), format!("{err:?}"), format!("{err:#?}")];
    let mut source = err.source();
    while let Some(cause) = source {
        out.extend([
            cause.to_string(),
            format!("{cause:?}"),
            format!("{cause:#?}"),
        ]);
        source = cause.source();
    }
    out
}

fn assert_redacted(label: &str, texts: &[String]) {
    for text in texts {
        for forbidden in [
            SECRET,
            JS_CODE,
            SESSION_KEY,
            OPENID,
            "secret=",
            "js_code=",
            "jscode2session?",
        ] {
            assert!(
                !text.contains(forbidden),
                "{label}: {forbidden:?} leaked in {text}"
            );
        }
    }
}

#[tokio::test]
async fn no_error_path_leaks_the_secret_or_the_url() {
    let mut errors: Vec<(&str, WeChatError)> = Vec::new();

    let silent = FakeWeChat::start(Behaviour::Silent).await;
    errors.push((
        "timeout",
        exchange(&impatient_client_for(silent.http_base()))
            .await
            .unwrap_err(),
    ));

    let refused = format!("http://{}", refused_addr().await);
    errors.push(("refused", exchange(&client_for(refused)).await.unwrap_err()));

    let hangup = FakeWeChat::start(Behaviour::Hangup).await;
    errors.push((
        "hangup",
        exchange(&client_for(hangup.http_base())).await.unwrap_err(),
    ));

    let plain = FakeWeChat::start(plain_http_400()).await;
    errors.push((
        "tls to plain tcp",
        exchange(&tls_client(&plain, "127.0.0.1", None))
            .await
            .unwrap_err(),
    ));

    let untrusted = FakeWeChat::start_tls(
        Behaviour::json(&success_body()),
        self_signed(&["localhost"]),
    )
    .await;
    errors.push((
        "self-signed",
        exchange(&tls_client(&untrusted, "localhost", None))
            .await
            .unwrap_err(),
    ));

    // Bodies that quote the session_key and openid: none of it may surface.
    let html = FakeWeChat::start(Behaviour::respond(
        "502 Bad Gateway",
        Some("text/html"),
        &format!("<html>{SESSION_KEY} {OPENID} {SECRET}</html>"),
    ))
    .await;
    errors.push((
        "html",
        exchange(&client_for(html.http_base())).await.unwrap_err(),
    ));

    let malformed = FakeWeChat::start(Behaviour::json(&format!(
        r#"{{"openid":"{OPENID}","session_key":"{SESSION_KEY}""#
    )))
    .await;
    errors.push((
        "malformed",
        exchange(&client_for(malformed.http_base()))
            .await
            .unwrap_err(),
    ));

    let wrong_type = FakeWeChat::start(Behaviour::json(&format!(
        r#"{{"openid":"{OPENID}","session_key":["{SESSION_KEY}"]}}"#
    )))
    .await;
    errors.push((
        "wrong type",
        exchange(&client_for(wrong_type.http_base()))
            .await
            .unwrap_err(),
    ));

    let errcode = FakeWeChat::start(Behaviour::json(
        r#"{"errcode":40125,"errmsg":"invalid appsecret, rid: 652d44d0-1d0af18b-5b069232"}"#,
    ))
    .await;
    errors.push((
        "errcode",
        exchange(&client_for(errcode.http_base()))
            .await
            .unwrap_err(),
    ));

    let kinds: Vec<ErrorKind> = errors.iter().map(|(_, err)| err.kind()).collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::Transport,
            ErrorKind::Connect,
            ErrorKind::Connect,
            ErrorKind::BadResponse,
            ErrorKind::BadResponse,
            ErrorKind::BadResponse,
            ErrorKind::Api,
        ],
        "each path produced the error it is meant to cover"
    );
    for (label, err) in &errors {
        assert_redacted(label, &renderings(err));
    }
}
