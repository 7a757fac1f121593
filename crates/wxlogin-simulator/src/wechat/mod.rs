//! The WeChat side: one module per `api.weixin.qq.com` endpoint, one dispatch point.
//!
//! Like mini-redis's `cmd/`, each endpoint is a variant of [`Endpoint`] with its own file
//! holding only WeChat's rules for that call (`apply`). Everything every endpoint shares lives
//! here: routing, query and JSON-body parsing, the access_token check of every `wxa/*` call,
//! fault injection, statistics, and writing WeChat's JSON.
//! Adding an endpoint is one new file plus one line in each `match` below.

mod checksession;
mod getuserphonenumber;
mod jscode2session;
mod resetusersessionkey;
mod stable_token;
mod token;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use rand::Rng;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::Simulator;
use crate::faults::Action;
use crate::ids;
use crate::serve::ConnKill;
use crate::world::World;

/// The content type WeChat sends with JSON (protocol §1.6).
const JSON_UTF8: &str = "application/json; charset=utf-8";
/// Request bodies larger than this are refused (no WeChat API takes anything near it).
const MAX_BODY: usize = 64 * 1024;

/// The WeChat endpoints the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Jscode2Session,
    Token,
    StableToken,
    GetUserPhoneNumber,
    CheckSession,
    ResetUserSessionKey,
}

impl Endpoint {
    pub(crate) const ALL: &'static [Endpoint] = &[
        Endpoint::Jscode2Session,
        Endpoint::Token,
        Endpoint::StableToken,
        Endpoint::GetUserPhoneNumber,
        Endpoint::CheckSession,
        Endpoint::ResetUserSessionKey,
    ];

    /// The name used by `/sim/faults` and `/sim/stats`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Jscode2Session => "jscode2session",
            Endpoint::Token => "token",
            Endpoint::StableToken => "stable_token",
            Endpoint::GetUserPhoneNumber => "getuserphonenumber",
            Endpoint::CheckSession => "checksession",
            Endpoint::ResetUserSessionKey => "resetusersessionkey",
        }
    }

    /// Whether the `bad_token` fault applies: the endpoints that hand out tokens.
    pub(crate) fn issues_tokens(self) -> bool {
        matches!(self, Endpoint::Token | Endpoint::StableToken)
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Path and methods. The POST-only endpoints also take GET, to answer it with WeChat's
    /// 43002 rather than a bare 405.
    fn route(self) -> (&'static str, MethodFilter) {
        let post = MethodFilter::POST.or(MethodFilter::GET);
        match self {
            Endpoint::Jscode2Session => ("/sns/jscode2session", MethodFilter::GET),
            Endpoint::Token => ("/cgi-bin/token", MethodFilter::GET),
            Endpoint::StableToken => ("/cgi-bin/stable_token", post),
            Endpoint::GetUserPhoneNumber => ("/wxa/business/getuserphonenumber", post),
            Endpoint::CheckSession => ("/wxa/checksession", MethodFilter::GET),
            Endpoint::ResetUserSessionKey => ("/wxa/resetusersessionkey", MethodFilter::GET),
        }
    }

    /// The single dispatch point: WeChat's own rules for one call.
    fn apply(self, world: &mut World, call: &Call, now: OffsetDateTime) -> Reply {
        let reply = match self {
            Endpoint::Jscode2Session => return jscode2session::apply(world, call, now),
            Endpoint::Token => token::apply(world, call, now),
            Endpoint::StableToken => stable_token::apply(world, call, now),
            Endpoint::GetUserPhoneNumber => getuserphonenumber::apply(world, call, now),
            Endpoint::CheckSession => checksession::apply(world, call, now),
            Endpoint::ResetUserSessionKey => resetusersessionkey::apply(world, call, now),
        };
        reply.unwrap_or_else(Reply::Error)
    }
}

/// One incoming call, as the endpoint modules see it.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    query: Vec<(String, String)>,
    body: Bytes,
    /// Set by the `bad_token` fault: a token handed out by this call is refused by every API.
    bad_token: bool,
}

impl Call {
    fn new(method: Method, query: Option<&str>, body: Bytes) -> Self {
        let query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Self {
            method,
            query,
            body,
            bad_token: false,
        }
    }

