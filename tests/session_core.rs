//! The sans-IO core (`Session`, `SessionRecord`) without a store: deterministic from a seeded
//! RNG, and its types are `Send + Sync`.
#![cfg(test)]

mod common;

use common::{TestRng, rng};
use keylink::keys::{
    IdentityKeyPair, KemCiphertext, KemPreKey, KemPublicKey, OneTimePreKey, PreKeyBundle,
    SignedPreKey,
};
use keylink::session::{Message, Session, SessionRecord};
use keylink::store::MemoryStore;

/// Run the sans-IO core from a seed; returns every message's bytes.
fn sans_io_transcript(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = TestRng::new(seed);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(3, &bob_id, &mut rng);
    let otpk = OneTimePreKey::generate(9, &mut rng);
    let kem = KemPreKey::generate(11, &bob_id, &mut rng);
    let bundle = PreKeyBundle::new(5, &bob_id, &spk, Some(&otpk), &kem)
        .verify()
        .unwrap();
    assert_eq!(bundle.device_id(), 5);
    assert_eq!(bundle.identity_key(), bob_id.public());

    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    assert!(alice.is_initiator() && alice.awaiting_reply());
    let mut out = Vec::new();
    let first = alice.encrypt(b"sans-io hello").unwrap();
    out.push(first.to_bytes());
    let Message::PreKey(first) = first else {
        panic!("expected a PreKey message")
    };
    assert_eq!(first.identity_key(), alice_id.public());
    assert_eq!(first.one_time_prekey_id(), Some(9));
    assert_eq!(first.kem_prekey_id(), 11);
    let (mut bob, plaintext) =
        Session::respond(&bob_id, &spk, Some(&otpk), &kem, &first, &mut rng).unwrap();
    assert_eq!(plaintext, b"sans-io hello");
    assert!(!bob.is_initiator());
    assert_eq!(bob.base_key(), alice.base_key());
    assert_eq!(&bob.remote_identity().unwrap(), alice_id.public());

    for turn in 0..4u8 {
        let (sender, receiver) = match turn % 2 {
            0 => (&mut bob, &mut alice),
            _ => (&mut alice, &mut bob),
        };
        for i in 0..3u8 {
            let text = [b'm', turn, i];
            let m = sender.encrypt(&text).unwrap();
            out.push(m.to_bytes());
            let Message::Ratchet(m) = m else {
                panic!("expected a ratchet message")
            };
            assert_eq!(receiver.decrypt(&m, &mut rng).unwrap(), text);
            let again = receiver.decrypt(&m, &mut rng).unwrap_err();
            assert!(matches!(again, keylink::Error::DecryptionFailed));
        }
    }
    assert!(!alice.awaiting_reply());

    // The record layer is sans-IO too.
    let mut record = SessionRecord::new();
    record.set_current(alice);
    let m = record.encrypt(b"via record").unwrap();
    let Message::Ratchet(m) = m else {
        panic!("expected a ratchet message")
    };
    assert_eq!(bob.decrypt(&m, &mut rng).unwrap(), b"via record");
    out
}

#[test]
fn sans_io_core_without_store() {
    let first = sans_io_transcript(7);
    // No hidden randomness: the same seed gives the same transcript, another seed another.
    assert_eq!(first, sans_io_transcript(7));
    assert_ne!(first, sans_io_transcript(8));

    // And with the system RNG.
    let mut rng = rng();
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &bob_id, &mut rng);
    let kem = KemPreKey::generate_last_resort(2, &bob_id, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob_id, &spk, None, &kem)
        .verify()
        .unwrap();
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let Message::PreKey(m) = alice.encrypt(b"x").unwrap() else {
        panic!("expected a PreKey message")
    };
    assert_eq!(m.kem_prekey_id(), 2);
    let (_, plaintext) = Session::respond(&bob_id, &spk, None, &kem, &m, &mut rng).unwrap();
    assert_eq!(plaintext, b"x");

    // The KEM prekey must be the one the message names, and its ciphertext must be the one
    // made for it: another KEM prekey, even with the same id, yields another shared secret.
    let other = KemPreKey::generate(2, &bob_id, &mut rng);
    let e = Session::respond(&bob_id, &spk, None, &other, &m, &mut rng).unwrap_err();
    assert!(matches!(e, keylink::Error::DecryptionFailed), "{e:?}");
    let wrong_id = KemPreKey::generate(3, &bob_id, &mut rng);
    let e = Session::respond(&bob_id, &spk, None, &wrong_id, &m, &mut rng).unwrap_err();
    assert!(
        matches!(e, keylink::Error::UnknownPreKey { kind: "KEM", id: 2 }),
        "{e:?}"
    );
}

#[test]
fn core_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<SessionRecord>();
    assert_send_sync::<MemoryStore>();
    assert_send_sync::<IdentityKeyPair>();
    assert_send_sync::<SignedPreKey>();
    assert_send_sync::<OneTimePreKey>();
    assert_send_sync::<KemPreKey>();
    assert_send_sync::<KemPublicKey>();
    assert_send_sync::<KemCiphertext>();
    assert_send_sync::<PreKeyBundle>();
    assert_send_sync::<Message>();
    assert_send_sync::<keylink::Error>();
}
