//! Our own login state: opaque bearer tokens.
//!
//! A token is `wxl_` followed by 43 base64url characters (32 bytes from the OS CSPRNG). The
//! prefix makes a leaked token recognisable to secret scanners and to people; the 256 random
//! bits make guessing pointless. Only the SHA-256 of the whole token is ever stored, so a copy
//! of the database does not let anyone act as a user. SHA-256 without a salt or a slow KDF is
//! the right choice here (unlike for passwords): the input has full entropy.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

use wxlogin_store::TokenHash;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "wxl_";
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// A freshly minted token: the only moment the plain text exists on the server.
pub struct IssuedToken {
    text: String,
    hash: TokenHash,
}

impl IssuedToken {
    /// Mints a token from the operating system's CSPRNG.
    pub fn mint() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        // ThreadRng is a CSPRNG (ChaCha12) reseeded from the OS.
        rand::rng().fill_bytes(&mut bytes);
        let text = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = TokenHash::of(&text);
        Self { text, hash }
    }

    /// The token to hand to the client, once.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What the store keeps.
    pub fn hash(&self) -> TokenHash {
        self.hash
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("text", &"[REDACTED]")
            .finish()
    }
}

/// Hashes a presented token if it has our shape, so garbage never reaches the store.
pub fn hash_presented(token: &str) -> Option<TokenHash> {
    let random = token.strip_prefix(TOKEN_PREFIX)?;
    let well_formed = random.len() == ENCODED_LEN
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| TokenHash::of(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_the_documented_shape_and_are_unique() {
        let a = IssuedToken::mint();
        let b = IssuedToken::mint();
        assert_ne!(a.text(), b.text());
        assert!(a.text().starts_with("wxl_"));
        assert_eq!(a.text().len(), 4 + 43);
        assert_eq!(hash_presented(a.text()), Some(a.hash()));
    }

    #[test]
    fn malformed_tokens_are_refused_before_hashing() {
        for bad in [
            "",
            "wxl_",
            "Bearer x",
            "wxl_short",
            &"wxl_".repeat(20),
            "xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(hash_presented(bad), None, "{bad}");
        }
        let bad_char = format!("wxl_{}+", "A".repeat(42));
        assert_eq!(hash_presented(&bad_char), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = IssuedToken::mint();
        let debug = format!("{token:?} {:?}", token.hash());
        assert!(!debug.contains(&token.text()[4..]), "{debug}");
    }
}
