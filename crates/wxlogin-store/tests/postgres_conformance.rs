//! The backend conformance suite on a real PostgreSQL server, one fresh database per test, plus
//! what only PostgreSQL has: concurrent migrations, the pool's bounds and the server-side
//! statement timeout.
//!
//! Needs `WXLTEST_POSTGRES_URL`, a superuser URL (the tests create and drop databases).
//! Without it every test fails: a suite that silently skips proves nothing.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;
use wxlogin_store::conformance::TestStore;
use wxlogin_store::postgres::PostgresStore;
use wxlogin_store::{
    KeyRingPolicy, LoginStore, MaintenanceStore, PoolSettings, SessionStore, StoreError, UserStore,
};

const URL_VAR: &str = "WXLTEST_POSTGRES_URL";

fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{URL_VAR} is not set: these tests need a PostgreSQL superuser URL, \
             e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    })
}

/// `url` with its path (the database name) replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` with the password of its user set to `password`.
fn with_password(url: &str, password: &str) -> String {
    let authority = url.find("://").expect("URL has a scheme") + 3;
    let at = authority + url[authority..].find('@').expect("URL names a user");
    let user_end = url[authority..at]
        .find(':')
        .map_or(at, |colon| authority + colon);
    format!("{}:{password}{}", &url[..user_end], &url[at..])
}

/// A database of its own for one test, dropped (with any connection still open) afterwards.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Self {
        let admin = admin_url();
        // A UUID's simple form is [0-9a-f]{32}: safe to splice into the statement.
        let name = format!("wxl_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {URL_VAR}: {err}"));
        // Linguistic (ICU en-US) default collation, where 'a' sorts before 'B': the suite then
        // shows that the schema's `COLLATE "C"` columns, not the server's defaults, make
        // identifiers byte-wise.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        Self { admin, name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which cannot block on a nested one: use a
        // thread of its own. Best effort: the server is throwaway.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
    }
}

fn settings() -> PoolSettings {
    PoolSettings {
        max_connections: 10,
        min_connections: 1,
        acquire_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(10),
    }
}

/// A migrated store on a fresh database.
async fn fresh_store() -> TestStore {
    let db = Database::create().await;
    let store = PostgresStore::connect(&db.url, &settings())
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");
    TestStore::new(store).keep_alive(db)
}

mod conformance {
    use super::fresh_store;

    wxlogin_store::conformance_tests!(fresh_store().await);
}

