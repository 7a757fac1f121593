//! Fuzzes the decrypt path: base64 (with the §6.2 repairs), AES-CBC, strict padding,
//! UTF-8, the typed parse and the watermark check.
//!
//! The input is split on 0xFF bytes (never valid UTF-8) into kind / key / iv / data / appid.
//! Half the runs swap in a fixed valid key and iv, so the fuzzer spends its time past the
//! decoding step; and the decrypted plaintext is also fed to the parser directly, so JSON
//! shapes are reached without having to beat AES.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxlogin_crypto::{DecryptError, Decrypted, PayloadKind, decrypt, encrypt};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";
const IV: &str = "EBESExQVFhcYGRobHB0eHw==";
const APPID: &str = "wx0123456789abcdef";

fuzz_target!(|input: &[u8]| {
    let mut parts = input.split(|&b| b == 0xff);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (selector, key, iv, data, appid) = (next(), next(), next(), next(), next());
    let sel = selector.bytes().next().unwrap_or(0);
    let kind = PayloadKind::ALL[usize::from(sel) % PayloadKind::ALL.len()];
    let (key, iv) = if sel & 0x80 == 0 {
        (KEY.to_owned(), IV.to_owned())
    } else {
        (key, iv)
    };

    // 1. Arbitrary fields: never panics; a failure after decoding is the opaque error.
    match decrypt(kind, &key, &iv, &data, &appid) {
        Ok(d) => {
            assert_eq!(d.kind(), kind);
            let w = d.watermark();
            assert!(w.is_some() || !kind.requires_watermark());
            assert!(w.is_none_or(|w| w.appid == appid));
            let _ = d.to_json();
        }
        Err(e) => assert_eq!(e.errcode() == -41003, e == DecryptError::DecryptFailed),
    }

    // 2. The data field as plaintext under a known key: exercises the JSON/schema/watermark
    //    stages directly; the result must agree with parsing it without crypto.
    let sealed = encrypt(KEY, IV, data.as_bytes()).expect("fixed key and iv are valid");
    let via_crypto = decrypt(kind, KEY, IV, &sealed, APPID);
    if let Ok(d) = &via_crypto {
        let direct = Decrypted::parse(kind, &data).expect("decrypt succeeded, so it parses");
        assert_eq!(&direct, d);
        // What we hand on reparses to the same payload (minus the watermark).
        let again = Decrypted::parse(kind, &d.to_json()).expect("our own output parses");
        assert_eq!(again.to_json(), d.to_json());
    } else {
        assert_eq!(via_crypto.unwrap_err(), DecryptError::DecryptFailed);
    }
});
