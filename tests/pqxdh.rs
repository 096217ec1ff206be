//! PQXDH through the store: one-time KEM prekeys are consumed only after authentication, the
//! last-resort KEM prekey is reusable but a replayed PreKey message is not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keylink::keys::{IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::store::{Address, MemoryStore};
use keylink::{Error, OsRng};

struct Bob {
    store: MemoryStore,
    last_resort: u32,
}

fn bob(rng: &mut OsRng) -> Bob {
    let identity = IdentityKeyPair::generate(rng);
    let signed = SignedPreKey::generate(1, &identity, rng);
    let one_time = KemPreKey::generate_batch(10, 2, &identity, rng);
    let last_resort = KemPreKey::generate_last_resort(99, &identity, rng);
    let mut store = MemoryStore::new(identity);
    store.add_signed_prekey(signed);
    store.add_kem_prekeys(one_time.into_iter().chain([last_resort]));
    Bob {
        store,
        last_resort: 99,
    }
}

fn bundle(bob: &MemoryStore, kem_id: u32) -> keylink::keys::VerifiedBundle {
    let bytes = bob.bundle(2, 1, None, kem_id).unwrap().to_bytes();
    PreKeyBundle::try_from(bytes.as_slice())
        .unwrap()
        .verify()
        .unwrap()
}

fn first_message(bob: &MemoryStore, kem_id: u32, rng: &mut OsRng) -> Vec<u8> {
    let mut alice = MemoryStore::new(IdentityKeyPair::generate(rng));
    let to_bob = Address::new("bob", 2);
    keylink::start_session(&mut alice, &to_bob, &bundle(bob, kem_id), rng).unwrap();
    let message = keylink::encrypt(&mut alice, &to_bob, b"hello").unwrap();
    assert!(message.is_prekey());
    message.to_bytes()
}

#[test]
fn one_time_kem_prekey_is_removed_only_after_authentication() {
    let mut rng = keylink::os_rng();
    let mut bob = bob(&mut rng);
    let from_alice = Address::new("alice", 1);
    let genuine = first_message(&bob.store, 10, &mut rng);

    // The KEM ciphertext is the last field: a flipped byte there yields a different shared
    // secret (implicit rejection), so the inner message fails to authenticate.
    let mut tampered = genuine.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    let before = bob.store.to_bytes();
    let err = keylink::decrypt(&mut bob.store, &from_alice, &tampered, &mut rng).unwrap_err();
    assert!(matches!(err, Error::DecryptionFailed), "{err:?}");
    assert_eq!(bob.store.to_bytes(), before);
    assert_eq!(bob.store.one_time_kem_prekey_ids(), [10, 11]);

    let plaintext = keylink::decrypt(&mut bob.store, &from_alice, &genuine, &mut rng).unwrap();
    assert_eq!(plaintext, b"hello");
    assert_eq!(bob.store.one_time_kem_prekey_ids(), [11]);
}

#[test]
fn a_used_one_time_kem_prekey_cannot_be_used_again() {
    let mut rng = keylink::os_rng();
    let mut bob = bob(&mut rng);
    let first = first_message(&bob.store, 10, &mut rng);
    let second = first_message(&bob.store, 10, &mut rng);
    keylink::decrypt(&mut bob.store, &Address::new("alice", 1), &first, &mut rng).unwrap();
    let err =
        keylink::decrypt(&mut bob.store, &Address::new("carol", 1), &second, &mut rng).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPreKey {
                kind: "KEM",
                id: 10
            }
        ),
        "{err:?}"
    );
}

#[test]
fn last_resort_kem_prekey_is_reusable_but_replays_are_rejected() {
    let mut rng = keylink::os_rng();
    let mut bob = bob(&mut rng);
    let alice = Address::new("alice", 1);
    let first = first_message(&bob.store, bob.last_resort, &mut rng);
    assert_eq!(
        keylink::decrypt(&mut bob.store, &alice, &first, &mut rng).unwrap(),
        b"hello"
    );
    assert_eq!(bob.store.last_resort_kem_prekey_id(), Some(bob.last_resort));

    // The same PreKey message again, after Bob dropped the session it created: the
    // (KEM prekey, signed prekey, base key) combination was already used.
    bob.store.remove_session(&alice);
    let err = keylink::decrypt(&mut bob.store, &alice, &first, &mut rng).unwrap_err();
    assert!(matches!(err, Error::DecryptionFailed), "{err:?}");

    // A new session (new base key) with the same last-resort key is fine.
    let other = first_message(&bob.store, bob.last_resort, &mut rng);
    let carol = Address::new("carol", 1);
    assert_eq!(
        keylink::decrypt(&mut bob.store, &carol, &other, &mut rng).unwrap(),
        b"hello"
    );
    assert_eq!(bob.store.last_resort_kem_prekey_id(), Some(bob.last_resort));
}

#[test]
fn responder_without_the_named_kem_prekey_reports_it() {
    let mut rng = keylink::os_rng();
    let bob = bob(&mut rng);
    let message = first_message(&bob.store, 11, &mut rng);
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
            Error::UnknownPreKey {
                kind: "KEM",
                id: 11
            }
        ),
        "{err:?}"
    );
}
