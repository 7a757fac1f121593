//! Encryption at rest for secrets the store keeps (session_keys; later access_tokens).
//!
//! Pure functions over bytes: the login domain seals a session_key **before** handing it to
//! the store and opens it after reading it back, so no backend ever sees a plaintext key.
//!
//! # Format
//! ```text
//! 0x01 ‖ len(key id) ‖ key id (ASCII) ‖ nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16)
//! ```
//! The leading version byte leaves room for another format; the key id says which configured
//! key opens the value, so keys can be rotated: the **first** key of [`AtRestKeys`] seals, every
//! key opens. The AAD binds a ciphertext to its row ([`session_key_aad`]:
//! `appid ‖ 0x00 ‖ openid`), so a sealed value copied onto another user's row fails to open.
//!
//! # Keys
//! Configured as `id:base64` strings (32 bytes after decoding). For the embedded SQLite store
//! only, [`AtRestKeys::load_or_generate`] creates a key file in the data directory on first
//! start. **A shared store (PostgreSQL, MySQL) must refuse to start without configured keys**:
//! instances generating their own keys could not open each other's rows.
//!
//! Key material lives only inside aws-lc's AEAD contexts (AWS-LC cleanses them when freed);
//! the decoded bytes used to build them are held in [`Zeroizing`] buffers and wiped on drop.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 0x01;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const MAX_KEY_ID_LEN: usize = 32;
/// File name of the generated key, inside the data directory.
pub const KEY_FILE_NAME: &str = "at-rest.key";

/// Why sealing, opening or loading keys failed. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtRestError {
    /// A key spec was not `id:base64-of-32-bytes`; `index` counts from zero.
    #[error("at-rest key #{index} is invalid: {reason}")]
    InvalidKey {
        /// Position of the spec in the list.
        index: usize,
        /// What is wrong with it (never the key).
        reason: &'static str,
    },
    /// Two keys share an id.
    #[error("at-rest key id {0:?} is configured twice")]
    DuplicateKeyId(String),
    /// The key list is empty.
    #[error("no at-rest encryption key configured")]
    NoKeys,
    /// The value was sealed with a key that is not configured (any more).
    #[error("sealed value uses unknown at-rest key id {0:?}")]
    UnknownKeyId(String),
    /// The value is not in the sealed format.
    #[error("sealed value is malformed")]
    Malformed,
    /// Authentication failed: wrong AAD, wrong key or tampered bytes.
    #[error("sealed value failed authentication")]
    Decrypt,
    /// The random generator or the cipher failed.
    #[error("at-rest encryption failed")]
    Crypto,
    /// The key file could not be read or written, or is readable by others.
    #[error("at-rest key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The AAD binding a stored access_token to its app.
pub fn access_token_aad(appid: &str) -> Vec<u8> {
    // The leading 0x01 and the label keep these apart from session_key AADs (which start with
    // an appid, never with a control byte).
    [b"\x01access_token\x00".as_slice(), appid.as_bytes()].concat()
}

/// The AAD binding a stored phone number to its user.
pub fn phone_aad(user_id: &str) -> Vec<u8> {
    [b"\x01phone\x00".as_slice(), user_id.as_bytes()].concat()
}

/// The AAD binding a sealed session_key to its row: `appid ‖ 0x00 ‖ openid`.
pub fn session_key_aad(appid: &str, openid: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(appid.len() + 1 + openid.len());
    aad.extend_from_slice(appid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(openid.as_bytes());
    aad
}

struct AtRestKey {
    id: String,
    key: RandomizedNonceKey,
}

/// The configured at-rest keys: the first seals, all open. Cloning shares the keys (the
/// login service, the access_token manager and the open-data service each hold one).
#[derive(Clone)]
pub struct AtRestKeys {
    keys: std::sync::Arc<[AtRestKey]>,
}

impl fmt::Debug for AtRestKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("AtRestKeys")
            .field("key_ids", &ids)
            .field("material", &"<redacted>")
            .finish()
    }
}

