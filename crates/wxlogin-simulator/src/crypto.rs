//! WeChat's open-data crypto, as the simulator's side of the protocol needs it.
//!
//! Written here from the protocol reference, not shared with the client side of wxlogin
//! (a shared bug would make both ends agree and every test pass):
//!
//! - encryptedData (§6.1): AES-128-CBC with PKCS#7 padding, key = the base64-decoded
//!   session_key, a 16-byte IV, everything in standard padded base64;
//! - the login-state signature (§5.1): lowercase hex of HMAC-SHA256 keyed with the session_key
//!   **text** (not decoded);
//! - the rawData signature (§7): lowercase hex of SHA-1 over rawData then the session_key text.
//!
//! The module is public so that the binary's self-tests can read what the simulator puts on the
//! wire; the published vectors A–E (§6.4) and the §5.1 / §7 vectors below pin every function.
//! wechatpy, an SDK we did not write, cross-checks the same output in `tests/wechatpy`.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The 16 key bytes behind a session_key, or `None` if it is not standard base64 of 16 bytes.
pub fn session_key_bytes(session_key: &str) -> Option<[u8; 16]> {
    STANDARD.decode(session_key).ok()?.try_into().ok()
}

/// encryptedData for `plaintext`: AES-128-CBC/PKCS#7 under `session_key` (base64 text) and
/// `iv`, in standard padded base64. `None` if the session_key is not base64 of 16 bytes.
pub fn encrypt(session_key: &str, iv: &[u8; 16], plaintext: &[u8]) -> Option<String> {
    let key = session_key_bytes(session_key)?;
    let ciphertext =
        Aes128CbcEnc::new(&key.into(), &(*iv).into()).encrypt_padded_vec::<Pkcs7>(plaintext);
    Some(STANDARD.encode(ciphertext))
}

/// The strict inverse of [`encrypt`], for tests: every input must be exact standard base64,
/// key and IV 16 bytes, padding valid. Any failure is `None`; telling failures apart is the
/// business of the server under test, not of the simulator.
pub fn decrypt(session_key: &str, iv: &str, encrypted_data: &str) -> Option<Vec<u8>> {
    let key = session_key_bytes(session_key)?;
    let iv: [u8; 16] = STANDARD.decode(iv).ok()?.try_into().ok()?;
    let ciphertext = STANDARD.decode(encrypted_data).ok()?;
    Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(&ciphertext)
        .ok()
}

