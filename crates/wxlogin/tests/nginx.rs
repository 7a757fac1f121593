//! The shipped nginx configuration (`deploy/nginx/wxlogin-auth.conf`), end to end: a real
//! nginx (`/usr/sbin/nginx`, or `$WXLTEST_NGINX`) in front of a tiny upstream that echoes
//! the request headers it receives, with `auth_request` going to the real `wxlogin serve`.
//!
//! The test runs the shipped file itself: it only puts the test's addresses and appid in place
//! of the example ones (and fails if those are not found exactly once, so the file and this
//! test cannot drift apart), and wraps it in a minimal `nginx.conf` whose pid file, logs and
//! temporary paths live in a temporary directory.
//!
//! There is no skipping: without nginx the test fails and says how to install it.

#[allow(
    dead_code,
    reason = "shared with server.rs; this file uses the env, its settings and Reply"
)]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use support::{APP_A, APP_B, Env, Reply, SECRET_A, SECRET_B, Settings};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const SHIPPED: &str = include_str!("../../../deploy/nginx/wxlogin-auth.conf");

/// The identity headers wxlogin emits, plus the WeChat Cloud Run ones the config clears.
const IDENTITY_HEADERS: &[&str] = &[
    "x-wx-openid",
    "x-wx-appid",
    "x-wx-unionid",
    "x-wxlogin-user-id",
    "x-wxlogin-session-id",
    "x-wx-from-openid",
    "x-wx-from-appid",
    "x-wx-from-unionid",
    "x-wx-env",
    "x-wx-source",
];

const SMUGGLED: &str = "smuggled-by-the-client";

