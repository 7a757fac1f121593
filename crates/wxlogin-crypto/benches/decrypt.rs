//! Throughput of the decrypt path (vector A, one thread) and of the rawData signature check.
//!
//! `cargo bench -p wxlogin-crypto --bench decrypt -- --warm-up-time 1 --measurement-time 5`
//!
//! Wall time: on a busy machine, `examples/cpu_time.rs` measures the same paths in CPU time.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wxlogin_crypto::{
    Decrypted, PayloadKind, decrypt, decrypt_plaintext, decrypt_with_keys,
    verify_raw_data_signature,
};

const A_APPID: &str = "wx4f4bc4dec97d474b";
const A_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const A_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const A_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;
const A_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

const RAW: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
const RAW_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
const RAW_SIG: &str = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("vector_a");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decrypt_parse_watermark", |b| {
        b.iter(|| {
            decrypt(
                PayloadKind::UserInfo,
                black_box(A_KEY),
                black_box(A_IV),
                black_box(A_DATA),
                black_box(A_APPID),
            )
            .unwrap()
        })
    });
    // What `/v1/decrypt` calls: the same through a (one-key) session_key ring.
    g.bench_function("decrypt_with_keys", |b| {
        b.iter(|| {
            decrypt_with_keys(
                PayloadKind::UserInfo,
                [black_box(A_KEY)],
                black_box(A_IV),
                black_box(A_DATA),
                black_box(A_APPID),
            )
            .unwrap()
        })
    });
    // The JSON part alone: the typed parse of vector A's plaintext.
    g.bench_function("parse_only", |b| {
        b.iter(|| Decrypted::parse(PayloadKind::UserInfo, black_box(A_PLAIN)).unwrap())
    });
    // The floor under the full path: base64 + AES-CBC + padding, no JSON.
    g.bench_function("plaintext_only", |b| {
        b.iter(|| decrypt_plaintext(black_box(A_KEY), black_box(A_IV), black_box(A_DATA)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("raw_data");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_signature", |b| {
        b.iter(|| {
            assert!(verify_raw_data_signature(
                black_box(RAW),
                black_box(RAW_KEY),
                black_box(RAW_SIG)
            ))
        })
    });
    g.finish();
}

criterion_group!(decrypt_benches, benches);
criterion_main!(decrypt_benches);
