//! Session behaviour across modules: conversations through the store, several devices,
//! out-of-order delivery, restarts, simultaneous initiation, archived sessions and prekey
//! rotation.
#![cfg(test)]

mod common;

use common::{
    Device, FIRST_KEM, FIRST_OTPK, KEM_COUNT, LAST_RESORT_KEM, OTPK_COUNT, SPK_ID, established,
    prekey_ids, proto, rng, stored_bundle,
};
use keylink::constants::MAX_ARCHIVED_SESSIONS;
use keylink::keys::{PreKeyBundle, SignedPreKey};
use keylink::session::Message;
use keylink::store::{Address, ProtocolStore};

/// Decrypt `bytes`, check the plaintext, and check that a second delivery is refused: as a
/// duplicate while the session still holds the header key it came under, else as a message
/// that opens no header (the last key of an old chain took its header key with it).
fn deliver_once(to: &mut Device, from: &Address, bytes: &[u8], expected: &[u8]) {
    to.recv_ok(from, bytes, expected);
    let before = to.snapshot();
    let again = to.recv(from, bytes).unwrap_err();
    assert!(
        matches!(
            again,
            keylink::Error::DuplicateMessage | keylink::Error::DecryptionFailed
        ),
        "second delivery gave {again:?}"
    );
    assert_eq!(to.snapshot(), before);
}

/// The number `N` the next message `device` sends to `peer` gets (headers are encrypted, so
/// it is read from the sender's record).
fn next_counter(device: &Device, peer: &keylink::store::Address) -> u32 {
    let record: common::proto::SessionRecord =
        common::proto::decode(&device.record(peer).to_bytes());
    record.current.unwrap().sending_chain.unwrap().index
}

#[test]
fn full_conversation_both_ways_with_ratchet_steps() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 7);
    alice.start(&bob, Some(FIRST_OTPK));
    assert!(alice.record(&bob.addr).current().unwrap().awaiting_reply());

    // Alice sends PreKey messages until she has received a reply.
    for i in 0..3 {
        let text = format!("alice prekey {i}");
        let m = alice.send(&bob.addr, text.as_bytes());
        assert!(m.is_prekey(), "message {i} should be a PreKey message");
        assert_eq!(
            prekey_ids(&m.to_bytes()),
            (Some(FIRST_OTPK), FIRST_KEM),
            "message {i}"
        );
        bob.recv_ok(&alice.addr, &m.to_bytes(), text.as_bytes());
    }
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
    assert_eq!(bob.kem_ids().len(), KEM_COUNT as usize - 1);
    let reply = bob.send(&alice.addr, b"bob reply");
    assert!(
        !reply.is_prekey(),
        "the responder never sends PreKey messages"
    );
    // Not received yet: still PreKey messages.
    let m = alice.send(&bob.addr, b"still prekey");
    assert!(m.is_prekey());
    bob.recv_ok(&alice.addr, &m.to_bytes(), b"still prekey");
    alice.recv_ok(&bob.addr, &reply.to_bytes(), b"bob reply");
    assert!(!alice.record(&bob.addr).current().unwrap().awaiting_reply());

    // Several turns, each a DH ratchet step: every turn's first message has counter 0.
    for turn in 0..6 {
        let (sender, receiver) = match turn % 2 {
            0 => (&mut alice, &mut bob),
            _ => (&mut bob, &mut alice),
        };
        for i in 0..(turn + 1) {
            let text = format!("turn {turn} message {i} from {}", sender.addr);
            assert_eq!(
                next_counter(sender, &receiver.addr),
                i,
                "turn {turn} message {i}"
            );
            let m = sender.send(&receiver.addr, text.as_bytes());
            assert!(!m.is_prekey());
            deliver_once(receiver, &sender.addr, &m.to_bytes(), text.as_bytes());
        }
    }
    assert_eq!(alice.skipped(&bob.addr), 0);
    assert_eq!(bob.skipped(&alice.addr), 0);
    assert_eq!(
        alice.current_base_key(&bob.addr),
        bob.current_base_key(&alice.addr)
    );
}

