//! The vectors of the protocol reference: §6.4 A–E and N1–N5, §7, §5.1.

use wxlogin_crypto::{
    DecryptError, Decrypted, Field, PayloadKind, decrypt, decrypt_plaintext, decrypt_with_keys,
    encrypt, login_state_signature, raw_data_signature, verify_raw_data_signature,
};

const A_APPID: &str = "wx4f4bc4dec97d474b";
const A_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const A_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const A_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
const A_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

const B_APPID: &str = "wxdaa2ab9ef87b5497";
const B_KEY: &str = "lyY4HPQbaOYzZdG+JcYK9w==";
const B_IV: &str = "Cds8j3VYoGvnTp1BrjXdJg==";
const B_DATA: &str = "Kf3TdPbzEmhWMuPKtlKxIWDkijhn402w1bxoHL4kLdcKr6jT1jNcIhvDJfjXmJcgDWLjmBiIGJ5acUuSvxLws3WgAkERmtTuiCG10CKLsJiR+AXVk7B2TUQzsq88YVilDz/YAN3647REE7glGmeBPfvUmdbfDzhL9BzvEiuRhABuCYyTMz4iaM8hFjbLB1caaeoOlykYAFMWC5pZi9P8uw==";
const B_PLAIN: &str = r#"{"phoneNumber":"18017448610","purePhoneNumber":"18017448610","countryCode":"86","watermark":{"timestamp":1558787160,"appid":"wxdaa2ab9ef87b5497"}}"#;

const S_APPID: &str = "wx0123456789abcdef";
const S_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";
const S_IV: &str = "EBESExQVFhcYGRobHB0eHw==";
const C_PLAIN: &str = r#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#;
const C_DATA: &str = "aLhedzo+Z6es5zW+YHo9susiHnaEYeAkbZXA6vB3xXwsEHApbzM53NsvIVPS8sbzE9Tu3cKoosCIaJ9ReH9c7q8xI4AFlJ8HTHrrdVC0WzSFVEG+Q/SUBzVOfvRAiCzg9pRwA0o1X/SBOShf2kiL8wNfdlkWY+I9rsvJLhx38KPligMy/5ajh2WA9GMad7QPJ4mOrRhNln1eQPztHyRiSA==";
const D_PLAIN: &str = r#"{"stepInfoList":[{"timestamp":1699977600,"step":1234},{"timestamp":1700064000,"step":5678}],"watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#;
const D_DATA: &str = "6CDpDKcFFq5KYH0DPC1IOCno/+PZAK31WwxBBxoyw/Qq5sY9NSF8JpYB4R/l6RxnYw0J5braY0GwY6tadgiQwYlnaFPWscTfSyNjYSt0dl3yGyd1N5GxiAfl7SDKMIukH3GRrPYG3Pdc87g47P3+76JZMG1S7m5BhZBXBY9k9CjXfzJ5vL/oV+h/tR8W4ecrBNSs7nVwK7EEvX6HGiv7cw==";
const E_PLAIN: &str = r#"{"openGId":"tG0000000000000000000000SIMU","watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#;
const E_DATA: &str = "FVCmixaw/SpuRD2auounCD3fRtZ9EMBJyKV3BLN378Ipofw6FyorfwhjQwcdIGjmS37hNEsExaA2wtT+iLe7OJoe2Erixcnkit4NMf5cg/JB3aEJuHnaebTgd+/LlCf4wY5pg1Tgha0ByRvroS8JlQ==";

const N5_KEY: &str = "7MG7jbTToVVRWRXVA885rg==";
const N5_IV: &str = "TarMFjnzHVxy8pdS93wQbw==";
const N5_DATA: &str = "BY6VOgcWbwGcyrunK0ECWI8rnDsT69DucZ+M78tc1aL9aM/3bEAHFYd4fu7kRjWhD4YfjObw44T9vUqKyHIjbKs6hvtEasZZEIW35x4a91xVgN48ZqZ7MTQqUlP13kDUlkuwYh+/8g8yceu4kNbjowYrhihx+SV7CfjKCveJ7TSepr5Z7aLv1o+rfeelfOwn++WN/YoQsuZ6S3L4fWlWe5DAAUnFUI6cJvxxCohVzbrVXhyH2AqQdSjH2WnMYFeaGFIbcoxMznlk7oEwFn+hBj63dyT/swdYQfEdzuyCBmKXy8d6l1RKVX6Y65coTD8kIlbr+FKsqYrXVUIUBSwehqYuOdhYWZ9Bntl5DWU1oqzAPCnMn2cAIoQpQPKP7IGSxMOvCNAMhVXbE7BvnWuVuGF+AM5tXAa9IVUhcMImGwLQqm4iV5uBd+5OcFObh3A4VJk9iBCBWSkBHa/rV9CVoY0bFv2F9/2Hv82++Ybl274=";

