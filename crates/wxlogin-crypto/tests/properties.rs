//! Property tests: round trips for every kind, and nothing but `DecryptFailed` (or a
//! malformed-input error) out of arbitrary input, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wxlogin_crypto::{DecryptError, Decrypted, PayloadKind, decrypt, decrypt_plaintext, encrypt};

const APPID: &str = "wx0123456789abcdef";

fn b64(bytes: &[u8; 16]) -> String {
    // Round-trip through the crate's own encryptor would be circular; build the text here.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - c.len()));
        for i in 0..=c.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Text with ASCII, CJK, emoji, quotes, backslashes and control characters.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '微', '信', '用', '户', '😀', '"', '\\', '\n', '\u{0}', '/'
            ]),
        ],
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Unknown fields: names that no schema uses, arbitrary JSON values.
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("x_[a-zA-Z0-9_]{0,8}", value, 0..4)
        .prop_map(|m| m.into_iter().collect())
}

/// A payload of `kind` as WeChat would send it (with watermark) and as wxlogin must hand it
/// on (without), as JSON values.
fn payload(kind: PayloadKind) -> BoxedStrategy<(Value, Value)> {
    let known: BoxedStrategy<Map<String, Value>> = match kind {
        PayloadKind::UserInfo => (
            (text(), text(), any::<i64>(), text(), text()),
            (
                text(),
                text(),
                text(),
                prop::option::of(text()),
                prop::option::of(text()),
            ),
        )
            .prop_map(
                |((nick, lang, gender, city, prov), (country, avatar, _unused, open, union))| {
                    let mut m = Map::new();
                    if let Some(o) = open {
                        m.insert("openId".into(), o.into());
                    }
                    m.insert("nickName".into(), nick.into());
                    m.insert("gender".into(), gender.into());
                    m.insert("language".into(), lang.into());
                    m.insert("city".into(), city.into());
                    m.insert("province".into(), prov.into());
                    m.insert("country".into(), country.into());
                    m.insert("avatarUrl".into(), avatar.into());
                    if let Some(u) = union {
                        m.insert("unionId".into(), u.into());
                    }
                    m
                },
            )
            .boxed(),
        PayloadKind::Phone => (text(), text(), "[0-9]{1,4}")
            .prop_map(|(p, pure, cc)| {
                let mut m = Map::new();
                m.insert("phoneNumber".into(), p.into());
                m.insert("purePhoneNumber".into(), pure.into());
                m.insert("countryCode".into(), cc.into());
                m
            })
            .boxed(),
        PayloadKind::Share => text()
            .prop_map(|g| {
                let mut m = Map::new();
                m.insert("openGId".into(), g.into());
                m
            })
            .boxed(),
        PayloadKind::GroupEnter => (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            any::<i64>(),
        )
            .prop_map(|(g, room, gid, chat)| {
                let mut m = Map::new();
                for (k, v) in [
                    ("opengid", g),
                    ("open_single_roomid", room),
                    ("group_openid", gid),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v.into());
                    }
                }
                m.insert("chat_type".into(), chat.into());
                m
            })
            .boxed(),
        PayloadKind::WeRun => prop::collection::vec((any::<i64>(), any::<i64>()), 0..31)
            .prop_map(|steps| {
                let list: Vec<Value> = steps
                    .into_iter()
                    .map(|(t, s)| json!({"timestamp": t, "step": s}))
                    .collect();
                let mut m = Map::new();
                m.insert("stepInfoList".into(), list.into());
                m
            })
            .boxed(),
    };
    (known, unknown_fields(), any::<u32>())
        .prop_map(|(known, unknown, ts)| {
            let mut expected = known;
            expected.extend(unknown);
            let mut sent = expected.clone();
            sent.insert("watermark".into(), json!({"timestamp": ts, "appid": APPID}));
            (Value::Object(sent), Value::Object(expected))
        })
        .boxed()
}

fn kind() -> impl Strategy<Value = PayloadKind> {
    prop::sample::select(PayloadKind::ALL.to_vec())
}