#[test]
fn one_user_with_two_devices() {
    let mut alice = Device::new("alice", 1);
    let mut bob1 = Device::new("bob", 1);
    let mut bob2 = Device::new("bob", 2);
    assert_ne!(bob1.identity_key(), bob2.identity_key());
    alice.start(&bob1, Some(FIRST_OTPK));
    alice.start(&bob2, Some(FIRST_OTPK));

    let to1 = alice.send_bytes(&bob1.addr, b"hi bob");
    let to2 = alice.send_bytes(&bob2.addr, b"hi bob");
    assert_ne!(to1, to2, "each device gets its own ciphertext");

    // A copy for one device does not decrypt on the other.
    let before = bob2.snapshot();
    assert!(bob2.recv(&alice.addr, &to1).is_err());
    assert_eq!(bob2.snapshot(), before);

    bob1.recv_ok(&alice.addr, &to1, b"hi bob");
    bob2.recv_ok(&alice.addr, &to2, b"hi bob");
    let r1 = bob1.send_bytes(&alice.addr, b"from device 1");
    let r2 = bob2.send_bytes(&alice.addr, b"from device 2");
    alice.recv_ok(&bob2.addr, &r2, b"from device 2");
    alice.recv_ok(&bob1.addr, &r1, b"from device 1");
    // And on, both ways.
    for (bob, text) in [(&mut bob1, b"again 1"), (&mut bob2, b"again 2")] {
        let m = alice.send(&bob.addr, text);
        assert!(!m.is_prekey());
        bob.recv_ok(&alice.addr, &m.to_bytes(), text);
        let r = bob.send_bytes(&alice.addr, text);
        alice.recv_ok(&bob.addr, &r, text);
    }
    assert_ne!(
        alice.current_base_key(&bob1.addr),
        alice.current_base_key(&bob2.addr)
    );
}

#[test]
fn out_of_order_delivery_within_and_across_chains() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));

    // PreKey messages out of order: the last one sets the session up.
    let p: Vec<_> = (0..3)
        .map(|i| alice.send_bytes(&bob.addr, format!("p{i}").as_bytes()))
        .collect();
    assert_eq!(prekey_ids(&p[2]), (Some(FIRST_OTPK), FIRST_KEM));
    deliver_once(&mut bob, &alice.addr, &p[2], b"p2");
    assert!(!bob.otpk_ids().contains(&FIRST_OTPK));
    assert!(!bob.has_kem(FIRST_KEM));
    deliver_once(&mut bob, &alice.addr, &p[0], b"p0");
    deliver_once(&mut bob, &alice.addr, &p[1], b"p1");

    // One chain of Bob's, out of order, b2 lost.
    let b: Vec<_> = (0..4)
        .map(|i| bob.send_bytes(&alice.addr, format!("b{i}").as_bytes()))
        .collect();
    deliver_once(&mut alice, &bob.addr, &b[3], b"b3");
    deliver_once(&mut alice, &bob.addr, &b[1], b"b1");
    deliver_once(&mut alice, &bob.addr, &b[0], b"b0");

    // Across ratchet steps: Alice's chain X, Bob's reply, Alice's chain Z.
    let x: Vec<_> = (0..4)
        .map(|i| alice.send_bytes(&bob.addr, format!("x{i}").as_bytes()))
        .collect();
    deliver_once(&mut bob, &alice.addr, &x[1], b"x1");
    let c0 = bob.send_bytes(&alice.addr, b"c0");
    deliver_once(&mut alice, &bob.addr, &c0, b"c0");
    let z: Vec<_> = (0..2)
        .map(|i| alice.send_bytes(&bob.addr, format!("z{i}").as_bytes()))
        .collect();
    deliver_once(&mut bob, &alice.addr, &z[1], b"z1");
    deliver_once(&mut bob, &alice.addr, &x[3], b"x3");
    deliver_once(&mut bob, &alice.addr, &z[0], b"z0");
    deliver_once(&mut bob, &alice.addr, &x[0], b"x0");
    // x2 and b2 are never delivered; nothing else is blocked.
    assert_eq!(bob.skipped(&alice.addr), 1, "only x2's key is pending");
    assert_eq!(alice.skipped(&bob.addr), 1, "only b2's key is pending");

    let r = bob.send_bytes(&alice.addr, b"after all that");
    deliver_once(&mut alice, &bob.addr, &r, b"after all that");
    let r = alice.send_bytes(&bob.addr, b"still fine");
    deliver_once(&mut bob, &alice.addr, &r, b"still fine");
}

