//! Bad input and failure: tampered, replayed, misdirected, truncated and too-far-ahead
//! messages, forged and malicious bundles, identity changes and a store whose commit fails.
//! Every rejection must leave the receiver's state byte-for-byte unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    Device, FIRST_KEM, FIRST_OTPK, FailingStore, LAST_RESORT_KEM, SPK_ID, TestStoreError,
    established, prekey_ids, proto, rng,
};
use ed25519_dalek::Signer;
use keylink::Error;
use keylink::constants::{
    MAX_ARCHIVED_SESSIONS, MAX_SKIP, MAX_STORED_SKIPPED_KEYS, SIGNED_PREKEY_CONTEXT,
};
use keylink::keys::{IdentityKey, IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{Message, Session, SessionRecord};
use keylink::store::{Address, MemoryStore, ProtocolStore};

/// Deliver `bytes`, expect an error, and check that the receiver's store did not change.
fn rejected(to: &mut Device, from: &Address, bytes: &[u8]) -> Error {
    let before = to.snapshot();
    let e = match to.recv(from, bytes) {
        Ok(p) => panic!("accepted a bad message, plaintext {p:?}"),
        Err(e) => e,
    };
    assert!(
        to.snapshot() == before,
        "state changed after rejecting ({e:?})"
    );
    e
}

/// Rejected as [`Error::DecryptionFailed`], state unchanged.
fn decryption_failed(to: &mut Device, from: &Address, bytes: &[u8]) {
    let e = rejected(to, from, bytes);
    assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
}

/// Every single-byte change of `bytes` (xor 0x01 and xor 0xFF at each position).
fn single_byte_flips(bytes: &[u8]) -> impl Iterator<Item = (usize, u8, Vec<u8>)> + '_ {
    (0..bytes.len()).flat_map(move |i| {
        [0x01u8, 0xFF].into_iter().map(move |mask| {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= mask;
            (i, mask, tampered)
        })
    })
}

// ---- Tampering ------------------------------------------------------------------------------

#[test]
fn every_byte_flipped_in_ratchet_message_is_rejected() {
    let (mut alice, mut bob) = established();
    // One message that needs a DH ratchet step at Bob, one on a chain he already knows.
    let step = alice.send_bytes(&bob.addr, b"first of a new chain");
    let same_chain = alice.send_bytes(&bob.addr, b"second on that chain");
    for (genuine, text) in [
        (&step, &b"first of a new chain"[..]),
        (&same_chain, b"second on that chain"),
    ] {
        for (i, mask, tampered) in single_byte_flips(genuine) {
            let e = rejected(&mut bob, &alice.addr, &tampered);
            assert!(
                matches!(
                    e,
                    Error::DecryptionFailed | Error::Malformed(_) | Error::UnknownVersion { .. }
                ) || (matches!(e, Error::InvalidKey(_)) && (3..35).contains(&i)),
                "byte {i} ^ {mask:#04x}: {e:?}"
            );
        }
        bob.recv_ok(&alice.addr, genuine, text);
    }
}

#[test]
fn every_byte_flipped_in_prekey_message_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let genuine = alice.send(&bob.addr, b"prekey");
    assert!(genuine.is_prekey());
    let genuine = genuine.to_bytes();
    // Every byte, including the 1568 of the KEM ciphertext.
    assert_eq!(prekey_ids(&genuine), (Some(FIRST_OTPK), FIRST_KEM));
    assert!(genuine.len() > 1568 + 100);
    let kems = bob.kem_ids();
    for (i, mask, tampered) in single_byte_flips(&genuine) {
        let e = rejected(&mut bob, &alice.addr, &tampered);
        assert!(
            matches!(
                e,
                Error::DecryptionFailed
                    | Error::Malformed(_)
                    | Error::UnknownVersion { .. }
                    | Error::InvalidKey(_)
                    | Error::UnknownPreKey { .. }
                    | Error::NonContributoryKey
            ),
            "byte {i} ^ {mask:#04x}: {e:?}"
        );
        assert!(
            bob.otpk_ids().contains(&FIRST_OTPK),
            "byte {i} ^ {mask:#04x}"
        );
        assert_eq!(bob.kem_ids(), kems, "byte {i} ^ {mask:#04x}");
    }
    assert!(bob.store.session(&alice.addr).unwrap().is_none());
    bob.recv_ok(&alice.addr, &genuine, b"prekey");
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
}

#[test]
fn every_byte_flipped_in_prekey_message_of_existing_session_is_rejected() {
    // A second PreKey message of a session Bob already set up goes another way (the session
    // is found by its base key); the wire format promises no byte can change unnoticed there
    // either.
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let first = alice.send_bytes(&bob.addr, b"first");
    let second = alice.send(&bob.addr, b"second");
    assert!(second.is_prekey());
    let second = second.to_bytes();
    bob.recv_ok(&alice.addr, &first, b"first");

    let mut accepted = Vec::new();
    for (i, mask, tampered) in single_byte_flips(&second) {
        let before = bob.snapshot();
        match bob.recv(&alice.addr, &tampered) {
            Ok(_) => {
                accepted.push(format!("byte {i} ^ {mask:#04x}"));
                // Undo, so that the other positions are tried against the same state.
                bob.store = MemoryStore::from_bytes(&before).unwrap();
            }
            Err(_) => assert!(bob.snapshot() == before, "byte {i} ^ {mask:#04x}"),
        }
    }
    let ids = Message::try_from(second.as_slice()).unwrap();
    assert!(
        accepted.is_empty(),
        "tampered copies of a PreKey message ({} bytes) decrypted: {accepted:?} (message: {ids:?})",
        second.len()
    );
    bob.recv_ok(&alice.addr, &second, b"second");
}

// ---- Replays --------------------------------------------------------------------------------

#[test]
fn replayed_ratchet_message_is_rejected() {
    let (mut alice, mut bob) = established();
    let m = alice.send_bytes(&bob.addr, b"once");
    bob.recv_ok(&alice.addr, &m, b"once");
    decryption_failed(&mut bob, &alice.addr, &m);
    // Also after the chain moved on and after a ratchet step.
    let m2 = alice.send_bytes(&bob.addr, b"twice");
    bob.recv_ok(&alice.addr, &m2, b"twice");
    decryption_failed(&mut bob, &alice.addr, &m);
    let r = bob.send_bytes(&alice.addr, b"reply");
    alice.recv_ok(&bob.addr, &r, b"reply");
    decryption_failed(&mut alice, &bob.addr, &r);
    let m3 = alice.send_bytes(&bob.addr, b"new chain");
    bob.recv_ok(&alice.addr, &m3, b"new chain");
    decryption_failed(&mut bob, &alice.addr, &m);
    decryption_failed(&mut bob, &alice.addr, &m2);
    decryption_failed(&mut bob, &alice.addr, &m3);
}

