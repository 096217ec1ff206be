//! Double Ratchet encrypt and decrypt of a small message on an existing chain (sans-IO core
//! and through the in-memory store), beside the primitives they are made of, in the same run.
//!
//! Encrypt = 2 HMAC (message key, next chain key) + HKDF (key and nonce) + AES-256-GCM seal,
//! plus the header seal: HMAC over the 41-byte header (`h_nonce`) + AES-256-GCM seal of 41 B.
//! Decrypt = the same with AES-256-GCM open, plus the header open: AES-256-GCM open of 41 B +
//! HMAC over 41 B (the `h_nonce` check).
//!
//! Forged messages (issue 9): a random encrypted header against a record of 1 and of 41
//! sessions, each holding 7 distinct header keys (5 under skipped keys, HKr, NHKr), beside one
//! failing AES-256-GCM open of a header; and a PreKey message whose inner message is forged.

#![allow(clippy::panic, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hmac::Mac;
use keylink::keys::{IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{
    Message, PreKeyMessage, RatchetMessage, ResponderPreKeys, Session, SessionRecord,
};
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
    // The header's nonce: `h_nonce = HMAC(hk_nonce, header)[0..12]`, on seal and on open.
    group.bench_function("HMAC-SHA256 over 41 B", |b| {
        b.iter(|| {
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).ok();
            if let Some(m) = mac.as_mut() {
                m.update(black_box(&[1u8; 41]));
            }
            black_box(mac.map(|m| m.finalize().into_bytes()))
        })
    });
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    // The body's associated data: AD (64 B) || encrypted header (69 B).
    let aad = [0u8; 64 + 69];
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
    let mut sealed_body = [0u8; SIZE];
    let body_tag = cipher
        .encrypt_inout_detached(&[0u8; 12].into(), &aad, sealed_body.as_mut_slice().into())
        .expect("seal");
    group.bench_function("AES-256-GCM open 100 B", |b| {
        b.iter(|| {
            let mut buf = sealed_body;
            black_box(cipher.decrypt_inout_detached(
                &[0u8; 12].into(),
                &aad,
                buf.as_mut_slice().into(),
                &body_tag,
            ))
        })
    });
    // The header: 41 B sealed under the header key with AD (64 B) as associated data.
    let ad = [0u8; 64];
    group.bench_function("AES-256-GCM seal 41 B", |b| {
        b.iter(|| {
            let mut buf = [0u8; 41];
            black_box(cipher.encrypt_inout_detached(
                &[0u8; 12].into(),
                &ad,
                buf.as_mut_slice().into(),
            ))
        })
    });
    let mut sealed_header = [0u8; 41];
    let header_tag = cipher
        .encrypt_inout_detached(&[0u8; 12].into(), &ad, sealed_header.as_mut_slice().into())
        .expect("seal");
    group.bench_function("AES-256-GCM open 41 B", |b| {
        b.iter(|| {
            let mut buf = sealed_header;
            black_box(cipher.decrypt_inout_detached(
                &[0u8; 12].into(),
                &ad,
                buf.as_mut_slice().into(),
                &header_tag,
            ))
        })
    });
    // keylink sets the cipher up from the key for every seal and open (AES key schedule and
    // GHASH key): part of every row above in the protocol, none of them here.
    group.bench_function("AES-256-GCM key setup", |b| {
        b.iter(|| black_box(aes_gcm::Aes256Gcm::new(black_box(&key).into())))
    });
    group.finish();
}

fn pair() -> (SessionRecord, SessionRecord) {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &bob, &mut rng);
    let kem = KemPreKey::generate(1, &bob, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob, &spk, None, &kem).verify();
    let mut a = bundle
        .and_then(|b| Session::initiate(&alice, &b, &mut rng))
        .ok();
    let Some(Ok(Message::PreKey(first))) = a.as_mut().map(|a| a.encrypt(0, b"hi")) else {
        panic!("setup failed")
    };
    let (b, _) = Session::respond(&bob, &spk, None, &kem, &first, &mut rng).expect("respond");
    let mut alice = SessionRecord::new();
    alice.set_current(a.expect("initiator"));
    (alice, b)
}