#[test]
fn restart_from_serialized_store_keeps_pending_skipped_keys() {
    let (mut alice, mut bob) = established();
    let m: Vec<_> = (0..5)
        .map(|i| alice.send_bytes(&bob.addr, format!("m{i}").as_bytes()))
        .collect();
    bob.recv_ok(&alice.addr, &m[4], b"m4");
    assert_eq!(bob.skipped(&alice.addr), 4);

    bob.restart();
    assert_eq!(bob.skipped(&alice.addr), 4);
    deliver_once(&mut bob, &alice.addr, &m[2], b"m2");
    deliver_once(&mut bob, &alice.addr, &m[0], b"m0");

    let r = bob.send_bytes(&alice.addr, b"reply");
    bob.restart();
    alice.restart();
    deliver_once(&mut alice, &bob.addr, &r, b"reply");
    deliver_once(&mut bob, &alice.addr, &m[3], b"m3");
    deliver_once(&mut bob, &alice.addr, &m[1], b"m1");
    assert_eq!(bob.skipped(&alice.addr), 0);

    for i in 0..3 {
        let text = format!("after restart {i}");
        let a = alice.send_bytes(&bob.addr, text.as_bytes());
        bob.restart();
        deliver_once(&mut bob, &alice.addr, &a, text.as_bytes());
        let b = bob.send_bytes(&alice.addr, text.as_bytes());
        alice.restart();
        deliver_once(&mut alice, &bob.addr, &b, text.as_bytes());
    }
}

#[test]
fn session_without_one_time_prekey() {
    let mut alice = Device::new("alice", 1);
    let mut carol = Device::new("carol", 1);
    let mut bob = Device::new("bob", 1);
    let all_otpks = bob.otpk_ids();
    assert_eq!(all_otpks.len(), OTPK_COUNT as usize);
    let all_kems = bob.kem_ids();
    assert_eq!(all_kems.len(), KEM_COUNT as usize);

    // The same bundle without a one-time prekey serves several initiators (each bundle with
    // its own one-time KEM prekey, which is consumed all the same).
    alice.start(&bob, None);
    carol.start(&bob, None);
    for (sender, kem) in [(&mut alice, FIRST_KEM), (&mut carol, FIRST_KEM + 1)] {
        let m = sender.send(&bob.addr, b"no otpk");
        let Message::PreKey(p) = &m else {
            panic!("expected a PreKey message")
        };
        assert_eq!(p.one_time_prekey_id(), None);
        assert_eq!(p.signed_prekey_id().get(), SPK_ID);
        assert_eq!(p.kem_prekey_id().get(), kem);
        assert!(bob.has_kem(kem));
        bob.recv_ok(&sender.addr, &m.to_bytes(), b"no otpk");
        assert!(!bob.has_kem(kem));
        let r = bob.send_bytes(&sender.addr, b"reply");
        sender.recv_ok(&bob.addr, &r, b"reply");
        let m = sender.send(&bob.addr, b"ratchet now");
        assert!(!m.is_prekey());
        bob.recv_ok(&sender.addr, &m.to_bytes(), b"ratchet now");
    }
    assert_eq!(bob.otpk_ids(), all_otpks, "no one-time prekey was used");
    assert_eq!(
        bob.kem_ids(),
        all_kems[2..],
        "exactly the two KEM prekeys were used"
    );
    assert_eq!(
        bob.store.last_resort_kem_prekey_id(),
        Some(LAST_RESORT_KEM.into())
    );
}

