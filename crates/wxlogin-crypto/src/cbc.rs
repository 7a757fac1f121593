//! Base64 decoding with the repairs of §6.2, AES-128-CBC, and strict PKCS#7.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use aes::{Aes128, Aes128Dec};
use base64_simd::STANDARD;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{DecryptError, Field};

// The decryptor needs only the decryption key schedule.
type Aes128CbcDec = cbc::Decryptor<Aes128Dec>;
type Aes128CbcEnc = cbc::Encryptor<Aes128>;

/// AES block size in bytes.
const BLOCK: usize = 16;

/// Strict decoding (standard alphabet, `=` padding, zero trailing bits) of a base64 text
/// that must hold exactly 16 bytes. `Err(())`: not base64; `Ok(None)`: base64 of another
/// length.
fn decode_16(text: &str) -> Result<Option<Zeroizing<[u8; 16]>>, ()> {
    let bytes = text.as_bytes();
    if let Some(out) = decode_16_exact(bytes) {
        return out.map(Some);
    }
    match STANDARD.decoded_length(bytes) {
        Ok(BLOCK) => {
            let mut out = Zeroizing::new([0u8; BLOCK]);
            STANDARD
                .decode(bytes, base64_simd::Out::from_slice(out.as_mut_slice()))
                .map_err(drop)?;
            Ok(Some(out))
        }
        Ok(_) => STANDARD.check(bytes).map(|()| None).map_err(drop),
        Err(_) => Err(()),
    }
}