impl AtRestKeys {
    /// Parses `id:base64` specs; the first one seals. Ids are 1–32 characters of
    /// `[A-Za-z0-9_-]`; each key decodes to exactly 32 bytes.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, AtRestError> {
        if specs.is_empty() {
            return Err(AtRestError::NoKeys);
        }
        let mut keys: Vec<AtRestKey> = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let key = parse_spec(spec.as_ref().trim(), index)?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(AtRestError::DuplicateKeyId(key.id));
            }
            keys.push(key);
        }
        Ok(Self { keys: keys.into() })
    }

    /// Parses a list separated by commas, whitespace or newlines (a config value or a file).
    pub fn parse_list(list: &str) -> Result<Self, AtRestError> {
        let specs: Vec<&str> = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty() && !s.starts_with('#'))
            .collect();
        Self::parse(&specs)
    }

    /// A fresh random key with the given id, as an `id:base64` spec. The returned string is
    /// the secret: store it, never log it.
    pub fn generate_spec(id: &str) -> Result<Zeroizing<String>, AtRestError> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(raw.as_mut()).map_err(|_| AtRestError::Crypto)?;
        let spec = Zeroizing::new(format!("{id}:{}", STANDARD.encode(raw.as_ref())));
        // Validate the id through the same parser the spec will meet later.
        parse_spec(&spec, 0)?;
        Ok(spec)
    }

    /// Loads `dir/at-rest.key`, creating it (mode 0600, one generated key `k1`) if absent.
    ///
    /// **Embedded SQLite store only.** A shared store must be given keys by configuration and
    /// refuse to start without them. An existing file readable by group or others is refused.
    /// To rotate, put a new line first in the file: it seals, the old line still opens.
    pub fn load_or_generate(dir: &Path) -> Result<Self, AtRestError> {
        let path = dir.join(KEY_FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_private(&path)?;
                return Self::parse_list(&Zeroizing::new(text));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(key_file_error(&path, &err)),
        }
        let spec = Self::generate_spec("k1")?;
        match write_new_private_file(dir, &path, spec.as_bytes()) {
            Ok(()) => Self::parse(&[spec.as_str()]),
            // Another process won the race: use its key.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(|e| key_file_error(&path, &e))?;
                Self::parse_list(&Zeroizing::new(text))
            }
            Err(err) => Err(key_file_error(&path, &err)),
        }
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Encrypts `plaintext` under the first key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let key = &self.keys[0];
        let header = 2 + key.id.len();
        let mut in_out = Vec::with_capacity(header + NONCE_LEN + plaintext.len() + TAG_LEN);
        in_out.extend_from_slice(plaintext);
        let nonce = key
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .map_err(|_| AtRestError::Crypto)?;

        let mut sealed = Vec::with_capacity(header + NONCE_LEN + in_out.len());
        sealed.push(FORMAT_V1);
        sealed.push(key.id.len() as u8); // ids are at most MAX_KEY_ID_LEN bytes
        sealed.extend_from_slice(key.id.as_bytes());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts a value produced by [`seal`](Self::seal) with any configured key. The
    /// plaintext is returned in a buffer that is wiped when dropped.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        let (&version, rest) = sealed.split_first().ok_or(AtRestError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(AtRestError::Malformed)?;
        if version != FORMAT_V1 || rest.len() < usize::from(id_len) + NONCE_LEN + TAG_LEN {
            return Err(AtRestError::Malformed);
        }
        let (id, rest) = rest.split_at(usize::from(id_len));
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == id)
            .ok_or_else(|| AtRestError::UnknownKeyId(String::from_utf8_lossy(id).into_owned()))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AtRestError::Malformed)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = key
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| AtRestError::Decrypt)?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

fn parse_spec(spec: &str, index: usize) -> Result<AtRestKey, AtRestError> {
    let invalid = |reason| AtRestError::InvalidKey { index, reason };
    let (id, material) = spec.split_once(':').ok_or(invalid("expected id:base64"))?;
    if id.is_empty()
        || id.len() > MAX_KEY_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid("id must be 1-32 characters of [A-Za-z0-9_-]"));
    }
    let raw = Zeroizing::new(
        STANDARD
            .decode(material.trim())
            .map_err(|_| invalid("key is not valid base64"))?,
    );
    if raw.len() != KEY_LEN {
        return Err(invalid("key must decode to 32 bytes"));
    }
    let key = RandomizedNonceKey::new(&AES_256_GCM, &raw).map_err(|_| AtRestError::Crypto)?;
    Ok(AtRestKey {
        id: id.to_owned(),
        key,
    })
}

