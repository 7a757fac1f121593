//! The access_token, phone-number, checksession and reset calls over real loopback sockets,
//! against the canned-answer fakes of `support`: what each call sends (method, path, query,
//! JSON body), how each decodes WeChat's answers, and that no error path of any of them leaks the
//! secret, the token, the phone code or number, the signature, a session_key, an openid or a URL.

mod support;

use std::error::Error as _;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    ACCESS_TOKEN, APPID, Behaviour, FakeWeChat, NEW_SESSION_KEY, OPENID, PHONE_CODE, PHONE_NUMBER,
    SECRET, SESSION_KEY, SIGNATURE, header, install_crypto_provider, self_signed,
};
use wxlogin_wechat::{
    AccessToken, ClientOptions, ErrorKind, ExposeSecret, PhoneInfo, ResetKey, SecretString,
    WeChatClient, WeChatError,
};

fn client_for(api_base: String) -> WeChatClient {
    client_with(api_base, ClientOptions::default().timeout)
}

fn client_with(api_base: String, timeout: Duration) -> WeChatClient {
    install_crypto_provider();
    WeChatClient::new(ClientOptions {
        api_base,
        allow_http: true,
        timeout,
        ..ClientOptions::default()
    })
    .expect("valid options")
}

fn secret() -> SecretString {
    SecretString::from(SECRET)
}

fn token() -> SecretString {
    SecretString::from(ACCESS_TOKEN)
}

async fn answering(body: &str) -> FakeWeChat {
    FakeWeChat::start(Behaviour::json(body)).await
}

const TOKEN_OK: &str = r#"{"access_token":"66_bMiyY3zN-ACCESSTOKEN-x9Qw","expires_in":7200}"#;
const OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;

fn phone_ok(country_code: &str) -> String {
    format!(
        r#"{{"errcode":0,"errmsg":"ok","phone_info":{{"phoneNumber":"{PHONE_NUMBER}","purePhoneNumber":"{PHONE_NUMBER}","countryCode":{country_code},"watermark":{{"timestamp":1637744274,"appid":"{APPID}"}}}}}}"#
    )
}

fn reset_ok() -> String {
    format!(
        r#"{{"errcode":0,"errmsg":"ok","openid":"{OPENID}","session_key":"{NEW_SESSION_KEY}"}}"#
    )
}

