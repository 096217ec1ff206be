use super::message::header;
use super::*;
use crate::Error;
use crate::keys::{IdentityKey, IdentityKeyPair};

/// A sending state from fixed parts (what `hazmat::group::sender_key_from_parts` does, without
/// needing the `hazmat` feature).
fn sender_key_from_parts(
    id: [u8; 16],
    group: GroupId,
    chain_key: &[u8; 32],
    iteration: u32,
    signing_seed: &[u8; 32],
    list_version: u64,
) -> SenderKey {
    let id = DistributionId::from_bytes(id);
    SenderKey::from_parts(id, group, chain_key, iteration, signing_seed, list_version)
}

fn alice() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[0xA1; 32])
}

fn sending() -> SenderKey {
    let group = GroupId::new(b"group".to_vec()).unwrap();
    sender_key_from_parts([0x11; 16], group, &[0xC3; 32], 0, &[0x5E; 32], 3)
}

fn receiving(sender: &SenderKey, identity: &IdentityKey) -> InboundGroupSession {
    let distribution = SenderKeyDistribution::from_bytes(&sender.distribution().to_bytes());
    InboundGroupSession::new(distribution.unwrap(), *identity)
}

#[test]
fn header_is_version_id_and_counter() {
    let id = DistributionId::from_bytes([0xAB; 16]);
    let h = header(&id, 0x0102_0304);
    assert_eq!(h[0], 0x02);
    assert_eq!(&h[1..17], &[0xAB; 16]);
    assert_eq!(&h[17..], &[1, 2, 3, 4]);
}

#[test]
fn messages_decrypt_in_and_out_of_order() {
    let alice = alice();
    let mut s = sending();
    let mut r = receiving(&s, alice.public());
    let m: Vec<_> = (0..5u8)
        .map(|i| s.encrypt(alice.public(), &[i; 3]).unwrap())
        .collect();
    assert_eq!(&r.decrypt(&m[3]).unwrap()[..], &[3; 3]);
    assert_eq!(r.skipped.len(), 3);
    assert_eq!(&r.decrypt(&m[0]).unwrap()[..], &[0; 3]);
    assert_eq!(&r.decrypt(&m[4]).unwrap()[..], &[4; 3]);
    assert!(matches!(r.decrypt(&m[0]), Err(Error::DuplicateMessage)));
    assert!(matches!(r.decrypt(&m[4]), Err(Error::DuplicateMessage)));
    assert_eq!(r.skipped.len(), 2);
}

#[test]
fn a_failed_decryption_changes_nothing() {
    let alice = alice();
    let mut s = sending();
    let mut r = receiving(&s, alice.public());
    let m = s.encrypt(alice.public(), b"hi").unwrap();
    let before = r.to_bytes();
    let mut bad = m.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(r.decrypt(&bad).is_err());
    assert_eq!(before, r.to_bytes());
    assert!(r.decrypt(&m).is_ok());
}

#[test]
fn the_chain_is_exhausted_at_the_last_iteration() {
    let alice = alice();
    let group = GroupId::new(b"g".to_vec()).unwrap();
    let mut s = sender_key_from_parts([1; 16], group, &[2; 32], u32::MAX - 1, &[3; 32], 0);
    assert!(s.encrypt(alice.public(), b"last").is_ok());
    assert!(matches!(
        s.encrypt(alice.public(), b"x"),
        Err(Error::ChainExhausted)
    ));
    assert_eq!(s.iteration(), u32::MAX);
}

#[test]
fn stored_states_round_trip_and_are_strict() {
    let alice = alice();
    let mut s = sending();
    let mut r = receiving(&s, alice.public());
    let m: Vec<_> = (0..4)
        .map(|_| s.encrypt(alice.public(), b"x").unwrap())
        .collect();
    r.decrypt(&m[3]).unwrap();
    let bytes = r.to_bytes();
    assert_eq!(
        InboundGroupSession::from_bytes(&bytes).unwrap().to_bytes(),
        bytes
    );
    let sent = s.to_bytes();
    assert_eq!(SenderKey::from_bytes(&sent).unwrap().to_bytes(), sent);
    assert!(SenderKey::from_bytes(&bytes).is_err());
    assert!(InboundGroupSession::from_bytes(&sent).is_err());
}

#[test]
fn a_stored_skipped_key_at_or_above_the_chain_is_refused() {
    use crate::wire::{self, ExtKind, proto};
    let alice = alice();
    let mut s = sending();
    let mut r = receiving(&s, alice.public());
    let m: Vec<_> = (0..3)
        .map(|_| s.encrypt(alice.public(), b"x").unwrap())
        .collect();
    r.decrypt(&m[2]).unwrap();
    let mut record: proto::InboundSenderKeyRecord =
        wire::decode_ext(ExtKind::InboundSenderKeyRecord, &r.to_bytes()).unwrap();
    record.skipped.swap(0, 1);
    let swapped = wire::encode_ext(ExtKind::InboundSenderKeyRecord, &record);
    assert!(matches!(
        InboundGroupSession::from_bytes(&swapped),
        Err(Error::Malformed(_))
    ));
    record.skipped.swap(0, 1);
    record.skipped[1].iteration = 3;
    let above = wire::encode_ext(ExtKind::InboundSenderKeyRecord, &record);
    assert!(InboundGroupSession::from_bytes(&above).is_err());
}

#[test]
fn group_ids_are_one_to_255_bytes() {
    assert!(GroupId::new(Vec::new()).is_err());
    assert!(GroupId::new(vec![0; 256]).is_err());
    assert!(GroupId::new(vec![0; 255]).is_ok());
}

#[test]
fn a_small_order_signing_key_is_refused() {
    use crate::wire::{self, ExtKind, proto};
    let s = sending();
    let mut d: proto::SenderKeyDistribution =
        wire::decode_ext(ExtKind::SenderKeyDistribution, &s.distribution().to_bytes()).unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    d.signing_key = identity.to_vec();
    let bytes = wire::encode_ext(ExtKind::SenderKeyDistribution, &d);
    assert!(matches!(
        SenderKeyDistribution::from_bytes(&bytes),
        Err(Error::InvalidKey(_))
    ));
}

#[test]
fn debug_shows_no_secret() {
    let alice = alice();
    let s = sending();
    let r = receiving(&s, alice.public());
    for text in [
        format!("{s:?}"),
        format!("{:?}", s.distribution()),
        format!("{r:?}"),
    ] {
        assert!(!text.to_lowercase().contains("c3c3"), "{text}");
        assert!(!text.contains("195"), "{text}");
    }
}

#[test]
fn a_forged_message_derives_no_chain_key() {
    use crate::ratchet::derivations;
    let alice = alice();
    let mut s = sending();
    let mut r = receiving(&s, alice.public());
    let mut forger = sender_key_from_parts(
        [0x11; 16],
        GroupId::new(b"group".to_vec()).unwrap(),
        &[0xC3; 32],
        0,
        &[0x99; 32],
        3,
    );
    let forged = forger.encrypt(alice.public(), b"forged").unwrap();
    let honest = s.encrypt(alice.public(), b"honest").unwrap();
    let before = derivations::so_far();
    assert!(matches!(r.decrypt(&forged), Err(Error::DecryptionFailed)));
    assert_eq!(derivations::so_far(), before);
    assert_eq!(&r.decrypt(&honest).unwrap()[..], b"honest");
    assert_eq!(derivations::so_far(), before + 1);
}
