//! Unknown prekeys, missing sessions and identities, an exhausted sending chain, and the
//! message every error variant displays.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::keys::PreKeyKind;
use keylink::session::{Message, SessionRecord};
use keylink::store::{Address, MemoryStore};

fn unknown_one_time_prekey() -> Error {
    let mut alice = Device::new("alice", 1);
    let mut carol = Device::new("carol", 1);
    let mut bob = Device::new("bob", 1);
    // The same one-time prekey handed out twice (each with its own KEM prekey).
    alice.start_with(&bob, Some(FIRST_OTPK), FIRST_KEM);
    carol.start_with(&bob, Some(FIRST_OTPK), FIRST_KEM + 1);
    let a = alice.send_bytes(&bob.addr, b"a");
    let c = carol.send_bytes(&bob.addr, b"c");
    bob.recv_ok(&alice.addr, &a, b"a");
    let e = rejected(&mut bob, &carol.addr, &c);
    assert!(bob.has_kem(FIRST_KEM + 1));
    e
}

fn unknown_kem_prekey() -> Error {
    let mut alice = Device::new("alice", 1);
    let mut carol = Device::new("carol", 1);
    let mut bob = Device::new("bob", 1);
    // The same one-time KEM prekey handed out twice (each with its own one-time prekey).
    alice.start_with(&bob, Some(FIRST_OTPK), FIRST_KEM);
    carol.start_with(&bob, Some(FIRST_OTPK + 1), FIRST_KEM);
    let a = alice.send_bytes(&bob.addr, b"a");
    let c = carol.send_bytes(&bob.addr, b"c");
    bob.recv_ok(&alice.addr, &a, b"a");
    let e = rejected(&mut bob, &carol.addr, &c);
    assert!(bob.otpk_ids().contains(&(FIRST_OTPK + 1)));
    e
}

/// A responder that has the signed and one-time prekeys the message names, but never had the
/// KEM prekey it names (or removed it, one-time and last resort alike).
fn kem_prekey_not_in_store() -> Vec<Error> {
    let mut errors = Vec::new();
    for kem in [FIRST_KEM + 3, LAST_RESORT_KEM] {
        let mut alice = Device::new("alice", 1);
        let mut bob = Device::new("bob", 1);
        alice.start_with(&bob, Some(FIRST_OTPK), kem);
        let a = alice.send_bytes(&bob.addr, b"a");
        // Bob's store without that KEM prekey.
        let snapshot: proto::MemoryStore = proto::decode(&bob.snapshot());
        let mut stripped = snapshot.clone();
        stripped
            .kem_prekeys
            .retain(|record| proto::decode::<proto::KemPreKeyRecord>(record).id != kem);
        assert_eq!(stripped.kem_prekeys.len(), snapshot.kem_prekeys.len() - 1);
        bob.store = MemoryStore::from_bytes(&proto::encode(bob.snapshot()[0], &stripped)).unwrap();
        assert!(!bob.has_kem(kem));
        errors.push(rejected(&mut bob, &alice.addr, &a));
        assert!(bob.otpk_ids().contains(&FIRST_OTPK));
    }
    errors
}

fn unknown_signed_prekey() -> Error {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, None);
    let a = alice.send_bytes(&bob.addr, b"a");
    bob.store.remove_signed_prekey(SPK_ID.into());
    rejected(&mut bob, &alice.addr, &a)
}

fn chain_exhausted() -> Error {
    let (alice, bob) = established();
    let bytes = alice.record(&bob.addr).to_bytes();
    let mut record: proto::SessionRecord = proto::decode(&bytes);
    let current = record.current.as_mut().unwrap();
    current.sending_chain.as_mut().unwrap().index = u32::MAX - 1;
    let mut record = SessionRecord::from_bytes(&proto::encode(bytes[0], &record)).unwrap();
    let last = record.encrypt(0, b"the last message").unwrap();
    let Message::Ratchet(last) = last else {
        panic!("expected a ratchet message")
    };
    let _ = last;
    // Its header (encrypted) carried N = u32::MAX - 1; the chain now stands at u32::MAX.
    let after: proto::SessionRecord = proto::decode(&record.to_bytes());
    let index = after.current.unwrap().sending_chain.unwrap().index;
    assert_eq!(index, u32::MAX);
    let before = record.to_bytes();
    let e = record.encrypt(0, b"one too many").unwrap_err();
    assert_eq!(*record.to_bytes(), *before);
    e
}

#[test]
fn unknown_prekeys_are_reported() {
    let e = unknown_one_time_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: PreKeyKind::OneTime, id } if id == FIRST_OTPK),
        "{e:?}"
    );
    let e = unknown_signed_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: PreKeyKind::Signed, id } if id == SPK_ID),
        "{e:?}"
    );
    let e = unknown_kem_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: PreKeyKind::Kem, id } if id == FIRST_KEM),
        "{e:?}"
    );
    let [one_time, last_resort] = kem_prekey_not_in_store().try_into().unwrap();
    assert!(
        matches!(one_time, Error::UnknownPreKey { kind: PreKeyKind::Kem, id } if id == FIRST_KEM + 3),
        "{one_time:?}"
    );
    assert!(
        matches!(last_resort, Error::UnknownPreKey { kind: PreKeyKind::Kem, id } if id == LAST_RESORT_KEM),
        "{last_resort:?}"
    );
    for (e, kind, id) in [
        (unknown_kem_prekey(), "KEM", FIRST_KEM),
        (unknown_one_time_prekey(), "one-time", FIRST_OTPK),
    ] {
        let message = e.to_string();
        assert!(message.contains(kind), "{message}");
        assert!(message.contains(&id.to_string()), "{message}");
    }
}