/// A pair whose initiator has received a reply, so both send plain ratchet messages.
fn confirmed_pair() -> (SessionRecord, SessionRecord) {
    let (mut alice, mut bob) = pair();
    let mut rng = keylink::os_rng();
    let Ok(Message::Ratchet(m)) = bob.encrypt(0, b"ok") else {
        panic!("reply failed")
    };
    let _ = alice.decrypt(&m, None, &mut rng).expect("reply decrypts");
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
    let aad = [0u8; 64 + 69];
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
            b.iter(|| black_box(alice.encrypt(0, &plaintext).map(|m| m.to_bytes().len())))
        });
        // A fresh pair: every message the setup encrypts is decrypted, in order, exactly once.
        let (mut alice, mut bob) = confirmed_pair();
        let mut rng = keylink::os_rng();
        group.bench_function(format!("decrypt {name}"), |b| {
            b.iter_batched(
                || match alice.encrypt(0, &plaintext) {
                    Ok(Message::Ratchet(m)) => m.to_bytes(),
                    _ => panic!("encrypt failed"),
                },
                |bytes| {
                    let m = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                    // Dropped here, not collected by criterion: a real receiver reuses memory
                    // too, and holding every 1 MiB plaintext would time page faults instead.
                    black_box(
                        bob.decrypt(&m, None, &mut rng)
                            .expect("decrypts")
                            .plaintext
                            .len(),
                    )
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
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
    let Ok(Message::Ratchet(reply)) = alice.encrypt(0, b"a") else {
        panic!()
    };
    let _ = bob.decrypt(&reply, None, &mut rng).expect("decrypts");
    let Ok(Message::Ratchet(new_chain)) = bob.encrypt(0, &[7u8; 100]) else {
        panic!()
    };
    decrypt_from_saved(
        c,
        "ratchet/first message of a new chain (100 B)",
        &alice.to_bytes(),
        &new_chain,
    );

    // 1,000 messages skipped: 1,000 chain steps, then 1,000 stored message keys.
    let (mut alice, bob) = confirmed_pair();
    for _ in 0..1000 {
        alice.encrypt(0, b"lost").expect("encrypt");
    }
    let Ok(Message::Ratchet(after)) = alice.encrypt(0, &[7u8; 100]) else {
        panic!()
    };
    decrypt_from_saved(
        c,
        "ratchet/decrypt after 1,000 skipped (100 B)",
        &bob.to_bytes(),
        &after,
    );

    // A round trip: each side encrypts and the other decrypts, two ratchet steps.
    let (mut alice, mut bob) = confirmed_pair();
    c.bench_function("ratchet/ping-pong round trip (100 B)", |b| {
        b.iter(|| {
            let Ok(Message::Ratchet(ping)) = alice.encrypt(0, &[1u8; 100]) else {
                panic!()
            };
            let _ = bob.decrypt(&ping, None, &mut rng).expect("ping");
            let Ok(Message::Ratchet(pong)) = bob.encrypt(0, &[2u8; 100]) else {
                panic!()
            };
            black_box(alice.decrypt(&pong, None, &mut rng).expect("pong"))
        })
    });
}

fn records(c: &mut Criterion) {
    let (alice, _) = confirmed_pair();
    let bytes = alice.to_bytes().to_vec();
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
    let bundle = PreKeyBundle::new(1, &bob_id, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let mut alice = MemoryStore::new(alice_id);
    let mut bob = MemoryStore::new(bob_id);
    bob.add_signed_prekey(spk);
    bob.add_kem_prekeys([kem]);
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

/// The protobuf of a ratchet message and of a PreKey message (docs/PROTOCOL.md), to forge them.
#[derive(Clone, PartialEq, prost::Message)]
struct RatchetProto {
    #[prost(bytes = "vec", tag = "1")]
    enc_header: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    ciphertext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PreKeyProto {
    #[prost(bytes = "vec", tag = "1")]
    identity_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    base_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    signed_prekey_id: u32,
    #[prost(uint32, optional, tag = "4")]
    one_time_prekey_id: Option<u32>,
    #[prost(bytes = "vec", tag = "5")]
    message: Vec<u8>,
    #[prost(uint32, tag = "6")]
    kem_prekey_id: u32,
    #[prost(bytes = "vec", tag = "7")]
    kem_ciphertext: Vec<u8>,
}

/// The fields of a stored session record that hold header keys (the rest is skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct RecordProto {
    #[prost(message, optional, tag = "1")]
    current: Option<SessionProto>,
    #[prost(message, repeated, tag = "2")]
    archived: Vec<SessionProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionProto {
    #[prost(message, optional, tag = "8")]
    receiving_chain: Option<HeaderKeyProto>,
    #[prost(message, repeated, tag = "9")]
    skipped_chains: Vec<SkippedChainProto>,
    #[prost(bytes = "vec", tag = "15")]
    next_receive_header_key: Vec<u8>,
}

/// A chain, of which only its header key is read.
#[derive(Clone, PartialEq, prost::Message)]
struct HeaderKeyProto {
    #[prost(bytes = "vec", tag = "5")]
    header_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SkippedChainProto {
    #[prost(bytes = "vec", tag = "1")]
    header_key: Vec<u8>,
}

/// The number of distinct header keys each session of a stored record would try.
fn header_keys_per_session(record: &[u8]) -> Vec<usize> {
    let record = <RecordProto as prost::Message>::decode(body(record)).expect("record decodes");
    record
        .current
        .iter()
        .chain(&record.archived)
        .map(|s| {
            let mut keys: Vec<&[u8]> = s.skipped_chains.iter().map(|c| &*c.header_key).collect();
            keys.extend(s.receiving_chain.iter().map(|c| &*c.header_key));
            keys.push(&s.next_receive_header_key);
            keys.sort();
            keys.dedup();
            keys.len()
        })
        .collect()
}

/// `leading byte || protobuf`, as `src/wire` frames every message.
fn framed(lead: u8, msg: &impl prost::Message) -> Vec<u8> {
    let mut out = vec![lead];
    msg.encode(&mut out).expect("a Vec grows");
    out
}

/// The protobuf after a message's leading byte.
fn body(bytes: &[u8]) -> &[u8] {
    bytes.split_first().map_or(&[], |(_, body)| body)
}

/// `len` bytes that look random (SHA-256 in counter mode): what a forger would send.
fn noise(label: u8, len: usize) -> Vec<u8> {
    use sha2::Digest;
    (0u32..)
        .flat_map(|i| sha2::Sha256::digest([&[label][..], &i.to_be_bytes()].concat()))
        .take(len)
        .collect()
}

/// A forged ratchet message: a random 69-byte encrypted header and the 116 bytes
/// (`ciphertext || tag`) of a 100 B message.
fn forged_ratchet_bytes() -> Vec<u8> {
    let forged = RatchetProto {
        enc_header: noise(1, 69),
        ciphertext: noise(2, SIZE + 16),
    };
    framed(0x11, &forged)
}

/// A new session of Bob's with Alice, made current in `record`, that holds 7 distinct header
/// keys: skipped message keys under 5 of Alice's sending chains (she sends a message that is
/// lost on each), then the header key of her current chain (HKr, no skipped keys) and the
/// next one (NHKr).
fn add_session_with_skips<R: keylink::rand_core::CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    alice: &IdentityKeyPair,
    bob: &IdentityKeyPair,
    rng: &mut R,
) {
    let spk = SignedPreKey::generate(1, bob, rng);
    let kem = KemPreKey::generate(1, bob, rng);
    let bundle = PreKeyBundle::new(1, bob, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let mut a = SessionRecord::new();
    a.set_current(Session::initiate(alice, &bundle, rng).expect("initiate"));
    let Ok(Message::PreKey(first)) = a.encrypt(0, b"hi") else {
        panic!("first message")
    };
    let prekeys = ResponderPreKeys {
        signed_prekey: Some(spk),
        one_time_prekey: None,
        kem_prekey: Some(kem),
        base_key_used: false,
    };
    let trusted = Some(alice.public());
    let _ = record
        .decrypt_prekey(bob, trusted, &first, prekeys, rng)
        .expect("respond");
    for round in 0..6 {
        let Ok(Message::Ratchet(reply)) = record.encrypt(0, b"ok") else {
            panic!("reply")
        };
        let _ = a.decrypt(&reply, None, rng).expect("reply decrypts");
        // A new sending chain of Alice's; on the first 5 its message 0 is lost.
        if round < 5 {
            a.encrypt(0, b"lost").expect("encrypt");
        }
        let Ok(Message::Ratchet(m)) = a.encrypt(0, b"m") else {
            panic!("message")
        };
        let _ = record.decrypt(&m, trusted, rng).expect("decrypts");
    }
}

/// A forged ratchet message against Bob's record of 1 and of 41 sessions (1 current + 40
/// archived) with Alice, each with 7 header keys to try: 7 and 287 failing header opens. Beside
/// it, one failing AES-256-GCM open of a header.
fn forged(c: &mut Criterion) {
    wire_sizes();
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let trusted = *alice.public();
    let forged = RatchetMessage::try_from(forged_ratchet_bytes().as_slice()).expect("parses");
    let mut group = c.benchmark_group("forged message");
    for (sessions, name) in [(1, "vs 1 session"), (41, "vs 41 sessions")] {
        let mut record = SessionRecord::new();
        for _ in 0..sessions {
            add_session_with_skips(&mut record, &alice, &bob, &mut rng);
        }
        assert_eq!(record.archived().count(), sessions - 1);
        assert_eq!(
            header_keys_per_session(&record.to_bytes()),
            vec![7; sessions]
        );
        let before = record.to_bytes().to_vec();
        assert!(matches!(
            record.decrypt(&forged, Some(&trusted), &mut rng),
            Err(keylink::Error::DecryptionFailed)
        ));
        assert_eq!(
            record.to_bytes().to_vec(),
            before,
            "a failure changes nothing"
        );
        // Failing changes nothing, so every iteration sees the same record.
        group.bench_function(name, |b| {
            b.iter(|| black_box(record.decrypt(&forged, Some(&trusted), &mut rng).is_err()))
        });
    }
    // What keylink does per header key tried: set the cipher up from `hk_enc`, then open
    // `h_nonce || 41 B || tag` (12 + 57 bytes) with AD (64 B), which fails.
    let enc_header = noise(1, 69);
    let (nonce, sealed) = enc_header.split_at(12);
    let (ciphertext, tag) = sealed.split_at(41);
    let tag = aes_gcm::Tag::try_from(tag).expect("16 bytes");
    let nonce = aes_gcm::Nonce::try_from(nonce).expect("12 bytes");
    let ad = [3u8; 64];
    let key = [5u8; 32];
    group.bench_function(
        "primitive: AES-256-GCM open 41 B, fails (key setup + open)",
        |b| {
            b.iter(|| {
                let cipher = aes_gcm::Aes256Gcm::new(black_box(&key).into());
                let mut buf = [0u8; 41];
                buf.copy_from_slice(ciphertext);
                black_box(
                    cipher
                        .decrypt_inout_detached(&nonce, &ad, buf.as_mut_slice().into(), &tag)
                        .is_err(),
                )
            })
        },
    );
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    group.bench_function("primitive: AES-256-GCM open 41 B, fails (open only)", |b| {
        b.iter(|| {
            let mut buf = [0u8; 41];
            buf.copy_from_slice(ciphertext);
            black_box(
                cipher
                    .decrypt_inout_detached(&nonce, &ad, buf.as_mut_slice().into(), &tag)
                    .is_err(),
            )
        })
    });
    group.finish();
}

/// A PreKey message whose inner ratchet message is forged: the responder runs PQXDH with the
/// real prekeys it names, then the header fails. Beside it, the same PreKey message unforged.
fn forged_prekey(c: &mut Criterion) {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &bob, &mut rng);
    let kem = KemPreKey::generate(1, &bob, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let mut a = Session::initiate(&alice, &bundle, &mut rng).expect("initiate");
    let Ok(Message::PreKey(real)) = a.encrypt(0, &[7u8; SIZE]) else {
        panic!("first message")
    };
    let bytes = real.to_bytes();
    let mut outer = <PreKeyProto as prost::Message>::decode(body(&bytes)).expect("decodes");
    let mut inner =
        <RatchetProto as prost::Message>::decode(body(&outer.message)).expect("decodes");
    inner.enc_header = noise(1, 69);
    outer.message = framed(0x11, &inner);
    let forged = PreKeyMessage::try_from(framed(0x12, &outer).as_slice()).expect("parses");
    let kem_bytes = kem.to_bytes();
    let prekeys = || ResponderPreKeys {
        signed_prekey: Some(spk.clone()),
        one_time_prekey: None,
        kem_prekey: Some(KemPreKey::from_bytes(&kem_bytes).expect("KEM prekey")),
        base_key_used: false,
    };
    let trusted = *alice.public();
    let mut record = SessionRecord::new();
    assert!(matches!(
        record.decrypt_prekey(&bob, Some(&trusted), &forged, prekeys(), &mut rng),
        Err(keylink::Error::DecryptionFailed)
    ));
    assert!(record.current().is_none() && record.archived().count() == 0);
    let mut group = c.benchmark_group("forged PreKey message");
    group.bench_function("forged inner message", |b| {
        b.iter_batched(
            prekeys,
            |keys| {
                black_box(
                    record
                        .decrypt_prekey(&bob, Some(&trusted), &forged, keys, &mut rng)
                        .is_err(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("valid (100 B)", |b| {
        b.iter_batched(
            || (SessionRecord::new(), prekeys()),
            |(mut record, keys)| {
                let decrypted = record
                    .decrypt_prekey(&bob, Some(&trusted), &real, keys, &mut rng)
                    .expect("decrypts");
                black_box(decrypted.plaintext.len());
                record
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Wire sizes: a 100 B message and its 69-byte encrypted header (41 B of plaintext header).
fn wire_sizes() {
    let (mut alice, _) = confirmed_pair();
    let Ok(Message::Ratchet(m)) = alice.encrypt(0, &[7u8; SIZE]) else {
        panic!("encrypt")
    };
    let bytes = m.to_bytes();
    let proto = <RatchetProto as prost::Message>::decode(body(&bytes)).expect("decodes");
    assert_eq!(proto.enc_header.len(), 69);
    println!(
        "wire: a {SIZE} B ratchet message is {} B (encrypted header {} B, ciphertext || tag {} B)",
        bytes.len(),
        proto.enc_header.len(),
        proto.ciphertext.len()
    );
}

criterion_group!(
    benches,
    primitives,
    aes_gcm,
    ratchet,
    steps,
    records,
    store,
    forged,
    forged_prekey
);
criterion_main!(benches);