/// How many migration files the store embeds.
fn migration_count() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let files = std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    i64::try_from(files).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrate_on_a_fresh_database_applies_each_migration_once() {
    for _round in 0..3 {
        let db = Database::create().await;
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(
                PostgresStore::connect(&db.url, &settings())
                    .await
                    .expect("connect"),
            );
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
        let mut tasks = tokio::task::JoinSet::new();
        for store in &stores {
            let (store, barrier) = (store.clone(), barrier.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                store.migrate().await
            });
        }
        for result in tasks.join_all().await {
            result.expect("a concurrent migrate failed");
        }

        let mut conn = PgConnection::connect(&db.url).await.expect("connect");
        let (applied,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .expect("read _sqlx_migrations");
        assert_eq!(applied, migration_count(), "each migration applied once");
        let _ = conn.close().await;

        // Migrating again is a no-op, and every store works on the schema.
        stores[0].migrate().await.expect("second migrate");
        for store in &stores {
            assert_eq!(store.revocation_epoch().await.expect("epoch"), 0);
            store.close().await;
        }
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn quick_settings() -> PoolSettings {
    PoolSettings {
        acquire_timeout: Duration::from_secs(1),
        ..settings()
    }
}

/// Connects with a deadline well past the acquire timeout, so a hang fails the test.
async fn connect_bounded(
    url: &str,
    settings: &PoolSettings,
) -> (Result<PostgresStore, StoreError>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(
        settings.acquire_timeout + Duration::from_secs(5),
        PostgresStore::connect(url, settings),
    )
    .await
    .expect("connect hung past the acquire timeout");
    (result, started.elapsed())
}

#[tokio::test]
async fn unreachable_server_is_unavailable_within_the_acquire_timeout() {
    let settings = quick_settings();
    let url = format!("postgres://u:pw-secret@127.0.0.1:{}/x", closed_port());
    let (result, elapsed) = connect_bounded(&url, &settings).await;
    let err = result.expect_err("connected to a closed port");
    assert!(err.is_unavailable(), "refused connection gave {err:?}");
    assert!(
        elapsed < settings.acquire_timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    assert!(!format!("{err} {err:?}").contains("pw-secret"));
}

#[tokio::test]
async fn server_that_never_answers_is_unavailable_within_the_acquire_timeout() {
    // The kernel completes the TCP handshake into the backlog; nobody ever speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let settings = quick_settings();
    let (result, elapsed) =
        connect_bounded(&format!("postgres://u@127.0.0.1:{port}/x"), &settings).await;
    let err = result.expect_err("connected to a silent server");
    assert!(err.is_unavailable(), "silent server gave {err:?}");
    assert!(
        elapsed < settings.acquire_timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn closed_store_is_unavailable() {
    let db = Database::create().await;
    let store = PostgresStore::connect(&db.url, &settings())
        .await
        .expect("connect");
    store.close().await;
    let err = store
        .revocation_epoch()
        .await
        .expect_err("closed store answered");
    assert!(err.is_unavailable(), "closed store gave {err:?}");
}

#[tokio::test]
async fn debug_never_shows_the_url_or_password() {
    let db = Database::create().await;
    // The test server trusts loopback, so any password connects; it must not be printed.
    let url = with_password(&db.url, "pw-secret");
    let store = PostgresStore::connect(&url, &settings())
        .await
        .expect("connect");
    let debug = format!("{store:?}");
    assert!(!debug.contains("pw-secret"), "{debug}");
    assert!(!debug.contains(&db.name), "{debug}");
    assert!(debug.starts_with("PostgresStore"), "{debug}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_stuck_behind_a_lock_is_cancelled_by_the_statement_timeout() {
    let db = Database::create().await;
    let settings = PoolSettings {
        statement_timeout: Duration::from_millis(500),
        ..settings()
    };
    let store = PostgresStore::connect(&db.url, &settings)
        .await
        .expect("connect");
    // A long migration wait must not be cut short by the statement timeout.
    store.migrate().await.expect("migrate");

    // Another client holds the epoch row: a logout must bump it, so it waits.
    let mut blocker = PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("SELECT epoch FROM revocation_epoch WHERE id = 1 FOR UPDATE")
        .execute(&mut blocker)
        .await
        .expect("lock the epoch row");

    let now = wxlogin_store::conformance::T0;
    let login = wxlogin_store::conformance::login("wx-app", "oUser", "k", now);
    let session = login.session.session_id;
    wxlogin_store::LoginStore::record_login(&store, login, now)
        .await
        .expect("record_login");

    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), store.end_session(session, now))
        .await
        .expect("end_session hung past the statement timeout")
        .expect_err("end_session went through a held lock");
    assert!(err.is_unavailable(), "statement timeout gave {err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing changed: the session is still there once the lock is gone.
    let _ = blocker.close().await;
    assert!(store.end_session(session, now).await.expect("end_session"));
    store.close().await;
}

#[tokio::test]
async fn identifiers_compare_and_sort_byte_wise_under_a_linguistic_default_collation() {
    let fixture = fresh_store().await;
    let store = fixture.store();
    let now = wxlogin_store::conformance::T0;
    // Byte-wise 'B' (0x42) < 'a' (0x61); en-US puts "a" first.
    for name in ["p/a", "p/B", "q/a"] {
        store
            .secret_or_insert(name, name.as_bytes().to_vec(), now)
            .await
            .expect("secret_or_insert");
    }
    let names: Vec<String> = store
        .secrets_with_prefix("p/")
        .await
        .expect("secrets_with_prefix")
        .into_iter()
        .map(|secret| secret.name)
        .collect();
    assert_eq!(names, ["p/B", "p/a"]);
    assert!(
        store
            .secrets_with_prefix("P/")
            .await
            .expect("secrets_with_prefix")
            .is_empty(),
        "prefix matched case-insensitively"
    );
}

/// Two stores on one migrated database: two instances of the server, as far as PostgreSQL
/// can tell (separate pools, separate connections).
async fn two_instances() -> (Database, PostgresStore, PostgresStore) {
    let db = Database::create().await;
    let a = PostgresStore::connect(&db.url, &settings())
        .await
        .expect("connect");
    a.migrate().await.expect("migrate");
    let b = PostgresStore::connect(&db.url, &settings())
        .await
        .expect("connect");
    (db, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cap_eviction_across_instances_keeps_exactly_the_cap() {
    use wxlogin_store::conformance::{APP, T0, login};
    const LOGINS: usize = 16;
    const CAP: u32 = 3;
    let (_db, a, b) = two_instances().await;
    let epoch0 = a.revocation_epoch().await.expect("epoch");

    let start = std::sync::Arc::new(tokio::sync::Barrier::new(LOGINS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..LOGINS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let start = start.clone();
        tasks.spawn(async move {
            let mut new = login(APP, "oCapped", &format!("key-{i}"), T0);
            new.policy.max_sessions = CAP;
            let session = new.session.session_id;
            let hash = new.session.token_hash;
            start.wait().await;
            let recorded = store.record_login(new, T0).await.expect("record_login");
            (session, hash, recorded)
        });
    }
    let results = tasks.join_all().await;

    let user = results[0].2.user_id;
    assert!(
        results.iter().all(|(_, _, r)| r.user_id == user),
        "one user"
    );
    let mut evicted: Vec<Uuid> = results
        .iter()
        .flat_map(|(_, _, r)| r.evicted_sessions.iter().copied())
        .collect();
    let total_evicted = evicted.len();
    evicted.sort_unstable();
    evicted.dedup();
    assert_eq!(evicted.len(), total_evicted, "a session was evicted twice");
    assert_eq!(total_evicted, LOGINS - CAP as usize, "evictions");

    let mut live = 0;
    for (session, hash, _) in &results {
        let found = a.find_session(hash, T0).await.expect("find_session");
        assert_eq!(
            found.is_some(),
            !evicted.contains(session),
            "a session is live exactly when it was not evicted"
        );
        live += usize::from(found.is_some());
    }
    assert_eq!(live, CAP as usize, "live sessions after the race");
    let ring = b
        .key_ring(user, T0, KeyRingPolicy::default())
        .await
        .expect("key_ring");
    assert_eq!(ring.iter().filter(|k| k.current).count(), 1, "current keys");
    assert!(
        b.revocation_epoch().await.expect("epoch") > epoch0,
        "evictions bumped the epoch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_racing_logins_never_drops_a_live_ring() {
    use wxlogin_store::conformance::{APP, T0, login};
    const USERS: usize = 24;
    let (_db, a, b) = two_instances().await;
    let later = T0 + time::Duration::days(10);

    // Every user's only session has expired by `later`: their rings are purgeable then.
    for i in 0..USERS {
        a.record_login(login(APP, &format!("oUser{i}"), "same-key", T0), T0)
            .await
            .expect("record_login");
    }

    // They all log in again (with the same key: the ring row is updated in place) while two
    // instances purge.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(USERS + 4));
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..USERS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let start = start.clone();
        logins.spawn(async move {
            let new = login(APP, &format!("oUser{i}"), "same-key", later);
            start.wait().await;
            store.record_login(new, later).await.expect("record_login")
        });
    }
    let mut purges = tokio::task::JoinSet::new();
    for i in 0..4 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let start = start.clone();
        purges.spawn(async move {
            start.wait().await;
            for _ in 0..5 {
                store
                    .purge(later, wxlogin_store::PurgeLimits::default())
                    .await
                    .expect("purge");
                tokio::task::yield_now().await;
            }
        });
    }
    let recorded = logins.join_all().await;
    purges.join_all().await;

    for r in recorded {
        let ring = a
            .key_ring(r.user_id, later, KeyRingPolicy::default())
            .await
            .expect("key_ring");
        assert_eq!(
            ring.iter().filter(|k| k.current).count(),
            1,
            "a purge dropped the ring of a user who had just logged in"
        );
    }
}
