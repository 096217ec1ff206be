//! Sender keys (PROTOCOL.md §13): a sender's chain and a receiver's state of it, driven
//! through the public API; every refused message leaves the receiver's stored bytes as they
//! were. The vector module recomputes three messages from the bare primitives.

#![cfg(test)]

mod common;

use keylink::Error;
use keylink::group::{GroupId, InboundGroupSession, SenderKey, SenderKeyDistribution};
use keylink::keys::{IdentityKey, IdentityKeyPair};
use prost::Message as _;

use common::proto::SenderKeyMessage as MessageProto;

fn identity() -> IdentityKeyPair {
    IdentityKeyPair::generate(&mut common::rng())
}

fn group(name: &[u8]) -> GroupId {
    GroupId::new(name.to_vec()).unwrap()
}

/// A sender in `name` and a receiver bound to `sender` (the identity of the pairwise session
/// the distribution arrived on).
fn pair(name: &[u8], sender: &IdentityKey) -> (SenderKey, InboundGroupSession) {
    let s = SenderKey::new(group(name), 1, &mut common::rng());
    let d = SenderKeyDistribution::from_bytes(&s.distribution().to_bytes()).unwrap();
    (s, InboundGroupSession::new(d, *sender))
}

/// `decrypt` fails, and the receiver's stored bytes are what they were.
fn refused(r: &mut InboundGroupSession, message: &[u8]) -> Error {
    let before = r.to_bytes();
    let err = r.decrypt(message).unwrap_err();
    assert_eq!(before, r.to_bytes(), "state changed by a refused message");
    err
}

fn parts(message: &[u8]) -> MessageProto {
    assert_eq!(&message[..2], &[0x17, 0x11]);
    MessageProto::decode(&message[2..]).unwrap()
}

fn build(msg: &MessageProto) -> Vec<u8> {
    [&[0x17, 0x11][..], &msg.encode_to_vec()].concat()
}

#[test]
fn many_messages_round_trip() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    for i in 0..300u32 {
        let text = format!("message {i}");
        let m = s.encrypt(alice.public(), text.as_bytes()).unwrap();
        assert_eq!(&r.decrypt(&m).unwrap()[..], text.as_bytes());
    }
    assert_eq!(r.iteration(), 300);
}

#[test]
fn out_of_order_delivery_within_the_limit() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    let m: Vec<_> = (0..50u8)
        .map(|i| s.encrypt(alice.public(), &[i]).unwrap())
        .collect();
    for i in (0..50).rev().step_by(2).chain((0..50).step_by(2)) {
        assert_eq!(&r.decrypt(&m[i]).unwrap()[..], &[i as u8]);
    }
}

#[test]
fn a_duplicate_is_refused_and_changes_nothing() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    let m0 = s.encrypt(alice.public(), b"a").unwrap();
    let m1 = s.encrypt(alice.public(), b"b").unwrap();
    r.decrypt(&m1).unwrap();
    r.decrypt(&m0).unwrap();
    assert!(matches!(refused(&mut r, &m0), Error::DuplicateMessage));
    assert!(matches!(refused(&mut r, &m1), Error::DuplicateMessage));
}

#[test]
fn forged_and_tampered_messages_are_refused_and_change_nothing() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    s.encrypt(alice.public(), b"skip iteration 0").unwrap();
    let honest = s.encrypt(alice.public(), b"hello").unwrap();
    // Another signing key: same group, same chain, the sender's signature replaced.
    let (mut other, _) = pair(b"g", alice.public());
    let mut forged = parts(&honest);
    forged.signature = parts(&other.encrypt(alice.public(), b"x").unwrap()).signature;
    assert!(matches!(
        refused(&mut r, &build(&forged)),
        Error::DecryptionFailed
    ));
    for field in 0..3 {
        for bit in [0u8, 3, 7] {
            let mut msg = parts(&honest);
            match field {
                0 => msg.ciphertext[bit as usize] ^= 1 << bit,
                1 => msg.signature[bit as usize * 9] ^= 1 << bit,
                _ => msg.iteration ^= 1 << bit,
            }
            assert!(matches!(
                refused(&mut r, &build(&msg)),
                Error::DecryptionFailed
            ));
        }
    }
    for at in 0..honest.len() {
        let mut bad = honest.clone();
        bad[at] ^= 0x10;
        refused(&mut r, &bad);
    }
    assert_eq!(&r.decrypt(&honest).unwrap()[..], b"hello");
}

