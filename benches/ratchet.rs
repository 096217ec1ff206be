//! Double Ratchet encrypt and decrypt of a small message on an existing chain (sans-IO core
//! and through the in-memory store), beside the primitives they are made of, in the same run.
//!
//! Encrypt = 2 HMAC (message key, next chain key) + HKDF (key and nonce) + AES-256-GCM seal.
//! Decrypt = the same with AES-256-GCM open.

#![allow(clippy::panic, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hmac::Mac;
use keylink::keys::{IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{Message, RatchetMessage, Session, SessionRecord};
use keylink::store::{Address, MemoryStore};
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

const SIZES: [(usize, &str); 4] = [
    (100, "100 B"),
    (1024, "1 KiB"),
    (64 << 10, "64 KiB"),
    (1 << 20, "1 MiB"),
];

fn aes_gcm(c: &mut Criterion) {
    let cipher = aes_gcm::Aes256Gcm::new(&[1u8; 32].into());
    let aad = [0u8; 105];
    let mut group = c.benchmark_group("primitive AES-256-GCM");
    for (size, name) in SIZES {
        let mut buf = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("seal {name}"), |b| {
            b.iter(|| {
                black_box(cipher.encrypt_inout_detached(
                    &[0u8; 12].into(),
                    &aad,
                    buf.as_mut_slice().into(),
                ))
            })
        });
    }
    group.finish();
}

