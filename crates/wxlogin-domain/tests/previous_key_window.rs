//! `/v1/decrypt`'s previous-key window across the end of a user's last session.
//!
//! The mini-program SDK recovers from a 401 (its token was logged out, revoked or expired) by
//! calling `wx.login`, which rotates the session_key, logging in again and replaying the
//! decryption of encryptedData it fetched before, sealed under the old key. The store retires
//! that key when the last session ends instead of dropping it; these tests check that
//! [`OpenData::decrypt`] then opens the replay with the previous key, within the window only.
//!
//! The store is the real embedded one (in memory); logins are written to it directly, since
//! the login service would need WeChat, and nothing here reaches WeChat.

use std::sync::Arc;
use std::time::Duration;

use wxlogin_clock::{Clock as _, OffsetClock};
use wxlogin_crypto::{DecryptError, PayloadKind};
use wxlogin_domain::{
    AccessTokens, App, Apps, EncryptedPayload, KEY_RING_TTL, KeyGeneration, KeyRingCache, OpenData,
    OpenDataError, OpenDataLimits, OpenDataParts, SessionPolicy, TokenSource,
};
use wxlogin_store::at_rest::{AtRestKeys, session_key_aad};
use wxlogin_store::{
    KeyFingerprint, LoginPolicy, NewLogin, NewSession, NewSessionKey, PurgeLimits, SessionRecord,
    SqliteStore, Store, TokenHash, new_id,
};
use wxlogin_wechat::{ClientOptions, WeChatClient};

const APPID: &str = "wx0000000000000001";
const OPENID: &str = "oReplayUser";
const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
/// The key of the first login, and the one `wx.login` rotated to before the second.
const OLD_KEY: &str = "MTIzNDU2Nzg5MGFiY2RlZg==";
const NEW_KEY: &str = "ZmVkY2JhMDk4NzY1NDMyMQ==";

struct Fixture {
    store: Arc<dyn Store>,
    clock: Arc<OffsetClock>,
    at_rest: AtRestKeys,
    open_data: OpenData,
}

impl Fixture {
    async fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open("sqlite::memory:")
                .await
                .expect("in-memory store"),
        );
        let clock = Arc::new(OffsetClock::new());
        let spec = AtRestKeys::generate_spec("test").expect("at-rest key");
        let at_rest = AtRestKeys::parse(&[spec.as_str()]).expect("at-rest keys");
        // Never called: decryption needs no access_token. A closed port, should it be.
        let wechat = WeChatClient::new(ClientOptions {
            api_base: "http://127.0.0.1:9".into(),
            allow_http: true,
            ..ClientOptions::default()
        })
        .expect("WeChat client");
        let tokens = AccessTokens::new(
            Arc::clone(&store),
            wechat.clone(),
            clock.clone(),
            at_rest.clone(),
            TokenSource::Stable,
            None,
        );
        let open_data = OpenData::new(OpenDataParts {
            store: Arc::clone(&store),
            wechat,
            clock: clock.clone(),
            apps: Apps::new([App {
                appid: APPID.into(),
                secret: "unused".to_owned().into(),
            }]),
            at_rest: at_rest.clone(),
            tokens,
            policy: SessionPolicy::default(),
            limits: OpenDataLimits::default(),
            store_phone_numbers: false,
            coordinator: None,
            key_rings: Arc::new(KeyRingCache::new(100)),
        });
        Self {
            store,
            clock,
            at_rest,
            open_data,
        }
    }

    /// What `POST /v1/login` writes after `jscode2session` returned `key`: returns the new
    /// session as token verification would find it. `idle` is the session's idle lifetime.
    async fn login(&self, token: &str, key: &str, idle: Duration) -> SessionRecord {
        let now = self.clock.now();
        let sealed = self
            .at_rest
            .seal(key.as_bytes(), &session_key_aad(APPID, OPENID))
            .expect("seal");
        let policy = SessionPolicy::default();
        let login = NewLogin {
            appid: APPID.into(),
            openid: OPENID.into(),
            unionid: None,
            session_key: NewSessionKey {
                sealed,
                fingerprint: KeyFingerprint::of(key),
            },
            session: NewSession {
                session_id: new_id(now),
                token_hash: TokenHash::of(token),
                family_id: None,
                idle_expires_at: now + idle,
                absolute_expires_at: now + policy.absolute_lifetime,
            },
            policy: LoginPolicy {
                max_sessions: policy.max_sessions_per_user,
                key_ring: wxlogin_store::KeyRingPolicy {
                    keep_previous: policy.previous_keys_kept,
                    window: policy.previous_key_window,
                },
            },
        };
        self.store.record_login(login, now).await.expect("login");
        self.store
            .find_session(&TokenHash::of(token), now)
            .await
            .expect("find_session")
            .expect("the new session")
    }

    async fn decrypt(
        &self,
        session: &SessionRecord,
        encrypted_data: &str,
    ) -> Result<KeyGeneration, OpenDataError> {
        let payload = EncryptedPayload {
            kind: PayloadKind::Share,
            encrypted_data,
            iv: IV,
            raw_data: None,
            signature: None,
        };
        self.open_data
            .decrypt(session, &payload)
            .await
            .map(|(_, generation)| generation)
    }

    /// Lets the ring cache forget what it read, as the seconds a real re-login takes do.
    fn pause(&self) {
        self.clock.advance(KEY_RING_TTL + Duration::from_secs(1));
    }
}