#[test]
fn skipping_25000_keys_is_accepted_and_25001_refused() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    for _ in 0..25_000 {
        s.encrypt(alice.public(), b"").unwrap();
    }
    let at_limit = s.encrypt(alice.public(), b"25000").unwrap();
    let beyond = s.encrypt(alice.public(), b"25001").unwrap();
    let mut r2 = InboundGroupSession::from_bytes(&r.to_bytes()).unwrap();
    assert!(matches!(refused(&mut r2, &beyond), Error::DecryptionFailed));
    assert_eq!(&r.decrypt(&at_limit).unwrap()[..], b"25000");
    // 2,000 skipped keys are kept: the newest.
    let stored = InboundGroupSession::from_bytes(&r.to_bytes()).unwrap();
    assert_eq!(stored.iteration(), 25_001);
}

#[test]
fn only_the_newest_2000_skipped_keys_are_kept() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    let m: Vec<_> = (0..2_002)
        .map(|_| s.encrypt(alice.public(), b"x").unwrap())
        .collect();
    r.decrypt(&m[2_001]).unwrap();
    assert!(matches!(refused(&mut r, &m[0]), Error::DuplicateMessage));
    r.decrypt(&m[1]).unwrap();
    r.decrypt(&m[2_000]).unwrap();
}

#[test]
fn a_message_replayed_into_another_group_fails() {
    let alice = identity();
    let (mut s, _) = pair(b"group one", alice.public());
    // A receiver holding the same chain and signing key under another group id.
    let mut d =
        common::proto::SenderKeyDistribution::decode(&s.distribution().to_bytes()[2..]).unwrap();
    d.group_id = b"group two".to_vec();
    let bytes = [&[0x17, 0x10][..], &d.encode_to_vec()].concat();
    let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
    let mut r = InboundGroupSession::new(d, *alice.public());
    let m = s.encrypt(alice.public(), b"for group one").unwrap();
    assert!(matches!(refused(&mut r, &m), Error::DecryptionFailed));
}

#[test]
fn a_forwarded_distribution_decrypts_nothing() {
    let (alice, mallory) = (identity(), identity());
    // Mallory forwards Alice's distribution as hers: Bob binds it to Mallory's identity.
    let (mut s, mut r) = pair(b"g", mallory.public());
    let m = s.encrypt(alice.public(), b"from alice").unwrap();
    assert!(matches!(refused(&mut r, &m), Error::DecryptionFailed));
    // Mallory cannot sign messages of her own under it: only Alice's device holds the
    // signing key.
    let honest = s.encrypt(alice.public(), b"again").unwrap();
    assert!(matches!(refused(&mut r, &honest), Error::DecryptionFailed));
}

#[test]
fn a_message_under_another_distribution_is_refused() {
    let alice = identity();
    let (_, mut r) = pair(b"g", alice.public());
    let (mut other, _) = pair(b"g", alice.public());
    let m = other.encrypt(alice.public(), b"x").unwrap();
    assert!(matches!(refused(&mut r, &m), Error::DecryptionFailed));
}

#[test]
fn states_and_distributions_round_trip() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    let m: Vec<_> = (0..5)
        .map(|_| s.encrypt(alice.public(), b"x").unwrap())
        .collect();
    r.decrypt(&m[4]).unwrap();
    let mut s2 = SenderKey::from_bytes(&s.to_bytes()).unwrap();
    assert_eq!(s2.to_bytes(), s.to_bytes());
    let mut r2 = InboundGroupSession::from_bytes(&r.to_bytes()).unwrap();
    assert_eq!(r2.to_bytes(), r.to_bytes());
    let d = s.distribution().to_bytes();
    assert_eq!(SenderKeyDistribution::from_bytes(&d).unwrap().to_bytes(), d);
    assert_eq!(&r2.decrypt(&m[2]).unwrap()[..], b"x");
    let next = s2.encrypt(alice.public(), b"after reload").unwrap();
    assert_eq!(&r2.decrypt(&next).unwrap()[..], b"after reload");
    // A distribution taken later starts at the sender's current iteration.
    let late = SenderKeyDistribution::from_bytes(&s2.distribution().to_bytes()).unwrap();
    assert_eq!(late.iteration(), 6);
    let mut r3 = InboundGroupSession::new(late, *alice.public());
    assert!(matches!(refused(&mut r3, &next), Error::DuplicateMessage));
}

