//! WeChat open-data cryptography for wxlogin. Pure: no I/O, no storage, no async.
//!
//! - [`decrypt`]: encryptedData → a typed, validated [`Decrypted`] payload (§6 of the
//!   protocol reference), with [`decrypt_with_keys`] for a user's session_key ring (§8.3).
//! - [`verify_raw_data_signature`]: the `rawData` SHA-1 signature (§7).
//! - [`login_state_signature`]: the HMAC-SHA256 login-state signature (§5.1).
//! - [`encrypt`]: the inverse of decryption, for the simulator and tests.
//!
//! # No padding oracle
//! Only inputs that cannot even be decoded get their own error ([`DecryptError`]'s
//! `InvalidBase64`, `InvalidKey`, `InvalidIv`). Padding, UTF-8, JSON, schema and watermark
//! failures are all the one opaque [`DecryptError::DecryptFailed`]; the stage that failed is
//! only in a `tracing` debug event (never the plaintext, key or ciphertext).
//!
//! # Payloads
//! A [`Decrypted`] payload owns its decrypted plaintext, wiped when dropped, and its string
//! fields are accessors reading from it: a decrypt allocates once for the text (plus the
//! watermark's appid and any unknown fields), not once per field. The plaintext is read by a
//! strict JSON reader of our own that accepts what serde_json would for these types (tested
//! against it), at about 60 % of serde's cost: the difference between ~1.2 M and ~1.7 M
//! decrypts per second and core (BENCHMARKS.md).
//!
//! # Damaged base64 (§6.2)
//! The iv and encryptedData are decoded strictly first; only if that fails are two repairs
//! tried — spaces turned back into `+`, then all ASCII whitespace removed — and a repaired
//! variant is accepted only if it then decrypts and validates completely. The session_key
//! comes from our own store and is decoded strictly.
//!
//! # Fuzzing
//! `fuzz/` at the repository root (its own workspace) holds a cargo-fuzz target for the
//! decrypt path. On the stable toolchain, a bounded run:
//!
//! ```text
//! cd fuzz && cargo fuzz run decrypt --sanitizer none -- -max_total_time=60
//! ```

mod cbc;
mod error;
mod json;
mod object;
mod payload;
mod signature;

use zeroize::Zeroizing;

pub use error::{DecryptError, Field};
pub use json::PayloadError;
pub use object::Extra;
pub use payload::{
    Decrypted, GroupEnterInfo, PayloadKind, PhoneNumber, ShareInfo, StepInfo, UnknownKind,
    UserInfo, Watermark, WeRunData,
};
pub use signature::{login_state_signature, raw_data_signature, verify_raw_data_signature};

/// Decrypts and validates one encryptedData payload (§6.1–§6.3 under wxlogin's mapping).
///
/// `session_key` and `iv` are the 24-character base64 texts; `appid` must equal the
/// payload's `watermark.appid`. A missing watermark is refused for
/// [`PayloadKind::UserInfo`] and [`PayloadKind::Phone`] and tolerated for the others.
pub fn decrypt(
    kind: PayloadKind,
    session_key: &str,
    iv: &str,
    encrypted_data: &str,
    appid: &str,
) -> Result<Decrypted, DecryptError> {
    let key = cbc::decode_key(session_key)?;
    // The common case: both fields are strict base64. The buffer the ciphertext is decoded
    // into is decrypted in place and becomes the payload's text: one allocation in all.
    if let Ok(iv) = cbc::decode_iv_strict(iv) {
        let iv = iv?;
        if let Some(buf) = cbc::decode_strict(encrypted_data) {
            return open_one(kind, &key, &iv, buf, appid);
        }
    }
    Input::decode(iv, encrypted_data)?.open(kind, &key, appid)
}

/// Which key of a ring decrypted a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyIndex(pub usize);