#[test]
fn session_with_last_resort_kem_prekey_keeps_it() {
    let mut bob = Device::new("bob", 1);
    let all_otpks = bob.otpk_ids();
    let all_kems = bob.kem_ids();
    // Two initiators, with and without a one-time prekey, both on the last-resort KEM prekey.
    let mut alice = Device::new("alice", 1);
    let mut carol = Device::new("carol", 1);
    alice.start_with(&bob, Some(FIRST_OTPK), LAST_RESORT_KEM);
    carol.start_with(&bob, None, LAST_RESORT_KEM);
    for (sender, otpk) in [(&mut alice, Some(FIRST_OTPK)), (&mut carol, None)] {
        let m = sender.send_bytes(&bob.addr, b"last resort");
        assert_eq!(prekey_ids(&m), (otpk, LAST_RESORT_KEM));
        bob.recv_ok(&sender.addr, &m, b"last resort");
        let r = bob.send_bytes(&sender.addr, b"reply");
        sender.recv_ok(&bob.addr, &r, b"reply");
        let m = sender.send(&bob.addr, b"ratchet now");
        assert!(!m.is_prekey());
        bob.recv_ok(&sender.addr, &m.to_bytes(), b"ratchet now");
    }
    assert_eq!(bob.otpk_ids(), all_otpks[1..]);
    assert_eq!(bob.kem_ids(), all_kems, "no one-time KEM prekey was used");
    assert_eq!(
        bob.store.last_resort_kem_prekey_id(),
        Some(LAST_RESORT_KEM.into())
    );
    bob.restart();
    assert_eq!(
        bob.store.last_resort_kem_prekey_id(),
        Some(LAST_RESORT_KEM.into())
    );
}

#[test]
fn bundles_hand_out_one_time_kem_prekeys_then_the_last_resort_one() {
    let bob = Device::new("bob", 1);
    let mut alice = Device::new("alice", 1);
    for i in 0..KEM_COUNT + 2 {
        alice.start(&bob, None);
        let m = alice.send_bytes(&bob.addr, b"x");
        let expected = if i < KEM_COUNT {
            FIRST_KEM + i
        } else {
            LAST_RESORT_KEM
        };
        assert_eq!(prekey_ids(&m), (None, expected), "bundle {i}");
    }
}

#[test]
fn one_time_prekey_removed_only_after_authentication() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start_with(&bob, Some(FIRST_OTPK + 3), FIRST_KEM + 4);
    let genuine = alice.send_bytes(&bob.addr, b"first");
    assert_eq!(prekey_ids(&genuine), (Some(FIRST_OTPK + 3), FIRST_KEM + 4));

    // The inner ciphertext (with its tag) is the last field of the inner message (field 5):
    // flip its last byte. The KEM ciphertext is the last field of the PreKey message: a
    // flipped last byte there changes the KEM shared secret (implicit rejection).
    let parsed: proto::PreKeyMessage = proto::decode(&genuine);
    let mut inner_tag = parsed.clone();
    *inner_tag.message.last_mut().unwrap() ^= 0x01;
    let inner_tag = proto::encode(genuine[0], &inner_tag);
    let mut kem_ct = genuine.clone();
    *kem_ct.last_mut().unwrap() ^= 0x01;
    assert!(genuine.ends_with(&parsed.kem_ciphertext));
    for tampered in [inner_tag, kem_ct] {
        assert_eq!(tampered.len(), genuine.len());
        assert_ne!(tampered, genuine);
        let before = bob.snapshot();
        let e = bob.recv(&alice.addr, &tampered).unwrap_err();
        assert!(matches!(e, keylink::Error::DecryptionFailed), "{e:?}");
        assert!(bob.otpk_ids().contains(&(FIRST_OTPK + 3)));
        assert!(bob.has_kem(FIRST_KEM + 4));
        assert_eq!(bob.snapshot(), before);
        assert!(bob.store.session_index(&alice.addr).unwrap().is_none());
    }

    bob.recv_ok(&alice.addr, &genuine, b"first");
    assert!(!bob.otpk_ids().contains(&(FIRST_OTPK + 3)));
    assert_eq!(bob.otpk_ids().len(), OTPK_COUNT as usize - 1);
    assert!(!bob.has_kem(FIRST_KEM + 4));
    assert_eq!(bob.kem_ids().len(), KEM_COUNT as usize - 1);
}