#[tokio::test]
async fn nginx_auth_request_in_front_of_an_upstream() {
    let nginx_bin = nginx_binary();
    // Both apps log in; the gateway accepts app B's tokens only. B's users have no unionid, so
    // a smuggled X-WX-UNIONID must vanish rather than be overwritten.
    let env = Env::start(Settings {
        apps: vec![(APP_A, SECRET_A), (APP_B, SECRET_B)],
        extra_toml: "[forward_auth]\ntoken_header = \"X-WX-Skey\"\n",
        ..Settings::standard()
    });
    let upstream = TinyHttp::start(Arc::new(|request: &Head| {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &request.headers {
            headers.entry(name.clone()).or_default().push(value.clone());
        }
        let body = json!({"method": request.method, "target": request.target, "headers": headers});
        (
            200,
            vec![("content-type", "application/json".to_owned())],
            body.to_string(),
        )
    }))
    .await;
    let wxlogin: SocketAddr = env
        .server
        .http
        .url("")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut nginx = Nginx::start(&nginx_bin, wxlogin, upstream.addr, APP_B);
    let gateway = reqwest::Client::builder().no_proxy().build().unwrap();

    let user = env.login_as(APP_B, "bianca").await;
    let session = env.assert_live(&user.token).await;

    // 1. The identity arrives; nothing the client sent under those names does.
    let mut request = gateway
        .get(nginx.url("/orders?id=7"))
        .bearer_auth(&user.token);
    for name in IDENTITY_HEADERS {
        request = request.header(*name, SMUGGLED);
    }
    // A spelling with underscores, which some frameworks fold into the same name.
    request = request.header("X_WX_OPENID", SMUGGLED);
    let reply = send(request).await;
    reply.expect(200);
    let seen = &reply.body["headers"];
    assert_eq!(reply.body["target"], "/orders?id=7");
    assert_eq!(seen["x-wx-openid"], json!([user.openid]), "{seen}");
    assert_eq!(seen["x-wx-appid"], json!([APP_B]), "{seen}");
    assert_eq!(seen["x-wxlogin-user-id"], json!([user.user_id]), "{seen}");
    assert_eq!(
        seen["x-wxlogin-session-id"],
        json!([session["session_id"]]),
        "{seen}"
    );
    for absent in [
        "x-wx-unionid",
        "x-wx-from-openid",
        "x-wx-from-appid",
        "x-wx-from-unionid",
        "x-wx-env",
        "x-wx-source",
        "x_wx_openid",
    ] {
        assert!(
            seen.get(absent).is_none(),
            "{absent} reached the upstream: {seen}"
        );
    }
    assert!(!reply.text.contains(SMUGGLED), "{seen}");
    // One request id through nginx, wxlogin and the app.
    assert!(
        seen["x-request-id"][0]
            .as_str()
            .is_some_and(|id| id.len() == 32),
        "{seen}"
    );

    // 2. The legacy token header authenticates, and stays between nginx and wxlogin.
    let reply = send(
        gateway
            .post(nginx.url("/legacy"))
            .header("X-WX-Skey", &user.token)
            .header("x-wxlogin-user-id", SMUGGLED)
            .body("{}"),
    )
    .await;
    reply.expect(200);
    let seen = &reply.body["headers"];
    assert_eq!(reply.body["method"], "POST");
    assert_eq!(seen["x-wxlogin-user-id"], json!([user.user_id]), "{seen}");
    assert!(seen.get("x-wx-skey").is_none(), "{seen}");
    assert!(!reply.text.contains(&user.token), "{seen}");

    // 3. Refusals reach the client as wxlogin wrote them, and never the upstream.
    let served = upstream.requests();
    let other_app = env.login_as(APP_A, "alfred").await;
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("no token", None, "missing_token"),
        ("malformed", Some("nonsense"), "invalid_token"),
        (
            "another app's token",
            Some(other_app.token.as_str()),
            "invalid_token",
        ),
        (
            "unknown",
            Some("wxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "invalid_token",
        ),
    ];
    for (what, token, code) in cases {
        for method in [Method::GET, Method::POST] {
            let mut request = gateway.request(method.clone(), nginx.url("/orders"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if method == Method::POST {
                request = request
                    .header("content-type", "application/json")
                    .body("{\"a\":1}");
            }
            let reply = send(request).await;
            assert_wxlogin_401(&reply, code, &format!("{what}, {method}"));
        }
    }
    // A session that ends is refused on the next request.
    env.logout(&user.token).await.expect(204);
    let reply = send(gateway.get(nginx.url("/orders")).bearer_auth(&user.token)).await;
    assert_wxlogin_401(&reply, "invalid_token", "logged out");
    assert_eq!(
        upstream.requests(),
        served,
        "a refused request reached the upstream"
    );

    // 4. wxlogin's 429 and 503 stay themselves, with its Retry-After; an nginx in front of
    // a stand-in that answers them (wxlogin has no way to be made busy on demand).
    let stand_in = TinyHttp::start(Arc::new(|request: &Head| {
        let (status, retry) = match request.header("authorization") {
            Some("Bearer busy") => (429, "7"),
            _ => (503, "3"),
        };
        let body = json!({"error": {"code": "stand_in", "message": "m", "request_id": "r"}});
        (
            status,
            vec![("retry-after", retry.to_owned())],
            body.to_string(),
        )
    }))
    .await;
    let fronting_stand_in = Nginx::start(&nginx_bin, stand_in.addr, upstream.addr, APP_B);
    let reply = send(gateway.get(fronting_stand_in.url("/x")).bearer_auth("busy")).await;
    assert_gateway_error(&reply, 429, "rate_limited", "7");
    let reply = send(
        gateway
            .get(fronting_stand_in.url("/x"))
            .bearer_auth("unavailable"),
    )
    .await;
    assert_gateway_error(&reply, 503, "unavailable", "3");

    // 5. wxlogin down: a 503 in our format, not nginx's 500 page.
    let token = other_app.token.clone();
    drop(env);
    let reply = send(gateway.get(nginx.url("/orders")).bearer_auth(&token)).await;
    assert_gateway_error(&reply, 503, "unavailable", "1");
    assert_eq!(
        upstream.requests(),
        served,
        "a refused request reached the upstream"
    );
    nginx.assert_running();
}

/// A 401 as wxlogin writes it, passed on by nginx: our JSON body, one Bearer challenge, and the
/// request id of the body in the header.
#[track_caller]
fn assert_wxlogin_401(reply: &Reply, code: &str, what: &str) {
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (401, code),
        "{what}: {reply:?}"
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{what}: {reply:?}"
    );
    let challenges: Vec<_> = reply.headers.get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [r#"Bearer error="invalid_token""#],
        "{what}: {reply:?}"
    );
    let id = reply.header("x-request-id").unwrap_or_default();
    assert!(!id.is_empty(), "{what}: {reply:?}");
    assert_eq!(reply.body["error"]["request_id"], id, "{what}: {reply:?}");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {reply:?}"
    );
}

