//! Sender-key encrypt and decrypt of a 100-byte group message (PROTOCOL.md §13.2), beside the
//! primitives they are made of, in the same run (issue 14: within 1.2x of their sum).
//!
//! Encrypt = 2 HMAC (message key, next chain key) + HKDF (key and nonce) + AES-256-GCM seal
//! of 100 B + Ed25519 sign over the context, aad and ciphertext.
//! Decrypt = Ed25519 verify_strict over the same + 2 HMAC + HKDF + AES-256-GCM open of 100 B
//! (from a stored state at the message's iteration, parsed outside the measurement).

#![allow(clippy::panic, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use hmac::Mac;
use keylink::group::{GroupId, InboundGroupSession, SenderKey, SenderKeyDistribution};
use keylink::keys::IdentityKeyPair;
use std::hint::black_box;

const SIZE: usize = 100;
const GROUP: &[u8] = b"a group id of 24 bytes..";

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
            kdf.expand(b"keylink v1 sender key", &mut okm).ok();
            black_box(okm)
        })
    });
    // aad = u8(len) || group id (24) || IK_sender (32) || header (21).
    let aad = [0u8; 1 + 24 + 32 + 21];
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    let nonce = aes_gcm::Nonce::from([0u8; 12]);
    group.bench_function("AES-256-GCM seal 100 B", |b| {
        b.iter(|| {
            let mut buf = [0u8; SIZE];
            let tag = cipher.encrypt_inout_detached(&nonce, &aad, (&mut buf[..]).into());
            black_box((buf, tag.ok()))
        })
    });
    let mut sealed = [0u8; SIZE];
    let tag = cipher
        .encrypt_inout_detached(&nonce, &aad, (&mut sealed[..]).into())
        .expect("seal");
    group.bench_function("AES-256-GCM open 100 B", |b| {
        b.iter(|| {
            let mut buf = sealed;
            let ok = cipher.decrypt_inout_detached(&nonce, &aad, (&mut buf[..]).into(), &tag);
            black_box((buf, ok.is_ok()))
        })
    });
    // Signed: the context (29 B) || aad (78 B) || ct (116 B).
    let signing = SigningKey::from_bytes(&[7; 32]);
    let verifying = signing.verifying_key();
    let signed = [0u8; 29 + 78 + SIZE + 16];
    group.bench_function("Ed25519 sign 223 B", |b| {
        b.iter(|| black_box(signing.sign(black_box(&signed))))
    });
    let sig = signing.sign(&signed);
    group.bench_function("Ed25519 verify_strict 223 B", |b| {
        b.iter(|| black_box(verifying.verify_strict(black_box(&signed), &sig).is_ok()))
    });
    group.finish();
}

fn sender_keys(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let group_id = GroupId::new(GROUP.to_vec()).expect("group id");
    let mut sender = SenderKey::new(group_id, 1, &mut rng);
    let distribution =
        SenderKeyDistribution::from_bytes(&sender.distribution().to_bytes()).expect("parse");
    let stored = InboundGroupSession::new(distribution, *identity.public()).to_bytes();
    let message = sender
        .encrypt(identity.public(), &[0u8; SIZE])
        .expect("encrypt");
    let mut group = c.benchmark_group("sender key");
    group.bench_function("encrypt 100 B", |b| {
        b.iter(|| black_box(sender.encrypt(identity.public(), black_box(&[0u8; SIZE]))))
    });
    group.bench_function("decrypt 100 B", |b| {
        b.iter_batched(
            || InboundGroupSession::from_bytes(&stored).expect("state"),
            |mut r| black_box(r.decrypt(black_box(&message)).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, primitives, sender_keys);
criterion_main!(benches);
