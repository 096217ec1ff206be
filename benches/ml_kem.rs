//! ML-KEM-1024 implementations side by side: libcrux-ml-kem (keylink's choice) and RustCrypto
//! ml-kem, each doing key generation, encapsulation and decapsulation in the same run.

use criterion::{Criterion, criterion_group, criterion_main};
use libcrux_ml_kem::mlkem1024;
use ml_kem::kem::{Decapsulate, Encapsulate, Kem};
use rand_core::Rng;
use std::hint::black_box;

fn libcrux(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let mut group = c.benchmark_group("ML-KEM-1024/libcrux");
    group.bench_function("keygen", |b| {
        b.iter(|| {
            let mut seed = [0u8; 64];
            rng.fill_bytes(&mut seed);
            black_box(mlkem1024::generate_key_pair(seed))
        })
    });
    let mut seed = [0u8; 64];
    rng.fill_bytes(&mut seed);
    let pair = mlkem1024::generate_key_pair(seed);
    group.bench_function("encaps", |b| {
        b.iter(|| {
            let mut m = [0u8; 32];
            rng.fill_bytes(&mut m);
            black_box(mlkem1024::encapsulate(pair.public_key(), m))
        })
    });
    let (ct, _) = mlkem1024::encapsulate(pair.public_key(), [7u8; 32]);
    group.bench_function("decaps", |b| {
        b.iter(|| black_box(mlkem1024::decapsulate(pair.private_key(), &ct)))
    });
    group.finish();
}

fn rustcrypto(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let mut group = c.benchmark_group("ML-KEM-1024/ml-kem");
    group.bench_function("keygen", |b| {
        b.iter(|| black_box(ml_kem::MlKem1024::generate_keypair_from_rng(&mut rng)))
    });
    let (dk, ek) = ml_kem::MlKem1024::generate_keypair_from_rng(&mut rng);
    group.bench_function("encaps", |b| {
        b.iter(|| black_box(ek.encapsulate_with_rng(&mut rng)))
    });
    let (ct, _) = ek.encapsulate_with_rng(&mut rng);
    group.bench_function("decaps", |b| b.iter(|| black_box(dk.decapsulate(&ct))));
    group.finish();
}

criterion_group!(benches, libcrux, rustcrypto);
criterion_main!(benches);