#[test]
fn replayed_prekey_message_after_session_moved_on_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let first = alice.send_bytes(&bob.addr, b"first");
    bob.recv_ok(&alice.addr, &first, b"first");
    decryption_failed(&mut bob, &alice.addr, &first); // immediately

    let r = bob.send_bytes(&alice.addr, b"bob replies");
    alice.recv_ok(&bob.addr, &r, b"bob replies");
    let a = alice.send(&bob.addr, b"alice replies");
    assert!(!a.is_prekey());
    bob.recv_ok(&alice.addr, &a.to_bytes(), b"alice replies");

    decryption_failed(&mut bob, &alice.addr, &first);
    // With the one-time prekeys (EC and KEM) and the session both still there or not, never
    // a second plaintext: also after a restart.
    assert_eq!(prekey_ids(&first), (Some(FIRST_OTPK), FIRST_KEM));
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
    bob.restart();
    decryption_failed(&mut bob, &alice.addr, &first);
}

#[test]
fn replayed_prekey_message_on_last_resort_kem_prekey_is_rejected() {
    // The last-resort KEM prekey is never removed, so it cannot stop a replay: the
    // remembered (signed prekey, base key) pair must, also once the session is gone.
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start_with(&bob, None, LAST_RESORT_KEM);
    let first = alice.send_bytes(&bob.addr, b"first");
    assert_eq!(prekey_ids(&first), (None, LAST_RESORT_KEM));
    bob.recv_ok(&alice.addr, &first, b"first");
    assert!(bob.has_kem(LAST_RESORT_KEM));
    decryption_failed(&mut bob, &alice.addr, &first);
    bob.store.remove_session(&alice.addr);
    decryption_failed(&mut bob, &alice.addr, &first);
    bob.restart();
    decryption_failed(&mut bob, &alice.addr, &first);
    assert!(bob.has_kem(LAST_RESORT_KEM));
}

#[test]
fn replayed_prekey_message_whose_session_was_dropped_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, None);
    let first = alice.send_bytes(&bob.addr, b"first");
    let Ok(Message::PreKey(parsed)) = Message::try_from(first.as_slice()) else {
        panic!("expected a PreKey message")
    };
    let first_base = *parsed.base_key();
    assert_eq!(parsed.one_time_prekey_id(), None);
    bob.recv_ok(&alice.addr, &first, b"first");

    // More than MAX_ARCHIVED_SESSIONS newer sessions push the first out of Bob's record.
    for i in 0..=MAX_ARCHIVED_SESSIONS {
        alice.start(&bob, None);
        let text = format!("session {i}");
        let m = alice.send_bytes(&bob.addr, text.as_bytes());
        bob.recv_ok(&alice.addr, &m, text.as_bytes());
    }
    let record = bob.record(&alice.addr);
    assert_eq!(record.archived().count(), MAX_ARCHIVED_SESSIONS);
    assert!(!record.has_base_key(&first_base));
    assert!(bob.store.base_key_used(SPK_ID, &first_base).unwrap());
    // Its one-time KEM prekey was used up; the later sessions ran out of one-time KEM
    // prekeys and went on with the last-resort one.
    assert_eq!(parsed.kem_prekey_id(), FIRST_KEM);
    assert!(!bob.has_kem(FIRST_KEM));
    assert!(bob.kem_ids().is_empty());
    assert!(bob.has_kem(LAST_RESORT_KEM));

    decryption_failed(&mut bob, &alice.addr, &first);
    assert!(!bob.record(&alice.addr).has_base_key(&first_base));
}

// ---- Skipping too far ahead -----------------------------------------------------------------

/// Alice on the sans-IO core, Bob on a store, with a confirmed session: Alice's next message
/// starts a chain Bob has not seen.
fn sans_io_alice_and_bob() -> (Session, Address, Device) {
    let mut rng = rng();
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let alice_addr = Address::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let mut alice = Session::initiate(&alice_id, &bob.bundle(None), &mut rng).unwrap();
    let first = alice.encrypt(b"first").unwrap().to_bytes();
    bob.recv_ok(&alice_addr, &first, b"first");
    let Message::Ratchet(reply) = bob.send(&alice_addr, b"reply") else {
        panic!("expected a ratchet message")
    };
    assert_eq!(alice.decrypt(&reply, &mut rng).unwrap(), b"reply");
    (alice, alice_addr, bob)
}