/// An error nginx answers for wxlogin: the status, our JSON shape, `Retry-After`.
#[track_caller]
fn assert_gateway_error(reply: &Reply, status: u16, code: &str, retry_after: &str) {
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (status, code),
        "{reply:?}"
    );
    assert_eq!(reply.header("retry-after"), Some(retry_after), "{reply:?}");
    assert!(
        reply
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{reply:?}"
    );
    assert_eq!(
        reply.body["error"]["request_id"].as_str(),
        reply.header("x-request-id"),
        "{reply:?}"
    );
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::read(
        request
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// nginx from `$WXLTEST_NGINX` or Debian's path; a missing nginx fails the test.
fn nginx_binary() -> PathBuf {
    let path = std::env::var_os("WXLTEST_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        path.is_file(),
        "nginx not found at {} (set WXLTEST_NGINX, or `apt-get install nginx`): this test \
         needs a real nginx with the auth_request module",
        path.display()
    );
    path
}

/// A foreground nginx running the shipped configuration, killed when dropped.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(bin: &Path, wxlogin: SocketAddr, app: SocketAddr, appid: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_port();
        let mut site = SHIPPED.to_owned();
        for (from, to) in [
            ("server 127.0.0.1:8080;", format!("server {wxlogin};")),
            ("server 127.0.0.1:3000;", format!("server {app};")),
            ("listen 80;", format!("listen {addr};")),
            ("\"wx1234567890abcdef\"", format!("{appid:?}")),
        ] {
            assert_eq!(
                site.matches(from).count(),
                1,
                "deploy/nginx/wxlogin-auth.conf no longer has `{from}` once: update tests/nginx.rs"
            );
            site = site.replace(from, &to);
        }
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(dir.path().join("wxlogin-auth.conf"), site).unwrap();
        let main = format!(
            "daemon off;\nmaster_process off;\npid {pid};\nerror_log {log} info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  \
             fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  \
             include {site};\n}}\n",
            pid = path("nginx.pid"),
            log = path("error.log"),
            t = dir.path().display(),
            site = path("wxlogin-auth.conf"),
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx");
        let mut nginx = Self { child, addr, dir };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx is not listening on {} after 10 s:\n{}",
                self.addr,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// nginx is still up: nothing above crashed it.
    #[track_caller]
    fn assert_running(&mut self) {
        assert!(
            matches!(self.child.try_wait(), Ok(None)),
            "nginx exited:\n{}",
            self.error_log()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now, for nginx to take.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// One request as the tiny server saw it.
struct Head {
    method: String,
    target: String,
    /// Names in lower case, in arrival order.
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// (status, extra headers, body).
type Canned = (u16, Vec<(&'static str, String)>, String);
type Handler = Arc<dyn Fn(&Head) -> Canned + Send + Sync>;

/// An HTTP/1.1 server just big enough for nginx's upstream requests (keep-alive,
/// `Content-Length` bodies), answering every request with `handler`.
struct TinyHttp {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TinyHttp {
    async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, handler.clone(), counter.clone()));
            }
        });
        Self { addr, served, task }
    }

    /// Requests answered so far.
    fn requests(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TinyHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_connection(stream: TcpStream, handler: Handler, served: Arc<AtomicU64>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut stream).await else {
            return;
        };
        let length: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let close = head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (status, headers, body) = handler(&head);
        served.fetch_add(1, Ordering::SeqCst);
        let mut response = format!(
            "HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if stream
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
            || close
        {
            return;
        }
    }
}

/// Reads a request line and headers; `None` at the end of the connection.
async fn read_head(stream: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(Head {
        method,
        target,
        headers,
    })
}