/// The common shape of a key or iv, 22 characters and `==`, decoded without base64-simd,
/// whose set-up for inputs this short costs more than the decoding. `None`: another shape,
/// left to base64-simd; `Some(Err(()))`: not strict base64 (a character outside the
/// alphabet, or nonzero trailing bits), as base64-simd would say.
fn decode_16_exact(bytes: &[u8]) -> Option<Result<Zeroizing<[u8; 16]>, ()>> {
    let (chars, b"==") = bytes.split_first_chunk::<22>()? else {
        return None;
    };
    let mut out = Zeroizing::new([0u8; BLOCK]);
    let mut bad = 0u8;
    let mut sextet = |c: u8| {
        let v = SEXTETS[usize::from(c)];
        bad |= v;
        u32::from(v)
    };
    let (groups, last) = chars.as_chunks::<4>();
    for (group, dst) in groups.iter().zip(out.chunks_exact_mut(3)) {
        let n = group.iter().fold(0, |n, &c| n << 6 | sextet(c));
        dst.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let n = sextet(last[0]) << 6 | sextet(last[1]);
    out[BLOCK - 1] = (n >> 4) as u8;
    // 0xff marks a character outside the alphabet; the last 4 bits must be zero.
    Some(if bad & 0x80 == 0 && n & 0xf == 0 {
        Ok(out)
    } else {
        Err(())
    })
}

/// The standard alphabet's value of each byte, 0xff for bytes outside it.
const SEXTETS: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Decodes a session_key strictly (no repairs: it comes from our own store, never from a
/// client) into the 16 AES key bytes.
pub(crate) fn decode_key(session_key: &str) -> Result<Zeroizing<[u8; 16]>, DecryptError> {
    decode_16(session_key)
        .map_err(|()| DecryptError::InvalidBase64 {
            field: Field::SessionKey,
        })?
        .ok_or(DecryptError::InvalidKey)
}

/// Strictly decodes a client-supplied iv: `Err(())` if it is not base64 (the caller may then
/// try the repairs), else the 16 bytes or `InvalidIv`.
pub(crate) fn decode_iv_strict(iv: &str) -> Result<Result<[u8; 16], DecryptError>, ()> {
    Ok(decode_16(iv)?.map(|iv| *iv).ok_or(DecryptError::InvalidIv))
}

/// Strictly decodes base64 into a fresh buffer.
pub(crate) fn decode_strict(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode_to_vec(text).ok()
}

/// The repaired variants of a client-supplied base64 field whose strict decoding failed
/// (§6.2), decoded, in order: spaces turned back into `+` (form/URL decoding damage), then
/// all ASCII whitespace removed (inserted line breaks and indentation). Empty: no variant is
/// base64 either.
pub(crate) fn decode_repaired(text: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let plus = text.replace(' ', "+");
    if plus != text
        && let Some(bytes) = decode_strict(&plus)
    {
        out.push(bytes);
    }
    let stripped: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if stripped != text
        && stripped != plus
        && let Some(bytes) = decode_strict(&stripped)
    {
        out.push(bytes);
    }
    out
}

/// Decodes a client-supplied base64 field: strictly, else the repaired variants.
pub(crate) fn decode_variants(text: &str) -> Vec<Vec<u8>> {
    match decode_strict(text) {
        Some(bytes) => vec![bytes],
        None => decode_repaired(text),
    }
}

/// Decodes the client's iv with the repairs, keeping the variants of the right length.
pub(crate) fn decode_iv_variants(iv: &str) -> Result<Vec<[u8; 16]>, DecryptError> {
    if let Ok(strict) = decode_iv_strict(iv) {
        return strict.map(|iv| vec![iv]);
    }
    let variants = decode_repaired(iv);
    if variants.is_empty() {
        return Err(DecryptError::InvalidBase64 { field: Field::Iv });
    }
    let ivs: Vec<[u8; 16]> = variants
        .iter()
        .filter_map(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
        .collect();
    if ivs.is_empty() {
        return Err(DecryptError::InvalidIv);
    }
    Ok(ivs)
}

/// AES-128-CBC-decrypts `buf` in place and strips strict PKCS#7 padding (pad value 1..=16,
/// every pad byte equal). Returns the plaintext length.
///
/// The padding check runs in constant time over the last block, so that the check itself
/// leaks nothing about where it failed.
pub(crate) fn decrypt_in_place(
    key: &[u8; 16],
    iv: &[u8; 16],
    buf: &mut [u8],
) -> Result<usize, DecryptError> {
    if buf.is_empty() || !buf.len().is_multiple_of(BLOCK) {
        tracing::debug!(
            len = buf.len(),
            "ciphertext length is not a positive multiple of 16"
        );
        return Err(DecryptError::DecryptFailed);
    }
    Aes128CbcDec::new(key.into(), iv.into())
        .decrypt_padded::<NoPadding>(buf)
        .map_err(|_| DecryptError::DecryptFailed)?;
    let last: &[u8; BLOCK] = buf[buf.len() - BLOCK..]
        .try_into()
        .expect("buffer holds at least one block");
    match strict_pkcs7_len(last) {
        Some(pad) => Ok(buf.len() - pad),
        None => {
            tracing::debug!("bad PKCS#7 padding");
            Err(DecryptError::DecryptFailed)
        }
    }
}

/// The pad length of a final block under strict PKCS#7, or `None`.
///
/// Branch-free over all 16 bytes with plain integer masks (a `subtle::Choice` per byte costs
/// a volatile read each, ~5% of a whole decrypt); only the final verdict goes through
/// `subtle`.
fn strict_pkcs7_len(last: &[u8; BLOCK]) -> Option<usize> {
    let pad = last[BLOCK - 1];
    // Nonzero iff pad is outside 1..=16: (pad - 1) as u8 >= 16.
    let mut bad = pad.wrapping_sub(1) & 0xf0;
    for (i, &b) in last.iter().enumerate() {
        // 0xff when byte i lies within the last `pad` bytes, i.e. BLOCK - i <= pad.
        let dist = (BLOCK - i) as u16;
        // dist - (pad + 1) underflows exactly then, leaving 0xff in the high byte.
        let in_pad = (dist.wrapping_sub(u16::from(pad) + 1) >> 8) as u8;
        bad |= in_pad & (b ^ pad);
    }
    bool::from(bad.ct_eq(&0)).then_some(usize::from(pad))
}

/// AES-128-CBC + PKCS#7, the way WeChat produces encryptedData.
pub(crate) fn encrypt(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Strict standard base64 of `bytes`.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode_to_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_ending(tail: &[u8]) -> [u8; 16] {
        let mut b = [0xAAu8; 16];
        b[16 - tail.len()..].copy_from_slice(tail);
        b
    }

    #[test]
    fn strict_padding_accepts_only_consistent_pads() {
        assert_eq!(strict_pkcs7_len(&block_ending(&[1])), Some(1));
        assert_eq!(strict_pkcs7_len(&block_ending(&[7; 7])), Some(7));
        assert_eq!(strict_pkcs7_len(&[16; 16]), Some(16));
        assert_eq!(strict_pkcs7_len(&block_ending(&[0])), None);
        assert_eq!(strict_pkcs7_len(&block_ending(&[17])), None);
        assert_eq!(strict_pkcs7_len(&block_ending(&[0x28])), None);
        // Inconsistent: last byte says 3 but one of the three differs.
        assert_eq!(strict_pkcs7_len(&block_ending(&[2, 3, 3])), None);
        assert_eq!(strict_pkcs7_len(&block_ending(&[3, 2, 3])), None);
        let mut b = [16u8; 16];
        b[0] = 15;
        assert_eq!(strict_pkcs7_len(&b), None);
    }

    #[test]
    fn every_pad_value_round_trips() {
        for len in 0..=48 {
            let pt = vec![b'x'; len];
            let mut ct = encrypt(&[1; 16], &[2; 16], &pt);
            let n = decrypt_in_place(&[1; 16], &[2; 16], &mut ct).unwrap();
            assert_eq!(&ct[..n], &pt[..]);
        }
    }

    #[test]
    fn short_path_agrees_with_base64_simd() {
        // Every character in every position of a 24-character text ending in `==`.
        let base = *b"AAECAwQFBgcICQoLDA0ODw==";
        for i in 0..22 {
            for c in 0..=255u8 {
                let mut t = base;
                t[i] = c;
                let fast = decode_16_exact(&t).expect("the 22 + == shape");
                let mut simd = [0u8; 16];
                let slow = STANDARD
                    .decode(&t, base64_simd::Out::from_slice(&mut simd))
                    .map(|out| <[u8; 16]>::try_from(&*out).unwrap());
                assert_eq!(fast.map(|k| *k), slow.map_err(drop), "{t:?}");
            }
        }
        assert!(decode_16_exact(b"AAECAwQFBgcICQoLDA0ODw=").is_none());
        assert!(decode_16_exact(b"AAECAwQFBgcICQoLDA0ODw=A").is_none());
    }

    #[test]
    fn key_decoding_tells_base64_from_length() {
        assert!(decode_key("AAECAwQFBgcICQoLDA0ODw==").is_ok());
        assert_eq!(
            decode_key("abc").unwrap_err(),
            DecryptError::InvalidBase64 {
                field: Field::SessionKey
            }
        );
        assert_eq!(
            decode_key("AAECAwQFBgcICQoL").unwrap_err(),
            DecryptError::InvalidKey
        );
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhM=").unwrap_err(),
            DecryptError::InvalidKey
        );
        assert_eq!(decode_key("").unwrap_err(), DecryptError::InvalidKey);
    }
}