#[test]
fn malformed_distributions_are_refused() {
    let s = SenderKey::new(group(b"g"), 1, &mut common::rng());
    let good = s.distribution().to_bytes();
    let d = common::proto::SenderKeyDistribution::decode(&good[2..]).unwrap();
    let encode =
        |d: &common::proto::SenderKeyDistribution| [&[0x17, 0x10][..], &d.encode_to_vec()].concat();
    let mut cases = Vec::new();
    for (field, len) in [(0, 15), (0, 17), (1, 0), (1, 256), (2, 31), (3, 33)] {
        let mut bad = d.clone();
        let target = match field {
            0 => &mut bad.distribution_id,
            1 => &mut bad.group_id,
            2 => &mut bad.chain_key,
            _ => &mut bad.signing_key,
        };
        target.resize(len, 7);
        cases.push(encode(&bad));
    }
    let mut trailing = good.to_vec();
    trailing.extend_from_slice(&[0x38, 0x01]);
    cases.push(trailing);
    for bad in cases {
        assert!(SenderKeyDistribution::from_bytes(&bad).is_err());
    }
    let mut max = d.clone();
    max.group_id = vec![1; 255];
    assert!(SenderKeyDistribution::from_bytes(&encode(&max)).is_ok());
}

#[test]
fn debug_shows_no_secret() {
    let alice = identity();
    let (mut s, mut r) = pair(b"g", alice.public());
    let m: Vec<_> = (0..3)
        .map(|_| s.encrypt(alice.public(), b"x").unwrap())
        .collect();
    r.decrypt(&m[2]).unwrap();
    let d = common::proto::SenderKeyDistribution::decode(&s.distribution().to_bytes()[2..]);
    let chain_key = common::hex(&d.unwrap().chain_key);
    let text = format!("{s:?} {:?} {r:?}", s.distribution());
    assert!(!text.to_lowercase().contains(&chain_key[..16]), "{text}");
    assert!(
        !text.contains("chain_key") && !text.contains("signing"),
        "{text}"
    );
}

#[cfg(feature = "hazmat")]
mod vectors {
    //! `test-vectors/keylink/sender_key.json`: a distribution from fixed bytes and three
    //! messages, with every intermediate value recomputed here from hmac, hkdf, aes-gcm and
    //! ed25519-dalek, and the wire bytes encoded by hand.

    use super::*;
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use ed25519_dalek::{Signer, SigningKey};
    use hkdf::Hkdf;
    use hmac::{Hmac, KeyInit, Mac};
    use keylink::hazmat;
    use serde_json::{Value, json};
    use sha2::Sha256;

    const VECTORS: &str = "test-vectors/keylink/sender_key.json";
    const DISTRIBUTION_ID: [u8; 16] = [0x42; 16];
    const GROUP: &[u8] = b"keylink test group";
    const CHAIN_KEY: [u8; 32] = [0x5C; 32];
    const SIGNING_SEED: [u8; 32] = [0x5E; 32];
    const IDENTITY_SEED: [u8; 32] = [0xA1; 32];
    const LIST_VERSION: u64 = 3;
    const PLAINTEXTS: [&str; 3] = ["hello group", "", "a third message, somewhat longer"];

    fn hex(bytes: &[u8]) -> String {
        common::hex(bytes)
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    /// A length-delimited protobuf field.
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        [&[tag << 3 | 2][..], &varint(bytes.len() as u64), bytes].concat()
    }

    fn sender() -> SenderKey {
        hazmat::group::sender_key_from_parts(
            DISTRIBUTION_ID,
            group(GROUP),
            &CHAIN_KEY,
            0,
            &SIGNING_SEED,
            LIST_VERSION,
        )
    }

