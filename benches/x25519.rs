//! X25519 on curve25519-dalek's Edwards arithmetic (what keylink runs) beside the Montgomery
//! ladder (x25519-dalek, what keylink ran before), in the same run:
//!
//! - DH from a u-coordinate (prekeys, base keys, ratchet keys): ladder vs decompression to an
//!   Edwards point + Edwards scalar multiplication + conversion back;
//! - DH with an identity key (PQXDH): its Montgomery form + ladder vs the Edwards point the
//!   parsed identity key already holds;
//! - key generation: ladder from u = 9, x25519-dalek's `PublicKey::from` (already Edwards, on
//!   the precomputed base-point table) and keylink's own.
//!
//! Run with `cargo bench --bench x25519 --features hazmat`.

#![allow(clippy::panic, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use keylink::hazmat::primitives::{x25519, x25519_identity, x25519_public_key};
use keylink::keys::IdentityKeyPair;
use std::hint::black_box;
use x25519_dalek::{PublicKey, StaticSecret, X25519_BASEPOINT_BYTES};

const SECRET: [u8; 32] = [0x42; 32];

fn dh(c: &mut Criterion) {
    let mut group = c.benchmark_group("x25519 dh");
    let peer = PublicKey::from(&StaticSecret::from([7u8; 32]));
    let ladder = StaticSecret::from(SECRET);
    group.bench_function("ladder (x25519-dalek)", |b| {
        b.iter(|| black_box(ladder.diffie_hellman(black_box(&peer)).to_bytes()))
    });
    group.bench_function("edwards (keylink)", |b| {
        b.iter(|| black_box(x25519(SECRET, black_box(peer.to_bytes())).expect("on the curve")))
    });
    group.finish();
}

fn identity_dh(c: &mut Criterion) {
    let mut group = c.benchmark_group("x25519 dh with an identity key");
    let identity = *IdentityKeyPair::generate(&mut keylink::os_rng()).public();
    let ladder = StaticSecret::from(SECRET);
    let verifying =
        ed25519_dalek::VerifyingKey::from_bytes(identity.as_bytes()).expect("a valid key");
    group.bench_function("to_montgomery + ladder (before)", |b| {
        b.iter(|| {
            let u = PublicKey::from(black_box(&verifying).to_montgomery().to_bytes());
            black_box(ladder.diffie_hellman(&u).to_bytes())
        })
    });
    group.bench_function("edwards point (keylink)", |b| {
        b.iter(|| black_box(x25519_identity(SECRET, black_box(&identity)).expect("valid")))
    });
    group.finish();
}

fn keygen(c: &mut Criterion) {
    let mut group = c.benchmark_group("x25519 public key");
    group.bench_function("ladder from u = 9", |b| {
        b.iter(|| {
            black_box(x25519_dalek::x25519(
                black_box(SECRET),
                X25519_BASEPOINT_BYTES,
            ))
        })
    });
    group.bench_function("x25519-dalek PublicKey::from (edwards table)", |b| {
        b.iter(|| black_box(PublicKey::from(&StaticSecret::from(black_box(SECRET)))))
    });
    group.bench_function("edwards table (keylink)", |b| {
        b.iter(|| black_box(x25519_public_key(black_box(SECRET))))
    });
    group.finish();
}

criterion_group!(benches, dh, identity_dh, keygen);
criterion_main!(benches);
