//! The two signatures keyed by the session_key *text* (never its decoded bytes).

use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Checks the `signature` WeChat returns beside `rawData` (§7):
/// `hex(SHA1(rawData ‖ session_key))`, over the rawData string exactly as received.
///
/// The comparison is constant time; upper- or lower-case hex is accepted. Anything that is
/// not 40 hex characters is simply `false`.
pub fn verify_raw_data_signature(raw_data: &str, session_key: &str, signature: &str) -> bool {
    let mut expected = [0u8; 20];
    if hex::decode_to_slice(signature, &mut expected).is_err() {
        return false;
    }
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.as_bytes());
    let actual = hasher.finalize();
    bool::from(actual.as_slice().ct_eq(&expected))
}

/// The rawData signature as WeChat computes it (lowercase hex), for the simulator and tests.
pub fn raw_data_signature(raw_data: &str, session_key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.as_bytes());
    hex::encode(hasher.finalize())
}

/// The login-state signature of §5.1: lowercase hex HMAC-SHA256 of `message` keyed by the
/// UTF-8 bytes of the session_key text. For `wxa/checksession` and
/// `wxa/resetusersessionkey` the message is empty.
pub fn login_state_signature(session_key: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(session_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}
