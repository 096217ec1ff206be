//! Session setup (PQXDH) next to the primitives it is made of, measured in the same run.
//!
//! Initiator = parse and verify a bundle (2 Ed25519 verify_strict, 1 point decompression,
//! 1 ML-KEM key check) + 2 X25519 key generations + 5 X25519 DH + 1 ML-KEM encaps + HKDF.
//! Responder = 6 X25519 DH + 1 X25519 key generation + 1 ML-KEM decaps + HKDF + decrypting the
//! first message.

#![allow(clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use keylink::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{Message, Session};
use keylink::store::{Address, MemoryStore};
use std::hint::black_box;

struct Bob {
    identity: IdentityKeyPair,
    signed: SignedPreKey,
    one_time: OneTimePreKey,
    kem: KemPreKey,
    bundle: Vec<u8>,
}

fn bob() -> Bob {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &identity, &mut rng);
    let one_time = OneTimePreKey::generate(2, &mut rng);
    let kem = KemPreKey::generate(3, &identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &identity, &signed, Some(&one_time), &kem).to_bytes();
    Bob {
        identity,
        signed,
        one_time,
        kem,
        bundle,
    }
}

fn primitives(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let mut group = c.benchmark_group("primitive");
    let a = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let b = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(&mut rng));
    group.bench_function("X25519 keygen", |bench| {
        bench.iter(|| {
            let s = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
            black_box(x25519_dalek::PublicKey::from(&s))
        })
    });
    group.bench_function("X25519 DH", |bench| {
        bench.iter(|| black_box(a.diffie_hellman(&b)))
    });
    let signing = SigningKey::generate(&mut rng);
    let message = [0u8; 60];
    let signature = signing.sign(&message);
    let verifying = signing.verifying_key();
    group.bench_function("Ed25519 verify_strict", |bench| {
        bench.iter(|| black_box(verifying.verify_strict(&message, &signature)))
    });
    let pair = libcrux_ml_kem::mlkem1024::generate_key_pair([1u8; 64]);
    group.bench_function("ML-KEM-1024 encaps", |bench| {
        bench.iter(|| {
            black_box(libcrux_ml_kem::mlkem1024::encapsulate(
                pair.public_key(),
                [2u8; 32],
            ))
        })
    });
    let (ct, _) = libcrux_ml_kem::mlkem1024::encapsulate(pair.public_key(), [2u8; 32]);
    group.bench_function("ML-KEM-1024 decaps", |bench| {
        bench.iter(|| {
            black_box(libcrux_ml_kem::mlkem1024::decapsulate(
                pair.private_key(),
                &ct,
            ))
        })
    });
    let ikm = [7u8; 32 * 6];
    group.bench_function("HKDF-SHA256 (192 B in, 32 B out)", |bench| {
        bench.iter(|| {
            let mut okm = [0u8; 32];
            let kdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), &ikm);
            kdf.expand(b"keylink v1 pqxdh ML-KEM-1024", &mut okm).ok();
            black_box(okm)
        })
    });
    group.finish();
}

fn setup(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let bob = bob();
    let alice = IdentityKeyPair::generate(&mut rng);
    let mut group = c.benchmark_group("setup");
    group.bench_function("bundle parse + verify", |b| {
        b.iter(|| {
            black_box(PreKeyBundle::try_from(bob.bundle.as_slice()).and_then(PreKeyBundle::verify))
        })
    });
    let verified = PreKeyBundle::try_from(bob.bundle.as_slice())
        .and_then(PreKeyBundle::verify)
        .ok();
    let Some(verified) = verified else { return };
    group.bench_function("initiator (verified bundle)", |b| {
        b.iter(|| black_box(Session::initiate(&alice, &verified, &mut rng)))
    });
    let first =
        Session::initiate(&alice, &verified, &mut rng).and_then(|mut s| s.encrypt(0, b"hello"));
    let Ok(Message::PreKey(first)) = first else {
        return;
    };
    group.bench_function("responder (incl. first message)", |b| {
        b.iter(|| {
            black_box(Session::respond(
                &bob.identity,
                &bob.signed,
                Some(&bob.one_time),
                &bob.kem,
                &first,
                &mut rng,
            ))
        })
    });
    group.finish();
}

/// The same setup through the in-memory store: reads, the operation, one commit.
fn setup_through_store(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let bob_identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &bob_identity, &mut rng);
    let one_time = OneTimePreKey::generate(2, &mut rng);
    let kem = KemPreKey::generate(3, &bob_identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob_identity, &signed, Some(&one_time), &kem)
        .verify()
        .expect("bundle");
    let mut bob = MemoryStore::new(bob_identity);
    bob.add_signed_prekey(signed);
    bob.add_one_time_prekeys([one_time]);
    bob.add_kem_prekeys([kem]);
    let alice = MemoryStore::new(IdentityKeyPair::generate(&mut rng)).to_bytes();
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let mut group = c.benchmark_group("setup (in-memory store)");
    group.bench_function("initiator: start_session + first encrypt", |b| {
        b.iter_batched(
            || MemoryStore::from_bytes(&alice).expect("alice"),
            |mut store| {
                keylink::start_session(&mut store, &bob_addr, &bundle, &mut rng).expect("start");
                black_box(
                    keylink::encrypt(&mut store, &bob_addr, b"hello")
                        .expect("encrypt")
                        .to_bytes()
                        .len(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    let mut sender = MemoryStore::from_bytes(&alice).expect("alice");
    keylink::start_session(&mut sender, &bob_addr, &bundle, &mut rng).expect("start");
    let first = keylink::encrypt(&mut sender, &bob_addr, b"hello")
        .expect("encrypt")
        .to_bytes();
    let bob = bob.to_bytes();
    group.bench_function("responder: decrypt the PreKey message", |b| {
        b.iter_batched(
            || MemoryStore::from_bytes(&bob).expect("bob"),
            |mut store| {
                black_box(
                    keylink::decrypt(&mut store, &alice_addr, &first, &mut rng)
                        .expect("decrypts")
                        .len(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, primitives, setup, setup_through_store);
criterion_main!(benches);
