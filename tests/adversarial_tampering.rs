//! Tampered and replayed messages: every single-byte flip of a ratchet or PreKey message, and
//! replays after the session moved on, on a last-resort KEM prekey and after the session was
//! dropped. Every rejection must leave the receiver's state byte-for-byte unchanged.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::constants::MAX_ARCHIVED_SESSIONS;
use keylink::session::Message;
use keylink::store::{MemoryStore, ProtocolStore};

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
    assert!(bob.store.session_index(&alice.addr).unwrap().is_none());
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
    duplicate(&mut bob, &alice.addr, &m);
    // Also after the chain moved on and after a ratchet step.
    let m2 = alice.send_bytes(&bob.addr, b"twice");
    bob.recv_ok(&alice.addr, &m2, b"twice");
    duplicate(&mut bob, &alice.addr, &m);
    let r = bob.send_bytes(&alice.addr, b"reply");
    alice.recv_ok(&bob.addr, &r, b"reply");
    duplicate(&mut alice, &bob.addr, &r);
    let m3 = alice.send_bytes(&bob.addr, b"new chain");
    bob.recv_ok(&alice.addr, &m3, b"new chain");
    // The old chain left no skipped key, so Bob no longer holds its header key: its messages
    // open no header any more, like forged ones.
    decryption_failed(&mut bob, &alice.addr, &m);
    decryption_failed(&mut bob, &alice.addr, &m2);
    duplicate(&mut bob, &alice.addr, &m3);
}

#[test]
fn replayed_prekey_message_after_session_moved_on_is_rejected() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let first = alice.send_bytes(&bob.addr, b"first");
    bob.recv_ok(&alice.addr, &first, b"first");
    duplicate(&mut bob, &alice.addr, &first); // immediately

    let r = bob.send_bytes(&alice.addr, b"bob replies");
    alice.recv_ok(&bob.addr, &r, b"bob replies");
    let a = alice.send(&bob.addr, b"alice replies");
    assert!(!a.is_prekey());
    bob.recv_ok(&alice.addr, &a.to_bytes(), b"alice replies");

    // Bob's session stepped on: the first message's header key is gone.
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
    duplicate(&mut bob, &alice.addr, &first);
    bob.store.remove_session(&alice.addr);
    duplicate(&mut bob, &alice.addr, &first);
    bob.restart();
    duplicate(&mut bob, &alice.addr, &first);
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
    assert!(bob.store.base_key_used(SPK_ID.into(), &first_base).unwrap());
    // Its one-time KEM prekey was used up; the later sessions ran out of one-time KEM
    // prekeys and went on with the last-resort one.
    assert_eq!(parsed.kem_prekey_id().get(), FIRST_KEM);
    assert!(!bob.has_kem(FIRST_KEM));
    assert!(bob.kem_ids().is_empty());
    assert!(bob.has_kem(LAST_RESORT_KEM));

    duplicate(&mut bob, &alice.addr, &first);
    assert!(!bob.record(&alice.addr).has_base_key(&first_base));
}
