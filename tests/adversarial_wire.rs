//! Malformed wire input: misdirected, truncated, trailing bytes, short ciphertexts, missing or
//! substituted KEM fields and unknown versions. Every rejection leaves the receiver unchanged.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::keys::PreKeyBundle;
use keylink::keys::PreKeyKind;
use keylink::session::SessionRecord;
use keylink::store::{Address, MemoryStore, ProtocolStore};

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
        assert!(bob.store.session_index(&alice.addr).unwrap().is_none());
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
        matches!(
            e,
            Error::UnknownPreKey {
                kind: PreKeyKind::Kem,
                id: 7
            }
        ),
        "{e:?}"
    );
    check(&bob);

    bob.recv_ok(&alice.addr, &genuine, b"prekey");
    assert!(!bob.has_kem(FIRST_KEM));
    // Carol's message names the KEM prekey Alice's used up.
    let e = rejected(&mut bob, &carol.addr, &from_carol);
    assert!(
        matches!(e, Error::UnknownPreKey { kind: PreKeyKind::Kem, id } if id == FIRST_KEM),
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
