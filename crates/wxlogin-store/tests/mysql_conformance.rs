//! The backend conformance suite on MySQL / MariaDB, plus what only a networked backend has:
//! concurrent migration, an unreachable server, and a `Debug` that hides the password.
//!
//! Needs `WXLTEST_MYSQL_URL`, a URL of a user allowed to create databases (e.g.
//! `mysql://wxlogin:wxlogin@127.0.0.1:3306/mysql`); every test runs in a database of its own,
//! `wxl_<uuid>`, dropped afterwards. Without the variable the tests fail: they never skip.

use std::time::{Duration, Instant};

use sqlx::MySql;
use sqlx::migrate::MigrateDatabase as _;
use wxlogin_store::conformance::TestStore;
use wxlogin_store::mysql::MySqlStore;
use wxlogin_store::{MaintenanceStore as _, PoolSettings, StoreError};

/// The admin URL from the environment.
fn admin_url() -> String {
    std::env::var("WXLTEST_MYSQL_URL").expect(
        "WXLTEST_MYSQL_URL is not set: point it at a MySQL / MariaDB user that may create \
         databases, e.g. mysql://wxlogin:wxlogin@127.0.0.1:3306/mysql",
    )
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A fresh, empty database, dropped when the guard is.
struct FreshDatabase {
    url: String,
}

impl FreshDatabase {
    async fn create() -> Self {
        let name = format!("wxl_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url(), &name);
        MySql::create_database(&url)
            .await
            .expect("create a test database through WXLTEST_MYSQL_URL");
        Self { url }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // Drop runs inside the suite's runtime, which cannot block on a future: use a thread
        // with a runtime of its own.
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(MySql::drop_database(&url))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database");
        }
    }
}

async fn migrated_store(database: &FreshDatabase) -> MySqlStore {
    let store = MySqlStore::connect(&database.url, &PoolSettings::default())
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");
    store
}

mod conformance {
    use super::*;

    wxlogin_store::conformance_tests!({
        let database = FreshDatabase::create().await;
        let store = migrated_store(&database).await;
        TestStore::new(store).keep_alive(database)
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Four instances starting at once on a fresh database: every `migrate` succeeds, and each
/// migration is recorded once, successfully.
#[test]
fn concurrent_migrate_from_four_stores() {
    runtime().block_on(async {
        let database = FreshDatabase::create().await;
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(
                MySqlStore::connect(&database.url, &PoolSettings::default())
                    .await
                    .expect("connect"),
            );
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
        let mut tasks = tokio::task::JoinSet::new();
        for store in &stores {
            let (store, start) = (store.clone(), std::sync::Arc::clone(&start));
            tasks.spawn(async move {
                start.wait().await;
                store.migrate().await
            });
        }
        for result in tasks.join_all().await {
            result.expect("a concurrent migrate failed");
        }

        let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(&database.url)
            .await
            .expect("connect");
        let rows: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut conn)
                .await
                .expect("read _sqlx_migrations");
        assert_eq!(rows, vec![(1, true), (2, true), (3, true), (4, true)]);
        stores[0]
            .migrate()
            .await
            .expect("a second migrate is a no-op");
        stores[0].ping().await.expect("ping");
        for store in &stores {
            store.close().await;
        }
    });
}

/// A port nothing listens on: `connect` fails as `Unavailable`, within the acquire timeout.
#[test]
fn unreachable_server_is_unavailable_within_the_acquire_timeout() {
    runtime().block_on(async {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let settings = PoolSettings {
            acquire_timeout: Duration::from_secs(2),
            ..PoolSettings::default()
        };
        let url = format!("mysql://u:pw-secret@127.0.0.1:{port}/x");
        let started = Instant::now();
        let err = MySqlStore::connect(&url, &settings)
            .await
            .expect_err("nothing listens there");
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "expected Unavailable, got {err:?}"
        );
        assert!(
            started.elapsed() < settings.acquire_timeout + Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert!(!format!("{err} {err:?}").contains("pw-secret"));

        // A store built without connecting reports the same through `ping`.
        let lazy = MySqlStore::connect_lazy(&url, &settings).expect("valid URL");
        let started = Instant::now();
        assert!(lazy.ping().await.expect_err("unreachable").is_unavailable());
        assert!(started.elapsed() < settings.acquire_timeout + Duration::from_secs(1));
    });
}

#[test]
fn debug_never_shows_the_password() {
    runtime().block_on(async {
        let store = MySqlStore::connect_lazy(
            "mysql://u:pw-secret@127.0.0.1:1/x",
            &PoolSettings::default(),
        )
        .expect("valid URL");
        let shown = format!("{store:?} {store:#?}");
        assert!(shown.starts_with("MySqlStore"), "{shown}");
        assert!(!shown.contains("pw-secret"), "{shown}");
    });
}

#[test]
fn database_urls_are_rewritten() {
    assert_eq!(
        with_database("mysql://u:p@h:1/mysql", "wxl_1"),
        "mysql://u:p@h:1/wxl_1"
    );
    assert_eq!(
        with_database("mysql://u:p@h:1?ssl-mode=disabled", "d"),
        "mysql://u:p@h:1/d?ssl-mode=disabled"
    );
}

/// Logins and logouts of a few users from many tasks at once, with a small session cap: lock
/// waits, InnoDB deadlocks and retries all happen here. Nothing may fail, and afterwards a user
/// has exactly one current key if some session of theirs is live, and an empty ring if not.
#[test]
fn contended_logins_and_logouts_all_succeed() {
    use wxlogin_store::conformance::{T0, login};
    use wxlogin_store::{KeyRingPolicy, LoginStore as _, SessionStore as _, UserStore as _};

    const USERS: usize = 3;
    runtime().block_on(async {
        let database = FreshDatabase::create().await;
        let store = std::sync::Arc::new(migrated_store(&database).await);
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..12 {
            let store = std::sync::Arc::clone(&store);
            tasks.spawn(async move {
                let mut kept = Vec::new();
                for round in 0..15 {
                    let user = (task + round) % USERS;
                    let mut new =
                        login("wxcontended", &format!("o{user}"), &format!("k{round}"), T0);
                    new.policy.max_sessions = 2;
                    let (id, token) = (new.session.session_id, new.session.token_hash);
                    store.record_login(new, T0).await.expect("record_login");
                    if round % 2 == 0 {
                        store.end_session(id, T0).await.expect("end_session");
                    } else {
                        kept.push((user, token));
                    }
                }
                kept
            });
        }
        let kept: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
        assert!(store.revocation_epoch().await.expect("epoch") > 0);
        for user in 0..USERS {
            let mut live = false;
            for (_, token) in kept.iter().filter(|(u, _)| *u == user) {
                live |= store.find_session(token, T0).await.expect("find").is_some();
            }
            let record = store
                .find_user("wxcontended", &format!("o{user}"))
                .await
                .expect("find_user")
                .expect("user exists");
            let ring = store
                .key_ring(record.user_id, T0, KeyRingPolicy::default())
                .await
                .expect("key_ring");
            let current = ring.iter().filter(|k| k.current).count();
            assert_eq!(current, usize::from(live), "user {user}, live: {live}");
            assert_eq!(ring.is_empty(), !live, "user {user}, live: {live}");
        }
    });
}

/// A burst of first logins of different users (a launch day): new users' rows all go to the
/// end of the indexes, where careless locking makes them deadlock each other. All succeed.
#[test]
fn a_burst_of_first_logins_all_succeed() {
    use wxlogin_store::LoginStore as _;
    use wxlogin_store::conformance::{T0, login};

    runtime().block_on(async {
        let database = FreshDatabase::create().await;
        let store = std::sync::Arc::new(migrated_store(&database).await);
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(32));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let (store, start) = (std::sync::Arc::clone(&store), std::sync::Arc::clone(&start));
            tasks.spawn(async move {
                let new = login("wxburst", &format!("oNew{i:02}"), "k", T0);
                start.wait().await;
                store.record_login(new, T0).await.expect("record_login")
            });
        }
        let recorded = tasks.join_all().await;
        assert!(recorded.iter().all(|r| r.new_user && r.key_rotated));
    });
}

/// The MySQL errors that mean "try again" reach callers as `Unavailable`: here a real deadlock
/// between two transactions.
#[test]
fn a_deadlock_is_unavailable() {
    use sqlx::Connection as _;

    runtime().block_on(async {
        let database = FreshDatabase::create().await;
        let mut a = sqlx::MySqlConnection::connect(&database.url).await.expect("a");
        let mut b = sqlx::MySqlConnection::connect(&database.url).await.expect("b");
        sqlx::raw_sql("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE = InnoDB; INSERT INTO t VALUES (1, 0), (2, 0)")
            .execute(&mut a)
            .await
            .expect("set up");
        let mut ta = a.begin().await.expect("begin a");
        let mut tb = b.begin().await.expect("begin b");
        sqlx::query("UPDATE t SET v = 1 WHERE id = 1").execute(&mut *ta).await.expect("a1");
        sqlx::query("UPDATE t SET v = 1 WHERE id = 2").execute(&mut *tb).await.expect("b2");
        let (ra, rb) = tokio::join!(
            sqlx::query("UPDATE t SET v = 2 WHERE id = 2").execute(&mut *ta),
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                sqlx::query("UPDATE t SET v = 2 WHERE id = 1").execute(&mut *tb).await
            }
        );
        let err = ra.err().or(rb.err()).expect("one side is the deadlock victim");
        let err = StoreError::from(err);
        assert!(err.is_unavailable(), "{err:?}");
    });
}