    /// For the POST-only endpoints: 43002 for any other method (protocol §3.2, §11).
    pub(crate) fn require_post(&self) -> Result<(), i64> {
        if self.method == Method::POST {
            Ok(())
        } else {
            Err(43002)
        }
    }

    /// The body as a JSON object, whatever the Content-Type says: 44002 when empty, 47001
    /// when it is anything but a JSON object (a form-encoded body, say; protocol §1.8).
    pub(crate) fn json_body(&self) -> Result<Map<String, Value>, i64> {
        if self.body.is_empty() {
            return Err(44002);
        }
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(47001),
        }
    }

    /// The app whose `access_token` (query string, §1.8) this call carries; the checks of
    /// §3.4 shared by every `wxa/*` endpoint.
    pub(crate) fn token_app(&self, world: &World, now: OffsetDateTime) -> Result<String, i64> {
        world
            .tokens
            .check(self.param("access_token"), now)
            .map(str::to_owned)
    }

    /// A query parameter. Unknown parameters are simply never asked for (protocol §1.9); when
    /// one is repeated the first wins, and an empty value counts as missing.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }
}

/// An endpoint's answer, before it is written as JSON.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The success body exactly as the protocol reference shows it.
    Success(serde_json::Value),
    /// `{"errcode": N, "errmsg": "<text>, rid: …"}` with HTTP 200.
    Error(i64),
}

/// The English errmsg WeChat sends with `code` (protocol §2, §3, §11).
pub(crate) fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40164 => "invalid ip, not in whitelist",
        40226 => "code blocked",
        40243 => "appsecret has been frozen",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        42001 => "access_token expired",
        42003 => "code expired",
        43002 => "require POST method",
        43003 => "require https",
        44002 => "empty post data",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit mustslower retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        50002 => "user limited",
        50004 => "user not allow to use accesstoken, maybe for punishment",
        87008 => "invalid sig_method",
        87009 => "invalid signature",
        _ => "simulated error",
    }
}

/// What goes back on the wire.
#[derive(Debug)]
enum Outcome {
    Json(String),
    Malformed,
    Html,
    Drop,
}

impl Outcome {
    fn into_response(self, kill: Option<ConnKill>) -> Response {
        match self {
            Outcome::Json(body) => json_response(body),
            // Cut off mid-string, as a proxy dying mid-response would leave it.
            Outcome::Malformed => json_response(r#"{"session_key":"tiihtNczf5v6AKRy"#.into()),
            Outcome::Html => {
                let mut response = (StatusCode::BAD_GATEWAY, BAD_GATEWAY_PAGE).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                response
            }
            Outcome::Drop => {
                // With the connection's kill switch (always there under `serve`) nothing more
                // reaches the socket. Without it (a bare `Router`), a body that fails at once
                // still makes hyper abort the connection before the response completes.
                if let Some(kill) = kill {
                    kill.trigger();
                }
                let failing = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("fault: drop"))
                });
                Response::new(Body::from_stream(failing))
            }
        }
    }
}

const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