fn kind_and_payload() -> impl Strategy<Value = (PayloadKind, Value, Value)> {
    kind().prop_flat_map(|k| payload(k).prop_map(move |(s, e)| (k, s, e)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn round_trip_every_kind(
        (kind, sent, expected) in kind_and_payload(),
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
    ) {
        let (key, iv) = (b64(&key), b64(&iv));
        let data = encrypt(&key, &iv, sent.to_string().as_bytes()).unwrap();
        let d = decrypt(kind, &key, &iv, &data, APPID).unwrap();
        prop_assert_eq!(d.kind(), kind);
        prop_assert_eq!(d.watermark().unwrap().appid.as_str(), APPID);
        // Known fields typed, unknown ones kept, watermark removed.
        let out: Value = serde_json::from_str(&d.to_json()).unwrap();
        prop_assert_eq!(out, expected);
        // And the wrong appid is refused.
        prop_assert_eq!(decrypt(kind, &key, &iv, &data, "wx0000000000000000").unwrap_err(), DecryptError::DecryptFailed);
    }

    #[test]
    fn plaintext_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..100), key in any::<[u8; 16]>(), iv in any::<[u8; 16]>()) {
        let (key, iv) = (b64(&key), b64(&iv));
        let data = encrypt(&key, &iv, &bytes).unwrap();
        let pt = decrypt_plaintext(&key, &iv, &data).unwrap();
        prop_assert_eq!(pt.as_slice(), &bytes[..]);
    }

    #[test]
    fn arbitrary_strings_never_panic(kind in kind(), key in ".{0,30}", iv in ".{0,30}", data in ".{0,80}", appid in ".{0,20}") {
        let _ = decrypt(kind, &key, &iv, &data, &appid);
    }

    /// With a well-formed key and iv, any ciphertext either decrypts or fails with the one
    /// opaque error; its Display and Debug never vary.
    #[test]
    fn every_post_decoding_failure_is_the_same(
        kind in kind(),
        ct in prop::collection::vec(any::<u8>(), 0..96),
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
    ) {
        let (key, iv) = (b64(&key), b64(&iv));
        let data = reencode(&ct);
        match decrypt(kind, &key, &iv, &data, APPID) {
            Ok(_) => {}
            Err(e) => {
                prop_assert_eq!(e, DecryptError::DecryptFailed);
                prop_assert_eq!(format!("{e}"), "decryption failed");
                prop_assert_eq!(format!("{e:?}"), "DecryptFailed");
            }
        }
    }

    /// Tampering with a valid ciphertext (the padding-oracle attacker's move) yields only the
    /// opaque error, whatever stage the damage reaches.
    #[test]
    fn tampered_ciphertext_is_opaque(
        (kind, sent, _) in kind_and_payload(),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let key = "AAECAwQFBgcICQoLDA0ODw==";
        let iv = "EBESExQVFhcYGRobHB0eHw==";
        let data = encrypt(key, iv, sent.to_string().as_bytes()).unwrap();
        let mut ct = base64_decode(&data);
        let i = pos.index(ct.len());
        ct[i] ^= flip;
        let tampered = reencode(&ct);
        if let Err(e) = decrypt(kind, key, iv, &tampered, APPID) {
            prop_assert_eq!(e, DecryptError::DecryptFailed);
        }
    }

    #[test]
    fn strict_padding_matches_a_naive_check(last in any::<[u8; 16]>(), pad in 0u8..=20) {
        // Make the tail consistent sometimes, inconsistent other times.
        let mut block = last;
        if pad > 0 && pad <= 16 {
            for b in &mut block[16 - pad as usize..] { *b = pad; }
        }
        if pad == 20 { block[15] %= 17; }
        let p = block[15] as usize;
        let naive_ok = (1..=16).contains(&p) && block[16 - p..].iter().all(|&b| b as usize == p);
        let key = "AAECAwQFBgcICQoLDA0ODw==";
        let iv = "EBESExQVFhcYGRobHB0eHw==";
        // Encrypt the block raw: encrypt adds a full pad block, which we drop again.
        let data = encrypt(key, iv, &block).unwrap();
        let ct = base64_decode(&data);
        let result = decrypt_plaintext(key, iv, &reencode(&ct[..16]));
        prop_assert_eq!(result.is_ok(), naive_ok);
        if naive_ok {
            let pt = result.unwrap();
            prop_assert_eq!(pt.as_slice(), &block[..16 - p]);
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let v: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=')
        .map(|c| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        })
        .collect();
    let mut out = Vec::new();
    for c in v.chunks(4) {
        let n = c.iter().fold(0u32, |a, &b| a << 6 | u32::from(b)) << (6 * (4 - c.len()));
        out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
    }
    out
}

fn reencode(bytes: &[u8]) -> String {
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let mut b = [0u8; 16];
        b[..c.len()].copy_from_slice(c);
        let chunk = b64(&b);
        // b64 of 16 bytes: the first 4 chars encode the first 3 bytes.
        let enc: String = chunk.chars().take(c.len() + 1).collect();
        s.push_str(&enc);
    }
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

#[test]
fn test_helpers_agree_with_the_vectors() {
    let key = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    assert_eq!(b64(&key), "AAECAwQFBgcICQoLDA0ODw==");
    assert_eq!(base64_decode("AAECAwQFBgcICQoLDA0ODw=="), key);
    let data = encrypt(&b64(&key), &b64(&[7; 16]), b"hello").unwrap();
    assert_eq!(reencode(&base64_decode(&data)), data);
    assert!(matches!(
        Decrypted::parse(PayloadKind::Share, r#"{"openGId":"g"}"#),
        Ok(Decrypted::Share(_))
    ));
}