#[test]
fn simultaneous_initiation_converges() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    bob.start(&alice, Some(FIRST_OTPK));
    let from_alice = alice.send(&bob.addr, b"alice first");
    let from_bob = bob.send(&alice.addr, b"bob first");
    assert!(from_alice.is_prekey() && from_bob.is_prekey());
    bob.recv_ok(&alice.addr, &from_alice.to_bytes(), b"alice first");
    alice.recv_ok(&bob.addr, &from_bob.to_bytes(), b"bob first");
    // Both detected the simultaneous start and took the session with the smaller base key
    // (PROTOCOL.md, "Simultaneous session start").
    assert_eq!(
        alice.current_base_key(&bob.addr),
        bob.current_base_key(&alice.addr),
        "both sides are on one session"
    );

    // Crossing messages: still every one decrypts.
    let a = alice.send_bytes(&bob.addr, b"crossing a");
    let b = bob.send_bytes(&alice.addr, b"crossing b");
    deliver_once(&mut bob, &alice.addr, &a, b"crossing a");
    deliver_once(&mut alice, &bob.addr, &b, b"crossing b");

    // A round trip converges on one session.
    let a = alice.send_bytes(&bob.addr, b"round trip a");
    deliver_once(&mut bob, &alice.addr, &a, b"round trip a");
    let b = bob.send_bytes(&alice.addr, b"round trip b");
    deliver_once(&mut alice, &bob.addr, &b, b"round trip b");
    let converged = alice.current_base_key(&bob.addr);
    assert_eq!(converged, bob.current_base_key(&alice.addr));

    for i in 0..4 {
        let text = format!("after convergence {i}");
        let a = alice.send(&bob.addr, text.as_bytes());
        assert!(!a.is_prekey());
        deliver_once(&mut bob, &alice.addr, &a.to_bytes(), text.as_bytes());
        let b = bob.send(&alice.addr, text.as_bytes());
        assert!(!b.is_prekey());
        deliver_once(&mut alice, &bob.addr, &b.to_bytes(), text.as_bytes());
    }
    assert_eq!(alice.current_base_key(&bob.addr), converged);
    assert_eq!(bob.current_base_key(&alice.addr), converged);
}

#[test]
fn archived_session_decrypts_late_message() {
    let (mut alice, mut bob) = established();
    let old_base = alice.current_base_key(&bob.addr);
    let late = bob.send_bytes(&alice.addr, b"late, old session");

    // Alice replaces the session from a new bundle; Bob accepts the new one.
    alice.start(&bob, Some(FIRST_OTPK + 1));
    assert_ne!(alice.current_base_key(&bob.addr), old_base);
    let record = alice.record(&bob.addr);
    let archived: Vec<_> = record.archived().map(|s| *s.base_key()).collect();
    assert_eq!(archived, vec![old_base]);
    let p = alice.send(&bob.addr, b"new session");
    assert!(p.is_prekey());
    deliver_once(&mut bob, &alice.addr, &p.to_bytes(), b"new session");

    deliver_once(&mut alice, &bob.addr, &late, b"late, old session");

    // The conversation goes on.
    for i in 0..3 {
        let text = format!("go on {i}");
        let a = alice.send_bytes(&bob.addr, text.as_bytes());
        deliver_once(&mut bob, &alice.addr, &a, text.as_bytes());
        let b = bob.send_bytes(&alice.addr, text.as_bytes());
        deliver_once(&mut alice, &bob.addr, &b, text.as_bytes());
    }
    assert_eq!(
        alice.current_base_key(&bob.addr),
        bob.current_base_key(&alice.addr)
    );
}