/// Encrypt `count` messages on Alice's current chain; keep the bytes of those in `keep`.
fn encrypt_chain(alice: &mut Session, count: u32, keep: &[u32]) -> BTreeMap<u32, Vec<u8>> {
    let mut kept = BTreeMap::new();
    for i in 0..count {
        let m = alice.encrypt(&i.to_be_bytes()).unwrap();
        let Message::Ratchet(r) = &m else {
            panic!("expected a ratchet message")
        };
        assert_eq!(r.counter(), i);
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
    decryption_failed(&mut bob, &alice_addr, &m[&0]);
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
    alice.decrypt(&reply, &mut rng).unwrap();
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
        let m = alice.encrypt(&i.to_be_bytes()).unwrap();
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

// ---- Misdirected, truncated, unknown version ------------------------------------------------

#[test]
fn message_for_another_recipient_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let mut carol = Device::new("carol", 1);
    // Carol also holds one-time prekey FIRST_OTPK + 1, KEM prekey FIRST_KEM + 1 and signed
    // prekey SPK_ID.
    alice.start_with(&bob, Some(FIRST_OTPK + 1), FIRST_KEM + 1);
    alice.start_with(&carol, Some(FIRST_OTPK), FIRST_KEM);
    let to_bob = alice.send_bytes(&bob.addr, b"for bob");
    let to_carol = alice.send_bytes(&carol.addr, b"for carol");
    assert_eq!(prekey_ids(&to_bob), (Some(FIRST_OTPK + 1), FIRST_KEM + 1));

    // A PreKey message for Bob, at Carol who has the same prekey ids but no session yet.
    decryption_failed(&mut carol, &alice.addr, &to_bob);
    assert!(carol.otpk_ids().contains(&(FIRST_OTPK + 1)));
    assert!(carol.has_kem(FIRST_KEM + 1));
    carol.recv_ok(&alice.addr, &to_carol, b"for carol");
    let r = carol.send_bytes(&alice.addr, b"carol replies");
    alice.recv_ok(&carol.addr, &r, b"carol replies");

    // Another of Bob's PreKey messages, at Carol who now has a session with Alice.
    let to_bob_2 = alice.send_bytes(&bob.addr, b"for bob 2");
    decryption_failed(&mut carol, &alice.addr, &to_bob_2);
    assert!(carol.otpk_ids().contains(&(FIRST_OTPK + 1)));
    assert!(carol.has_kem(FIRST_KEM + 1));
    assert!(!carol.has_kem(FIRST_KEM));

    bob.recv_ok(&alice.addr, &to_bob, b"for bob");
    bob.recv_ok(&alice.addr, &to_bob_2, b"for bob 2");
    let r = bob.send_bytes(&alice.addr, b"bob replies");
    // Bob's message presented as Carol's.
    decryption_failed(&mut alice, &carol.addr, &r);
    alice.recv_ok(&bob.addr, &r, b"bob replies");

    // A ratchet message for Bob, at Carol.
    let to_bob_3 = alice.send(&bob.addr, b"for bob 3");
    assert!(!to_bob_3.is_prekey());
    decryption_failed(&mut carol, &alice.addr, &to_bob_3.to_bytes());
    bob.recv_ok(&alice.addr, &to_bob_3.to_bytes(), b"for bob 3");
}

/// Deliver every proper prefix of `genuine`: each is rejected, state unchanged, never a
/// panic. Returns the prefix lengths whose error was neither `Malformed` nor
/// `DecryptionFailed`, with the error.
fn deliver_prefixes(to: &mut Device, from: &Address, genuine: &[u8]) -> Vec<(usize, Error)> {
    (0..genuine.len())
        .map(|len| (len, rejected(to, from, &genuine[..len])))
        .filter(|(_, e)| !matches!(e, Error::Malformed(_) | Error::DecryptionFailed))
        .collect()
}

#[test]
fn truncated_ratchet_messages_are_rejected() {
    let (mut alice, mut bob) = established();
    // One message needing a ratchet step, one on a known chain.
    for text in [&b"step"[..], b"same chain"] {
        let genuine = alice.send_bytes(&bob.addr, text);
        let wrong = deliver_prefixes(&mut bob, &alice.addr, &genuine);
        assert!(wrong.is_empty(), "unexpected errors: {wrong:?}");
        bob.recv_ok(&alice.addr, &genuine, text);
    }
}

#[test]
fn truncated_prekey_messages_are_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let genuine = alice.send_bytes(&bob.addr, b"prekey");
    assert_eq!(prekey_ids(&genuine), (Some(FIRST_OTPK), FIRST_KEM));
    let wrong = deliver_prefixes(&mut bob, &alice.addr, &genuine);
    assert!(bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(bob.has_kem(FIRST_KEM));
    // The KEM fields come last (6 and 7). A prefix that ends on a field boundary before the
    // KEM ciphertext is a PreKey message without field 7. Those that are still missing other
    // required fields (identity key, base key, inner message) are Malformed; only the two
    // that are complete but for the KEM material (an X3DH-only message, then the same with
    // the KEM prekey id) get docs/PROTOCOL.md §5.3's own error ("no KEM ciphertext", no
    // X3DH fallback). Every other prefix is Malformed or DecryptionFailed as before.
    let field_boundaries: Vec<usize> = (0..genuine.len())
        .filter(|&len| without_kem_ciphertext(&genuine[..len]))
        .collect();
    assert_eq!(field_boundaries.len(), 7, "{field_boundaries:?}");
    assert_eq!(field_boundaries[0], 1);
    let mut x3dh: proto::PreKeyMessage = proto::decode(&genuine);
    x3dh.kem_ciphertext.clear();
    let with_id = proto::encode(genuine[0], &x3dh);
    x3dh.kem_prekey_id = 0;
    let x3dh = proto::encode(genuine[0], &x3dh);
    let without_ciphertext = [x3dh.len(), with_id.len()];
    assert_eq!(field_boundaries[5..], without_ciphertext);
    assert!(genuine.starts_with(&with_id));
    for &len in &field_boundaries[..5] {
        let e = rejected(&mut bob, &alice.addr, &genuine[..len]);
        assert!(matches!(e, Error::Malformed(_)), "prefix {len}: {e:?}");
    }
    for &len in &without_ciphertext {
        let e = rejected(&mut bob, &alice.addr, &genuine[..len]);
        assert!(matches!(e, Error::MissingKemPreKey), "prefix {len}: {e:?}");
    }
    let wrong: Vec<_> = wrong
        .into_iter()
        .filter(|(len, e)| {
            !(without_ciphertext.contains(len) && matches!(e, Error::MissingKemPreKey))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "prefixes (of {}) rejected with unexpected errors: {wrong:?}",
        genuine.len()
    );
    bob.recv_ok(&alice.addr, &genuine, b"prekey");
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
}

/// Whether `bytes` is a complete (canonically encoded) PreKey message without field 7.
fn without_kem_ciphertext(bytes: &[u8]) -> bool {
    let Some((&0x12, body)) = bytes.split_first() else {
        return false;
    };
    <proto::PreKeyMessage as prost::Message>::decode(body)
        .is_ok_and(|m| m.kem_ciphertext.is_empty() && proto::encode(0x12, &m).as_slice() == bytes)
}

#[test]
fn prekey_message_without_or_with_substituted_kem_fields_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut carol = Device::new("carol", 1);
    let mut bob = Device::new("bob", 1);
    alice.start_with(&bob, Some(FIRST_OTPK), FIRST_KEM);
    carol.start_with(&bob, Some(FIRST_OTPK + 1), FIRST_KEM);
    let genuine = alice.send_bytes(&bob.addr, b"prekey");
    let from_carol = carol.send_bytes(&bob.addr, b"carol");
    let m: proto::PreKeyMessage = proto::decode(&genuine);
    let other: proto::PreKeyMessage = proto::decode(&from_carol);
    assert_eq!(m.kem_prekey_id, FIRST_KEM);
    assert_eq!(other.kem_prekey_id, FIRST_KEM);
    assert_ne!(m.kem_ciphertext, other.kem_ciphertext);
    let edited = |edit: &dyn Fn(&mut proto::PreKeyMessage)| {
        let mut m = m.clone();
        edit(&mut m);
        proto::encode(genuine[0], &m)
    };
    let kems = bob.kem_ids();
    let check = |bob: &Device| {
        assert!(bob.otpk_ids().contains(&FIRST_OTPK));
        assert_eq!(bob.kem_ids(), kems);
        assert!(bob.store.session(&alice.addr).unwrap().is_none());
    };

    // Without the KEM fields (DESIGN.md's X3DH message), or without the ciphertext only.
    for bytes in [
        edited(&|m| {
            m.kem_prekey_id = 0;
            m.kem_ciphertext.clear();
        }),
        edited(&|m| m.kem_ciphertext.clear()),
    ] {
        let e = rejected(&mut bob, &alice.addr, &bytes);
        assert!(matches!(e, Error::MissingKemPreKey), "{e:?}");
        check(&bob);
    }
    // A ciphertext of the wrong length.
    for bytes in [
        edited(&|m| m.kem_ciphertext.truncate(1567)),
        edited(&|m| m.kem_ciphertext.push(0)),
        edited(&|m| m.kem_ciphertext = m.base_key.clone()),
    ] {
        let e = rejected(&mut bob, &alice.addr, &bytes);
        assert!(matches!(e, Error::Malformed(_)), "{e:?}");
        check(&bob);
    }
    // Another session's ciphertext to the same KEM prekey, an all-zero ciphertext, or the
    // right ciphertext decapsulated with another of Bob's KEM prekeys: implicit rejection,
    // then the inner message fails to authenticate.
    let carol_ct = other.kem_ciphertext.clone();
    for bytes in [
        edited(&|m| m.kem_ciphertext = carol_ct.clone()),
        edited(&|m| m.kem_ciphertext = vec![0; 1568]),
        edited(&|m| m.kem_prekey_id = FIRST_KEM + 1),
        edited(&|m| m.kem_prekey_id = LAST_RESORT_KEM),
    ] {
        decryption_failed(&mut bob, &alice.addr, &bytes);
        check(&bob);
    }
    // A KEM prekey id Bob never had.
    let e = rejected(&mut bob, &alice.addr, &edited(&|m| m.kem_prekey_id = 7));
    assert!(
        matches!(e, Error::UnknownPreKey { kind: "KEM", id: 7 }),
        "{e:?}"
    );
    check(&bob);

    bob.recv_ok(&alice.addr, &genuine, b"prekey");
    assert!(!bob.has_kem(FIRST_KEM));
    // Carol's message names the KEM prekey Alice's used up.
    let e = rejected(&mut bob, &carol.addr, &from_carol);
    assert!(
        matches!(e, Error::UnknownPreKey { kind: "KEM", id } if id == FIRST_KEM),
        "{e:?}"
    );
}

#[test]
fn empty_message_is_malformed() {
    let (alice, mut bob) = established();
    let e = rejected(&mut bob, &alice.addr, &[]);
    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
    let mut fresh = Device::new("fresh", 1);
    let e = rejected(&mut fresh, &alice.addr, &[]);
    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
}

#[test]
fn trailing_bytes_are_rejected() {
    let (mut alice, mut bob) = established();
    let mut dave = Device::new("dave", 1);
    dave.start(&bob, Some(FIRST_OTPK + 1));
    let prekey = dave.send_bytes(&bob.addr, b"p");
    let ratchet = alice.send_bytes(&bob.addr, b"r");
    for (from, genuine) in [(&dave.addr, &prekey), (&alice.addr, &ratchet)] {
        for extra in [&[0u8][..], &[0x01], &[0x22, 0x00], &[0xFF; 40]] {
            let mut bytes = genuine.clone();
            bytes.extend_from_slice(extra);
            let e = rejected(&mut bob, from, &bytes);
            assert!(
                matches!(e, Error::Malformed(_) | Error::DecryptionFailed),
                "{extra:?}: {e:?}"
            );
        }
    }
    let bundle = bob.bundle_bytes(Some(FIRST_OTPK + 2));
    let mut extended = bundle.clone();
    extended.push(0);
    assert!(matches!(
        PreKeyBundle::try_from(extended.as_slice()).unwrap_err(),
        Error::Malformed(_)
    ));
    bob.recv_ok(&dave.addr, &prekey, b"p");
    bob.recv_ok(&alice.addr, &ratchet, b"r");
}

#[test]
fn ciphertext_shorter_than_a_tag_is_rejected() {
    let (mut alice, mut bob) = established();
    let genuine = alice.send_bytes(&bob.addr, b"some plaintext");
    let parsed: proto::RatchetMessage = proto::decode(&genuine);
    for len in 0..=16 {
        let mut short = parsed.clone();
        short.ciphertext.truncate(len);
        decryption_failed(&mut bob, &alice.addr, &proto::encode(genuine[0], &short));
    }
    bob.recv_ok(&alice.addr, &genuine, b"some plaintext");
}

#[test]
fn unknown_version_is_reported() {
    let (mut alice, mut bob) = established();
    let mut dave = Device::new("dave", 1);
    dave.start(&bob, None);
    let prekey = dave.send_bytes(&bob.addr, b"p");
    let ratchet = alice.send_bytes(&bob.addr, b"r");
    assert_eq!(prekey[0], 0x12);
    assert_eq!(ratchet[0], 0x11);
    for (from, genuine) in [(&dave.addr, &prekey), (&alice.addr, &ratchet)] {
        for lead in [0x21u8, 0x22, 0x01, 0x02, 0x31, 0xF1, 0xF2] {
            let mut bytes = genuine.clone();
            bytes[0] = lead;
            let e = rejected(&mut bob, from, &bytes);
            assert!(
                matches!(e, Error::UnknownVersion { found, .. } if found == lead >> 4),
                "leading byte {lead:#04x}: {e:?}"
            );
        }
        for lead in [0x21u8, 0x02] {
            let e = rejected(&mut bob, from, &[lead]);
            assert!(matches!(e, Error::UnknownVersion { .. }), "{e:?}");
        }
    }
    bob.recv_ok(&dave.addr, &prekey, b"p");
    bob.recv_ok(&alice.addr, &ratchet, b"r");

    // Stored structures too.
    let mut record = bob.record(&alice.addr).to_bytes().to_vec();
    record[0] = (2 << 4) | (record[0] & 0x0F);
    let e = SessionRecord::from_bytes(&record).unwrap_err();
    assert!(matches!(e, Error::UnknownVersion { found: 2, .. }), "{e:?}");
    let mut store = bob.snapshot();
    store[0] = (2 << 4) | (store[0] & 0x0F);
    let e = MemoryStore::from_bytes(&store).err().unwrap();
    assert!(matches!(e, Error::UnknownVersion { found: 2, .. }), "{e:?}");
    let mut bundle = bob.bundle_bytes(None);
    bundle[0] = (2 << 4) | (bundle[0] & 0x0F);
    let e = PreKeyBundle::try_from(bundle.as_slice()).unwrap_err();
    assert!(matches!(e, Error::UnknownVersion { found: 2, .. }), "{e:?}");
}

// ---- Bundles --------------------------------------------------------------------------------

fn edit_bundle(bytes: &[u8], edit: impl FnOnce(&mut proto::Bundle)) -> Vec<u8> {
    let mut bundle: proto::Bundle = proto::decode(bytes);
    edit(&mut bundle);
    proto::encode(bytes[0], &bundle)
}

/// One way of changing a parsed bundle.
type BundleEdit = Box<dyn Fn(&mut proto::Bundle)>;

fn verify_bundle(bytes: &[u8]) -> keylink::Result<keylink::keys::VerifiedBundle> {
    PreKeyBundle::try_from(bytes)?.verify()
}

#[test]
fn bundle_with_bad_signature_is_rejected() {
    let bob = Device::new("bob", 1);
    let other = IdentityKeyPair::generate(&mut rng());
    let genuine = bob.bundle_bytes(Some(FIRST_OTPK));
    assert!(verify_bundle(&genuine).is_ok());
    let mut edits: Vec<BundleEdit> = Vec::new();
    for i in 0..64 {
        edits.push(Box::new(move |b| b.signed_prekey_signature[i] ^= 0x01));
        edits.push(Box::new(move |b| b.signed_prekey_signature[i] ^= 0xFF));
    }
    for i in 0..32 {
        edits.push(Box::new(move |b| b.signed_prekey[i] ^= 0x01));
    }
    edits.push(Box::new(|b| b.signed_prekey_id += 1));
    edits.push(Box::new(move |b| {
        b.identity_key = other.public().to_bytes().to_vec()
    }));
    for (n, edit) in edits.iter().enumerate() {
        let e = verify_bundle(&edit_bundle(&genuine, edit)).unwrap_err();
        assert!(
            matches!(e, Error::InvalidSignature("signed prekey")),
            "edit {n}: {e:?}"
        );
    }
    // A flipped byte of the serialized bundle's signature, in place.
    let mut bytes = genuine.clone();
    let sig = bob.signed_prekey.signature();
    let at = common::find(&bytes, sig).unwrap();
    bytes[at + 10] ^= 0x01;
    assert!(matches!(
        verify_bundle(&bytes).unwrap_err(),
        Error::InvalidSignature(_)
    ));

    // The KEM prekey is signed too: its signature, id and key are all covered.
    let fields: proto::Bundle = proto::decode(&genuine);
    let kem_id = fields.kem_prekey_id;
    let kem_len = fields.kem_prekey.len();
    assert_eq!(kem_len, 1568);
    let mut edits: Vec<BundleEdit> = Vec::new();
    for i in 0..64 {
        edits.push(Box::new(move |b| b.kem_prekey_signature[i] ^= 0x01));
        edits.push(Box::new(move |b| b.kem_prekey_signature[i] ^= 0xFF));
    }
    edits.push(Box::new(|b| b.kem_prekey_id += 1));
    edits.push(Box::new(|b| b.kem_prekey_id ^= 0x8000_0000));
    // Another validly encoded KEM key (the same identity's other KEM prekey).
    let other_kem: proto::Bundle = proto::decode(&bob.bundle_bytes_with(None, LAST_RESORT_KEM));
    assert_ne!(other_kem.kem_prekey_id, kem_id);
    let other_key = other_kem.kem_prekey.clone();
    edits.push(Box::new(move |b| b.kem_prekey = other_key.clone()));
    // ... or with its signature but the original id.
    let (other_key, other_sig) = (other_kem.kem_prekey.clone(), other_kem.kem_prekey_signature);
    edits.push(Box::new(move |b| {
        b.kem_prekey = other_key.clone();
        b.kem_prekey_signature = other_sig.clone();
    }));
    for (n, edit) in edits.iter().enumerate() {
        let e = verify_bundle(&edit_bundle(&genuine, edit)).unwrap_err();
        assert!(
            matches!(e, Error::InvalidSignature("KEM prekey")),
            "KEM edit {n}: {e:?}"
        );
    }
    // Every byte of the KEM key: either no longer a valid ML-KEM-1024 key, or a valid one
    // the signature does not cover.
    let mut invalid = 0;
    for i in 0..kem_len {
        for mask in [0x01u8, 0xFF] {
            let bytes = edit_bundle(&genuine, |b| b.kem_prekey[i] ^= mask);
            match verify_bundle(&bytes).unwrap_err() {
                Error::InvalidKey(_) => invalid += 1,
                Error::InvalidSignature("KEM prekey") => {}
                e => panic!("KEM key byte {i} ^ {mask:#04x}: {e:?}"),
            }
        }
    }
    assert!(invalid > 0, "no flip made the KEM key invalid");
    // A KEM prekey signed by another identity.
    let stranger = IdentityKeyPair::generate(&mut rng());
    let foreign = KemPreKey::generate(kem_id, &stranger, &mut rng());
    let foreign_bundle = edit_bundle(&genuine, |b| {
        b.kem_prekey = foreign.public().as_bytes().to_vec();
        b.kem_prekey_signature = foreign.signature().to_vec();
    });
    let e = verify_bundle(&foreign_bundle).unwrap_err();
    assert!(matches!(e, Error::InvalidSignature("KEM prekey")), "{e:?}");
    assert!(verify_bundle(&genuine).is_ok());
}

#[test]
fn bundle_without_kem_prekey_is_refused() {
    let bob = Device::new("bob", 1);
    for otpk in [Some(FIRST_OTPK), None] {
        let genuine = bob.bundle_bytes(otpk);
        // DESIGN.md's X3DH-only bundle: no downgrade.
        let x3dh = edit_bundle(&genuine, |b| {
            b.kem_prekey_id = 0;
            b.kem_prekey.clear();
            b.kem_prekey_signature.clear();
        });
        let e = PreKeyBundle::try_from(x3dh.as_slice()).unwrap_err();
        assert!(matches!(e, Error::MissingKemPreKey), "{e:?}");
        let no_key = edit_bundle(&genuine, |b| b.kem_prekey.clear());
        let e = PreKeyBundle::try_from(no_key.as_slice()).unwrap_err();
        assert!(matches!(e, Error::MissingKemPreKey), "{e:?}");
        // A truncated KEM key or signature is malformed, not missing.
        let short = edit_bundle(&genuine, |b| b.kem_prekey.truncate(1567));
        let e = PreKeyBundle::try_from(short.as_slice()).unwrap_err();
        assert!(
            matches!(e, Error::InvalidKey(_) | Error::Malformed(_)),
            "{e:?}"
        );
        let short = edit_bundle(&genuine, |b| b.kem_prekey_signature.truncate(63));
        let e = PreKeyBundle::try_from(short.as_slice()).unwrap_err();
        assert!(matches!(e, Error::Malformed(_)), "{e:?}");
        let no_sig = edit_bundle(&genuine, |b| b.kem_prekey_signature.clear());
        assert!(verify_bundle(&no_sig).is_err());
    }
}

/// The canonical encodings of the eight points of small order on Ed25519.
const SMALL_ORDER_EDWARDS: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

fn unhex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// `p + k` for the field prime `p = 2^255 - 19`, little-endian, optionally with the sign
/// bit: a non-canonical encoding of `y = k`.
fn non_canonical_y(k: u8, sign: bool) -> [u8; 32] {
    let mut bytes = [0xFFu8; 32];
    bytes[0] = 0xED + k;
    bytes[31] = 0x7F | if sign { 0x80 } else { 0 };
    bytes
}

#[test]
fn bundle_with_small_order_identity_key_is_rejected() {
    let bob = Device::new("bob", 1);
    let genuine = bob.bundle_bytes(None);
    let mut encodings: Vec<[u8; 32]> = SMALL_ORDER_EDWARDS.iter().map(|s| unhex32(s)).collect();
    // Non-canonical encodings of small-order points: y = 0 (p), y = 1 (p + 1), and the
    // identity with its sign bit set.
    encodings.push(non_canonical_y(0, false));
    encodings.push(non_canonical_y(1, false));
    encodings.push(non_canonical_y(1, true));
    let mut identity_with_sign = [0u8; 32];
    identity_with_sign[0] = 1;
    identity_with_sign[31] = 0x80;
    encodings.push(identity_with_sign);
    for encoding in encodings {
        let point = curve25519_dalek::edwards::CompressedEdwardsY(encoding)
            .decompress()
            .unwrap();
        assert!(point.is_small_order(), "{}", common::hex(&encoding));
        let e = IdentityKey::from_bytes(&encoding).unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
        let bytes = edit_bundle(&genuine, |b| b.identity_key = encoding.to_vec());
        let e = PreKeyBundle::try_from(bytes.as_slice()).unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
    }
    // Not a point at all, and the wrong length.
    let mut found_invalid = false;
    for k in 2..=255u8 {
        let mut bytes = [0u8; 32];
        bytes[0] = k;
        if curve25519_dalek::edwards::CompressedEdwardsY(bytes)
            .decompress()
            .is_none()
        {
            found_invalid = true;
            let e = IdentityKey::from_bytes(&bytes).unwrap_err();
            assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
            break;
        }
    }
    assert!(found_invalid);
    let bytes = edit_bundle(&genuine, |b| b.identity_key.truncate(31));
    let e = PreKeyBundle::try_from(bytes.as_slice()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidKey(_) | Error::Malformed(_)),
        "{e:?}"
    );
}

