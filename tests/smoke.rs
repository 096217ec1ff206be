//! Smoke test: one PreKey message and a reply through the in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use keylink::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey};
use keylink::store::{Address, MemoryStore};

#[test]
fn smoke() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = MemoryStore::new(alice_id);
    let mut bob = MemoryStore::new(bob_id.clone());
    bob.add_signed_prekey(SignedPreKey::generate(1, &bob_id, &mut rng));
    bob.add_one_time_prekeys(OneTimePreKey::generate_batch(100, 5, &mut rng));
    bob.add_kem_prekeys(KemPreKey::generate_batch(200, 2, &bob_id, &mut rng));
    let bundle = bob.bundle(7, 1, Some(100), 200).unwrap().to_bytes();
    let bundle = PreKeyBundle::try_from(bundle.as_slice())
        .unwrap()
        .verify()
        .unwrap();
    let a_addr = Address::new("alice", 1);
    let b_addr = Address::new("bob", 7);
    keylink::start_session(&mut alice, &b_addr, &bundle, &mut rng).unwrap();
    let m1 = keylink::encrypt(&mut alice, &b_addr, b"hello").unwrap();
    assert!(m1.is_prekey());
    let p = keylink::decrypt(&mut bob, &a_addr, &m1.to_bytes(), &mut rng).unwrap();
    assert_eq!(p, b"hello");
    let r1 = keylink::encrypt(&mut bob, &a_addr, b"hi back").unwrap();
    assert!(!r1.is_prekey());
    assert_eq!(
        keylink::decrypt(&mut alice, &b_addr, &r1.to_bytes(), &mut rng).unwrap(),
        b"hi back"
    );
    let m2 = keylink::encrypt(&mut alice, &b_addr, b"third").unwrap();
    assert!(!m2.is_prekey());
    assert_eq!(
        keylink::decrypt(&mut bob, &a_addr, &m2.to_bytes(), &mut rng).unwrap(),
        b"third"
    );
}