#[test]
fn vector_a_plaintext_byte_for_byte() {
    let pt = decrypt_plaintext(A_KEY, A_IV, A_DATA).unwrap();
    assert_eq!(pt.len(), 393);
    assert_eq!(pt.as_slice(), A_PLAIN.as_bytes());
}

#[test]
fn vector_a_typed_fields() {
    let Decrypted::UserInfo(u) =
        decrypt(PayloadKind::UserInfo, A_KEY, A_IV, A_DATA, A_APPID).unwrap()
    else {
        panic!("not user info")
    };
    assert_eq!(u.open_id(), Some("oGZUI0egBJY1zhBYw2KhdUfwVJJE"));
    assert_eq!(u.nick_name(), "Band");
    assert_eq!(u.gender(), 1);
    assert_eq!(u.language(), "zh_CN");
    assert_eq!(u.city(), "Guangzhou");
    assert_eq!(u.province(), "Guangdong");
    assert_eq!(u.country(), "CN");
    assert!(u.avatar_url().ends_with("8HQ/0"));
    assert_eq!(u.union_id(), Some("ocMvos6NjeKLIBqg5Mr9QjxrP1FA"));
    let w = u.watermark().unwrap();
    assert_eq!((w.appid.as_str(), w.timestamp), (A_APPID, 1477314187));
    assert!(u.extra().is_empty());
}