/// Share info for our app, sealed under `key` as WeChat would.
fn share_info(key: &str) -> String {
    let plain =
        format!(r#"{{"openGId":"GShare","watermark":{{"appid":"{APPID}","timestamp":1}}}}"#);
    wxlogin_crypto::encrypt(key, IV, plain.as_bytes()).expect("encrypt")
}

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

#[tokio::test]
async fn a_replay_after_logout_and_relogin_opens_with_the_previous_key() {
    let f = Fixture::new().await;
    let first = f.login("token-1", OLD_KEY, WEEK).await;
    let fetched = share_info(OLD_KEY);
    assert_eq!(
        f.decrypt(&first, &fetched).await.expect("decrypt"),
        KeyGeneration::Current
    );

    // 401 → wx.login (new key) → POST /v1/login → replay.
    assert!(
        f.store
            .end_session(first.session_id, f.clock.now())
            .await
            .unwrap()
    );
    let logged_out_at = f.clock.now();
    f.pause();
    let second = f.login("token-2", NEW_KEY, WEEK).await;
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(
        f.decrypt(&second, &fetched).await.expect("the replay"),
        KeyGeneration::Previous,
    );
    assert_eq!(
        f.decrypt(&second, &share_info(NEW_KEY))
            .await
            .expect("fresh data"),
        KeyGeneration::Current,
    );

    // The window counts from the logout. (The clock moves in whole milliseconds: one more
    // makes up for the fraction `advance` drops.)
    let until_closed = logged_out_at + SessionPolicy::default().previous_key_window - f.clock.now();
    f.clock
        .advance(Duration::try_from(until_closed).expect("ahead") + Duration::from_millis(1));
    let closed = f.decrypt(&second, &fetched).await;
    assert!(
        matches!(
            closed,
            Err(OpenDataError::Decrypt(DecryptError::DecryptFailed))
        ),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_replay_after_expiry_and_purge_opens_with_the_previous_key() {
    let f = Fixture::new().await;
    let first = f.login("token-1", OLD_KEY, Duration::from_secs(60)).await;
    let fetched = share_info(OLD_KEY);

    // The session idles out; the purge retires its key (orphaned ring).
    f.clock.advance(Duration::from_secs(61));
    let report = f
        .store
        .purge(f.clock.now(), PurgeLimits::default())
        .await
        .expect("purge");
    assert_eq!((report.expired_sessions, report.orphaned_key_rings), (1, 1));
    f.pause();
    let second = f.login("token-2", NEW_KEY, WEEK).await;
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(
        f.decrypt(&second, &fetched).await.expect("the replay"),
        KeyGeneration::Previous,
    );
}