#[test]
fn bundle_with_non_canonical_identity_key_is_rejected() {
    let bob = Device::new("bob", 1);
    let genuine = bob.bundle_bytes(None);
    let mut large_order = 0;
    let mut accepted = Vec::new();
    let mut same_point_twice = Vec::new();
    for k in 0..19u8 {
        for sign in [false, true] {
            let encoding = non_canonical_y(k, sign);
            let point = curve25519_dalek::edwards::CompressedEdwardsY(encoding).decompress();
            if point.is_some_and(|p| !p.is_small_order()) {
                large_order += 1;
            }
            let parsed = IdentityKey::from_bytes(&encoding);
            if let Ok(key) = &parsed {
                accepted.push(common::hex(&encoding));
                // The same point under its canonical encoding is a different IdentityKey.
                let canonical = point.unwrap().compress().to_bytes();
                if IdentityKey::from_bytes(&canonical).is_ok_and(|c| c != *key) {
                    same_point_twice.push(common::hex(&canonical));
                }
            } else {
                assert!(matches!(parsed, Err(Error::InvalidKey(_))), "{parsed:?}");
            }
            let bytes = edit_bundle(&genuine, |b| b.identity_key = encoding.to_vec());
            let parsed = PreKeyBundle::try_from(bytes.as_slice());
            assert!(
                parsed.is_err() || accepted.last() == Some(&common::hex(&encoding)),
                "bundle accepted a key IdentityKey::from_bytes refused"
            );
        }
    }
    // The check is meaningful: some of these encode points of large order.
    assert!(large_order > 0);
    assert!(
        accepted.is_empty(),
        "{} non-canonical identity key encodings accepted (by IdentityKey::from_bytes and in \
         bundles), e.g. {:?}; {} of them parse to an IdentityKey unequal to the one parsed from \
         the same point's canonical encoding, e.g. {:?}",
        accepted.len(),
        accepted.first(),
        same_point_twice.len(),
        same_point_twice.first()
    );
}