#[test]
fn vector_a_serialises_back_without_the_watermark() {
    let d = decrypt(PayloadKind::UserInfo, A_KEY, A_IV, A_DATA, A_APPID).unwrap();
    let (without, _) = A_PLAIN.split_once(r#","watermark""#).unwrap();
    assert_eq!(d.to_json(), format!("{without}}}"));
    assert_eq!(d.watermark().unwrap().timestamp, 1477314187);
}

#[test]
fn vector_b_phone_byte_for_byte() {
    let pt = decrypt_plaintext(B_KEY, B_IV, B_DATA).unwrap();
    assert_eq!(pt.len(), 146);
    assert_eq!(pt.as_slice(), B_PLAIN.as_bytes());
    let Decrypted::Phone(p) = decrypt(PayloadKind::Phone, B_KEY, B_IV, B_DATA, B_APPID).unwrap()
    else {
        panic!("not a phone payload")
    };
    assert_eq!(p.phone_number(), "18017448610");
    assert_eq!(p.pure_phone_number(), "18017448610");
    assert_eq!(p.country_code(), "86");
    assert_eq!(p.watermark().unwrap().timestamp, 1558787160);
    assert_eq!(
        Decrypted::Phone(p).to_json(),
        r#"{"phoneNumber":"18017448610","purePhoneNumber":"18017448610","countryCode":"86"}"#
    );
}

#[test]
fn vector_c_phone() {
    assert_eq!(
        decrypt_plaintext(S_KEY, S_IV, C_DATA).unwrap().as_slice(),
        C_PLAIN.as_bytes()
    );
    assert_eq!(encrypt(S_KEY, S_IV, C_PLAIN.as_bytes()).unwrap(), C_DATA);
    let Decrypted::Phone(p) = decrypt(PayloadKind::Phone, S_KEY, S_IV, C_DATA, S_APPID).unwrap()
    else {
        panic!("not a phone payload")
    };
    assert_eq!(p.phone_number(), "13800138000");
    assert_eq!(p.country_code(), "86");
}

#[test]
fn vector_d_werun() {
    assert_eq!(
        decrypt_plaintext(S_KEY, S_IV, D_DATA).unwrap().as_slice(),
        D_PLAIN.as_bytes()
    );
    assert_eq!(encrypt(S_KEY, S_IV, D_PLAIN.as_bytes()).unwrap(), D_DATA);
    let Decrypted::WeRun(w) = decrypt(PayloadKind::WeRun, S_KEY, S_IV, D_DATA, S_APPID).unwrap()
    else {
        panic!("not WeRun")
    };
    let steps: Vec<(i64, i64)> = w
        .step_info_list
        .iter()
        .map(|s| (s.timestamp, s.step))
        .collect();
    assert_eq!(steps, [(1699977600, 1234), (1700064000, 5678)]);
}

#[test]
fn vector_e_share() {
    assert_eq!(
        decrypt_plaintext(S_KEY, S_IV, E_DATA).unwrap().as_slice(),
        E_PLAIN.as_bytes()
    );
    assert_eq!(encrypt(S_KEY, S_IV, E_PLAIN.as_bytes()).unwrap(), E_DATA);
    let d = decrypt(PayloadKind::Share, S_KEY, S_IV, E_DATA, S_APPID).unwrap();
    let Decrypted::Share(s) = &d else {
        panic!("not share")
    };
    assert_eq!(s.open_gid(), "tG0000000000000000000000SIMU");
    assert_eq!(d.to_json(), r#"{"openGId":"tG0000000000000000000000SIMU"}"#);
}

#[test]
fn n1_wrong_key_is_decrypt_failed() {
    let e = decrypt(PayloadKind::UserInfo, S_KEY, A_IV, A_DATA, A_APPID).unwrap_err();
    assert_eq!(e, DecryptError::DecryptFailed);
    assert_eq!(e.errcode(), -41003);
    assert_eq!(
        decrypt_plaintext(S_KEY, A_IV, A_DATA).unwrap_err(),
        DecryptError::DecryptFailed
    );
}

#[test]
fn n2_foreign_appid_is_decrypt_failed() {
    let e = decrypt(
        PayloadKind::UserInfo,
        A_KEY,
        A_IV,
        A_DATA,
        "wx0000000000000000",
    )
    .unwrap_err();
    assert_eq!(e, DecryptError::DecryptFailed);
    assert_eq!(e.code(), "decrypt_failed");
}

#[test]
fn n3_short_key_is_invalid_key() {
    let e = decrypt(
        PayloadKind::UserInfo,
        "AAECAwQFBgcICQoL",
        A_IV,
        A_DATA,
        A_APPID,
    )
    .unwrap_err();
    assert_eq!(e, DecryptError::InvalidKey);
    assert_eq!((e.errcode(), e.code()), (-41001, "invalid_session_key"));
}

#[test]
fn n4_short_iv_is_invalid_iv() {
    let e = decrypt(
        PayloadKind::UserInfo,
        A_KEY,
        "r7BXXKkLb8qrSNn0",
        A_DATA,
        A_APPID,
    )
    .unwrap_err();
    assert_eq!(e, DecryptError::InvalidIv);
    assert_eq!((e.errcode(), e.code()), (-41002, "invalid_iv"));
}

#[test]
fn n4b_key_not_base64_is_invalid_base64() {
    let e = decrypt(PayloadKind::UserInfo, "abc", A_IV, A_DATA, A_APPID).unwrap_err();
    assert_eq!(
        e,
        DecryptError::InvalidBase64 {
            field: Field::SessionKey
        }
    );
    assert_eq!((e.errcode(), e.code()), (-41004, "invalid_base64"));
}

#[test]
fn data_and_iv_not_base64_name_their_field() {
    let e = decrypt(PayloadKind::UserInfo, A_KEY, A_IV, "%%%%", A_APPID).unwrap_err();
    assert_eq!(
        e,
        DecryptError::InvalidBase64 {
            field: Field::EncryptedData
        }
    );
    let e = decrypt(
        PayloadKind::UserInfo,
        A_KEY,
        "r7BXXKkLb8qrSNn05n0qiA=!",
        A_DATA,
        A_APPID,
    )
    .unwrap_err();
    assert_eq!(e, DecryptError::InvalidBase64 { field: Field::Iv });
}

#[test]
fn n5_real_mismatched_pair_is_decrypt_failed() {
    assert_eq!(
        decrypt_plaintext(N5_KEY, N5_IV, N5_DATA).unwrap_err(),
        DecryptError::DecryptFailed
    );
    for kind in PayloadKind::ALL {
        assert_eq!(
            decrypt(kind, N5_KEY, N5_IV, N5_DATA, A_APPID).unwrap_err(),
            DecryptError::DecryptFailed
        );
    }
}

#[test]
fn ciphertext_length_not_a_block_multiple_is_decrypt_failed() {
    // 15 bytes, and zero bytes.
    for data in ["AAAAAAAAAAAAAAAAAAAA", ""] {
        assert_eq!(
            decrypt(PayloadKind::Share, S_KEY, S_IV, data, S_APPID).unwrap_err(),
            DecryptError::DecryptFailed
        );
    }
}

#[test]
fn plus_turned_into_space_is_repaired() {
    assert!(A_DATA.contains('+'));
    let damaged = A_DATA.replace('+', " ");
    let d = decrypt(PayloadKind::UserInfo, A_KEY, A_IV, &damaged, A_APPID).unwrap();
    assert_eq!(d.watermark().unwrap().appid, A_APPID);
    // The iv of vector B contains no `+`, the key of B does; the data of B does.
    let damaged_b = B_DATA.replace('+', " ");
    assert!(decrypt(PayloadKind::Phone, B_KEY, B_IV, &damaged_b, B_APPID).is_ok());
}

#[test]
fn inserted_newlines_and_indentation_are_repaired() {
    let mut damaged = String::new();
    for (i, chunk) in A_DATA.as_bytes().chunks(64).enumerate() {
        if i > 0 {
            damaged.push_str("\n    ");
        }
        damaged.push_str(std::str::from_utf8(chunk).unwrap());
    }
    damaged.push_str("\r\n");
    let d = decrypt(PayloadKind::UserInfo, A_KEY, A_IV, &damaged, A_APPID).unwrap();
    assert_eq!(d.kind(), PayloadKind::UserInfo);
    // A damaged iv is repaired the same way.
    let iv = format!(" {A_IV}\n");
    assert!(decrypt(PayloadKind::UserInfo, A_KEY, &iv, A_DATA, A_APPID).is_ok());
}

#[test]
fn a_repair_must_still_validate() {
    // Repairable base64, but with a foreign appid: still decrypt_failed, not a success.
    let damaged = A_DATA.replace('+', " ");
    assert_eq!(
        decrypt(
            PayloadKind::UserInfo,
            A_KEY,
            A_IV,
            &damaged,
            "wx0000000000000000"
        )
        .unwrap_err(),
        DecryptError::DecryptFailed
    );
    // Whitespace that is not repairable into base64 is still invalid base64.
    assert_eq!(
        decrypt(PayloadKind::UserInfo, A_KEY, A_IV, "ab c!", A_APPID).unwrap_err(),
        DecryptError::InvalidBase64 {
            field: Field::EncryptedData
        }
    );
}

fn encrypt_json(json: &str) -> String {
    encrypt(S_KEY, S_IV, json.as_bytes()).unwrap()
}

#[test]
fn user_info_or_phone_without_watermark_is_decrypt_failed() {
    let u = encrypt_json(r#"{"nickName":"微信用户","gender":0,"avatarUrl":""}"#);
    assert_eq!(
        decrypt(PayloadKind::UserInfo, S_KEY, S_IV, &u, S_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
    let p = encrypt_json(r#"{"phoneNumber":"1","purePhoneNumber":"1","countryCode":86}"#);
    assert_eq!(
        decrypt(PayloadKind::Phone, S_KEY, S_IV, &p, S_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
}

#[test]
fn share_group_and_werun_without_watermark_are_accepted() {
    let s = encrypt_json(r#"{"openGId":"G"}"#);
    let d = decrypt(PayloadKind::Share, S_KEY, S_IV, &s, S_APPID).unwrap();
    assert!(d.watermark().is_none());
    let g = encrypt_json(r#"{"opengid":"g","group_openid":"o","chat_type":3}"#);
    let d = decrypt(PayloadKind::GroupEnter, S_KEY, S_IV, &g, S_APPID).unwrap();
    assert_eq!(
        d.to_json(),
        r#"{"opengid":"g","group_openid":"o","chat_type":3}"#
    );
    let w = encrypt_json(r#"{"stepInfoList":[]}"#);
    assert!(decrypt(PayloadKind::WeRun, S_KEY, S_IV, &w, S_APPID).is_ok());
    // A watermark that is present must still match.
    let s = encrypt_json(r#"{"openGId":"G","watermark":{"appid":"wxother","timestamp":1}}"#);
    assert_eq!(
        decrypt(PayloadKind::Share, S_KEY, S_IV, &s, S_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
}

#[test]
fn user_info_after_2022_tolerates_missing_fields_and_keeps_unknown_ones() {
    let json = r#"{"nickName":"微信用户","avatarUrl":"https://x/0","is_demote":true,"watermark":{"timestamp":1,"appid":"wx0123456789abcdef"},"tags":[1,{"a":"😀"}]}"#;
    let d = decrypt(
        PayloadKind::UserInfo,
        S_KEY,
        S_IV,
        &encrypt_json(json),
        S_APPID,
    )
    .unwrap();
    let Decrypted::UserInfo(u) = &d else { panic!() };
    assert_eq!((u.open_id(), u.gender(), u.city()), (None, 0, ""));
    assert_eq!(u.extra().get("is_demote").unwrap().get(), "true");
    assert_eq!(
        d.to_json(),
        r#"{"nickName":"微信用户","gender":0,"language":"","city":"","province":"","country":"","avatarUrl":"https://x/0","is_demote":true,"tags":[1,{"a":"😀"}]}"#
    );
}

#[test]
fn country_code_as_number_is_emitted_as_string() {
    let json = r#"{"phoneNumber":"+1 5550100","purePhoneNumber":"5550100","countryCode":1,"watermark":{"timestamp":1,"appid":"wx0123456789abcdef"}}"#;
    let d = decrypt(
        PayloadKind::Phone,
        S_KEY,
        S_IV,
        &encrypt_json(json),
        S_APPID,
    )
    .unwrap();
    assert_eq!(
        d.to_json(),
        r#"{"phoneNumber":"+1 5550100","purePhoneNumber":"5550100","countryCode":"1"}"#
    );
}

#[test]
fn documented_types_are_strict_and_duplicates_refused() {
    let wm = r#""watermark":{"timestamp":1,"appid":"wx0123456789abcdef"}"#;
    for json in [
        format!(r#"{{"nickName":"n","gender":"1",{wm}}}"#),
        format!(r#"{{"nickName":1,{wm}}}"#),
        format!(r#"{{"nickName":"n","nickName":"m",{wm}}}"#),
        format!(r#"{{"nickName":"n","x":1,"x":2,{wm}}}"#),
        format!(r#"{{"nickName":"n",{wm},{wm}}}"#),
        format!(r#"{{"gender":1,{wm}}}"#),
        format!(r#"[{{"nickName":"n",{wm}}}]"#),
        format!(r#"{{"nickName":"n",{wm}}} x"#),
        r#"{"nickName":"n","watermark":{"appid":"wx0123456789abcdef"}}"#.to_owned(),
    ] {
        assert_eq!(
            decrypt(
                PayloadKind::UserInfo,
                S_KEY,
                S_IV,
                &encrypt_json(&json),
                S_APPID
            )
            .unwrap_err(),
            DecryptError::DecryptFailed,
            "{json}"
        );
    }
    // Invalid UTF-8 inside a string.
    let mut bytes = format!(r#"{{"nickName":"__",{wm}}}"#).into_bytes();
    bytes[13] = 0xff;
    let data = encrypt(S_KEY, S_IV, &bytes).unwrap();
    assert_eq!(
        decrypt(PayloadKind::UserInfo, S_KEY, S_IV, &data, S_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
}

#[test]
fn the_wrong_kind_does_not_parse() {
    assert_eq!(
        decrypt(PayloadKind::UserInfo, B_KEY, B_IV, B_DATA, B_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
    assert_eq!(
        decrypt(PayloadKind::Phone, A_KEY, A_IV, A_DATA, A_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
}

#[test]
fn key_ring_reports_which_key_worked() {
    let ring = [S_KEY, A_KEY];
    let (d, i) = decrypt_with_keys(PayloadKind::UserInfo, ring, A_IV, A_DATA, A_APPID).unwrap();
    assert_eq!(i.0, 1);
    assert_eq!(d.kind(), PayloadKind::UserInfo);
    let (_, i) =
        decrypt_with_keys(PayloadKind::UserInfo, [A_KEY, S_KEY], A_IV, A_DATA, A_APPID).unwrap();
    assert_eq!(i.0, 0);
    // No key works: decrypt_failed, also when a malformed key sits in the ring.
    assert_eq!(
        decrypt_with_keys(PayloadKind::UserInfo, ["abc", S_KEY], A_IV, A_DATA, A_APPID)
            .unwrap_err(),
        DecryptError::DecryptFailed
    );
    assert_eq!(
        decrypt_with_keys(PayloadKind::UserInfo, ["abc"], A_IV, A_DATA, A_APPID).unwrap_err(),
        DecryptError::InvalidBase64 {
            field: Field::SessionKey
        }
    );
    assert_eq!(
        decrypt_with_keys(PayloadKind::UserInfo, [], A_IV, A_DATA, A_APPID).unwrap_err(),
        DecryptError::DecryptFailed
    );
    // Malformed iv fails before any key is tried.
    assert_eq!(
        decrypt_with_keys(PayloadKind::UserInfo, [A_KEY], "AAAA", A_DATA, A_APPID).unwrap_err(),
        DecryptError::InvalidIv
    );
}

#[test]
fn payload_kind_parses_its_five_names() {
    for (s, k) in [
        ("user_info", PayloadKind::UserInfo),
        ("phone", PayloadKind::Phone),
        ("share", PayloadKind::Share),
        ("group_enter", PayloadKind::GroupEnter),
        ("werun", PayloadKind::WeRun),
    ] {
        assert_eq!(s.parse::<PayloadKind>().unwrap(), k);
        assert_eq!(k.to_string(), s);
    }
    assert!("UserInfo".parse::<PayloadKind>().is_err());
    assert!("".parse::<PayloadKind>().is_err());
}

#[test]
fn errors_and_payload_debug_leak_nothing() {
    let e = decrypt(
        PayloadKind::UserInfo,
        A_KEY,
        A_IV,
        A_DATA,
        "wx0000000000000000",
    )
    .unwrap_err();
    for text in [format!("{e}"), format!("{e:?}")] {
        assert!(!text.contains(A_KEY) && !text.contains("Band") && !text.contains("CiyLU1"));
    }
    let d = decrypt(PayloadKind::Phone, B_KEY, B_IV, B_DATA, B_APPID).unwrap();
    assert!(!format!("{d:?}").contains("18017448610"));
    let d = decrypt(PayloadKind::UserInfo, A_KEY, A_IV, A_DATA, A_APPID).unwrap();
    let dbg = format!("{d:?}");
    assert!(!dbg.contains("oGZUI0egBJY1zhBYw2KhdUfwVJJE") && !dbg.contains("ocMvos6N"));
}

#[test]
fn raw_data_signature_official_vector() {
    let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
    let key = "HyVFkGl5F5OQWJZZaNzBBg==";
    let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    assert!(verify_raw_data_signature(raw, key, sig));
    assert!(verify_raw_data_signature(raw, key, &sig.to_uppercase()));
    assert_eq!(raw_data_signature(raw, key), sig);
    assert!(!verify_raw_data_signature(raw, S_KEY, sig));
    assert!(!verify_raw_data_signature(
        &raw.replace("Band", "Bond"),
        key,
        sig
    ));
    assert!(!verify_raw_data_signature(raw, key, &sig[..39]));
    assert!(!verify_raw_data_signature(raw, key, &format!("{sig}00")));
    assert!(!verify_raw_data_signature(raw, key, ""));
}

#[test]
fn raw_data_signature_utf8_vector() {
    let raw = r#"{"nickName":"微信用户","gender":0,"language":"","city":"","province":"","country":"","avatarUrl":""}"#;
    assert_eq!(raw.len(), 104);
    let sig = "cfcdce1674cc6d687f495c6a67347c32d53a48a7";
    assert!(verify_raw_data_signature(raw, S_KEY, sig));
    assert_eq!(raw_data_signature(raw, S_KEY), sig);
}

#[test]
fn login_state_signature_vectors() {
    for (key, msg, sig) in [
        (
            "o0q0otL8aEzpcZL/FT9WsQ==",
            &br#"{"foo":"bar"}"#[..],
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b",
        ),
        (
            "o0q0otL8aEzpcZL/FT9WsQ==",
            b"",
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128",
        ),
        (
            "tiihtNczf5v6AKRyjwEUhQ==",
            b"",
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735",
        ),
        (
            "AAECAwQFBgcICQoLDA0ODw==",
            b"",
            "75c022993d64e3ac224c1c9d6f2b4c6eb53f22f6c7aa6be94428577d11d12fd5",
        ),
    ] {
        assert_eq!(login_state_signature(key, msg), sig);
    }
}

#[test]
fn encrypt_rejects_malformed_key_and_iv() {
    assert_eq!(
        encrypt("abc", S_IV, b"x").unwrap_err(),
        DecryptError::InvalidBase64 {
            field: Field::SessionKey
        }
    );
    assert_eq!(
        encrypt(S_KEY, "AAAA", b"x").unwrap_err(),
        DecryptError::InvalidIv
    );
    assert_eq!(
        encrypt(S_KEY, "a!", b"x").unwrap_err(),
        DecryptError::InvalidBase64 { field: Field::Iv }
    );
}