/// §5.1: lowercase hex of HMAC-SHA256 keyed with the session_key *text* over `message`
/// (the empty string for `checksession` and `resetusersessionkey`).
pub fn login_signature(session_key: &str, message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(session_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// §7: lowercase hex of SHA-1 over the rawData bytes followed by the session_key text.
pub fn raw_data_signature(raw_data: &str, session_key: &str) -> String {
    let mut hash = Sha1::new();
    hash.update(raw_data.as_bytes());
    hash.update(session_key.as_bytes());
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_A_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const VECTOR_A_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const VECTOR_A_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    const VECTOR_A_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

    const VECTOR_B_KEY: &str = "lyY4HPQbaOYzZdG+JcYK9w==";
    const VECTOR_B_IV: &str = "Cds8j3VYoGvnTp1BrjXdJg==";
    const VECTOR_B_DATA: &str = "Kf3TdPbzEmhWMuPKtlKxIWDkijhn402w1bxoHL4kLdcKr6jT1jNcIhvDJfjXmJcgDWLjmBiIGJ5acUuSvxLws3WgAkERmtTuiCG10CKLsJiR+AXVk7B2TUQzsq88YVilDz/YAN3647REE7glGmeBPfvUmdbfDzhL9BzvEiuRhABuCYyTMz4iaM8hFjbLB1caaeoOlykYAFMWC5pZi9P8uw==";
    const VECTOR_B_PLAIN: &str = r#"{"phoneNumber":"18017448610","purePhoneNumber":"18017448610","countryCode":"86","watermark":{"timestamp":1558787160,"appid":"wxdaa2ab9ef87b5497"}}"#;

    /// Vectors C–E share this key and IV (bytes 00..0f and 10..1f).
    const SYNTHETIC_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";
    const SYNTHETIC_IV: &str = "EBESExQVFhcYGRobHB0eHw==";
    const VECTORS_C_TO_E: [(&str, &str); 3] = [
        (
            r#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#,
            "aLhedzo+Z6es5zW+YHo9susiHnaEYeAkbZXA6vB3xXwsEHApbzM53NsvIVPS8sbzE9Tu3cKoosCIaJ9ReH9c7q8xI4AFlJ8HTHrrdVC0WzSFVEG+Q/SUBzVOfvRAiCzg9pRwA0o1X/SBOShf2kiL8wNfdlkWY+I9rsvJLhx38KPligMy/5ajh2WA9GMad7QPJ4mOrRhNln1eQPztHyRiSA==",
        ),
        (
            r#"{"stepInfoList":[{"timestamp":1699977600,"step":1234},{"timestamp":1700064000,"step":5678}],"watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#,
            "6CDpDKcFFq5KYH0DPC1IOCno/+PZAK31WwxBBxoyw/Qq5sY9NSF8JpYB4R/l6RxnYw0J5braY0GwY6tadgiQwYlnaFPWscTfSyNjYSt0dl3yGyd1N5GxiAfl7SDKMIukH3GRrPYG3Pdc87g47P3+76JZMG1S7m5BhZBXBY9k9CjXfzJ5vL/oV+h/tR8W4ecrBNSs7nVwK7EEvX6HGiv7cw==",
        ),
        (
            r#"{"openGId":"tG0000000000000000000000SIMU","watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#,
            "FVCmixaw/SpuRD2auounCD3fRtZ9EMBJyKV3BLN378Ipofw6FyorfwhjQwcdIGjmS37hNEsExaA2wtT+iLe7OJoe2Erixcnkit4NMf5cg/JB3aEJuHnaebTgd+/LlCf4wY5pg1Tgha0ByRvroS8JlQ==",
        ),
    ];

    fn iv_bytes(iv: &str) -> [u8; 16] {
        STANDARD.decode(iv).unwrap().try_into().unwrap()
    }

    #[test]
    fn vectors_a_and_b_decrypt_to_their_published_plaintexts_byte_for_byte() {
        let a = decrypt(VECTOR_A_KEY, VECTOR_A_IV, VECTOR_A_DATA).unwrap();
        assert_eq!(a.len(), 393);
        assert_eq!(a, VECTOR_A_PLAIN.as_bytes());
        let b = decrypt(VECTOR_B_KEY, VECTOR_B_IV, VECTOR_B_DATA).unwrap();
        assert_eq!(b.len(), 146);
        assert_eq!(b, VECTOR_B_PLAIN.as_bytes());
    }

    #[test]
    fn encrypting_a_and_b_reproduces_wechats_ciphertexts() {
        let a = encrypt(
            VECTOR_A_KEY,
            &iv_bytes(VECTOR_A_IV),
            VECTOR_A_PLAIN.as_bytes(),
        );
        assert_eq!(a.as_deref(), Some(VECTOR_A_DATA));
        let b = encrypt(
            VECTOR_B_KEY,
            &iv_bytes(VECTOR_B_IV),
            VECTOR_B_PLAIN.as_bytes(),
        );
        assert_eq!(b.as_deref(), Some(VECTOR_B_DATA));
    }

    #[test]
    fn vectors_c_to_e_are_reproduced_exactly_and_decrypt_back() {
        let iv = iv_bytes(SYNTHETIC_IV);
        for (plaintext, published) in VECTORS_C_TO_E {
            let ours = encrypt(SYNTHETIC_KEY, &iv, plaintext.as_bytes()).unwrap();
            assert_eq!(ours, published, "{plaintext}");
            let back = decrypt(SYNTHETIC_KEY, SYNTHETIC_IV, published).unwrap();
            assert_eq!(back, plaintext.as_bytes());
        }
    }

    #[test]
    fn negative_vectors_do_not_decrypt() {
        // N1: vector A under the wrong key fails at the padding.
        assert_eq!(decrypt(SYNTHETIC_KEY, VECTOR_A_IV, VECTOR_A_DATA), None);
        // N3, N4, N4b: key or IV not 16 bytes, key not base64.
        assert_eq!(
            decrypt("AAECAwQFBgcICQoL", VECTOR_A_IV, VECTOR_A_DATA),
            None
        );
        assert_eq!(
            decrypt(VECTOR_A_KEY, "r7BXXKkLb8qrSNn0", VECTOR_A_DATA),
            None
        );
        assert_eq!(decrypt("abc", VECTOR_A_IV, VECTOR_A_DATA), None);
        assert_eq!(encrypt("abc", &[0; 16], b"{}"), None);
        // N5: a real mismatched key/data pair; the last byte decrypts to 0x28.
        let n5 = "BY6VOgcWbwGcyrunK0ECWI8rnDsT69DucZ+M78tc1aL9aM/3bEAHFYd4fu7kRjWhD4YfjObw44T9vUqKyHIjbKs6hvtEasZZEIW35x4a91xVgN48ZqZ7MTQqUlP13kDUlkuwYh+/8g8yceu4kNbjowYrhihx+SV7CfjKCveJ7TSepr5Z7aLv1o+rfeelfOwn++WN/YoQsuZ6S3L4fWlWe5DAAUnFUI6cJvxxCohVzbrVXhyH2AqQdSjH2WnMYFeaGFIbcoxMznlk7oEwFn+hBj63dyT/swdYQfEdzuyCBmKXy8d6l1RKVX6Y65coTD8kIlbr+FKsqYrXVUIUBSwehqYuOdhYWZ9Bntl5DWU1oqzAPCnMn2cAIoQpQPKP7IGSxMOvCNAMhVXbE7BvnWuVuGF+AM5tXAa9IVUhcMImGwLQqm4iV5uBd+5OcFObh3A4VJk9iBCBWSkBHa/rV9CVoY0bFv2F9/2Hv82++Ybl274=";
        assert_eq!(
            decrypt("7MG7jbTToVVRWRXVA885rg==", "TarMFjnzHVxy8pdS93wQbw==", n5),
            None
        );
    }

    #[test]
    fn login_signatures_match_the_protocol_vectors() {
        let key = "o0q0otL8aEzpcZL/FT9WsQ==";
        assert_eq!(
            login_signature(key, br#"{"foo":"bar"}"#),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
        assert_eq!(
            login_signature(key, b""),
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
        );
        assert_eq!(
            login_signature(VECTOR_A_KEY, b""),
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
        );
        assert_eq!(
            login_signature(SYNTHETIC_KEY, b""),
            "75c022993d64e3ac224c1c9d6f2b4c6eb53f22f6c7aa6be94428577d11d12fd5"
        );
    }

    #[test]
    fn raw_data_signatures_match_the_protocol_vectors() {
        let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
        assert_eq!(
            raw_data_signature(raw, "HyVFkGl5F5OQWJZZaNzBBg=="),
            "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
        );
        let utf8 = r#"{"nickName":"微信用户","gender":0,"language":"","city":"","province":"","country":"","avatarUrl":""}"#;
        assert_eq!(utf8.len(), 104);
        assert_eq!(
            raw_data_signature(utf8, SYNTHETIC_KEY),
            "cfcdce1674cc6d687f495c6a67347c32d53a48a7"
        );
    }
}
