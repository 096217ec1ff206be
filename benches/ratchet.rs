//! Double Ratchet encrypt and decrypt of a small message on an existing chain (sans-IO core
//! and through the in-memory store), beside the primitives they are made of, in the same run.
//!
//! Encrypt = 2 HMAC (message key, next chain key) + HKDF (key and nonce) + AES-256-GCM seal.
//! Decrypt = the same with AES-256-GCM open.

#![allow(clippy::panic, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::Mac;
use keylink::keys::{IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{Message, RatchetMessage, Session};
use std::hint::black_box;

const SIZE: usize = 100;

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitive");
    let key = [1u8; 32];
    group.bench_function("HMAC-SHA256 (1 B)", |b| {
        b.iter(|| {
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).ok();
            if let Some(m) = mac.as_mut() {
                m.update(&[1]);
            }
            black_box(mac.map(|m| m.finalize().into_bytes()))
        })
    });
    group.bench_function("HKDF-SHA256 (32 B in, 44 B out)", |b| {
        b.iter(|| {
            let mut okm = [0u8; 44];
            let kdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), &key);
            kdf.expand(b"keylink v1 message", &mut okm).ok();
            black_box(okm)
        })
    });
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    let aad = [0u8; 105];
    group.bench_function("AES-256-GCM seal 100 B", |b| {
        b.iter(|| {
            let mut buf = [0u8; SIZE];
            black_box(cipher.encrypt_inout_detached(
                &[0u8; 12].into(),
                &aad,
                buf.as_mut_slice().into(),
            ))
        })
    });
    group.finish();
}

fn pair() -> (Session, Session) {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &bob, &mut rng);
    let kem = KemPreKey::generate(1, &bob, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob, &spk, None, &kem).verify();
    let mut a = bundle
        .and_then(|b| Session::initiate(&alice, &b, &mut rng))
        .ok();
    let Some(Ok(Message::PreKey(first))) = a.as_mut().map(|a| a.encrypt(b"hi")) else {
        panic!("setup failed")
    };
    let (b, _) = Session::respond(&bob, &spk, None, &kem, &first, &mut rng).expect("respond");
    (a.expect("initiator"), b)
}

/// A pair whose initiator has received a reply, so both send plain ratchet messages.
fn confirmed_pair() -> (Session, Session) {
    let (mut alice, mut bob) = pair();
    let mut rng = keylink::os_rng();
    let Ok(Message::Ratchet(m)) = bob.encrypt(b"ok") else {
        panic!("reply failed")
    };
    alice.decrypt(&m, &mut rng).expect("reply decrypts");
    (alice, bob)
}

fn ratchet(c: &mut Criterion) {
    let plaintext = [7u8; SIZE];
    let mut group = c.benchmark_group("ratchet (sans-IO)");
    let (mut alice, _) = confirmed_pair();
    group.bench_function("encrypt 100 B", |b| {
        b.iter(|| black_box(alice.encrypt(&plaintext)))
    });
    // A fresh pair: every message the setup encrypts is decrypted, in order, exactly once.
    let (mut alice, mut bob) = confirmed_pair();
    let mut rng = keylink::os_rng();
    group.bench_function("decrypt 100 B", |b| {
        b.iter_batched(
            || match alice.encrypt(&plaintext) {
                Ok(Message::Ratchet(m)) => m.to_bytes(),
                _ => panic!("encrypt failed"),
            },
            |bytes| {
                let m = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                black_box(bob.decrypt(&m, &mut rng).expect("decrypts"))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, primitives, ratchet);
criterion_main!(benches);
