//! What the client logs: errcode, rid and appid on failure, never the secret, the code, the
//! access_token, a phone number, a signature, the session_key, the openid or the request URL — at
//! every level, the HTTP stack's own included.
//!
//! A test binary of its own: a scoped `tracing` subscriber only sees callsites whose interest is
//! not already cached as "never" by other tests running in parallel without one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{
    ACCESS_TOKEN, APPID, Behaviour, FakeWeChat, JS_CODE, NEW_SESSION_KEY, OPENID, PHONE_CODE,
    PHONE_NUMBER, SECRET, SESSION_KEY, SIGNATURE, install_crypto_provider,
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

/// Captures every event at every level, with span names and fields, for the calling thread.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn logs_carry_errcode_and_rid_but_no_secret() {
    let (captured, _guard) = capture();

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

#[tokio::test]
async fn token_and_wxa_calls_log_their_span_errcode_and_rid_but_no_credential() {
    let (captured, _guard) = capture();
    let secret = SecretString::from(SECRET);
    let token = SecretString::from(ACCESS_TOKEN);
    let client = |fake: &FakeWeChat| client_for(fake.http_base(), Duration::from_secs(5));

    // Successes: their bodies carry the token, the number and the new key.
    let ok = FakeWeChat::start(Behaviour::json(&format!(
        r#"{{"errcode":0,"errmsg":"ok","access_token":"{ACCESS_TOKEN}","expires_in":7200,"openid":"{OPENID}","session_key":"{NEW_SESSION_KEY}","phone_info":{{"phoneNumber":"{PHONE_NUMBER}","purePhoneNumber":"{PHONE_NUMBER}","countryCode":86}}}}"#
    )))
    .await;
    let ok = client(&ok);
    ok.access_token(APPID, &secret).await.unwrap();
    ok.stable_token(APPID, &secret, true).await.unwrap();
    ok.get_user_phone_number(&token, PHONE_CODE, Some(OPENID))
        .await
        .unwrap();
    assert!(
        ok.check_session_key(&token, OPENID, SIGNATURE)
            .await
            .unwrap()
    );
    ok.reset_user_session_key(&token, OPENID, SIGNATURE)
        .await
        .unwrap();

    // Refusals, each with its own rid, echoing what the call sent (scrubbed before logging).
    let refuse = |errcode: i64, echo: &str, rid: &str| {
        Behaviour::json(&format!(
            r#"{{"errcode":{errcode},"errmsg":"refused {echo}, rid: {rid}"}}"#
        ))
    };
    let fake = FakeWeChat::start(refuse(40125, SECRET, "00000001-00000001-00000001")).await;
    client(&fake)
        .stable_token(APPID, &secret, false)
        .await
        .unwrap_err();
    let echo = format!("{ACCESS_TOKEN} {PHONE_CODE}");
    let fake = FakeWeChat::start(refuse(40029, &echo, "00000002-00000002-00000002")).await;
    client(&fake)
        .get_user_phone_number(&token, PHONE_CODE, None)
        .await
        .unwrap_err();
    let echo = format!("{ACCESS_TOKEN} {SIGNATURE} {OPENID}");
    let fake = FakeWeChat::start(refuse(87009, &echo, "00000003-00000003-00000003")).await;
    assert!(
        !client(&fake)
            .check_session_key(&token, OPENID, SIGNATURE)
            .await
            .unwrap()
    );
    let fake = FakeWeChat::start(refuse(42001, &echo, "00000004-00000004-00000004")).await;
    client(&fake)
        .reset_user_session_key(&token, OPENID, SIGNATURE)
        .await
        .unwrap_err();
    let silent = FakeWeChat::start(Behaviour::Silent).await;
    client_for(silent.http_base(), Duration::from_millis(300))
        .access_token(APPID, &secret)
        .await
        .unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        format!("wechat.stable_token{{appid={APPID} force_refresh=false}}"),
        format!("wechat.token{{appid={APPID}}}"),
        "wechat.getuserphonenumber".to_owned(),
        "wechat.checksession".to_owned(),
        "wechat.resetusersessionkey".to_owned(),
        "errcode=40125".to_owned(),
        "errcode=40029".to_owned(),
        "errcode=42001".to_owned(),
        "00000001-00000001-00000001".to_owned(),
        "00000002-00000002-00000002".to_owned(),
        "00000003-00000003-00000003".to_owned(),
        "00000004-00000004-00000004".to_owned(),
        "expires_in=7200".to_owned(),
        "timed out".to_owned(),
    ] {
        assert!(logs.contains(&expected), "{expected:?} missing in:\n{logs}");
    }
    for forbidden in [
        SECRET,
        ACCESS_TOKEN,
        PHONE_CODE,
        PHONE_NUMBER,
        SIGNATURE,
        NEW_SESSION_KEY,
        OPENID,
        "secret=",
        "access_token=",
        "signature=",
        "openid=",
    ] {
        assert!(
            !logs.contains(forbidden),
            "{forbidden:?} leaked in the logs:\n{logs}"
        );
    }
}
