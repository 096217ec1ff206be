//! Safety numbers beside their primitive: `SafetyNumber::new` computes two fingerprints, each
//! `h_0` and 5200 SHA-512 steps over 96 bytes (`h_i || AIK`), plus the digits; the bare
//! SHA-512 chain of one fingerprint is measured beside it, so the ratio (about 2) shows what
//! keylink adds.
//!
//! Prekey upkeep beside its primitives: a refill of 100 one-time bundles is 100 x (X25519
//! keygen + ML-KEM-1024 keygen + Ed25519 sign of the KEM prekey), measured here as one loop
//! of the bare primitives; a rotation adds the signed prekey and the last-resort KEM prekey.
//!
//! Run with `cargo bench --bench account`.

#![allow(clippy::panic, clippy::expect_used)]

use core::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use keylink::Timestamp;
use keylink::account::{AccountKeyPair, PhoneNumber, PreKeyUpkeep, SafetyNumber};
use keylink::keys::IdentityKeyPair;
use keylink::store::MemoryStore;
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

/// 100 one-time bundles' worth of primitives: what a refill of 100 cannot do without.
fn one_time_primitives(count: usize, rng: &mut keylink::OsRng, signing: &SigningKey) {
    let mut message = Vec::with_capacity(24 + 4 + 1568);
    for i in 0..count {
        let secret = x25519_dalek::StaticSecret::random_from_rng(&mut *rng);
        black_box(x25519_dalek::PublicKey::from(&secret));
        let mut seed = [0u8; 64];
        rand_core::Rng::fill_bytes(rng, &mut seed);
        let pair = libcrux_ml_kem::mlkem1024::generate_key_pair(seed);
        message.clear();
        message.extend_from_slice(b"keylink v1 kem prekey");
        message.extend_from_slice(&u32::try_from(i).unwrap_or(0).to_be_bytes());
        message.extend_from_slice(pair.public_key().as_slice());
        black_box(signing.sign(&message));
    }
}

fn upkeep(c: &mut Criterion) {
    const DAY: Duration = Duration::from_secs(86_400);
    let mut rng = keylink::os_rng();
    let t0 = Timestamp::from_unix_secs(1_800_000_000);
    let upkeep = PreKeyUpkeep::new(1);
    let mut published = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
    upkeep
        .run(&mut published, t0, 0, &mut rng)
        .expect("first publication");
    let signing = SigningKey::generate(&mut rng);
    let mut group = c.benchmark_group("prekey upkeep");
    group.sample_size(20);
    group.bench_function("run: refill 100 one-time bundles", |b| {
        b.iter_batched(
            || published.clone(),
            // The store is returned so that dropping it is not timed.
            |mut store| {
                let upload = upkeep.run(&mut store, t0.saturating_add(DAY), 0, &mut rng);
                (store, upload)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("run: rotation (new generation + 100 bundles)", |b| {
        b.iter_batched(
            || published.clone(),
            |mut store| {
                let upload = upkeep.run(&mut store, t0.saturating_add(DAY * 8), 100, &mut rng);
                (store, upload)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function(
        "100 x (X25519 keygen + ML-KEM-1024 keygen + Ed25519 sign) (primitives)",
        |b| b.iter(|| one_time_primitives(100, &mut rng, &signing)),
    );
    group.bench_function("run: nothing to do", |b| {
        b.iter(|| upkeep.run(&mut published, t0.saturating_add(DAY), 100, &mut rng))
    });
    group.finish();
}

/// A list of five devices: parse + verify (1 list signature and 2 per device, 11 Ed25519
/// `verify_strict`) beside 11 bare `verify_strict` of messages of the same lengths.
fn device_list(c: &mut Criterion) {
    use keylink::account::{DeviceEntry, SignedDeviceList};
    let mut rng = keylink::os_rng();
    let account = AccountKeyPair::generate(&mut rng);
    let phone = PhoneNumber::parse("+447700900123").expect("valid");
    let t = Timestamp::from_unix_secs(1_800_000_000);
    let mut devices = vec![DeviceEntry::primary(
        &account,
        &IdentityKeyPair::generate(&mut rng),
        t,
    )];
    for id in 2..=5u32 {
        let device = IdentityKeyPair::generate(&mut rng);
        let authorization = account.authorize_device(id, device.public(), t);
        let device_sig = authorization.countersign(&device).expect("countersign");
        devices.push(authorization.complete(device_sig).expect("complete"));
    }
    let bytes = SignedDeviceList::issue(&account, &phone, 5, t, devices)
        .expect("issue")
        .to_bytes();
    let signing = SigningKey::generate(&mut rng);
    let verifying = signing.verifying_key();
    // The signed messages' lengths: the list (22 + 271), then per device the account's
    // (28 + 76) and the device's (27 + 76 + 64).
    let lengths = [293usize].into_iter().chain([104, 167].repeat(5));
    let pairs: Vec<(Vec<u8>, ed25519_dalek::Signature)> = lengths
        .map(|len| {
            let message = vec![7u8; len];
            let signature = signing.sign(&message);
            (message, signature)
        })
        .collect();
    let mut group = c.benchmark_group("device list");
    group.bench_function("parse + verify, 5 devices", |b| {
        b.iter(|| {
            SignedDeviceList::try_from(black_box(bytes.as_slice()))
                .and_then(|list| list.verify(&phone))
                .expect("verifies")
        })
    });
    group.bench_function("11 x Ed25519 verify_strict (primitives)", |b| {
        b.iter(|| {
            let verified = pairs
                .iter()
                .map(|(m, s)| verifying.verify_strict(m, s).is_ok());
            black_box(verified.fold(true, |all, ok| all & ok))
        })
    });
    group.finish();
}

criterion_group!(benches, safety_number, upkeep, device_list);
criterion_main!(benches);
