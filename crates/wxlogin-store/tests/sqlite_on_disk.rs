//! What reaches the disk: after a login through the real at-rest sealing, neither the token nor
//! the plaintext session_key (nor the login code) appears anywhere in the database files.

use std::path::Path;

use time::macros::datetime;
use wxlogin_store::at_rest::{AtRestKeys, session_key_aad};
use wxlogin_store::{
    CodeHash, KeyFingerprint, KeyRingPolicy, LoginPolicy, LoginStore, NewLogin, NewSession,
    NewSessionKey, SessionStore, SqliteStore, TokenHash, UserStore, new_id,
};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte of every file in `dir` (the database, its WAL and shared-memory files).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn database_files_never_hold_a_token_code_or_plaintext_session_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    let keys = AtRestKeys::load_or_generate(&keys_dir).unwrap();
    let store = SqliteStore::open_path(&data.join("wxlogin.db"))
        .await
        .unwrap();

    let now = datetime!(2026-05-01 12:00 UTC);
    let (appid, openid) = ("wx1234567890abcdef", "oPlainOpenid-visible");
    let token = "wxl_NEVER-STORE-THIS-TOKEN-0123456789abcdefghijklmnop";
    let session_key = "SeSsIoNkEyPlainText==";
    let code = "081LOGINCODE-never-stored";

    assert!(
        store
            .claim_login_code(
                appid,
                &CodeHash::of(code),
                now + time::Duration::minutes(5),
                now
            )
            .await
            .unwrap()
    );
    let aad = session_key_aad(appid, openid);
    let login = NewLogin {
        appid: appid.into(),
        openid: openid.into(),
        unionid: None,
        session_key: NewSessionKey {
            sealed: keys.seal(session_key.as_bytes(), &aad).unwrap(),
            fingerprint: KeyFingerprint::of(session_key),
        },
        session: NewSession {
            session_id: new_id(now),
            token_hash: TokenHash::of(token),
            family_id: None,
            idle_expires_at: now + time::Duration::days(7),
            absolute_expires_at: now + time::Duration::days(30),
        },
        policy: LoginPolicy::default(),
    };
    let user = store.record_login(login, now).await.unwrap().user_id;

    // The round trip works: what the store holds opens to the key with the row's AAD.
    let ring = store
        .key_ring(user, now, KeyRingPolicy::default())
        .await
        .unwrap();
    assert_eq!(
        keys.open(&ring[0].sealed, &aad).unwrap().as_slice(),
        session_key.as_bytes()
    );
    assert!(
        store
            .find_session(&TokenHash::of(token), now)
            .await
            .unwrap()
            .is_some()
    );

    // Look at the files both while open (WAL not yet checkpointed) and after closing.
    for stage in ["open", "closed"] {
        if stage == "closed" {
            store.close().await;
        }
        let bytes = all_bytes(&data);
        assert!(
            contains(&bytes, openid.as_bytes()),
            "{stage}: the test must see row data"
        );
        for (what, secret) in [
            ("token", token),
            ("session_key", session_key),
            ("code", code),
        ] {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{stage}: {what} found on disk"
            );
        }
    }
}
