//! Serialization round trips of keys, bundles, messages, session records and the whole store
//! are byte-identical.
#![cfg(test)]

mod common;

use common::{FIRST_OTPK, established, proto, rng};
use keylink::keys::{
    IdentityKeyPair, KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KemPreKey, OneTimePreKey,
    PreKeyBundle, SignedPreKey,
};
use keylink::session::{Message, SessionRecord};
use keylink::store::MemoryStore;

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
    assert_eq!(parsed.id().get(), u32::MAX);
    assert_eq!(parsed.public(), otpk.public());

    let kem = KemPreKey::generate(u32::MAX, &id, &mut rng);
    let last_resort = KemPreKey::generate_last_resort(0, &id, &mut rng);
    for (key, expected_id, is_last_resort) in [(&kem, u32::MAX, false), (&last_resort, 0, true)] {
        let bytes = key.to_bytes();
        assert_eq!(bytes[0], 0x1D);
        let parsed = KemPreKey::from_bytes(&bytes).unwrap();
        assert_eq!(*parsed.to_bytes(), *bytes);
        assert_eq!(parsed.id().get(), expected_id);
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
            assert_eq!(fields.kem_prekey_id, kem.id().get());
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

#[test]
fn a_record_parsed_with_its_peer_identity_is_the_same_record() {
    let (alice, bob) = established();
    let bytes = alice.record(&bob.addr).to_bytes();
    let peer = bob.identity_key();
    let with_peer = SessionRecord::from_bytes_for_peer(&bytes, Some(&peer)).unwrap();
    assert_eq!(*with_peer.to_bytes(), *bytes);
    assert_eq!(with_peer.current().unwrap().remote_identity(), &peer);
    // Another identity as the hint: the record's own identity is decoded and checked.
    let other = common::Device::new("carol", 1).identity_key();
    let with_other = SessionRecord::from_bytes_for_peer(&bytes, Some(&other)).unwrap();
    assert_eq!(with_other.current().unwrap().remote_identity(), &peer);
    // A stored identity that is no valid key is refused whatever the hint.
    let mut record: proto::SessionRecord = proto::decode(&bytes);
    let mut small_order = vec![0u8; 32];
    small_order[0] = 1;
    record.current.as_mut().unwrap().remote_identity = small_order;
    let broken = proto::encode(bytes[0], &record);
    for hint in [None, Some(&peer), Some(&other)] {
        let e = SessionRecord::from_bytes_for_peer(&broken, hint).unwrap_err();
        assert!(matches!(e, keylink::Error::InvalidKey(_)), "{e:?}");
    }
}
