//! Local JWT verification per second, one thread, JWKS cached: what a backend in local mode
//! spends per request. The JWKS comes once from an in-process server before measuring.
//!
//! `cargo bench -p wxlogin-axum --bench verify -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wxlogin_axum::{LocalConfig, Verifier};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{APP_A, ISSUER, JwksServer, TestKey};

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = TestKey::generate("k1");
    let jwks = runtime.block_on(JwksServer::start(vec![key.jwk()]));
    let verifier =
        Verifier::local(LocalConfig::new(jwks.base.clone(), [APP_A]).issuer(ISSUER)).unwrap();
    let token = key.access_jwt(APP_A, 3600);
    runtime.block_on(verifier.verify(&token)).unwrap();
    assert_eq!(jwks.fetches(), 1);

    let mut group = c.benchmark_group("local");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_access_jwt", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&token)))
                .unwrap()
        })
    });
    group.finish();
    assert_eq!(jwks.fetches(), 1, "the JWKS must stay cached");
}

criterion_group!(verify, benches);
criterion_main!(verify);