/// Whether a u-coordinate is a canonical encoding (below p, bit 255 clear); the others are
/// refused when parsed, before any DH.
fn canonical_u(u: &str) -> bool {
    let b = unhex32(u);
    let at_least_p = b[31] == 0x7F && b[1..31].iter().all(|&x| x == 0xFF) && b[0] >= 0xED;
    b[31] & 0x80 == 0 && !at_least_p
}

/// X25519 u-coordinates of small order, canonical and not.
const SMALL_ORDER_MONTGOMERY: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[cfg(feature = "hazmat")]
/// A bundle from an identity we hold the seed of, whose signed prekey is `spk` (any 32
/// bytes), validly signed.
fn bundle_with_signed_prekey(spk: [u8; 32], otpk: Option<(u32, [u8; 32])>) -> Vec<u8> {
    let seed = [0x42u8; 32];
    let identity = keylink::hazmat::identity_from_seed(&seed);
    let template = SignedPreKey::generate(SPK_ID, &identity, &mut rng());
    let kem = KemPreKey::generate(FIRST_KEM, &identity, &mut rng());
    let genuine = PreKeyBundle::new(1, &identity, &template, None, &kem).to_bytes();
    let mut message = SIGNED_PREKEY_CONTEXT.to_vec();
    message.extend_from_slice(&SPK_ID.to_be_bytes());
    message.extend_from_slice(&spk);
    let signature = ed25519_dalek::SigningKey::from_bytes(&seed).sign(&message);
    edit_bundle(&genuine, |b| {
        b.signed_prekey = spk.to_vec();
        b.signed_prekey_signature = signature.to_bytes().to_vec();
        b.one_time_prekey_id = otpk.map(|(id, _)| id);
        b.one_time_prekey = otpk.map(|(_, key)| key.to_vec());
    })
}

