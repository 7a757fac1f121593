//! What the client logs: errcode, rid and appid on failure, never the secret, the code, the
//! session_key, the openid or the request URL — at every level, the HTTP stack's own included.
//!
//! A test binary of its own: a scoped `tracing` subscriber only sees callsites whose interest is
//! not already cached as "never" by other tests running in parallel without one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{
    APPID, Behaviour, FakeWeChat, JS_CODE, OPENID, SECRET, SESSION_KEY, install_crypto_provider,
};
use wxlogin_wechat::{ClientOptions, SecretString, WeChatClient};

fn client_for(api_base: String, timeout: Duration) -> WeChatClient {
    install_crypto_provider();
    WeChatClient::new(ClientOptions {
        api_base,
        allow_http: true,
        timeout,
        ..ClientOptions::default()
    })
    .unwrap()
}

async fn exchange(
    client: &WeChatClient,
) -> Result<wxlogin_wechat::CodeSession, wxlogin_wechat::WeChatError> {
    client
        .jscode2session(APPID, &SecretString::from(SECRET), JS_CODE)
        .await
}

/// A `tracing` writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_errcode_and_rid_but_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let ok = FakeWeChat::start(Behaviour::json(&format!(
        r#"{{"openid":"{OPENID}","session_key":"{SESSION_KEY}"}}"#
    )))
    .await;
    exchange(&client_for(ok.http_base(), Duration::from_secs(5)))
        .await
        .unwrap();
    let errcode = FakeWeChat::start(Behaviour::json(
        r#"{"errcode":40163,"errmsg":"code been used, rid: 0a1b2c3d-4e5f6a7b-8c9d0e1f"}"#,
    ))
    .await;
    exchange(&client_for(errcode.http_base(), Duration::from_secs(5)))
        .await
        .unwrap_err();
    let silent = FakeWeChat::start(Behaviour::Silent).await;
    exchange(&client_for(silent.http_base(), Duration::from_millis(300)))
        .await
        .unwrap_err();
    let refused = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    exchange(&client_for(refused, Duration::from_secs(5)))
        .await
        .unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("errcode=40163"), "{logs}");
    assert!(logs.contains("0a1b2c3d-4e5f6a7b-8c9d0e1f"), "{logs}");
    assert!(logs.contains("timed out"), "{logs}");
    assert!(logs.contains(&format!("appid={APPID}")), "{logs}");
    assert!(logs.contains("could not connect"), "{logs}");
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
            !logs.contains(forbidden),
            "{forbidden:?} leaked in the logs:\n{logs}"
        );
    }
}
