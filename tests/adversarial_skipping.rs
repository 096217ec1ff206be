//! Messages that skip too far ahead (past `MAX_SKIP`) on a new or known chain, through the
//! previous counter or in a PreKey message: rejected before any key is derived, state unchanged.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::constants::{MAX_SKIP, MAX_STORED_SKIPPED_KEYS};
use keylink::keys::IdentityKeyPair;
use keylink::session::{Message, Session, SessionRecord};
use keylink::store::Address;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Alice on the sans-IO core, Bob on a store, with a confirmed session: Alice's next message
/// starts a chain Bob has not seen.
fn sans_io_alice_and_bob() -> (SessionRecord, Address, Device) {
    let mut rng = rng();
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let alice_addr = Address::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let mut alice = SessionRecord::new();
    alice.set_current(Session::initiate(&alice_id, &bob.bundle(None), &mut rng).unwrap());
    let first = alice.encrypt(0, b"first").unwrap().to_bytes();
    bob.recv_ok(&alice_addr, &first, b"first");
    let Message::Ratchet(reply) = bob.send(&alice_addr, b"reply") else {
        panic!("expected a ratchet message")
    };
    assert_eq!(
        alice
            .decrypt(&reply, None, &mut rng)
            .unwrap()
            .plaintext
            .as_slice(),
        b"reply"
    );
    (alice, alice_addr, bob)
}

/// Encrypt `count` messages on Alice's current chain; keep the bytes of those in `keep`.
fn encrypt_chain(alice: &mut SessionRecord, count: u32, keep: &[u32]) -> BTreeMap<u32, Vec<u8>> {
    let mut kept = BTreeMap::new();
    for i in 0..count {
        let m = alice.encrypt(0, &i.to_be_bytes()).unwrap();
        let Message::Ratchet(r) = &m else {
            panic!("expected a ratchet message")
        };
        let _ = r;
        if keep.contains(&i) {
            kept.insert(i, m.to_bytes());
        }
    }
    kept
}

/// Reject `bytes` several times; the fastest rejection's duration. Only the `decrypt` call is
/// timed; the state is compared before and after.
fn timed_rejection(bob: &mut Device, from: &Address, bytes: &[u8]) -> Duration {
    let before = bob.snapshot();
    let fastest = (0..5)
        .map(|_| {
            let start = Instant::now();
            let result = bob.recv(from, bytes);
            let elapsed = start.elapsed();
            assert!(matches!(result, Err(Error::DecryptionFailed)), "{result:?}");
            elapsed
        })
        .min()
        .unwrap();
    assert!(bob.snapshot() == before, "state changed after rejecting");
    fastest
}

fn timed_acceptance(bob: &mut Device, from: &Address, bytes: &[u8], counter: u32) -> Duration {
    let start = Instant::now();
    bob.recv_ok(from, bytes, &counter.to_be_bytes());
    start.elapsed()
}

/// The rejection must not have derived the keys the accepted message needed: far faster.
fn assert_rejected_before_derivation(reject: Duration, accept: Duration) {
    eprintln!("rejected in {reject:?}, accepted (deriving {MAX_SKIP} keys) in {accept:?}");
    assert!(
        reject * 10 < accept,
        "rejection took {reject:?}, deriving {MAX_SKIP} keys took {accept:?}"
    );
    if !cfg!(debug_assertions) {
        assert!(
            reject < Duration::from_millis(1),
            "rejection took {reject:?}"
        );
    }
}