#[test]
fn record_keeps_at_most_max_archived_sessions() {
    let mut alice = Device::new("alice", 1);
    let bob = Device::new("bob", 1);
    let mut bases = Vec::new();
    for _ in 0..MAX_ARCHIVED_SESSIONS + 5 {
        alice.start(&bob, None);
        bases.push(alice.current_base_key(&bob.addr));
    }
    let record = alice.record(&bob.addr);
    assert_eq!(record.archived().count(), MAX_ARCHIVED_SESSIONS);
    assert_eq!(record.current().unwrap().base_key(), bases.last().unwrap());
    // Most recent first; the oldest ones were dropped.
    let archived: Vec<_> = record.archived().map(|s| *s.base_key()).collect();
    let newest = bases.len() - 1;
    let expected: Vec<_> = bases[newest - MAX_ARCHIVED_SESSIONS..newest]
        .iter()
        .rev()
        .copied()
        .collect();
    assert_eq!(archived, expected);
}

#[test]
fn pending_messages_survive_ratchet_steps_up_to_the_header_key_limit() {
    let (mut alice, mut bob) = established();
    let rounds = keylink::constants::MAX_SKIPPED_HEADER_KEYS;
    let mut pending = Vec::new();
    for round in 0..rounds {
        let first = format!("round {round}, held back");
        let held = alice.send_bytes(&bob.addr, first.as_bytes());
        let second = format!("round {round}, delivered");
        let m = alice.send_bytes(&bob.addr, second.as_bytes());
        deliver_once(&mut bob, &alice.addr, &m, second.as_bytes());
        pending.push((held, first));
        let r = bob.send_bytes(&alice.addr, b"next round");
        deliver_once(&mut alice, &bob.addr, &r, b"next round");
    }
    assert_eq!(bob.skipped(&alice.addr), rounds);
    // Oldest chain first, then the rest in reverse.
    let (held, text) = pending.remove(0);
    deliver_once(&mut bob, &alice.addr, &held, text.as_bytes());
    for (held, text) in pending.iter().rev() {
        deliver_once(&mut bob, &alice.addr, held, text.as_bytes());
    }
    assert_eq!(bob.skipped(&alice.addr), 0);
}

#[test]
fn empty_and_large_plaintexts() {
    let (mut alice, mut bob) = established();
    let large: Vec<u8> = (0..(1usize << 20)).map(|i| (i % 251) as u8).collect();
    for text in [&b""[..], &large, b"\x00", &[0xFF; 1000]] {
        let m = alice.send_bytes(&bob.addr, text);
        assert!(m.len() >= text.len() + 16);
        deliver_once(&mut bob, &alice.addr, &m, text);
        let r = bob.send_bytes(&alice.addr, text);
        deliver_once(&mut alice, &bob.addr, &r, text);
    }
}

#[test]
fn signed_prekey_rotation_keeps_established_sessions() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let p1 = alice.send_bytes(&bob.addr, b"p1");
    let p2 = alice.send_bytes(&bob.addr, b"p2");
    bob.recv_ok(&alice.addr, &p1, b"p1");

    // Bob rotates his signed prekey; a PreKey message of the session it already set up
    // still decrypts.
    let rotated = SignedPreKey::generate(SPK_ID + 1, &bob.identity, &mut rng());
    bob.store.add_signed_prekey(rotated);
    bob.store.remove_signed_prekey(SPK_ID.into());
    deliver_once(&mut bob, &alice.addr, &p2, b"p2");
    let r = bob.send_bytes(&alice.addr, b"reply");
    deliver_once(&mut alice, &bob.addr, &r, b"reply");

    // New sessions use the new signed prekey.
    let mut carol = Device::new("carol", 1);
    let bundle = stored_bundle(&bob.store, 1, SPK_ID + 1, None, bob.next_kem_id()).to_bytes();
    let bundle = PreKeyBundle::try_from(bundle.as_slice())
        .unwrap()
        .verify()
        .unwrap();
    keylink::start_session(&mut carol.store, &bob.addr, &bundle, &mut rng()).unwrap();
    let c = carol.send_bytes(&bob.addr, b"carol");
    deliver_once(&mut bob, &carol.addr, &c, b"carol");
}