    fn computed() -> Value {
        let signing = SigningKey::from_bytes(&SIGNING_SEED);
        let ik = SigningKey::from_bytes(&IDENTITY_SEED)
            .verifying_key()
            .to_bytes();
        let distribution = [
            &[0x17, 0x10][..],
            &field(1, &DISTRIBUTION_ID),
            &field(2, GROUP),
            &field(4, &CHAIN_KEY),
            &field(5, signing.verifying_key().as_bytes()),
            &[6 << 3],
            &varint(LIST_VERSION),
        ]
        .concat();
        let mut ck = CHAIN_KEY.to_vec();
        let mut messages = Vec::new();
        for (i, text) in PLAINTEXTS.iter().enumerate() {
            let mk = hmac(&ck, &[0x01]);
            let next = hmac(&ck, &[0x02]);
            let mut okm = [0u8; 44];
            Hkdf::<Sha256>::new(Some(&[0u8; 32]), &mk)
                .expand(b"keylink v1 sender key", &mut okm)
                .unwrap();
            let (key, nonce) = okm.split_at(32);
            let header = [&[0x02][..], &DISTRIBUTION_ID, &(i as u32).to_be_bytes()].concat();
            let aad = [&[GROUP.len() as u8][..], GROUP, &ik, &header].concat();
            let ct = Aes256Gcm::new_from_slice(key)
                .unwrap()
                .encrypt(
                    &Nonce::from(<[u8; 12]>::try_from(nonce).unwrap()),
                    Payload {
                        msg: text.as_bytes(),
                        aad: &aad,
                    },
                )
                .unwrap();
            let signed = [&b"keylink v1 sender key message"[..], &aad, &ct].concat();
            let sig = signing.sign(&signed).to_bytes();
            let iteration = if i == 0 {
                Vec::new()
            } else {
                [&[2 << 3][..], &varint(i as u64)].concat()
            };
            let wire = [
                &[0x17, 0x11][..],
                &field(1, &DISTRIBUTION_ID),
                &iteration,
                &field(3, &ct),
                &field(4, &sig),
            ]
            .concat();
            messages.push(json!({
                "iteration": i,
                "chain_key": hex(&ck),
                "plaintext": hex(text.as_bytes()),
                "message_key": hex(&mk),
                "aes_key": hex(key),
                "nonce": hex(nonce),
                "header": hex(&header),
                "aad": hex(&aad),
                "ciphertext": hex(&ct),
                "signature": hex(&sig),
                "wire": hex(&wire),
            }));
            ck = next;
        }
        json!({
            "description": "keylink sender keys (PROTOCOL.md 13): a distribution from a fixed distribution id, chain key and Ed25519 signing seed, the sender's identity key from a fixed Ed25519 seed, and three group messages with every intermediate value (message key, AES-256-GCM key and nonce, header, aad, ciphertext, signature) and the wire bytes",
            "source": "generated by keylink: cargo test --release --all-features --test sender_keys generate_vectors -- --ignored; checked by tests/sender_keys.rs, which recomputes every value with hmac, hkdf, aes-gcm and ed25519-dalek and encodes the protobuf by hand",
            "format": "test-vectors/README.md",
            "distribution_id": hex(&DISTRIBUTION_ID),
            "group_id": hex(GROUP),
            "chain_key": hex(&CHAIN_KEY),
            "signing_seed": hex(&SIGNING_SEED),
            "signing_key": hex(signing.verifying_key().as_bytes()),
            "identity_seed": hex(&IDENTITY_SEED),
            "identity_key": hex(&ik),
            "list_version": LIST_VERSION,
            "distribution": hex(&distribution),
            "messages": messages,
        })
    }

    fn path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
    }

    #[test]
    fn the_vector_file_is_what_the_primitives_and_keylink_compute() {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
        assert_eq!(file, computed());
        let identity = hazmat::identity_from_seed(&IDENTITY_SEED);
        let mut s = sender();
        let distribution = s.distribution().to_bytes();
        assert_eq!(hex(&distribution), file["distribution"].as_str().unwrap());
        let d = SenderKeyDistribution::from_bytes(&distribution).unwrap();
        let mut r = InboundGroupSession::new(d, *identity.public());
        for (m, text) in file["messages"].as_array().unwrap().iter().zip(PLAINTEXTS) {
            let wire = s.encrypt(identity.public(), text.as_bytes()).unwrap();
            assert_eq!(hex(&wire), m["wire"].as_str().unwrap());
            assert_eq!(&r.decrypt(&wire).unwrap()[..], text.as_bytes());
        }
    }

    #[test]
    #[ignore = "writes test-vectors/keylink/sender_key.json"]
    fn generate_vectors() {
        let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
    }
}