#[test]
fn missing_session_and_missing_identity_are_reported() {
    let (mut alice, mut bob) = established();
    let nobody = Address::new("nobody", 1);
    let e = keylink::encrypt(&mut alice.store, &nobody, b"x").unwrap_err();
    assert!(matches!(e, Error::NoSession), "{e:?}");
    let m = alice.send_bytes(&bob.addr, b"x");
    let e = rejected(&mut bob, &nobody, &m);
    assert!(matches!(e, Error::NoSession), "{e:?}");

    let mut empty = MemoryStore::default();
    let e =
        keylink::start_session(&mut empty, &bob.addr, &bob.bundle(None), &mut rng()).unwrap_err();
    assert!(matches!(e, Error::NoLocalIdentity), "{e:?}");
    let mut dave = Device::new("dave", 1);
    dave.start(&bob, None);
    let p = dave.send_bytes(&bob.addr, b"p");
    let e = keylink::decrypt(&mut empty, &dave.addr, &p, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::NoLocalIdentity), "{e:?}");
    assert_eq!(*empty.to_bytes(), *MemoryStore::default().to_bytes());
}

#[test]
fn sending_chain_exhausted_after_2_pow_32_messages() {
    let e = chain_exhausted();
    assert!(matches!(e, Error::ChainExhausted), "{e:?}");
}

#[cfg(feature = "hazmat")]
#[test]
fn error_messages_are_written_for_every_variant() {
    use keylink::keys::{IdentityKey, IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};

    let (mut alice, mut bob) = established();
    let mut errors = Vec::new();

    errors.push(rejected(&mut bob, &alice.addr, &[]));
    errors.push(rejected(&mut bob, &alice.addr, &[0x21]));
    errors.push(IdentityKey::from_bytes(&unhex32(SMALL_ORDER_EDWARDS[0])).unwrap_err());
    let forged = edit_bundle(&bob.bundle_bytes(None), |b| {
        b.signed_prekey_signature[0] ^= 1
    });
    errors.push(verify_bundle(&forged).unwrap_err());
    let no_kem = edit_bundle(&bob.bundle_bytes(None), |b| {
        b.kem_prekey_id = 0;
        b.kem_prekey.clear();
        b.kem_prekey_signature.clear();
    });
    errors.push(PreKeyBundle::try_from(no_kem.as_slice()).unwrap_err());
    let mut carol = Device::new("carol", 1);
    errors.push(start_with_bundle(
        &mut carol,
        &bundle_with_signed_prekey([0; 32], None),
    ));
    let mut tampered = alice.send_bytes(&bob.addr, b"x");
    *tampered.last_mut().unwrap() ^= 1;
    errors.push(rejected(&mut bob, &alice.addr, &tampered));
    let m = alice.send_bytes(&bob.addr, b"x");
    bob.recv_ok(&alice.addr, &m, b"x");
    errors.push(rejected(&mut bob, &alice.addr, &m));
    errors.push(unknown_one_time_prekey());
    errors.push(keylink::encrypt(&mut alice.store, &Address::new("nobody", 1), b"x").unwrap_err());
    errors.push(chain_exhausted());
    let new_bob = IdentityKeyPair::generate(&mut rng());
    let spk = SignedPreKey::generate(1, &new_bob, &mut rng());
    let kem = KemPreKey::generate_last_resort(2, &new_bob, &mut rng());
    let bundle = PreKeyBundle::new(1, &new_bob, &spk, None, &kem)
        .verify()
        .unwrap();
    errors.push(
        keylink::start_session(&mut alice.store, &bob.addr, &bundle, &mut rng()).unwrap_err(),
    );
    errors.push(
        keylink::start_session(&mut MemoryStore::default(), &bob.addr, &bundle, &mut rng())
            .unwrap_err(),
    );
    let mut store = failing(&mut alice);
    store.fail_next = true;
    errors.push(keylink::encrypt(&mut store, &bob.addr, b"x").unwrap_err());

    let expected = [
        "Malformed",
        "UnknownVersion",
        "InvalidKey",
        "InvalidSignature",
        "MissingKemPreKey",
        "NonContributoryKey",
        "DecryptionFailed",
        "DuplicateMessage",
        "UnknownPreKey",
        "NoSession",
        "ChainExhausted",
        "UntrustedIdentity",
        "NoLocalIdentity",
        "Store",
    ];
    assert_eq!(errors.len(), expected.len());
    let mut messages = std::collections::BTreeSet::new();
    for (e, variant) in errors.iter().zip(expected) {
        let debug = format!("{e:?}");
        assert!(
            debug.starts_with(variant),
            "expected {variant}, got {debug}"
        );
        let message = e.to_string();
        assert!(message.len() > 20, "{variant}: {message:?}");
        assert!(messages.insert(message), "{variant}: message not distinct");
    }
}