/// Decrypts with the first key of `session_keys` that works: the current key first, then
/// the previous ones still inside their window (the §8.3 race). Returns the payload and the
/// index of the key that worked.
///
/// Malformed iv or encryptedData fail at once (no key can help). A malformed key in the ring
/// is skipped like a wrong one; if every key fails, the error is `DecryptFailed` when at
/// least one key was well formed, else the first key's error. An empty ring is
/// `DecryptFailed`.
pub fn decrypt_with_keys<'k>(
    kind: PayloadKind,
    session_keys: impl IntoIterator<Item = &'k str>,
    iv: &str,
    encrypted_data: &str,
    appid: &str,
) -> Result<(Decrypted, KeyIndex), DecryptError> {
    let input = Input::decode(iv, encrypted_data)?;
    let mut first_error = None;
    for (i, session_key) in session_keys.into_iter().enumerate() {
        let result = cbc::decode_key(session_key).and_then(|key| input.open(kind, &key, appid));
        match result {
            Ok(d) => return Ok((d, KeyIndex(i))),
            Err(e) => {
                if first_error.is_none() || e == DecryptError::DecryptFailed {
                    first_error = Some(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or(DecryptError::DecryptFailed))
}

/// Decrypts to the plaintext bytes (AES-128-CBC, strict PKCS#7 removed) without parsing.
/// Strict base64 only: the §6.2 repairs need the JSON and watermark checks to be safe.
pub fn decrypt_plaintext(
    session_key: &str,
    iv: &str,
    encrypted_data: &str,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let key = cbc::decode_key(session_key)?;
    let iv = cbc::decode_iv_strict(iv)
        .map_err(|()| DecryptError::InvalidBase64 { field: Field::Iv })??;
    let mut buf = Zeroizing::new(cbc::decode_strict(encrypted_data).ok_or(
        DecryptError::InvalidBase64 {
            field: Field::EncryptedData,
        },
    )?);
    let len = cbc::decrypt_in_place(&key, &iv, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

/// Encrypts `plaintext` the way WeChat does (AES-128-CBC, PKCS#7, standard base64), for the
/// simulator and tests. Only the input variants of [`DecryptError`] can occur.
pub fn encrypt(session_key: &str, iv: &str, plaintext: &[u8]) -> Result<String, DecryptError> {
    let key = cbc::decode_key(session_key)?;
    let iv = cbc::decode_iv_strict(iv)
        .map_err(|()| DecryptError::InvalidBase64 { field: Field::Iv })??;
    Ok(cbc::b64(&cbc::encrypt(&key, &iv, plaintext)))
}

/// The decoded iv and ciphertext candidates (one each unless the §6.2 repairs were needed).
/// Neither is secret: they are what the client sent.
struct Input {
    ivs: Vec<[u8; 16]>,
    ciphertexts: Vec<Vec<u8>>,
}

impl Input {
    fn decode(iv: &str, encrypted_data: &str) -> Result<Input, DecryptError> {
        let ivs = cbc::decode_iv_variants(iv)?;
        let ciphertexts = cbc::decode_variants(encrypted_data);
        if ciphertexts.is_empty() {
            return Err(DecryptError::InvalidBase64 {
                field: Field::EncryptedData,
            });
        }
        Ok(Input { ivs, ciphertexts })
    }

    /// Tries every (iv, ciphertext) candidate with `key`; the first that fully validates wins.
    fn open(
        &self,
        kind: PayloadKind,
        key: &[u8; 16],
        appid: &str,
    ) -> Result<Decrypted, DecryptError> {
        for iv in &self.ivs {
            for ct in &self.ciphertexts {
                if let Ok(d) = open_one(kind, key, iv, ct.clone(), appid) {
                    return Ok(d);
                }
            }
        }
        Err(DecryptError::DecryptFailed)
    }
}

/// Decrypt `buf` in place, unpad, parse (UTF-8 included), watermark: every failure is
/// `DecryptFailed`. The buffer becomes the payload's text, or is wiped.
fn open_one(
    kind: PayloadKind,
    key: &[u8; 16],
    iv: &[u8; 16],
    mut buf: Vec<u8>,
    appid: &str,
) -> Result<Decrypted, DecryptError> {
    let len = match cbc::decrypt_in_place(key, iv, &mut buf) {
        Ok(len) => len,
        Err(e) => {
            json::wipe(&mut buf);
            return Err(e);
        }
    };
    // What is cut off is the padding: no plaintext is left behind in the spare capacity.
    buf.truncate(len);
    let decrypted = match Decrypted::read(kind, buf) {
        Ok(d) => d,
        Err(e) => {
            // The error holds a category and an offset, never plaintext.
            tracing::debug!(error = %e, %kind, "plaintext is not a valid payload");
            return Err(DecryptError::DecryptFailed);
        }
    };
    match decrypted.watermark() {
        Some(w) if w.appid == appid => Ok(decrypted),
        None if !kind.requires_watermark() => Ok(decrypted),
        Some(_) => {
            tracing::debug!(%kind, "watermark appid mismatch");
            Err(DecryptError::DecryptFailed)
        }
        None => {
            tracing::debug!(%kind, "watermark missing");
            Err(DecryptError::DecryptFailed)
        }
    }
}
