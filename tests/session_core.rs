//! The sans-IO core (`Session`, `SessionRecord`) without a store: deterministic from a seeded
//! RNG, and its types are `Send + Sync`.
#![cfg(test)]

mod common;

use common::{TestRng, rng};
use keylink::keys::{
    IdentityKeyPair, KemCiphertext, KemPreKey, KemPublicKey, OneTimePreKey, PreKeyBundle,
    PreKeyKind, SignedPreKey,
};
use keylink::session::{Message, ResponderPreKeys, Session, SessionRecord};
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
    assert_eq!(bundle.device_id(), 5.into());
    assert_eq!(bundle.identity_key(), bob_id.public());

    let session = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    assert!(session.is_initiator() && session.awaiting_reply());
    let mut alice = SessionRecord::new();
    alice.set_current(session);
    let mut out = Vec::new();
    let first = alice.encrypt(0, b"sans-io hello").unwrap();
    out.push(first.to_bytes());
    let Message::PreKey(first) = first else {
        panic!("expected a PreKey message")
    };
    assert_eq!(first.identity_key(), alice_id.public());
    assert_eq!(first.one_time_prekey_id(), Some(9.into()));
    assert_eq!(first.kem_prekey_id(), 11.into());
    let mut bob = SessionRecord::new();
    assert!(bob.needs_prekeys(&first));
    let prekeys = ResponderPreKeys {
        signed_prekey: Some(spk),
        one_time_prekey: Some(otpk),
        kem_prekey: Some(kem),
        base_key_used: false,
    };
    let out_first = bob
        .decrypt_prekey(&bob_id, None, &first, prekeys, &mut rng)
        .unwrap();
    assert_eq!(out_first.plaintext.as_slice(), b"sans-io hello");
    assert_eq!(out_first.sender, *alice_id.public());
    assert_eq!(out_first.consumed.one_time_prekey, Some(9.into()));
    let bob_session = bob.current().unwrap();
    assert!(!bob_session.is_initiator());
    let alice_session = alice.current().unwrap();
    assert_eq!(bob_session.base_key(), alice_session.base_key());
    assert_eq!(bob_session.remote_identity(), alice_id.public());

    for turn in 0..4u8 {
        let (sender, receiver) = match turn % 2 {
            0 => (&mut bob, &mut alice),
            _ => (&mut alice, &mut bob),
        };
        for i in 0..3u8 {
            let text = [b'm', turn, i];
            let m = sender.encrypt(0, &text).unwrap();
            out.push(m.to_bytes());
            let Message::Ratchet(m) = m else {
                panic!("expected a ratchet message")
            };
            let decrypted = receiver.decrypt(&m, None, &mut rng).unwrap();
            assert_eq!(decrypted.plaintext.as_slice(), text);
            let again = receiver.decrypt(&m, None, &mut rng).unwrap_err();
            assert!(matches!(again, keylink::Error::DuplicateMessage));
        }
    }
    assert!(!alice.current().unwrap().awaiting_reply());
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
    let Message::PreKey(m) = alice.encrypt(0, b"x").unwrap() else {
        panic!("expected a PreKey message")
    };
    assert_eq!(m.kem_prekey_id(), 2.into());
    let mut respond = |kem: KemPreKey| {
        let prekeys = ResponderPreKeys {
            signed_prekey: Some(spk.clone()),
            kem_prekey: Some(kem),
            ..ResponderPreKeys::default()
        };
        let mut record = SessionRecord::new();
        let out = record.decrypt_prekey(&bob_id, None, &m, prekeys, &mut rng);
        out.map(|d| d.plaintext.to_vec())
    };
    assert_eq!(respond(kem).unwrap(), b"x");

    // The KEM prekey must be the one the message names, and its ciphertext must be the one
    // made for it: another KEM prekey, even with the same id, yields another shared secret.
    let other = KemPreKey::generate(2, &bob_id, &mut keylink::os_rng());
    let e = respond(other).unwrap_err();
    assert!(matches!(e, keylink::Error::DecryptionFailed), "{e:?}");
    let wrong_id = KemPreKey::generate(3, &bob_id, &mut keylink::os_rng());
    let e = respond(wrong_id).unwrap_err();
    assert!(
        matches!(
            e,
            keylink::Error::UnknownPreKey {
                kind: PreKeyKind::Kem,
                id: 2
            }
        ),
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
