//! Session behaviour across modules: conversations through the store, several devices,
//! out-of-order delivery, restarts, simultaneous initiation, archived sessions, the sans-IO
//! core, serialization round trips and Debug redaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    Device, FIRST_KEM, FIRST_OTPK, KEM_COUNT, LAST_RESORT_KEM, OTPK_COUNT, SPK_ID, TestRng,
    established, hex, prekey_ids, proto, rng,
};
use keylink::constants::MAX_ARCHIVED_SESSIONS;
use keylink::keys::{
    IdentityKeyPair, KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KemCiphertext, KemPreKey,
    KemPublicKey, OneTimePreKey, PreKeyBundle, SignedPreKey,
};
use keylink::session::{Message, Session, SessionRecord};
use keylink::store::{Address, MemoryStore, ProtocolStore};

/// Decrypt `bytes`, check the plaintext, and check that a second delivery is refused.
fn deliver_once(to: &mut Device, from: &Address, bytes: &[u8], expected: &[u8]) {
    to.recv_ok(from, bytes, expected);
    let before = to.snapshot();
    let again = to.recv(from, bytes).unwrap_err();
    assert!(
        matches!(again, keylink::Error::DecryptionFailed),
        "second delivery gave {again:?}"
    );
    assert_eq!(to.snapshot(), before);
}