fn json_response(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// Routes every endpoint in [`Endpoint::ALL`] to [`handle`].
pub(crate) fn routes() -> Router<Simulator> {
    Endpoint::ALL
        .iter()
        .fold(Router::new(), |router, &endpoint| {
            let (path, method) = endpoint.route();
            router.route(
                path,
                on(
                    method,
                    move |State(sim): State<Simulator>, request: Request| {
                        handle(endpoint, sim, request)
                    },
                ),
            )
        })
}

async fn handle(endpoint: Endpoint, sim: Simulator, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let kill = parts
        .extensions
        .get::<ConnectInfo<ConnKill>>()
        .map(|info| info.0.clone());
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        // Unread body: hyper will close this connection, so tell the client not to reuse it.
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
        )
            .into_response();
    };
    let call = Call::new(parts.method, parts.uri.query(), body);
    // Run in a task of its own: if the client gives up (its timeout, a reset), hyper drops this
    // handler, but WeChat would still finish the call. Detached, a slow exchange still consumes
    // its code, which is exactly what a timeout test must be able to observe.
    let task = tokio::spawn(async move { run(&sim, endpoint, call).await });
    match task.await {
        Ok(outcome) => outcome.into_response(kill),
        Err(err) => {
            tracing::error!(endpoint = endpoint.name(), %err, "simulated call failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Faults first, then the endpoint's rules; statistics around both.
async fn run(sim: &Simulator, endpoint: Endpoint, mut call: Call) -> Outcome {
    let fired = {
        let mut guard = sim.lock();
        let state = &mut *guard;
        state.stats.reached(endpoint);
        state.faults.take(endpoint, &mut state.world.rng)
    };
    let (delay, action) = fired.map_or((None, Action::Proceed), |f| (f.delay, f.action));
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    let now = sim.now();
    let mut guard = sim.lock();
    let state = &mut *guard;
    let (outcome, label) = match action {
        Action::Proceed | Action::BadToken => {
            call.bad_token = action == Action::BadToken;
            let reply = endpoint.apply(&mut state.world, &call, now);
            render(reply, &mut state.world.rng)
        }
        Action::Errcode(code) => render(Reply::Error(code), &mut state.world.rng),
        Action::Malformed => (Outcome::Malformed, "malformed".to_owned()),
        Action::Html => (Outcome::Html, "html".to_owned()),
        Action::Drop => (Outcome::Drop, "drop".to_owned()),
    };
    state.stats.ended(endpoint, label.clone());
    drop(guard);
    tracing::info!(
        endpoint = endpoint.name(),
        appid = call.param("appid").unwrap_or("-"),
        outcome = %label,
        delayed_ms = delay.map_or(0, |d: Duration| d.as_millis()),
        "wechat call"
    );
    outcome
}

/// Writes a reply as WeChat would; returns it with its statistics label.
fn render(reply: Reply, rng: &mut impl Rng) -> (Outcome, String) {
    match reply {
        Reply::Success(body) => (Outcome::Json(body.to_string()), "0".to_owned()),
        Reply::Error(code) => {
            let errmsg = format!("{}, rid: {}", errmsg(code), ids::rid(rng));
            let body = json!({ "errcode": code, "errmsg": errmsg });
            (Outcome::Json(body.to_string()), code.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_first_wins_empty_is_missing_and_decoding_applies() {
        let call = Call::new(
            Method::GET,
            Some("appid=wx1&appid=wx2&secret=&js_code=a%2Bb+c&access_token=x"),
            Bytes::new(),
        );
        assert_eq!(call.param("appid"), Some("wx1"));
        assert_eq!(call.param("secret"), None);
        assert_eq!(call.param("js_code"), Some("a+b c"));
        assert_eq!(call.param("grant_type"), None);
        assert_eq!(
            Call::new(Method::GET, None, Bytes::new()).param("appid"),
            None
        );
    }

    #[test]
    fn errors_render_with_a_rid_and_successes_without_errcode() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let (outcome, label) = render(Reply::Error(40163), &mut rng);
        let Outcome::Json(body) = outcome else {
            panic!("not JSON")
        };
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["errcode"], 40163);
        let errmsg = value["errmsg"].as_str().unwrap();
        assert!(errmsg.starts_with("code been used, rid: "), "{errmsg}");
        assert_eq!(errmsg.len(), "code been used, rid: ".len() + 26, "{errmsg}");
        assert_eq!(label, "40163");

        let (outcome, label) = render(Reply::Success(json!({"openid": "o"})), &mut rng);
        let Outcome::Json(body) = outcome else {
            panic!("not JSON")
        };
        assert_eq!(body, r#"{"openid":"o"}"#);
        assert_eq!(label, "0");
    }

    #[test]
    fn bodies_must_be_json_objects_and_post_is_required_where_asked() {
        let call = |method, body: &'static str| Call::new(method, None, Bytes::from(body));
        assert_eq!(call(Method::POST, "").json_body(), Err(44002));
        assert_eq!(call(Method::POST, "code=abc").json_body(), Err(47001));
        assert_eq!(call(Method::POST, "[1]").json_body(), Err(47001));
        assert_eq!(
            call(Method::POST, r#"{"code":"c"}"#).json_body().unwrap()["code"],
            "c"
        );
        assert_eq!(call(Method::GET, "").require_post(), Err(43002));
        assert_eq!(call(Method::POST, "").require_post(), Ok(()));
    }

    #[test]
    fn every_endpoint_name_round_trips() {
        for &endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(endpoint.name()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_name("jscode2sesion"), None);
    }
}