fn start_with_bundle(alice: &mut Device, bytes: &[u8]) -> Error {
    let bundle = verify_bundle(bytes).expect("validly signed");
    let bob = Address::new("bob", 1);
    let before = alice.snapshot();
    let e = keylink::start_session(&mut alice.store, &bob, &bundle, &mut rng()).unwrap_err();
    assert_eq!(alice.snapshot(), before, "nothing remembered after {e:?}");
    e
}

#[cfg(feature = "hazmat")]
#[test]
fn validly_signed_small_order_prekeys_are_non_contributory() {
    let mut alice = Device::new("alice", 1);
    // Sanity: the construction with a real key works.
    let real = *SignedPreKey::generate(9, &alice.identity, &mut rng()).public();
    let bundle = verify_bundle(&bundle_with_signed_prekey(real.to_bytes(), None)).unwrap();
    let mut carol = Device::new("carol", 1);
    keylink::start_session(
        &mut carol.store,
        &Address::new("bob", 1),
        &bundle,
        &mut rng(),
    )
    .unwrap();

    for u in SMALL_ORDER_MONTGOMERY {
        let forged = bundle_with_signed_prekey(real.to_bytes(), Some((7, unhex32(u))));
        if !canonical_u(u) {
            // A non-canonical encoding does not even parse.
            let signed = bundle_with_signed_prekey(unhex32(u), None);
            for bytes in [signed, forged] {
                let e = PreKeyBundle::try_from(bytes.as_slice()).unwrap_err();
                assert!(matches!(e, Error::InvalidKey(_)), "{u}: {e:?}");
            }
            continue;
        }
        let e = start_with_bundle(&mut alice, &bundle_with_signed_prekey(unhex32(u), None));
        assert!(matches!(e, Error::NonContributoryKey), "signed {u}: {e:?}");
        // The one-time prekey is not signed: a forged one is caught the same way.
        let e = start_with_bundle(&mut alice, &forged);
        assert!(
            matches!(e, Error::NonContributoryKey),
            "one-time {u}: {e:?}"
        );
    }
}