fn counter(message: &Message) -> u32 {
    match message {
        Message::Ratchet(m) => m.counter(),
        Message::PreKey(_) => panic!("expected a ratchet message"),
    }
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
            let m = sender.send(&receiver.addr, text.as_bytes());
            assert!(!m.is_prekey());
            assert_eq!(counter(&m), i, "turn {turn} message {i}");
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
        assert_eq!(p.signed_prekey_id(), SPK_ID);
        assert_eq!(p.kem_prekey_id(), kem);
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
    assert_eq!(bob.store.last_resort_kem_prekey_id(), Some(LAST_RESORT_KEM));
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
    assert_eq!(bob.store.last_resort_kem_prekey_id(), Some(LAST_RESORT_KEM));
    bob.restart();
    assert_eq!(bob.store.last_resort_kem_prekey_id(), Some(LAST_RESORT_KEM));
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
        assert!(bob.store.session(&alice.addr).unwrap().is_none());
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
    assert_ne!(
        alice.current_base_key(&bob.addr),
        bob.current_base_key(&alice.addr),
        "each side made the other's session current"
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

#[test]
fn serialization_round_trips_are_byte_identical() {
    let (mut alice, mut bob) = established();
    // Leave some skipped keys and archived sessions in the records.
    let m: Vec<_> = (0..3).map(|_| alice.send_bytes(&bob.addr, b"x")).collect();
    bob.recv_ok(&alice.addr, &m[2], b"x");
    alice.start(&bob, Some(FIRST_OTPK + 1));

    for (device, peer) in [(&alice, &bob.addr), (&bob, &alice.addr)] {
        let bytes = device.record(peer).to_bytes();
        let again = SessionRecord::from_bytes(&bytes).unwrap().to_bytes();
        assert_eq!(*bytes, *again);
    }
    assert_eq!(SessionRecord::new().to_bytes().len(), 1);
    let empty = SessionRecord::new().to_bytes();
    assert_eq!(
        *SessionRecord::from_bytes(&empty).unwrap().to_bytes(),
        *empty
    );

    let mut rng = rng();
    let id = IdentityKeyPair::generate(&mut rng);
    let bytes = id.to_bytes();
    let parsed = IdentityKeyPair::from_bytes(&bytes).unwrap();
    assert_eq!(*parsed.to_bytes(), *bytes);
    assert_eq!(parsed.public(), id.public());

    let spk = SignedPreKey::generate(77, &id, &mut rng);
    let bytes = spk.to_bytes();
    let parsed = SignedPreKey::from_bytes(&bytes).unwrap();
    assert_eq!(*parsed.to_bytes(), *bytes);
    assert_eq!(parsed.public(), spk.public());
    parsed.verify(id.public()).unwrap();

    let otpk = OneTimePreKey::generate(u32::MAX, &mut rng);
    let bytes = otpk.to_bytes();
    let parsed = OneTimePreKey::from_bytes(&bytes).unwrap();
    assert_eq!(*parsed.to_bytes(), *bytes);
    assert_eq!(parsed.id(), u32::MAX);
    assert_eq!(parsed.public(), otpk.public());

    let kem = KemPreKey::generate(u32::MAX, &id, &mut rng);
    let last_resort = KemPreKey::generate_last_resort(0, &id, &mut rng);
    for (key, expected_id, is_last_resort) in [(&kem, u32::MAX, false), (&last_resort, 0, true)] {
        let bytes = key.to_bytes();
        assert_eq!(bytes[0], 0x1D);
        let parsed = KemPreKey::from_bytes(&bytes).unwrap();
        assert_eq!(*parsed.to_bytes(), *bytes);
        assert_eq!(parsed.id(), expected_id);
        assert_eq!(parsed.is_last_resort(), is_last_resort);
        assert_eq!(parsed.public(), key.public());
        assert_eq!(parsed.public().as_bytes().len(), KEM_PUBLIC_KEY_LEN);
        assert_eq!(parsed.signature(), key.signature());
        parsed.verify(id.public()).unwrap();
        let record: proto::KemPreKeyRecord = proto::decode(&bytes);
        assert_eq!(record.id, expected_id);
        assert_eq!(record.last_resort, is_last_resort);
        assert_eq!(record.private_key.len(), 3168);
        assert_eq!(
            record.private_key[1536..1536 + KEM_PUBLIC_KEY_LEN],
            key.public().as_bytes()[..]
        );
        assert_eq!(proto::encode(bytes[0], &record), *bytes);
    }

    for one_time in [Some(&otpk), None] {
        for kem in [&kem, &last_resort] {
            let bundle = PreKeyBundle::new(3, &id, &spk, one_time, kem);
            let bytes = bundle.to_bytes();
            let parsed = PreKeyBundle::try_from(bytes.as_slice()).unwrap();
            assert_eq!(parsed, bundle);
            assert_eq!(parsed.to_bytes(), bytes);
            let fields: proto::Bundle = proto::decode(&bytes);
            assert_eq!(fields.kem_prekey_id, kem.id());
            assert_eq!(fields.kem_prekey, kem.public().as_bytes());
            assert_eq!(fields.kem_prekey_signature, kem.signature());
            assert_eq!(proto::encode(bytes[0], &fields), bytes);
            parsed.verify().unwrap();
        }
    }

    // Messages too (PreKey messages: Alice just started a new session).
    for text in [&b""[..], b"message"] {
        let bytes = alice.send_bytes(&bob.addr, text);
        let parsed = Message::try_from(bytes.as_slice()).unwrap();
        assert!(parsed.is_prekey());
        assert_eq!(parsed.to_bytes(), bytes);
        let fields: proto::PreKeyMessage = proto::decode(&bytes);
        assert_eq!(fields.kem_ciphertext.len(), KEM_CIPHERTEXT_LEN);
        assert_eq!(proto::encode(bytes[0], &fields), bytes);
        let pending = proto::decode::<proto::SessionRecord>(&alice.record(&bob.addr).to_bytes())
            .current
            .unwrap()
            .pending_prekey
            .unwrap();
        assert_eq!(pending.kem_prekey_id, fields.kem_prekey_id);
        assert_eq!(pending.kem_ciphertext, fields.kem_ciphertext);
        assert_eq!(pending.one_time_prekey_id, fields.one_time_prekey_id);
    }
    let bytes = bob.snapshot();
    assert_eq!(*MemoryStore::from_bytes(&bytes).unwrap().to_bytes(), *bytes);
    let snapshot: proto::MemoryStore = proto::decode(&bytes);
    assert_eq!(snapshot.kem_prekeys.len(), bob.kem_ids().len() + 1);
    assert_eq!(proto::encode(bytes[0], &snapshot), bytes);
}

/// Every 32-byte secret in a serialized session record.
fn record_secrets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let record: proto::SessionRecord = proto::decode(bytes);
    let mut secrets = Vec::new();
    for s in record.current.iter().chain(&record.archived) {
        secrets.push(s.root_key.clone());
        if let Some(c) = &s.sending_chain {
            secrets.push(c.chain_key.clone());
            secrets.push(c.ratchet_private.clone());
        }
        secrets.extend(s.receiving_chains.iter().map(|c| c.chain_key.clone()));
        secrets.extend(s.skipped_keys.iter().map(|k| k.message_key.clone()));
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// The secret parts of a KEM prekey's decapsulation key (FIPS 203 `dk = dk_pke || ek ||
/// H(ek) || z`: `dk_pke` and `z`), in 32-byte pieces.
fn kem_secrets(kem: &KemPreKey) -> Vec<Vec<u8>> {
    let dk = proto::decode::<proto::KemPreKeyRecord>(&kem.to_bytes()).private_key;
    assert_eq!(dk.len(), 3168);
    assert_eq!(dk[1536..3104], kem.public().as_bytes()[..]);
    let mut secrets: Vec<Vec<u8>> = dk[..1536].chunks(32).map(<[u8]>::to_vec).collect();
    secrets.push(dk[3136..].to_vec());
    secrets
}

fn assert_no_secret(debug: &str, secrets: &[Vec<u8>]) {
    let lower = debug.to_lowercase();
    for secret in secrets {
        assert_eq!(secret.len(), 32);
        assert!(
            !lower.contains(&hex(secret)),
            "Debug output leaks a secret: {debug}"
        );
        // Nor as a decimal byte list (a derived Debug of an array).
        let list = format!("{:?}", &secret[..8]);
        assert!(
            !debug.contains(list.trim_matches(['[', ']'])),
            "Debug output leaks a secret: {debug}"
        );
    }
}

#[cfg(feature = "hazmat")]
#[test]
fn debug_output_never_shows_secrets() {
    let (mut alice, mut bob) = established();
    let m: Vec<_> = (0..3).map(|_| alice.send_bytes(&bob.addr, b"x")).collect();
    bob.recv_ok(&alice.addr, &m[2], b"x"); // leaves skipped keys

    // Identity: the seed and the X25519 scalar derived from it.
    let seed = [0x5Au8; 32];
    let id = keylink::hazmat::identity_from_seed(&seed);
    let scalar = ed25519_dalek::SigningKey::from_bytes(&seed).to_scalar_bytes();
    let record: proto::IdentityRecord = proto::decode(&id.to_bytes());
    assert_eq!(record.seed, seed);
    let debug = format!("{id:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[seed.to_vec(), scalar.to_vec()]);
    assert!(
        debug.contains(&hex(id.public().as_bytes())),
        "public half shown"
    );

    let mut rng = rng();
    let spk = SignedPreKey::generate(1, &id, &mut rng);
    let secret = proto::decode::<proto::PreKeyRecord>(&spk.to_bytes()).private_key;
    let debug = format!("{spk:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[secret]);

    let otpk = OneTimePreKey::generate(2, &mut rng);
    let secret = proto::decode::<proto::PreKeyRecord>(&otpk.to_bytes()).private_key;
    let debug = format!("{otpk:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[secret]);

    for kem in [
        KemPreKey::generate(3, &id, &mut rng),
        KemPreKey::generate_last_resort(4, &id, &mut rng),
    ] {
        let secrets = kem_secrets(&kem);
        for debug in [format!("{kem:?}"), format!("{kem:#?}")] {
            assert!(debug.contains("redacted"), "{debug}");
            assert_no_secret(&debug, &secrets);
        }
    }

    for (device, peer) in [(&alice, &bob.addr), (&bob, &alice.addr)] {
        let record = device.record(peer);
        let secrets = record_secrets(&record.to_bytes());
        assert!(secrets.len() >= 4);
        assert_no_secret(&format!("{record:?}"), &secrets);
        assert_no_secret(&format!("{record:#?}"), &secrets);
        let session = record.current().unwrap();
        assert_no_secret(&format!("{session:?}"), &secrets);
    }

    // The whole store: identity seed, prekey secrets and every session secret.
    let mut secrets = record_secrets(&bob.record(&alice.addr).to_bytes());
    secrets.push(proto::decode::<proto::IdentityRecord>(&bob.identity.to_bytes()).seed);
    let spk = bob.store.signed_prekey(SPK_ID).unwrap().unwrap();
    secrets.push(proto::decode::<proto::PreKeyRecord>(&spk.to_bytes()).private_key);
    for id in bob.otpk_ids() {
        let otpk = bob.store.one_time_prekey(id).unwrap().unwrap();
        secrets.push(proto::decode::<proto::PreKeyRecord>(&otpk.to_bytes()).private_key);
    }
    assert!(secrets.len() > OTPK_COUNT as usize);
    let kem_ids = bob.kem_ids();
    for id in kem_ids.iter().copied().chain([LAST_RESORT_KEM]) {
        let kem = bob.store.kem_prekey(id).unwrap().unwrap();
        secrets.extend(kem_secrets(&kem));
    }
    assert!(secrets.len() > OTPK_COUNT as usize + 49 * kem_ids.len());
    assert_no_secret(&format!("{:?}", bob.store), &secrets);
    assert_no_secret(&format!("{:#?}", bob.store), &secrets);
}

#[test]
fn pending_messages_survive_more_ratchet_steps_than_receiving_chains_kept() {
    let (mut alice, mut bob) = established();
    let rounds = keylink::constants::MAX_RECEIVING_CHAINS + 3;
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
    bob.store.remove_signed_prekey(SPK_ID);
    deliver_once(&mut bob, &alice.addr, &p2, b"p2");
    let r = bob.send_bytes(&alice.addr, b"reply");
    deliver_once(&mut alice, &bob.addr, &r, b"reply");

    // New sessions use the new signed prekey.
    let mut carol = Device::new("carol", 1);
    let bundle = bob
        .store
        .bundle(1, SPK_ID + 1, None, bob.next_kem_id())
        .unwrap()
        .to_bytes();
    let bundle = PreKeyBundle::try_from(bundle.as_slice())
        .unwrap()
        .verify()
        .unwrap();
    keylink::start_session(&mut carol.store, &bob.addr, &bundle, &mut rng()).unwrap();
    let c = carol.send_bytes(&bob.addr, b"carol");
    deliver_once(&mut bob, &carol.addr, &c, b"carol");
}