/// The query pairs of a request line, percent-decoded.
fn query_of(request_line: &str) -> Vec<(String, String)> {
    let target = request_line.split(' ').nth(1).unwrap();
    let url = url::Url::parse(&format!("http://x{target}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn path_of(request_line: &str) -> &str {
    let target = request_line.split(' ').nth(1).unwrap();
    target.split('?').next().unwrap()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// cgi-bin/token

#[tokio::test]
async fn access_token_sends_the_documented_get_and_decodes_the_token() {
    let fake = answering(TOKEN_OK).await;
    let got = client_for(fake.http_base())
        .access_token(APPID, &secret())
        .await
        .unwrap();
    assert_eq!(got.token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(got.expires_in, Duration::from_secs(7200));

    let (line, body) = fake.only_request();
    assert!(line.starts_with("GET /cgi-bin/token?"), "{line}");
    assert_eq!(
        query_of(&line),
        pairs(&[
            ("grant_type", "client_credential"),
            ("appid", APPID),
            ("secret", SECRET)
        ])
    );
    assert_eq!(body, "");
}

#[tokio::test]
async fn token_success_shapes_old_and_new() {
    for (body, seconds) in [
        (TOKEN_OK, 7200),
        // Older style: expires_in as a string, errcode 0 alongside, unknown fields.
        (
            r#"{"errcode":0,"errmsg":"ok","access_token":"66_bMiyY3zN-ACCESSTOKEN-x9Qw","expires_in":"7000","extra":[1]}"#,
            7000,
        ),
        // A stable token in its last minutes of normal mode.
        (
            r#"{"access_token":"66_bMiyY3zN-ACCESSTOKEN-x9Qw","expires_in":300}"#,
            300,
        ),
    ] {
        let fake = answering(body).await;
        let client = client_for(fake.http_base());
        for got in [
            client.access_token(APPID, &secret()).await.unwrap(),
            client.stable_token(APPID, &secret(), false).await.unwrap(),
        ] {
            assert_eq!(got.token.expose_secret(), ACCESS_TOKEN, "{body}");
            assert_eq!(got.expires_in, Duration::from_secs(seconds), "{body}");
        }
    }
}

#[tokio::test]
async fn token_errors_are_decoded_for_both_calls() {
    let fake = answering(
        r#"{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 61250a39-612fed42-36740516"}"#,
    )
    .await;
    let client = client_for(fake.http_base());
    for err in [
        client.access_token(APPID, &secret()).await.unwrap_err(),
        client
            .stable_token(APPID, &secret(), false)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.errcode(), Some(40164));
        assert_eq!(err.rid(), Some("61250a39-612fed42-36740516"));
        assert!(!err.is_retryable() && !err.is_token_error());
    }

    let fake = answering(r#"{"errcode":-1,"errmsg":"system error"}"#).await;
    let client = client_for(fake.http_base());
    let err = client.access_token(APPID, &secret()).await.unwrap_err();
    assert!(err.is_retryable(), "a token fetch may be retried on -1");
    assert_eq!(fake.requests().len(), 1, "… by the caller, not the client");

    let fake = answering(r#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#).await;
    let err = client_for(fake.http_base())
        .stable_token(APPID, &secret(), true)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(45009));

    let fake = answering(r#"{"access_token":"66_x","expires_in":0}"#).await;
    let err = client_for(fake.http_base())
        .access_token(APPID, &secret())
        .await
        .unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// cgi-bin/stable_token

#[tokio::test]
async fn stable_token_posts_exactly_the_documented_json_and_no_query() {
    for force_refresh in [false, true] {
        let fake = answering(TOKEN_OK).await;
        let got = client_for(fake.http_base())
            .stable_token(APPID, &secret(), force_refresh)
            .await
            .unwrap();
        assert_eq!(got.token.expose_secret(), ACCESS_TOKEN);

        let (line, body) = fake.only_request();
        assert_eq!(
            line, "POST /cgi-bin/stable_token HTTP/1.1",
            "no query string"
        );
        let head = &fake.requests()[0];
        assert_eq!(header(head, "content-type"), Some("application/json"));
        assert_eq!(
            body,
            format!(
                r#"{{"grant_type":"client_credential","appid":"{APPID}","secret":"{SECRET}","force_refresh":{force_refresh}}}"#
            )
        );
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed,
            json!({
                "grant_type": "client_credential",
                "appid": APPID,
                "secret": SECRET,
                "force_refresh": force_refresh,
            })
        );
        assert!(
            parsed["force_refresh"].is_boolean(),
            "a JSON boolean, not a string"
        );
    }
}

#[tokio::test]
async fn stable_token_escapes_the_secret_as_json() {
    let fake = answering(TOKEN_OK).await;
    let odd = r#"a"b\c d&e=f"#;
    client_for(fake.http_base())
        .stable_token(APPID, &SecretString::from(odd), false)
        .await
        .unwrap();
    let (_, body) = fake.only_request();
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["secret"], odd);
}

// ---------------------------------------------------------------------------------------------
// wxa/business/getuserphonenumber

#[tokio::test]
async fn phone_number_token_in_the_query_code_in_the_json_body() {
    let fake = answering(&phone_ok(r#""86""#)).await;
    let client = client_for(fake.http_base());
    let info = client
        .get_user_phone_number(&token(), PHONE_CODE, None)
        .await
        .unwrap();
    assert_eq!(info.phone_number, PHONE_NUMBER);

    let (line, body) = fake.only_request();
    assert!(
        line.starts_with("POST /wxa/business/getuserphonenumber?"),
        "{line}"
    );
    assert_eq!(query_of(&line), pairs(&[("access_token", ACCESS_TOKEN)]));
    assert!(
        !line.contains(PHONE_CODE),
        "the code never goes in the query (§1.8): {line}"
    );
    assert_eq!(
        header(&fake.requests()[0], "content-type"),
        Some("application/json")
    );
    assert_eq!(body, format!(r#"{{"code":"{PHONE_CODE}"}}"#));

    // With the optional openid.
    let fake = answering(&phone_ok(r#""86""#)).await;
    client_for(fake.http_base())
        .get_user_phone_number(&token(), PHONE_CODE, Some(OPENID))
        .await
        .unwrap();
    let (line, body) = fake.only_request();
    assert_eq!(query_of(&line), pairs(&[("access_token", ACCESS_TOKEN)]));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"code": PHONE_CODE, "openid": OPENID})
    );
}

#[tokio::test]
async fn phone_number_country_code_as_string_or_number() {
    for (country_code, expected) in [(r#""86""#, "86"), ("86", "86"), ("852", "852")] {
        let fake = answering(&phone_ok(country_code)).await;
        let info: PhoneInfo = client_for(fake.http_base())
            .get_user_phone_number(&token(), PHONE_CODE, None)
            .await
            .unwrap();
        assert_eq!(info.country_code, expected, "{country_code}");
        assert_eq!(info.pure_phone_number, PHONE_NUMBER);
        let watermark = info.watermark.unwrap();
        assert_eq!(
            (watermark.appid.as_str(), watermark.timestamp),
            (APPID, 1637744274)
        );
    }
}

#[tokio::test]
async fn phone_number_success_with_extra_fields() {
    let fake = answering(&format!(
        r#"{{"errcode":0,"errmsg":"ok","billing":{{"n":1}},"phone_info":{{"phoneNumber":"+852{PHONE_NUMBER}","purePhoneNumber":"{PHONE_NUMBER}","countryCode":"852","isRealtime":true,"watermark":{{"timestamp":1637744274,"appid":"{APPID}","scene":2}}}}}}"#
    ))
    .await;
    let info = client_for(fake.http_base())
        .get_user_phone_number(&token(), PHONE_CODE, None)
        .await
        .unwrap();
    assert_eq!(info.phone_number, format!("+852{PHONE_NUMBER}"));
    assert_eq!(info.country_code, "852");
    assert!(info.watermark.is_some());
}

#[tokio::test]
async fn phone_number_errors_and_no_retry() {
    let fake =
        answering(r#"{"errcode":40029,"errmsg":"invalid code, rid: 652d44d0-1d0af18b-5b069232"}"#)
            .await;
    let err = client_for(fake.http_base())
        .get_user_phone_number(&token(), PHONE_CODE, None)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40029));
    assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));

    for errcode in [40001, 40014, 42001] {
        let fake = answering(&format!(r#"{{"errcode":{errcode},"errmsg":"token"}}"#)).await;
        let err = client_for(fake.http_base())
            .get_user_phone_number(&token(), PHONE_CODE, None)
            .await
            .unwrap_err();
        assert!(err.is_token_error(), "{errcode}");
    }

    let fake = answering(r#"{"errcode":-1,"errmsg":"system error"}"#).await;
    let err = client_for(fake.http_base())
        .get_user_phone_number(&token(), PHONE_CODE, None)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(fake.requests().len(), 1, "a phone code is never sent twice");

    let fake = answering(OK).await;
    let err = client_for(fake.http_base())
        .get_user_phone_number(&token(), PHONE_CODE, None)
        .await
        .unwrap_err();
    assert!(err.is_bad_response(), "{err:?}");
    assert!(err.to_string().contains("`phone_info`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// wxa/checksession

#[tokio::test]
async fn check_session_key_sends_the_documented_query() {
    let fake = answering(OK).await;
    let valid = client_for(fake.http_base())
        .check_session_key(&token(), OPENID, SIGNATURE)
        .await
        .unwrap();
    assert!(valid);
    let (line, body) = fake.only_request();
    assert_eq!(path_of(&line), "/wxa/checksession");
    assert!(line.starts_with("GET "), "{line}");
    assert_eq!(
        query_of(&line),
        pairs(&[
            ("access_token", ACCESS_TOKEN),
            ("signature", SIGNATURE),
            ("openid", OPENID),
            ("sig_method", "hmac_sha256"),
        ])
    );
    assert_eq!(body, "");
}

#[tokio::test]
async fn check_session_key_87009_is_false_not_an_error() {
    let fake = answering(
        r#"{"errcode":87009,"errmsg":"invalid signature rid: 652d44d0-1d0af18b-5b069232"}"#,
    )
    .await;
    let valid = client_for(fake.http_base())
        .check_session_key(&token(), OPENID, SIGNATURE)
        .await
        .unwrap();
    assert!(!valid);
    let fake = answering(r#"{"errcode":"87009","errmsg":"invalid signature"}"#).await;
    assert!(
        !client_for(fake.http_base())
            .check_session_key(&token(), OPENID, SIGNATURE)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn check_session_key_other_answers_are_errors() {
    for (body, errcode) in [
        (
            r#"{"errcode":87008,"errmsg":"invalid sig_method"}"#,
            Some(87008),
        ),
        (
            r#"{"errcode":42001,"errmsg":"access_token expired"}"#,
            Some(42001),
        ),
        (r#"{"errcode":-1,"errmsg":"system error"}"#, Some(-1)),
        // Not WeChat's success shape: no errcode at all must not read as "valid".
        ("{}", None),
    ] {
        let fake = answering(body).await;
        let err = client_for(fake.http_base())
            .check_session_key(&token(), OPENID, SIGNATURE)
            .await
            .unwrap_err();
        assert_eq!(err.errcode(), errcode, "{body}");
        assert_eq!(err.is_token_error(), errcode == Some(42001), "{body}");
        assert_eq!(err.is_retryable(), errcode == Some(-1), "{body}");
        assert_eq!(err.is_bad_response(), errcode.is_none(), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// wxa/resetusersessionkey

#[tokio::test]
async fn reset_user_session_key_sends_the_documented_query_and_returns_the_new_key() {
    let fake = answering(&reset_ok()).await;
    let reset: ResetKey = client_for(fake.http_base())
        .reset_user_session_key(&token(), OPENID, SIGNATURE)
        .await
        .unwrap();
    assert_eq!(reset.openid, OPENID);
    assert_eq!(reset.session_key.expose_secret(), NEW_SESSION_KEY);

    let (line, body) = fake.only_request();
    assert!(line.starts_with("GET /wxa/resetusersessionkey?"), "{line}");
    assert_eq!(
        query_of(&line),
        pairs(&[
            ("access_token", ACCESS_TOKEN),
            ("openid", OPENID),
            ("signature", SIGNATURE),
            ("sig_method", "hmac_sha256"),
        ])
    );
    assert_eq!(body, "");
}

#[tokio::test]
async fn reset_user_session_key_errors() {
    for errcode in [87009, 87008, 45011, 40001, -1] {
        let fake = answering(&format!(
            r#"{{"errcode":{errcode},"errmsg":"nope, rid: 652d44d0-1d0af18b-5b069232"}}"#
        ))
        .await;
        let err = client_for(fake.http_base())
            .reset_user_session_key(&token(), OPENID, SIGNATURE)
            .await
            .unwrap_err();
        assert_eq!(err.errcode(), Some(errcode), "87009 is an error here");
        assert_eq!(err.rid(), Some("652d44d0-1d0af18b-5b069232"));
        assert_eq!(err.is_token_error(), errcode == 40001);
    }
    let fake = answering(&format!(r#"{{"errcode":0,"openid":"{OPENID}"}}"#)).await;
    let err = client_for(fake.http_base())
        .reset_user_session_key(&token(), OPENID, SIGNATURE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`session_key`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Redaction, for every call and every error path

/// The calls of this file, to drive each through the same failures.
#[derive(Clone, Copy, Debug)]
enum Call {
    Token,
    StableToken,
    StableTokenForced,
    Phone,
    CheckSession,
    Reset,
}

const CALLS: [Call; 6] = [
    Call::Token,
    Call::StableToken,
    Call::StableTokenForced,
    Call::Phone,
    Call::CheckSession,
    Call::Reset,
];

impl Call {
    /// Runs the call; a success comes back as its Debug text (which must be redacted too).
    async fn run(self, client: &WeChatClient) -> Result<String, WeChatError> {
        Ok(match self {
            Self::Token => debug(client.access_token(APPID, &secret()).await?),
            Self::StableToken => debug(client.stable_token(APPID, &secret(), false).await?),
            Self::StableTokenForced => debug(client.stable_token(APPID, &secret(), true).await?),
            Self::Phone => debug(
                client
                    .get_user_phone_number(&token(), PHONE_CODE, Some(OPENID))
                    .await?,
            ),
            Self::CheckSession => debug(
                client
                    .check_session_key(&token(), OPENID, SIGNATURE)
                    .await?,
            ),
            Self::Reset => debug(
                client
                    .reset_user_session_key(&token(), OPENID, SIGNATURE)
                    .await?,
            ),
        })
    }

    /// The sensitive values this call sends (what WeChat could echo back).
    fn sent(self) -> &'static [&'static str] {
        match self {
            Self::Token | Self::StableToken | Self::StableTokenForced => &[SECRET],
            Self::Phone => &[ACCESS_TOKEN, PHONE_CODE, OPENID],
            Self::CheckSession | Self::Reset => &[ACCESS_TOKEN, SIGNATURE, OPENID],
        }
    }

    fn success_body(self) -> String {
        match self {
            Self::Token | Self::StableToken | Self::StableTokenForced => TOKEN_OK.to_owned(),
            Self::Phone => phone_ok("86"),
            Self::CheckSession => OK.to_owned(),
            Self::Reset => reset_ok(),
        }
    }
}

fn debug(value: impl std::fmt::Debug) -> String {
    format!("{value:?}\n{value:#?}")
}

/// Every sensitive value any of these calls sends or receives, and every URL fragment.
const FORBIDDEN: &[&str] = &[
    SECRET,
    ACCESS_TOKEN,
    PHONE_CODE,
    PHONE_NUMBER,
    SIGNATURE,
    SESSION_KEY,
    NEW_SESSION_KEY,
    OPENID,
    "secret=",
    "access_token=",
    "signature=",
    "openid=",
    "cgi-bin/token?",
    "getuserphonenumber?",
    "checksession?",
    "resetusersessionkey?",
    "http://127.0.0.1",
];

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

#[track_caller]
fn assert_redacted(label: &str, texts: &[String]) {
    for text in texts {
        for forbidden in FORBIDDEN {
            assert!(
                !text.contains(forbidden),
                "{label}: {forbidden:?} leaked in {text}"
            );
        }
    }
}

/// Bodies that quote every secret: none of it may surface.
fn leaky_bodies(call: Call) -> Vec<(&'static str, Behaviour, ErrorKind)> {
    let all = FORBIDDEN.join(" ");
    vec![
        (
            "html",
            Behaviour::respond(
                "502 Bad Gateway",
                Some("text/html"),
                &format!("<html>{all}</html>"),
            ),
            ErrorKind::BadResponse,
        ),
        (
            "malformed",
            Behaviour::json(&format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","session_key":"{NEW_SESSION_KEY}"#
            )),
            ErrorKind::BadResponse,
        ),
        (
            "wrong types",
            Behaviour::json(&format!(
                r#"{{"access_token":["{ACCESS_TOKEN}"],"expires_in":"{SECRET}","openid":["{OPENID}"],"session_key":["{NEW_SESSION_KEY}"],"phone_info":{{"phoneNumber":["{PHONE_NUMBER}"],"countryCode":"86"}}}}"#
            )),
            ErrorKind::BadResponse,
        ),
        (
            "non-2xx json",
            Behaviour::respond(
                "500 Internal Server Error",
                Some("application/json"),
                &format!(r#"{{"echo":"{all}"}}"#),
            ),
            ErrorKind::BadResponse,
        ),
        (
            // WeChat echoing everything the call sent in errmsg, rid position included.
            "errcode echo",
            Behaviour::json(&format!(
                r#"{{"errcode":40001,"errmsg":"invalid credential {sent}, rid: {last}"}}"#,
                sent = call.sent().join(" "),
                last = call.sent().last().unwrap(),
            )),
            ErrorKind::Api,
        ),
    ]
}

#[tokio::test]
async fn no_error_path_of_any_call_leaks_a_credential_personal_data_or_the_url() {
    for call in CALLS {
        let mut errors: Vec<(String, WeChatError, ErrorKind)> = Vec::new();

        let silent = FakeWeChat::start(Behaviour::Silent).await;
        let impatient = client_with(silent.http_base(), Duration::from_millis(300));
        errors.push((
            "timeout".into(),
            call.run(&impatient).await.unwrap_err(),
            ErrorKind::Timeout,
        ));

        let refused = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        errors.push((
            "refused".into(),
            call.run(&client_for(refused)).await.unwrap_err(),
            ErrorKind::Connect,
        ));

        let hangup = FakeWeChat::start(Behaviour::Hangup).await;
        errors.push((
            "hangup".into(),
            call.run(&client_for(hangup.http_base())).await.unwrap_err(),
            ErrorKind::Transport,
        ));

        let untrusted = FakeWeChat::start_tls(
            Behaviour::json(&call.success_body()),
            self_signed(&["localhost"]),
        )
        .await;
        let tls_client = {
            install_crypto_provider();
            WeChatClient::new(ClientOptions {
                api_base: untrusted.https_base("localhost"),
                ..ClientOptions::default()
            })
            .unwrap()
        };
        errors.push((
            "self-signed".into(),
            call.run(&tls_client).await.unwrap_err(),
            ErrorKind::Connect,
        ));

        for (label, behaviour, kind) in leaky_bodies(call) {
            let fake = FakeWeChat::start(behaviour).await;
            let err = call.run(&client_for(fake.http_base())).await.unwrap_err();
            errors.push((label.into(), err, kind));
        }

        for (label, err, kind) in &errors {
            let label = format!("{call:?} / {label}");
            assert_eq!(err.kind(), *kind, "{label}: {err:?}");
            assert_redacted(&label, &renderings(err));
        }
        let echo = &errors.last().unwrap().1;
        assert!(echo.is_token_error());
        assert!(echo.errmsg().unwrap().contains("[REDACTED]"), "{echo:?}");
    }
}

#[tokio::test]
async fn successes_are_redacted_in_debug_too() {
    for call in CALLS {
        let fake = answering(&call.success_body()).await;
        let text = call.run(&client_for(fake.http_base())).await.unwrap();
        assert_redacted(&format!("{call:?} / success"), &[text]);
    }
}

#[test]
fn access_token_debug_is_redacted() {
    let token = AccessToken {
        token: token(),
        expires_in: Duration::from_secs(7200),
    };
    assert_eq!(
        format!("{token:?}"),
        r#"AccessToken { token: "[REDACTED]", expires_in: 7200s }"#
    );
}