fn ratchet(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratchet (sans-IO)");
    for (size, name) in SIZES {
        let plaintext = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let (mut alice, _) = confirmed_pair();
        // Encryption to wire bytes, as decryption below starts from wire bytes.
        group.bench_function(format!("encrypt {name}"), |b| {
            b.iter(|| black_box(alice.encrypt(&plaintext).map(|m| m.to_bytes().len())))
        });
        // A fresh pair: every message the setup encrypts is decrypted, in order, exactly once.
        let (mut alice, mut bob) = confirmed_pair();
        let mut rng = keylink::os_rng();
        group.bench_function(format!("decrypt {name}"), |b| {
            b.iter_batched(
                || match alice.encrypt(&plaintext) {
                    Ok(Message::Ratchet(m)) => m.to_bytes(),
                    _ => panic!("encrypt failed"),
                },
                |bytes| {
                    let m = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                    // Dropped here, not collected by criterion: a real receiver reuses memory
                    // too, and holding every 1 MiB plaintext would time page faults instead.
                    black_box(bob.decrypt(&m, &mut rng).expect("decrypts").len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn record_of(session: Session) -> Vec<u8> {
    let mut record = SessionRecord::new();
    record.set_current(session);
    record.to_bytes().to_vec()
}

/// Decrypting from a saved state, so every iteration starts from the same record.
fn decrypt_from_saved(c: &mut Criterion, name: &str, record: &[u8], message: &RatchetMessage) {
    let mut rng = keylink::os_rng();
    c.bench_function(name, |b| {
        b.iter_batched(
            || SessionRecord::from_bytes(record).expect("record"),
            |mut r| black_box(r.decrypt(message, None, &mut rng).expect("decrypts")),
            BatchSize::SmallInput,
        )
    });
}

fn steps(c: &mut Criterion) {
    // The first message of a new chain: a DH ratchet step on receipt (2 DH + 1 keygen).
    let (mut alice, mut bob) = confirmed_pair();
    let mut rng = keylink::os_rng();
    let Ok(Message::Ratchet(reply)) = alice.encrypt(b"a") else {
        panic!()
    };
    bob.decrypt(&reply, &mut rng).expect("decrypts");
    let Ok(Message::Ratchet(new_chain)) = bob.encrypt(&[7u8; 100]) else {
        panic!()
    };
    decrypt_from_saved(
        c,
        "ratchet/first message of a new chain (100 B)",
        &record_of(alice),
        &new_chain,
    );

    // 1,000 messages skipped: 1,000 chain steps, then 1,000 stored message keys.
    let (mut alice, bob) = confirmed_pair();
    for _ in 0..1000 {
        alice.encrypt(b"lost").expect("encrypt");
    }
    let Ok(Message::Ratchet(after)) = alice.encrypt(&[7u8; 100]) else {
        panic!()
    };
    decrypt_from_saved(
        c,
        "ratchet/decrypt after 1,000 skipped (100 B)",
        &record_of(bob),
        &after,
    );

    // A round trip: each side encrypts and the other decrypts, two ratchet steps.
    let (mut alice, mut bob) = confirmed_pair();
    c.bench_function("ratchet/ping-pong round trip (100 B)", |b| {
        b.iter(|| {
            let Ok(Message::Ratchet(ping)) = alice.encrypt(&[1u8; 100]) else {
                panic!()
            };
            bob.decrypt(&ping, &mut rng).expect("ping");
            let Ok(Message::Ratchet(pong)) = bob.encrypt(&[2u8; 100]) else {
                panic!()
            };
            black_box(alice.decrypt(&pong, &mut rng).expect("pong"))
        })
    });
}

fn records(c: &mut Criterion) {
    let (alice, _) = confirmed_pair();
    let bytes = record_of(alice);
    let record = SessionRecord::from_bytes(&bytes).expect("record");
    let peer = record.current().map(|s| *s.remote_identity());
    let mut group = c.benchmark_group("record (no skipped keys)");
    group.bench_function("serialize", |b| b.iter(|| black_box(record.to_bytes())));
    // Decodes and validates the peer's identity key (one Ed25519 point decompression).
    group.bench_function("deserialize", |b| {
        b.iter(|| black_box(SessionRecord::from_bytes(&bytes)))
    });
    // As a store does that remembers the peer's identity: no point is decoded.
    group.bench_function("deserialize, peer identity known", |b| {
        b.iter(|| black_box(SessionRecord::from_bytes_for_peer(&bytes, peer.as_ref())))
    });
    group.finish();
}

/// The same 100 B messages through the in-memory store: each operation loads the record,
/// computes and commits it serialized again.
fn store(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let (alice_id, bob_id) = (
        IdentityKeyPair::generate(&mut rng),
        IdentityKeyPair::generate(&mut rng),
    );
    let spk = SignedPreKey::generate(1, &bob_id, &mut rng);
    let kem = KemPreKey::generate(1, &bob_id, &mut rng);
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let mut alice = MemoryStore::new(alice_id);
    let mut bob = MemoryStore::new(bob_id);
    bob.add_signed_prekey(spk);
    bob.add_kem_prekeys([kem]);
    let bundle = bob
        .bundle(1, 1, None, 1)
        .and_then(|b| b.verify())
        .expect("bundle");
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng).expect("start");
    let first = keylink::encrypt(&mut alice, &bob_addr, b"hi")
        .expect("first")
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng).expect("first decrypts");
    let reply = keylink::encrypt(&mut bob, &alice_addr, b"ok")
        .expect("reply")
        .to_bytes();
    keylink::decrypt(&mut alice, &bob_addr, &reply, &mut rng).expect("reply decrypts");
    let plaintext = [7u8; SIZE];
    let mut group = c.benchmark_group("ratchet (in-memory store)");
    group.bench_function("encrypt 100 B", |b| {
        b.iter_batched(
            || (),
            |()| black_box(keylink::encrypt(&mut bob, &alice_addr, &plaintext).expect("encrypt")),
            BatchSize::SmallInput,
        )
    });
    let mut to_bob = MemoryStore::from_bytes(&alice.to_bytes()).expect("copy");
    group.bench_function("decrypt 100 B", |b| {
        b.iter_batched(
            || {
                keylink::encrypt(&mut to_bob, &bob_addr, &plaintext)
                    .expect("encrypt")
                    .to_bytes()
            },
            |bytes| {
                black_box(
                    keylink::decrypt(&mut bob, &alice_addr, &bytes, &mut rng).expect("decrypts"),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, primitives, aes_gcm, ratchet, steps, records, store);
criterion_main!(benches);
