//! The identifiers WeChat hands out, in the shapes of protocol §12.
//!
//! openids and unionids are *derived*, not random: a user handle must map to the same openid
//! across restarts and seeds, the way a real person keeps their openid. Everything else (codes,
//! session_keys, rids) comes from the simulator's one seedable generator.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// The openid of `user` in mini-program `appid`: `o` + 27 characters of `[0-9A-Za-z_-]`.
pub(crate) fn openid(appid: &str, user: &str) -> String {
    derive(b"openid", appid, user)
}

/// The unionid of `user` under Open Platform account `group`; same shape as an openid.
pub(crate) fn unionid(group: &str, user: &str) -> String {
    derive(b"unionid", group, user)
}

/// SHA-256 over a domain-separated, length-prefixed input, so that no (scope, user) pair can
/// collide with another by moving characters across the boundary, and an openid can never equal
/// a unionid of the same strings.
fn derive(kind: &[u8], scope: &str, user: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"wxlogin-simulator/v1/");
    hash.update(kind);
    hash.update([0]);
    hash.update((scope.len() as u64).to_be_bytes());
    hash.update(scope.as_bytes());
    hash.update(user.as_bytes());
    // 32 bytes encode to 43 characters of the URL-safe alphabet, which is exactly [0-9A-Za-z_-].
    let text = URL_SAFE_NO_PAD.encode(hash.finalize());
    format!("o{}", &text[..27])
}

/// A login code: 32 characters of `[0-9A-Za-z]`.
pub(crate) fn login_code(rng: &mut impl Rng) -> String {
    rng.sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// A session_key: standard, padded base64 of 16 random bytes (24 characters ending in `==`).
pub(crate) fn session_key(rng: &mut impl Rng) -> String {
    STANDARD.encode(rng.random::<[u8; 16]>())
}

/// A phone code from the phone button: 64 lowercase hex characters (the documented example).
pub(crate) fn phone_code(rng: &mut impl Rng) -> String {
    hex::encode(rng.random::<[u8; 32]>())
}

/// An access_token: `<digits>_<base64url>`, 139 characters (observed: 136–157, §12).
pub(crate) fn access_token(rng: &mut impl Rng) -> String {
    let prefix: u8 = rng.random_range(60..100);
    let mut body = [0u8; 102];
    rng.fill(&mut body[..]);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(body))
}

/// A mainland mobile number for `user`: `1` + 10 digits, derived like openids, so the same
/// person has the same number in every app and across restarts.
pub(crate) fn phone_number(user: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"wxlogin-simulator/v1/phone\0");
    hash.update(user.as_bytes());
    let digest = hash.finalize();
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 1_000_000_000;
    format!("13{n:09}")
}

/// A request id for an errmsg: three groups of 8 lowercase hex digits.
pub(crate) fn rid(rng: &mut impl Rng) -> String {
    let [a, b, c] = rng.random::<[u32; 3]>();
    format!("{a:08x}-{b:08x}-{c:08x}")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn is_id_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    }

    #[test]
    fn openids_are_stable_across_releases() {
        // Pinned, and cross-checked with Python's hashlib: changing the derivation would
        // silently give every simulated user a new identity, breaking fixtures and databases
        // developers keep between runs.
        assert_eq!(
            openid("wx1234567890abcdef", "alice"),
            "oC54HsVcIbs54tpc8CLJLUXtCtt6"
        );
        assert_eq!(unionid("group", "alice"), "ofEbLqLJydYpqlG8xcuTuq6Agg-5");
    }

    #[test]
    fn openids_have_wechats_shape_and_differ_per_app_and_user() {
        let a = openid("wx1234567890abcdef", "alice");
        assert_eq!(a.len(), 28);
        assert!(a.starts_with('o'));
        assert!(a.chars().all(is_id_char), "{a}");
        assert_ne!(a, openid("wx1234567890abcdee", "alice"));
        assert_ne!(a, openid("wx1234567890abcdef", "bob"));
        assert_ne!(
            openid("ab", "c"),
            openid("a", "bc"),
            "boundary is unambiguous"
        );
        assert_ne!(
            openid("g", "alice"),
            unionid("g", "alice"),
            "kinds are separated"
        );
    }

    #[test]
    fn random_ids_have_wechats_shapes_and_follow_the_seed() {
        let mut rng = StdRng::seed_from_u64(7);
        let code = login_code(&mut rng);
        assert_eq!(code.len(), 32);
        assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");

        let key = session_key(&mut rng);
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="), "{key}");
        assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);

        let rid = rid(&mut rng);
        let groups: Vec<&str> = rid.split('-').collect();
        assert_eq!(groups.len(), 3, "{rid}");
        for group in groups {
            assert_eq!(group.len(), 8, "{rid}");
            assert!(
                group.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
                "{rid}"
            );
        }

        let phone = phone_code(&mut rng);
        assert_eq!(phone.len(), 64);
        assert!(
            phone.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{phone}"
        );

        let token = access_token(&mut rng);
        assert_eq!(token.len(), 139, "{token}");
        let (digits, rest) = token.split_once('_').unwrap();
        assert!(
            digits.len() == 2 && digits.chars().all(|c| c.is_ascii_digit()),
            "{token}"
        );
        assert!(rest.chars().all(is_id_char), "{token}");

        let number = phone_number("alice");
        assert_eq!(number.len(), 11);
        assert!(number.starts_with("13") && number.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(number, phone_number("alice"));
        assert_ne!(number, phone_number("bob"));

        let mut again = StdRng::seed_from_u64(7);
        assert_eq!(login_code(&mut again), code, "same seed, same sequence");
        let mut other = StdRng::seed_from_u64(8);
        assert_ne!(login_code(&mut other), code);
    }
}
