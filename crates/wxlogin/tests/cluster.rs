//! Several `wxlogin serve` processes sharing one store, as behind a load balancer: on
//! PostgreSQL + Redis, MariaDB + Redis, and PostgreSQL alone.
//!
//! Real servers only: the databases come from `WXLTEST_POSTGRES_URL` and
//! `WXLTEST_MYSQL_URL` (started by `scripts/services.sh`; each test makes a fresh
//! database), and every test that uses Redis starts a `redis-server` of its own on a free
//! loopback port, so pausing it (SIGSTOP) or flushing it disturbs no other test. A missing
//! variable or binary fails the test.

// The shared harness serves several suites; this one uses part of it.
#[allow(dead_code)]
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use support::{APP_A, Http, Process, SECRET_A, Simulator};

/// A 32-byte at-rest key every instance of a cluster shares (test value).
const AT_REST_KEYS: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    MariaDb,
}

fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite through scripts/test.sh (it starts the servers)")
    })
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let authority = url.find("://").expect("URL has a scheme") + 3;
    let path = url[authority..]
        .find('/')
        .map_or(url.len(), |i| authority + i);
    format!("{}/{database}", &url[..path])
}

/// A fresh, empty database on `backend`; returns its URL.
async fn fresh_database(backend: Backend) -> String {
    // A UUID's simple form is [0-9a-f]{32}: safe to splice into the statement.
    let name = format!("wxl_cluster_{}", uuid_simple());
    match backend {
        Backend::Postgres => {
            let admin = env_url("WXLTEST_POSTGRES_URL");
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            with_database(&admin, &name)
        }
        Backend::MariaDb => {
            let admin = env_url("WXLTEST_MYSQL_URL");
            let mut conn = sqlx::MySqlConnection::connect(&admin)
                .await
                .expect("connect to MariaDB");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            with_database(&admin, &name)
        }
    }
}

fn uuid_simple() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh installs it)");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} redis");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.signal_quietly("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    fn signal_quietly(&self, signal: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
    }
}

/// One simulator and `n` login servers sharing a store (and maybe a Redis).
struct Cluster {
    sim: Simulator,
    instances: Vec<Instance>,
    redis: Option<Redis>,
    _dir: tempfile::TempDir,
}

struct Instance {
    process: Option<Process>,
    http: Http,
}