#[test]
fn small_order_keys_in_messages_are_rejected() {
    let (mut alice, mut bob) = established();
    let mut dave = Device::new("dave", 1);
    dave.start(&bob, Some(FIRST_OTPK + 1));
    let prekey = dave.send_bytes(&bob.addr, b"p");
    let ratchet = alice.send_bytes(&bob.addr, b"r");
    for u in SMALL_ORDER_MONTGOMERY {
        let mut m: proto::PreKeyMessage = proto::decode(&prekey);
        m.base_key = unhex32(u).to_vec();
        rejected(&mut bob, &dave.addr, &proto::encode(prekey[0], &m));
        assert!(bob.otpk_ids().contains(&(FIRST_OTPK + 1)));
        assert!(bob.has_kem(prekey_ids(&prekey).1));

        let mut r: proto::RatchetMessage = proto::decode(&ratchet);
        r.ratchet_key = unhex32(u).to_vec();
        let bytes = proto::encode(ratchet[0], &r);
        if canonical_u(u) {
            decryption_failed(&mut bob, &alice.addr, &bytes);
        } else {
            let e = rejected(&mut bob, &alice.addr, &bytes);
            assert!(matches!(e, Error::InvalidKey(_)), "{u}: {e:?}");
        }
    }
    bob.recv_ok(&dave.addr, &prekey, b"p");
    bob.recv_ok(&alice.addr, &ratchet, b"r");
}

/// X25519 ignores bit 255 of a public key, so a base key re-encoded with it set gives the same
/// shared secrets. Such a copy of a PreKey message must not pass for a new one (it would set up
/// a second session and release the plaintext twice): non-canonical keys do not parse.
#[test]
fn re_encoded_base_key_is_not_a_new_prekey_message() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    // No one-time prekey and the last-resort KEM prekey: nothing is consumed by the first copy.
    alice.start_with(&bob, None, common::LAST_RESORT_KEM);
    let genuine = alice.send_bytes(&bob.addr, b"once");
    bob.recv_ok(&alice.addr, &genuine, b"once");
    let mut m: proto::PreKeyMessage = proto::decode(&genuine);
    m.base_key[31] |= 0x80;
    let e = rejected(&mut bob, &alice.addr, &proto::encode(genuine[0], &m));
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
    // Also after Bob dropped the session, where only the used-base-key record protects him.
    bob.store.remove_session(&alice.addr);
    let e = rejected(&mut bob, &alice.addr, &proto::encode(genuine[0], &m));
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
    let e = rejected(&mut bob, &alice.addr, &genuine);
    assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
}

// ---- Identity changes -----------------------------------------------------------------------

#[test]
fn changed_identity_is_untrusted_until_accepted() {
    let (mut alice, mut old_bob) = established();
    let old_late = old_bob.send_bytes(&alice.addr, b"from the old install");
    // Bob re-installs: new identity, same address.
    let mut bob = Device::new("bob", 1);
    assert_eq!(bob.addr, old_bob.addr);

    let before = alice.snapshot();
    let bundle = bob.bundle(Some(FIRST_OTPK));
    let e = keylink::start_session(&mut alice.store, &bob.addr, &bundle, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::UntrustedIdentity), "{e:?}");
    assert_eq!(alice.snapshot(), before);

    bob.start(&alice, Some(FIRST_OTPK + 1));
    let p = bob.send_bytes(&alice.addr, b"new bob");
    let e = rejected(&mut alice, &bob.addr, &p);
    assert!(matches!(e, Error::UntrustedIdentity), "{e:?}");
    assert!(alice.otpk_ids().contains(&(FIRST_OTPK + 1)));
    let (_, kem) = prekey_ids(&p);
    assert!(alice.kem_ids().contains(&kem));

    keylink::accept_identity(&mut alice.store, &bob.addr, &bob.identity_key()).unwrap();
    assert_eq!(
        alice.store.peer_identity(&bob.addr).unwrap(),
        Some(bob.identity_key())
    );
    alice.recv_ok(&bob.addr, &p, b"new bob");
    assert!(!alice.has_kem(kem));
    let r = alice.send_bytes(&bob.addr, b"hello new bob");
    bob.recv_ok(&alice.addr, &r, b"hello new bob");
    keylink::start_session(&mut alice.store, &bob.addr, &bundle, &mut rng()).unwrap();
    let m = alice.send_bytes(&bob.addr, b"fresh session");
    bob.recv_ok(&alice.addr, &m, b"fresh session");

    // The replaced identity's messages are no longer accepted.
    let e = rejected(&mut alice, &old_bob.addr, &old_late);
    assert!(matches!(e, Error::UntrustedIdentity), "{e:?}");
}

