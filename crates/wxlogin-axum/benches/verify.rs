//! Local JWT verification per second, one thread, JWKS cached: what a backend in local mode
//! spends per request. The JWKS comes once from an in-process server before measuring.
//!
//! `cargo bench -p wxlogin-axum --bench verify -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
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
    // Baselines on the same machine and load: the bare EdDSA verification, and jsonwebtoken
    // alone (no JWKS lookup, no claim mapping). What `verify` adds is the difference.
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let public = URL_SAFE_NO_PAD
        .decode(key.jwk()["x"].as_str().unwrap())
        .unwrap();
    let ed25519 = UnparsedPublicKey::new(&ED25519, public.clone());
    group.bench_function("baseline_ed25519_verify", |b| {
        b.iter(|| {
            ed25519
                .verify(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    let decoding = DecodingKey::from_ed_der(&public);
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[APP_A]);
    validation.set_issuer(&[ISSUER]);
    group.bench_function("baseline_jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation)
                .unwrap()
        })
    });
    group.finish();
    assert_eq!(jwks.fetches(), 1, "the JWKS must stay cached");
}

criterion_group!(verify, benches);
criterion_main!(verify);