impl Cluster {
    async fn start(backend: Backend, with_redis: bool, n: usize) -> Self {
        let sim = Simulator::start("info");
        let database_url = fresh_database(backend).await;
        let redis = with_redis.then(Redis::start);
        let dir = tempfile::tempdir().unwrap();
        let redis_line = redis
            .as_ref()
            .map(|r| format!("redis_url = {:?}\n", r.url()))
            .unwrap_or_default();
        let config = format!(
            "listen = \"127.0.0.1:0\"\nlog = \"info\"\ndata_dir = {data:?}\n\
             database_url = {database_url:?}\nat_rest_keys = {AT_REST_KEYS:?}\n{redis_line}\n\
             [wechat]\napi_base = {api:?}\nallow_http = true\ntimeout = \"2s\"\n\n\
             [sessions]\nrevocation_poll = \"1s\"\n\n\
             [[apps]]\nappid = {APP_A:?}\nsecret = {SECRET_A:?}\n",
            data = dir.path().join("data").display().to_string(),
            api = sim.base(),
        );
        let path = dir.path().join("wxlogin.toml");
        std::fs::write(&path, config).unwrap();
        let instances = (0..n)
            .map(|_| {
                let process =
                    Process::spawn(["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
                let http = Http::new(format!("http://{}", process.addr()), false);
                Instance {
                    process: Some(process),
                    http,
                }
            })
            .collect();
        Self {
            sim,
            instances,
            redis,
            _dir: dir,
        }
    }

    fn http(&self, i: usize) -> &Http {
        &self.instances[i].http
    }

    fn output(&self) -> String {
        self.instances
            .iter()
            .filter_map(|i| i.process.as_ref())
            .map(Process::output)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    async fn code(&self, user: &str) -> String {
        self.sim.login(APP_A, user).await.code
    }

    /// Logs `user` in through instance `i`; returns the token.
    async fn login(&self, i: usize, user: &str) -> String {
        let code = self.code(user).await;
        let reply = self
            .http(i)
            .post_json("/v1/login", &json!({"appid": APP_A, "code": code}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}\n{}", self.output());
        reply.body["token"].as_str().unwrap().to_owned()
    }

    async fn session_status(&self, i: usize, token: &str) -> StatusCode {
        self.http(i)
            .with_token(Method::GET, "/v1/session", token)
            .await
            .status
    }

    async fn sim_calls(&self, endpoint: &str) -> u64 {
        let reply = self.sim.http.get("/sim/stats").await;
        reply.body["calls"][endpoint]["total"].as_u64().unwrap_or(0)
    }
}

/// A token issued by one instance verifies on every other; a logout on one is a 401 on all at
/// once, even right after each of them cached the session.
async fn shared_sessions_and_instant_logout(backend: Backend, with_redis: bool) {
    let cluster = Cluster::start(backend, with_redis, 3).await;
    let token = cluster.login(0, "alice").await;
    for round in 0..2 {
        for i in 0..3 {
            assert_eq!(
                cluster.session_status(i, &token).await,
                StatusCode::OK,
                "instance {i}, round {round}: a token of instance 0"
            );
        }
    }
    let reply = cluster
        .http(1)
        .with_token(Method::POST, "/v1/logout", &token)
        .await;
    assert!(reply.status.is_success(), "{reply:?}");
    for i in 0..3 {
        assert_eq!(
            cluster.session_status(i, &token).await,
            StatusCode::UNAUTHORIZED,
            "instance {i} right after the logout on instance 1"
        );
    }

    // The same code sent to two instances at once reaches WeChat once.
    let before = cluster.sim_calls("jscode2session").await;
    let code = cluster.code("bob").await;
    let body = json!({"appid": APP_A, "code": code});
    let (a, b) = tokio::join!(
        cluster.http(0).post_json("/v1/login", &body),
        cluster.http(2).post_json("/v1/login", &body),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{a:?} {b:?}");
    assert_ne!(statuses[1], 200, "one code, one session: {a:?} {b:?}");
    assert_eq!(cluster.sim_calls("jscode2session").await - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_with_redis_shares_sessions_and_logout_is_instant() {
    shared_sessions_and_instant_logout(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_with_redis_shares_sessions_and_logout_is_instant() {
    shared_sessions_and_instant_logout(Backend::MariaDb, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_without_redis_shares_sessions_and_logout_is_instant() {
    shared_sessions_and_instant_logout(Backend::Postgres, false).await;
}

/// Redis frozen (SIGSTOP keeps its sockets open, so nothing fails fast) during a logout, then
/// thawed: verifications on every instance keep running and none returns 200 once the logout
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_with_redis_frozen_is_still_instant_everywhere() {
    let cluster = Arc::new(Cluster::start(Backend::Postgres, true, 3).await);
    let token = cluster.login(0, "carol").await;
    for i in 0..3 {
        assert_eq!(cluster.session_status(i, &token).await, StatusCode::OK);
    }
    let redis = cluster.redis.as_ref().unwrap();
    redis.signal("-STOP");

    // Verifiers hammer every instance throughout; each records (start, status).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut verifiers = Vec::new();
    for i in 0..3 {
        let (cluster, token, stop) = (Arc::clone(&cluster), token.clone(), Arc::clone(&stop));
        verifiers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                let status = cluster.session_status(i, &token).await;
                seen.push((started, status));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = cluster
        .http(2)
        .with_token(Method::POST, "/v1/logout", &token)
        .await;
    let answered = Instant::now();
    assert!(
        reply.status.is_success(),
        "logout with Redis frozen: {reply:?}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.signal("-CONT");
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut after = 0;
    for (i, verifier) in verifiers.into_iter().enumerate() {
        for (started, status) in verifier.await.unwrap() {
            assert!(
                status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
                "instance {i}: only 200 or 401, got {status}"
            );
            if started > answered {
                after += 1;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "instance {i}: a verification started after the logout answered"
                );
            }
        }
    }
    assert!(after >= 3, "the verifiers kept running after the logout");
    for i in 0..3 {
        assert_eq!(
            cluster.session_status(i, &token).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// 200 concurrent /v1/phone calls spread over three instances: one access_token fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phone_calls_across_instances_share_one_access_token() {
    let cluster = Arc::new(Cluster::start(Backend::Postgres, true, 3).await);
    // 50 users, 4 phone codes each (the per-user limit is 10 a minute).
    let mut calls = Vec::new();
    for u in 0..50 {
        let user = format!("phone-user-{u}");
        let token = cluster.login(u % 3, &user).await;
        for _ in 0..4 {
            let body = cluster
                .sim
                .http
                .post_json("/sim/phone", &json!({"appid": APP_A, "user": user}))
                .await
                .body;
            calls.push((token.clone(), body["code"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(cluster.sim_calls("stable_token").await, 0);
    // A slow token fetch, so that every instance surely wants one at the same time.
    let fault = json!({"endpoint": "stable_token", "delay_ms": 300});
    assert_eq!(
        cluster
            .sim
            .http
            .post_json("/sim/faults", &fault)
            .await
            .status,
        StatusCode::OK
    );
    let mut tasks = Vec::new();
    for (n, (token, code)) in calls.into_iter().enumerate() {
        let cluster = Arc::clone(&cluster);
        tasks.push(tokio::spawn(async move {
            cluster
                .http(n % 3)
                .send(
                    cluster
                        .http(n % 3)
                        .request(Method::POST, "/v1/phone")
                        .bearer_auth(&token)
                        .json(&json!({"code": code})),
                )
                .await
        }));
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert!(reply.body["phone_number"].is_string());
    }
    assert_eq!(
        cluster.sim_calls("stable_token").await,
        1,
        "one access_token fetch for the whole cluster"
    );
}

/// SIGKILL of one instance in the middle of a login load: every session a client was told
/// about verifies on the survivors; Redis flushed afterwards loses none either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_and_redis_flush_lose_no_session() {
    let mut cluster = Cluster::start(Backend::Postgres, true, 3).await;
    let codes: Vec<String> = {
        let mut codes = Vec::new();
        for u in 0..60 {
            codes.push(cluster.code(&format!("load-{u}")).await);
        }
        codes
    };
    let victim = cluster.http(0).clone();
    let logins = tokio::spawn(async move {
        let mut told = Vec::new();
        for code in codes {
            let body = json!({"appid": APP_A, "code": code});
            // The victim may be dead: a refused connection is not a session anyone was told of.
            let Ok(response) = reqwest::Client::new()
                .post(victim.url("/v1/login"))
                .json(&body)
                .send()
                .await
            else {
                continue;
            };
            if response.status() == StatusCode::OK
                && let Ok(body) = response.json::<Value>().await
            {
                told.push(body["token"].as_str().unwrap().to_owned());
            }
        }
        told
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.instances[0].process.take().unwrap().kill();
    let told = logins.await.unwrap();
    assert!(!told.is_empty(), "some logins answered before the kill");
    for token in &told {
        for i in 1..3 {
            assert_eq!(cluster.session_status(i, token).await, StatusCode::OK);
        }
    }
    let redis = cluster.redis.as_ref().unwrap();
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    for token in &told {
        for i in 1..3 {
            assert_eq!(cluster.session_status(i, token).await, StatusCode::OK);
        }
    }
}

/// `/readyz` names each dependency, answers 503 with a clear code while Redis is frozen (not
/// a hang), and recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_reports_redis_and_recovers() {
    let cluster = Cluster::start(Backend::Postgres, true, 1).await;
    let ready = cluster.http(0).get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert_eq!(ready.body["checks"], json!({"store": "ok", "redis": "ok"}));
    let redis = cluster.redis.as_ref().unwrap();
    redis.signal("-STOP");
    let started = Instant::now();
    let frozen = cluster.http(0).get("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readyz must not hang"
    );
    assert_eq!(frozen.status, StatusCode::SERVICE_UNAVAILABLE, "{frozen:?}");
    frozen.expect_error(503, "redis_unavailable");
    // Logins still work with Redis frozen: it only coordinates.
    let token = cluster.login(0, "dora").await;
    assert_eq!(cluster.session_status(0, &token).await, StatusCode::OK);
    redis.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = cluster.http(0).get("/readyz").await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz did not recover: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !cluster.output().contains(&redis.url()),
        "the Redis URL never reaches the logs"
    );
}
