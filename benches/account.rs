//! Safety numbers beside their primitive: `SafetyNumber::new` computes two fingerprints, each
//! `h_0` and 5200 SHA-512 steps over 96 bytes (`h_i || AIK`), plus the digits; the bare
//! SHA-512 chain of one fingerprint is measured beside it, so the ratio (about 2) shows what
//! keylink adds.
//!
//! Run with `cargo bench --bench account`.

#![allow(clippy::panic, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use keylink::account::{AccountKeyPair, PhoneNumber, SafetyNumber};
use sha2::{Digest, Sha512};
use std::hint::black_box;

fn safety_number(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let (alice, bob) = (
        AccountKeyPair::generate(&mut rng),
        AccountKeyPair::generate(&mut rng),
    );
    let alice_phone = PhoneNumber::parse("+14155550100").expect("valid");
    let bob_phone = PhoneNumber::parse("+447700900123").expect("valid");
    let key = alice.public().to_bytes();
    let mut group = c.benchmark_group("safety number");
    group.bench_function("SafetyNumber::new (two fingerprints)", |b| {
        b.iter(|| {
            SafetyNumber::new(
                black_box(&alice_phone),
                black_box(alice.public()),
                &bob_phone,
                bob.public(),
            )
        })
    });
    group.bench_function(
        "5200 x SHA-512(h || AIK) (primitive, one fingerprint)",
        |b| {
            b.iter(|| {
                let mut h = [0u8; 64];
                for _ in 0..5200 {
                    h = Sha512::new()
                        .chain_update(h)
                        .chain_update(black_box(key))
                        .finalize()
                        .into();
                }
                h
            })
        },
    );
    let at_alice = SafetyNumber::new(&alice_phone, alice.public(), &bob_phone, bob.public());
    let scanned =
        SafetyNumber::new(&bob_phone, bob.public(), &alice_phone, alice.public()).qr_payload();
    group.bench_function("verify_scanned", |b| {
        b.iter(|| at_alice.verify_scanned(black_box(&scanned)))
    });
    group.finish();
}

criterion_group!(benches, safety_number);
criterion_main!(benches);