fn key_file_error(path: &Path, err: &std::io::Error) -> AtRestError {
    AtRestError::KeyFile {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

/// Writes `contents` to `path` only if it does not exist, never exposing a partial file: the
/// data goes to a private temporary file first, which is then hard-linked into place
/// (atomic, and failing with `AlreadyExists` if another process got there first).
fn write_new_private_file(dir: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = tempfile_in(dir)?;
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(contents)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn tempfile_in(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| std::io::Error::other("random failed"))?;
    let name = format!(".{KEY_FILE_NAME}.{:016x}.tmp", u64::from_le_bytes(suffix));
    Ok(dir.join(name))
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), AtRestError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| key_file_error(path, &e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(AtRestError::KeyFile {
            path: path.display().to_string(),
            reason: format!(
                "permissions {:o} allow others to read it; chmod 600",
                mode & 0o777
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), AtRestError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    fn aad() -> Vec<u8> {
        session_key_aad("wx1234567890abcdef", "oUser-openid")
    }

    #[test]
    fn round_trip() {
        let keys = AtRestKeys::parse(&[K1]).unwrap();
        let sealed = keys.seal(b"tiihtNczf5v6AKRyjwEUhQ==", &aad()).unwrap();
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(&sealed[1..4], b"\x02k1");
        assert_eq!(sealed.len(), 4 + NONCE_LEN + 24 + TAG_LEN);
        assert_eq!(
            keys.open(&sealed, &aad()).unwrap().as_slice(),
            b"tiihtNczf5v6AKRyjwEUhQ=="
        );
        // Random nonces: sealing twice never gives the same bytes.
        assert_ne!(
            sealed,
            keys.seal(b"tiihtNczf5v6AKRyjwEUhQ==", &aad()).unwrap()
        );
    }

    #[test]
    fn wrong_aad_fails() {
        let keys = AtRestKeys::parse(&[K1]).unwrap();
        let sealed = keys.seal(b"secret", &aad()).unwrap();
        let other_row = session_key_aad("wx1234567890abcdef", "oOther-openid");
        assert!(matches!(
            keys.open(&sealed, &other_row),
            Err(AtRestError::Decrypt)
        ));
        // The separator matters: ("ab", "c") and ("a", "bc") are different rows.
        let sealed = keys.seal(b"secret", &session_key_aad("ab", "c")).unwrap();
        assert!(keys.open(&sealed, &session_key_aad("a", "bc")).is_err());
    }

    #[test]
    fn any_tampered_byte_fails() {
        let keys = AtRestKeys::parse(&[K1]).unwrap();
        let sealed = keys.seal(b"secret", &aad()).unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                keys.open(&bad, &aad()).is_err(),
                "flipping byte {i} went unnoticed"
            );
        }
        assert!(matches!(
            keys.open(&sealed[..sealed.len() - 1], &aad()),
            Err(AtRestError::Decrypt)
        ));
        assert!(matches!(
            keys.open(&sealed[..10], &aad()),
            Err(AtRestError::Malformed)
        ));
        assert!(matches!(
            keys.open(&[], &aad()),
            Err(AtRestError::Malformed)
        ));
    }

    #[test]
    fn unknown_key_id_fails() {
        let sealed = AtRestKeys::parse(&[K2])
            .unwrap()
            .seal(b"secret", &aad())
            .unwrap();
        let keys = AtRestKeys::parse(&[K1]).unwrap();
        assert!(
            matches!(keys.open(&sealed, &aad()), Err(AtRestError::UnknownKeyId(id)) if id == "k2")
        );
    }

    #[test]
    fn rotation_new_key_seals_old_key_still_opens() {
        let old = AtRestKeys::parse(&[K1]).unwrap();
        let sealed_old = old.seal(b"before", &aad()).unwrap();
        let rotated = AtRestKeys::parse(&[K2, K1]).unwrap();
        assert_eq!(rotated.sealing_key_id(), "k2");
        assert_eq!(
            rotated.open(&sealed_old, &aad()).unwrap().as_slice(),
            b"before"
        );
        let sealed_new = rotated.seal(b"after", &aad()).unwrap();
        assert_eq!(&sealed_new[1..4], b"\x02k2");
        assert!(old.open(&sealed_new, &aad()).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let keys = AtRestKeys::parse(&[K1, K2]).unwrap();
        let debug = format!("{keys:?}");
        assert!(debug.contains("k1") && debug.contains("k2"));
        for spec in [K1, K2] {
            let material = spec.split_once(':').unwrap().1;
            assert!(!debug.contains(material), "{debug}");
            assert!(!debug.contains(&material[..8]), "{debug}");
        }
    }

    #[test]
    fn invalid_specs_are_refused_without_echoing_them() {
        let cases = [
            "k1",
            ":AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "k 1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "k1:not base64!",
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        ];
        for spec in cases {
            let err = AtRestKeys::parse(&[spec]).unwrap_err();
            assert!(
                matches!(err, AtRestError::InvalidKey { index: 0, .. }),
                "{spec}"
            );
            assert!(!err.to_string().contains("AAECAwQF"), "{err}");
        }
        assert!(matches!(
            AtRestKeys::parse(&[K1, K1]),
            Err(AtRestError::DuplicateKeyId(_))
        ));
        assert!(matches!(
            AtRestKeys::parse::<&str>(&[]),
            Err(AtRestError::NoKeys)
        ));
        assert!(matches!(
            AtRestKeys::parse_list(" \n"),
            Err(AtRestError::NoKeys)
        ));
        let list = AtRestKeys::parse_list(&format!("{K2}, {K1}\n")).unwrap();
        assert_eq!(list.sealing_key_id(), "k2");
    }

    #[test]
    fn load_or_generate_creates_a_private_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = AtRestKeys::load_or_generate(dir.path()).unwrap();
        let sealed = first.seal(b"persisted", &aad()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = AtRestKeys::load_or_generate(dir.path()).unwrap();
        assert_eq!(
            again.open(&sealed, &aad()).unwrap().as_slice(),
            b"persisted"
        );
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_a_world_readable_key_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        AtRestKeys::load_or_generate(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            AtRestKeys::load_or_generate(dir.path()),
            Err(AtRestError::KeyFile { .. })
        ));
    }
}