#[test]
fn skipping_past_max_skip_on_a_new_chain_is_rejected() {
    let (mut alice, alice_addr, mut bob) = sans_io_alice_and_bob();
    let m = encrypt_chain(
        &mut alice,
        MAX_SKIP + 2,
        &[0, MAX_SKIP - 1, MAX_SKIP, MAX_SKIP + 1],
    );
    // MAX_SKIP + 1 keys to skip on a chain Bob has not seen: refused.
    let reject = timed_rejection(&mut bob, &alice_addr, &m[&(MAX_SKIP + 1)]);
    // Exactly MAX_SKIP: accepted.
    let accept = timed_acceptance(&mut bob, &alice_addr, &m[&MAX_SKIP], MAX_SKIP);
    assert_rejected_before_derivation(reject, accept);
    assert_eq!(bob.skipped(&alice_addr), MAX_STORED_SKIPPED_KEYS);

    // The refused message was not burnt: it is next in the chain now.
    bob.recv_ok(
        &alice_addr,
        &m[&(MAX_SKIP + 1)],
        &(MAX_SKIP + 1).to_be_bytes(),
    );
    // The newest skipped keys are kept, the oldest evicted.
    bob.recv_ok(
        &alice_addr,
        &m[&(MAX_SKIP - 1)],
        &(MAX_SKIP - 1).to_be_bytes(),
    );
    duplicate(&mut bob, &alice_addr, &m[&0]);
    assert_eq!(bob.skipped(&alice_addr), MAX_STORED_SKIPPED_KEYS - 1);
}

#[test]
fn skipping_past_max_skip_on_a_known_chain_is_rejected() {
    let (mut alice, alice_addr, mut bob) = sans_io_alice_and_bob();
    let m = encrypt_chain(&mut alice, MAX_SKIP + 3, &[0, 1, MAX_SKIP + 2]);
    bob.recv_ok(&alice_addr, &m[&0], &0u32.to_be_bytes());
    // From index 1, message MAX_SKIP + 2 would skip MAX_SKIP + 1 keys.
    let reject = timed_rejection(&mut bob, &alice_addr, &m[&(MAX_SKIP + 2)]);
    bob.recv_ok(&alice_addr, &m[&1], &1u32.to_be_bytes());
    // From index 2 the same message skips exactly MAX_SKIP keys.
    let accept = timed_acceptance(&mut bob, &alice_addr, &m[&(MAX_SKIP + 2)], MAX_SKIP + 2);
    assert_rejected_before_derivation(reject, accept);
}

#[test]
fn previous_counter_past_max_skip_is_rejected() {
    let (mut alice, alice_addr, mut bob) = sans_io_alice_and_bob();
    let mut rng = rng();
    let x = encrypt_chain(&mut alice, MAX_SKIP + 2, &[0, 1]);
    bob.recv_ok(&alice_addr, &x[&0], &0u32.to_be_bytes());
    let Message::Ratchet(reply) = bob.send(&alice_addr, b"reply") else {
        panic!("expected a ratchet message")
    };
    let _ = alice.decrypt(&reply, None, &mut rng).unwrap();
    // Alice's new chain says her previous one had MAX_SKIP + 2 messages; Bob has read one.
    let z0 = encrypt_chain(&mut alice, 1, &[0]).remove(&0).unwrap();
    let reject = timed_rejection(&mut bob, &alice_addr, &z0);
    bob.recv_ok(&alice_addr, &x[&1], &1u32.to_be_bytes());
    let accept = timed_acceptance(&mut bob, &alice_addr, &z0, 0);
    assert_rejected_before_derivation(reject, accept);
}

#[test]
fn prekey_message_skipping_past_max_skip_is_rejected() {
    let mut rng = rng();
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let alice_addr = Address::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let mut alice = Session::initiate(&alice_id, &bob.bundle(Some(FIRST_OTPK)), &mut rng).unwrap();
    let mut kept = BTreeMap::new();
    for i in 0..=MAX_SKIP + 1 {
        let m = alice.encrypt(0, &i.to_be_bytes()).unwrap();
        assert!(m.is_prekey());
        if i >= MAX_SKIP {
            kept.insert(i, m.to_bytes());
        }
    }
    assert_eq!(
        prekey_ids(&kept[&(MAX_SKIP + 1)]),
        (Some(FIRST_OTPK), FIRST_KEM)
    );
    let e = rejected(&mut bob, &alice_addr, &kept[&(MAX_SKIP + 1)]);
    assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
    assert!(bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(bob.has_kem(FIRST_KEM));
    bob.recv_ok(&alice_addr, &kept[&MAX_SKIP], &MAX_SKIP.to_be_bytes());
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
    bob.recv_ok(
        &alice_addr,
        &kept[&(MAX_SKIP + 1)],
        &(MAX_SKIP + 1).to_be_bytes(),
    );
}
