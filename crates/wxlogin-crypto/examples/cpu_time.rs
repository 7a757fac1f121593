//! The decrypt path's cost in CPU time of this thread, for a machine that is not quiet.
//!
//! `cargo run --profile bench -p wxlogin-crypto --example cpu_time`
//!
//! Criterion (`benches/decrypt.rs`) measures wall time, which other processes on a shared
//! machine inflate (by ~1.5x at load 5–7 on the 2-core box). This runs each path in rounds
//! of 200 000 calls, interleaved so every path sees the same conditions, and reports the
//! CPU time this thread spent per call: the minimum and the median over 15 rounds. On an
//! idle machine it agrees with criterion (BENCHMARKS.md, crypto). Linux only: it reads
//! `/proc/thread-self/schedstat` (nanoseconds on CPU).

use std::hint::black_box;

use wxlogin_crypto::{
    Decrypted, PayloadKind, decrypt, decrypt_plaintext, decrypt_with_keys,
    verify_raw_data_signature,
};

const A_APPID: &str = "wx4f4bc4dec97d474b";
const A_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const A_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const A_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
const A_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

const RAW: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
const RAW_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
const RAW_SIG: &str = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";

const CALLS: u32 = 200_000;
const ROUNDS: usize = 15;

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux: /proc/thread-self/schedstat");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the time on CPU in ns")
}

fn main() {
    let paths: [(&str, fn()); 5] = [
        ("decrypt (vector A, full typed parse + watermark)", || {
            black_box(
                decrypt(
                    PayloadKind::UserInfo,
                    black_box(A_KEY),
                    black_box(A_IV),
                    black_box(A_DATA),
                    black_box(A_APPID),
                )
                .expect("vector A decrypts"),
            );
        }),
        ("decrypt_with_keys (one-key ring, as /v1/decrypt)", || {
            black_box(
                decrypt_with_keys(
                    PayloadKind::UserInfo,
                    [black_box(A_KEY)],
                    black_box(A_IV),
                    black_box(A_DATA),
                    black_box(A_APPID),
                )
                .expect("vector A decrypts"),
            );
        }),
        ("Decrypted::parse (vector A's plaintext)", || {
            black_box(
                Decrypted::parse(PayloadKind::UserInfo, black_box(A_PLAIN))
                    .expect("vector A parses"),
            );
        }),
        ("decrypt_plaintext (base64 + AES + padding)", || {
            black_box(
                decrypt_plaintext(black_box(A_KEY), black_box(A_IV), black_box(A_DATA))
                    .expect("vector A decrypts"),
            );
        }),
        ("verify_raw_data_signature", || {
            assert!(verify_raw_data_signature(
                black_box(RAW),
                black_box(RAW_KEY),
                black_box(RAW_SIG)
            ));
        }),
    ];
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    for (_, path) in &paths {
        (0..CALLS / 4).for_each(|_| path());
    }
    for _ in 0..ROUNDS {
        for ((_, path), samples) in paths.iter().zip(&mut per_call) {
            let start = thread_cpu_ns();
            (0..CALLS).for_each(|_| path());
            samples.push((thread_cpu_ns() - start) as f64 / f64::from(CALLS));
        }
    }
    for ((name, _), mut samples) in paths.iter().zip(per_call) {
        samples.sort_by(f64::total_cmp);
        let (min, median) = (samples[0], samples[ROUNDS / 2]);
        println!(
            "{name:<50} min {min:>4.0} ns  median {median:>4.0} ns  ({:.2} M/s at the min)",
            1000.0 / min
        );
    }
}
