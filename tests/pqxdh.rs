//! PQXDH through the store: one-time KEM prekeys are consumed only after authentication, the
//! last-resort KEM prekey is reusable but a replayed PreKey message is not.
#![cfg(test)]

mod common;

use common::{Device, FIRST_KEM, KEM_COUNT, LAST_RESORT_KEM};
use keylink::Error;
use keylink::keys::{IdentityKeyPair, SignedPreKey};
use keylink::keys::{KemPreKeyId, PreKeyKind};
use keylink::store::{Address, MemoryStore};

/// The first message a fresh Alice sends `bob` from his bundle with KEM prekey `kem_id` (and
/// no one-time prekey).
fn first_message(bob: &Device, kem_id: u32) -> Vec<u8> {
    let mut alice = Device::new("alice", 1);
    alice.start_with(bob, None, kem_id);
    let message = alice.send(&bob.addr, b"hello");
    assert!(message.is_prekey());
    message.to_bytes()
}

#[test]
fn one_time_kem_prekey_is_removed_only_after_authentication() {
    let mut bob = Device::new("bob", 2);
    let from_alice = Address::new("alice", 1);
    let genuine = first_message(&bob, FIRST_KEM);

    // The KEM ciphertext is the last field: a flipped byte there yields a different shared
    // secret (implicit rejection), so the inner message fails to authenticate.
    let mut tampered = genuine.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    let before = bob.store.to_bytes();
    let err = bob.recv(&from_alice, &tampered).unwrap_err();
    assert!(matches!(err, Error::DecryptionFailed), "{err:?}");
    assert_eq!(bob.store.to_bytes(), before);
    let all: Vec<u32> = (FIRST_KEM..FIRST_KEM + KEM_COUNT).collect();
    let all: Vec<KemPreKeyId> = all.into_iter().map(Into::into).collect();
    assert_eq!(bob.store.one_time_kem_prekey_ids(), all);

    let plaintext = bob.recv(&from_alice, &genuine).unwrap();
    assert_eq!(plaintext, b"hello");
    assert_eq!(bob.store.one_time_kem_prekey_ids(), all[1..]);
}

#[test]
fn a_used_one_time_kem_prekey_cannot_be_used_again() {
    let mut bob = Device::new("bob", 2);
    let first = first_message(&bob, FIRST_KEM);
    let second = first_message(&bob, FIRST_KEM);
    bob.recv(&Address::new("alice", 1), &first).unwrap();
    let err = bob.recv(&Address::new("carol", 1), &second).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPreKey {
                kind: PreKeyKind::Kem,
                id: FIRST_KEM
            }
        ),
        "{err:?}"
    );
}

#[test]
fn last_resort_kem_prekey_is_reusable_but_replays_are_rejected() {
    let mut bob = Device::new("bob", 2);
    let alice = Address::new("alice", 1);
    let first = first_message(&bob, LAST_RESORT_KEM);
    assert_eq!(bob.recv(&alice, &first).unwrap(), b"hello");
    assert_eq!(
        bob.store.last_resort_kem_prekey_id(),
        Some(LAST_RESORT_KEM.into())
    );

    // The same PreKey message again, after Bob dropped the session it created: the
    // (KEM prekey, signed prekey, base key) combination was already used.
    bob.store.remove_session(&alice);
    let err = bob.recv(&alice, &first).unwrap_err();
    assert!(matches!(err, Error::DuplicateMessage), "{err:?}");

    // A new session (new base key) with the same last-resort key is fine.
    let other = first_message(&bob, LAST_RESORT_KEM);
    let carol = Address::new("carol", 1);
    assert_eq!(bob.recv(&carol, &other).unwrap(), b"hello");
    assert_eq!(
        bob.store.last_resort_kem_prekey_id(),
        Some(LAST_RESORT_KEM.into())
    );
}

#[test]
fn responder_without_the_named_kem_prekey_reports_it() {
    let mut rng = keylink::os_rng();
    let bob = Device::new("bob", 2);
    let message = first_message(&bob, FIRST_KEM + 1);
    // A store with the signed prekey id the message names but no KEM prekey at all.
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &identity, &mut rng);
    let mut other = MemoryStore::new(identity);
    other.add_signed_prekey(signed);
    let err =
        keylink::decrypt(&mut other, &Address::new("alice", 1), &message, &mut rng).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPreKey { kind: PreKeyKind::Kem, id } if id == FIRST_KEM + 1
        ),
        "{err:?}"
    );
}