// ---- A store whose commit fails -------------------------------------------------------------

fn failing(device: &mut Device) -> FailingStore {
    FailingStore {
        inner: std::mem::take(&mut device.store),
        fail_next: false,
    }
}

/// The error is `Error::Store` holding our `TestStoreError::CommitFailed`.
fn assert_commit_failed(e: &Error) {
    let Error::Store(inner) = e else {
        panic!("expected Error::Store, got {e:?}")
    };
    assert!(matches!(
        inner.downcast_ref::<TestStoreError>(),
        Some(TestStoreError::CommitFailed)
    ));
    let source = std::error::Error::source(e).expect("store error has a source");
    assert!(source.downcast_ref::<TestStoreError>().is_some());
    assert!(e.to_string().contains("commit failed (armed)"), "{e}");
}

#[test]
fn failed_commit_in_start_session_changes_nothing() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let bundle = bob.bundle(Some(FIRST_OTPK));
    let mut store = failing(&mut alice);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::start_session(&mut store, &bob.addr, &bundle, &mut rng()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
    assert!(store.session(&bob.addr).unwrap().is_none());

    keylink::start_session(&mut store, &bob.addr, &bundle, &mut rng()).unwrap();
    let m = keylink::encrypt(&mut store, &bob.addr, b"after retry").unwrap();
    bob.recv_ok(&alice.addr, &m.to_bytes(), b"after retry");
}

#[test]
fn failed_commit_in_encrypt_changes_nothing() {
    let (mut alice, mut bob) = established();
    let mut store = failing(&mut alice);
    let m0 = keylink::encrypt(&mut store, &bob.addr, b"m0").unwrap();
    let Message::Ratchet(r0) = &m0 else {
        panic!("expected a ratchet message")
    };
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::encrypt(&mut store, &bob.addr, b"m1").unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);

    let m1 = keylink::encrypt(&mut store, &bob.addr, b"m1").unwrap();
    let Message::Ratchet(r1) = &m1 else {
        panic!("expected a ratchet message")
    };
    assert_eq!(
        r1.counter(),
        r0.counter() + 1,
        "the failed attempt used no key"
    );
    bob.recv_ok(&alice.addr, &m0.to_bytes(), b"m0");
    bob.recv_ok(&alice.addr, &m1.to_bytes(), b"m1");
    assert_eq!(bob.skipped(&alice.addr), 0);
}

#[test]
fn failed_commit_in_decrypt_of_ratchet_message_changes_nothing() {
    let (mut alice, mut bob) = established();
    let mut store = failing(&mut bob);
    for (n, text) in [&b"new chain"[..], b"same chain"].into_iter().enumerate() {
        let m = alice.send_bytes(&bob.addr, text);
        let before = store.inner.to_bytes();
        store.fail_next = true;
        let e = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap_err();
        assert_commit_failed(&e);
        assert_eq!(*store.inner.to_bytes(), *before, "message {n}");
        let plaintext = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap();
        assert_eq!(plaintext, text);
        let e = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap_err();
        assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
    }
}

#[test]
fn failed_commit_in_decrypt_of_prekey_message_changes_nothing() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let p = alice.send_bytes(&bob.addr, b"prekey");
    let mut store = failing(&mut bob);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::decrypt(&mut store, &alice.addr, &p, &mut rng()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
    assert!(store.inner.one_time_prekey_ids().contains(&FIRST_OTPK));
    assert_eq!(prekey_ids(&p), (Some(FIRST_OTPK), FIRST_KEM));
    assert!(store.inner.one_time_kem_prekey_ids().contains(&FIRST_KEM));
    assert!(store.kem_prekey(FIRST_KEM).unwrap().is_some());
    assert!(store.session(&alice.addr).unwrap().is_none());
    assert!(store.peer_identity(&alice.addr).unwrap().is_none());

    let plaintext = keylink::decrypt(&mut store, &alice.addr, &p, &mut rng()).unwrap();
    assert_eq!(plaintext, b"prekey");
    assert!(!store.inner.one_time_prekey_ids().contains(&FIRST_OTPK));
    assert!(!store.inner.one_time_kem_prekey_ids().contains(&FIRST_KEM));
    assert!(store.kem_prekey(FIRST_KEM).unwrap().is_none());
    let r = keylink::encrypt(&mut store, &alice.addr, b"reply").unwrap();
    alice.recv_ok(&bob.addr, &r.to_bytes(), b"reply");
}

#[test]
fn failed_commit_in_accept_identity_changes_nothing() {
    let (mut alice, bob) = established();
    let new_identity = IdentityKeyPair::generate(&mut rng());
    let mut store = failing(&mut alice);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::accept_identity(&mut store, &bob.addr, new_identity.public()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
}

// ---- Other errors, and their messages -------------------------------------------------------

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
    bob.store.remove_signed_prekey(SPK_ID);
    rejected(&mut bob, &alice.addr, &a)
}

fn chain_exhausted() -> Error {
    let (alice, bob) = established();
    let bytes = alice.record(&bob.addr).to_bytes();
    let mut record: proto::SessionRecord = proto::decode(&bytes);
    let current = record.current.as_mut().unwrap();
    current.sending_chain.as_mut().unwrap().index = u32::MAX - 1;
    let mut record = SessionRecord::from_bytes(&proto::encode(bytes[0], &record)).unwrap();
    let last = record.encrypt(b"the last message").unwrap();
    let Message::Ratchet(last) = last else {
        panic!("expected a ratchet message")
    };
    assert_eq!(last.counter(), u32::MAX - 1);
    let before = record.to_bytes();
    let e = record.encrypt(b"one too many").unwrap_err();
    assert_eq!(*record.to_bytes(), *before);
    e
}

#[test]
fn unknown_prekeys_are_reported() {
    let e = unknown_one_time_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: "one-time", id } if id == FIRST_OTPK),
        "{e:?}"
    );
    let e = unknown_signed_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: "signed", id } if id == SPK_ID),
        "{e:?}"
    );
    let e = unknown_kem_prekey();
    assert!(
        matches!(e, Error::UnknownPreKey { kind: "KEM", id } if id == FIRST_KEM),
        "{e:?}"
    );
    let [one_time, last_resort] = kem_prekey_not_in_store().try_into().unwrap();
    assert!(
        matches!(one_time, Error::UnknownPreKey { kind: "KEM", id } if id == FIRST_KEM + 3),
        "{one_time:?}"
    );
    assert!(
        matches!(last_resort, Error::UnknownPreKey { kind: "KEM", id } if id == LAST_RESORT_KEM),
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
