//! The sans-IO responder, `SessionRecord::decrypt_prekey`, applies every rule the store path
//! applies: an app that does its own I/O and calls it for every PreKey message cannot deliver
//! a replayed first message twice or lose its live session to one.
#![cfg(test)]

use keylink::Error;
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PreKeyKind, SignedPreKey,
};
use keylink::session::{
    ConsumedPreKeys, Decrypted, Message, PreKeyMessage, ResponderPreKeys, Session, SessionRecord,
};

/// Bob's "database": his keys as the bytes an app would keep.
struct Bob {
    identity: IdentityKeyPair,
    signed: Vec<u8>,
    one_time: Vec<u8>,
    kem: Vec<u8>,
    last_resort: Vec<u8>,
    bundle: Vec<u8>,
}

fn bob() -> Bob {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &identity, &mut rng);
    let one_time = OneTimePreKey::generate(7, &mut rng);
    let kem = KemPreKey::generate(3, &identity, &mut rng);
    let last_resort = KemPreKey::generate_last_resort(100, &identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &identity, &signed, Some(&one_time), &kem).to_bytes();
    Bob {
        signed: signed.to_bytes().to_vec(),
        one_time: one_time.to_bytes().to_vec(),
        kem: kem.to_bytes().to_vec(),
        last_resort: last_resort.to_bytes().to_vec(),
        identity,
        bundle,
    }
}

impl Bob {
    /// What the app looks up for `message`: every key it names, and its replay check.
    fn prekeys(&self, base_key_used: bool) -> ResponderPreKeys {
        ResponderPreKeys {
            signed_prekey: Some(SignedPreKey::from_bytes(&self.signed).unwrap()),
            one_time_prekey: Some(OneTimePreKey::from_bytes(&self.one_time).unwrap()),
            kem_prekey: Some(KemPreKey::from_bytes(&self.kem).unwrap()),
            base_key_used,
        }
    }
}

/// Alice's session from Bob's bundle, and her first two PreKey messages.
fn alice(bob: &Bob) -> (Session, PreKeyMessage, PreKeyMessage) {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::try_from(bob.bundle.as_slice()).unwrap();
    let mut session = Session::initiate(&alice, &bundle.verify().unwrap(), &mut rng).unwrap();
    let mut prekey = |text: &[u8]| match session.encrypt(0, text).unwrap() {
        Message::PreKey(m) => *m,
        Message::Ratchet(_) => panic!("an initiator sends PreKey messages until a reply"),
    };
    let (first, second) = (prekey(b"first"), prekey(b"second"));
    (session, first, second)
}

/// Bob's record after he accepted `first` with every prekey it names, and what it gave.
fn accepted(bob: &Bob, first: &PreKeyMessage) -> (SessionRecord, Decrypted) {
    let mut record = SessionRecord::new();
    let mut rng = keylink::os_rng();
    let out = record.decrypt_prekey(&bob.identity, None, first, bob.prekeys(false), &mut rng);
    (record, out.unwrap())
}

#[test]
fn first_message_uses_up_its_prekeys_and_names_them() {
    let bob = bob();
    let (_, first, _) = alice(&bob);
    let mut record = SessionRecord::new();
    assert!(record.needs_prekeys(&first));
    let mut rng = keylink::os_rng();
    let out = record
        .decrypt_prekey(&bob.identity, None, &first, bob.prekeys(false), &mut rng)
        .unwrap();
    assert_eq!(out.plaintext.as_slice(), b"first");
    assert_eq!(out.sender, *first.identity_key());
    let expected = ConsumedPreKeys {
        one_time_prekey: Some(7.into()),
        kem_prekey: Some(3.into()),
        used_base_key: Some((1.into(), *first.base_key())),
    };
    assert_eq!(out.consumed, expected);
    assert!(!record.needs_prekeys(&first));
}

#[test]
fn a_repeated_prekey_message_decrypts_in_its_session_and_uses_up_nothing() {
    let bob = bob();
    let (_, first, second) = alice(&bob);
    let (mut record, _) = accepted(&bob, &first);
    let mut rng = keylink::os_rng();
    // The second PreKey message repeats the setup: no prekeys are needed or consumed.
    assert!(!record.needs_prekeys(&second));
    let out = record
        .decrypt_prekey(
            &bob.identity,
            None,
            &second,
            ResponderPreKeys::default(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(out.plaintext.as_slice(), b"second");
    assert!(out.consumed.is_empty());
    assert_eq!(record.archived().count(), 0, "no second session was set up");
}

#[test]
fn a_replayed_first_message_is_not_delivered_twice_and_keeps_the_live_session() {
    let bob = bob();
    let (_, first, _) = alice(&bob);
    let (mut record, _) = accepted(&bob, &first);
    let mut rng = keylink::os_rng();
    let before = record.to_bytes();
    // Replayed while the session is kept: a duplicate in that session.
    let again = record.decrypt_prekey(&bob.identity, None, &first, bob.prekeys(false), &mut rng);
    assert!(matches!(again, Err(Error::DuplicateMessage)));
    assert_eq!(record.to_bytes(), before, "the live session is untouched");
    // Replayed to a record that no longer holds the session: the app's replay record says
    // the base key was used, and nothing is set up even with every prekey still at hand.
    let mut fresh = SessionRecord::new();
    let replay = fresh.decrypt_prekey(&bob.identity, None, &first, bob.prekeys(true), &mut rng);
    assert!(matches!(replay, Err(Error::DuplicateMessage)));
    assert!(fresh.current().is_none());
}

#[test]
fn a_repeat_with_changed_setup_fields_is_refused() {
    let bob = bob();
    let (_, first, second) = alice(&bob);
    let (mut record, _) = accepted(&bob, &first);
    let mut rng = keylink::os_rng();
    // The same base key, but naming the last-resort KEM prekey instead.
    let mut bytes = second.to_bytes();
    let id_at = find_kem_prekey_id(&bytes);
    bytes[id_at] = 100;
    let changed = PreKeyMessage::try_from(bytes.as_slice()).unwrap();
    assert_eq!(changed.kem_prekey_id(), 100.into());
    let before = record.to_bytes();
    let result = record.decrypt_prekey(
        &bob.identity,
        None,
        &changed,
        ResponderPreKeys::default(),
        &mut rng,
    );
    assert!(matches!(result, Err(Error::DecryptionFailed)));
    assert_eq!(record.to_bytes(), before);
}

/// The byte holding the KEM prekey id (3) in a PreKey message (PROTOCOL.md §5.3): after the
/// leading byte, fields 1 and 2 (32 bytes each), 3 and 4 (one-byte ids) and 5 (the inner
/// message, with a varint length), field 6 is a one-byte varint.
fn find_kem_prekey_id(bytes: &[u8]) -> usize {
    let field5 = 1 + 2 * 34 + 2 * 2;
    assert_eq!(bytes[field5], 0x2a, "field 5 where expected");
    let (mut len, mut at) = (0usize, field5 + 1);
    for shift in (0..).step_by(7) {
        len |= usize::from(bytes[at] & 0x7f) << shift;
        at += 1;
        if bytes[at - 1] & 0x80 == 0 {
            break;
        }
    }
    let field6 = at + len;
    assert_eq!(
        bytes[field6..field6 + 2],
        [0x30, 3],
        "field 6 where expected"
    );
    field6 + 1
}

#[test]
fn missing_or_mismatched_prekeys_are_named() {
    let bob = bob();
    let (_, first, _) = alice(&bob);
    let mut rng = keylink::os_rng();
    let mut try_with = |prekeys: ResponderPreKeys| {
        let mut record = SessionRecord::new();
        let e = record.decrypt_prekey(&bob.identity, None, &first, prekeys, &mut rng);
        assert!(record.current().is_none());
        e.map(|_| ())
    };
    let cases = [
        (
            ResponderPreKeys {
                signed_prekey: None,
                ..bob.prekeys(false)
            },
            PreKeyKind::Signed,
            1,
        ),
        (
            ResponderPreKeys {
                one_time_prekey: None,
                ..bob.prekeys(false)
            },
            PreKeyKind::OneTime,
            7,
        ),
        (
            ResponderPreKeys {
                kem_prekey: Some(KemPreKey::from_bytes(&bob.last_resort).unwrap()),
                ..bob.prekeys(false)
            },
            PreKeyKind::Kem,
            3,
        ),
    ];
    for (prekeys, kind, id) in cases {
        let e = try_with(prekeys).unwrap_err();
        assert!(
            matches!(e, Error::UnknownPreKey { kind: k, id: i } if k == kind && i == id),
            "{e:?}"
        );
    }
}

#[test]
fn an_untrusted_sender_is_refused_before_anything_is_computed() {
    let bob = bob();
    let (_, first, _) = alice(&bob);
    let someone_else: IdentityKey = *IdentityKeyPair::generate(&mut keylink::os_rng()).public();
    let mut record = SessionRecord::new();
    let mut rng = keylink::os_rng();
    let e = record.decrypt_prekey(
        &bob.identity,
        Some(&someone_else),
        &first,
        bob.prekeys(false),
        &mut rng,
    );
    assert!(matches!(e, Err(Error::UntrustedIdentity)));
    assert!(record.current().is_none());
}

#[test]
fn debug_output_shows_no_plaintext() {
    let bob = bob();
    let (_, first, _) = alice(&bob);
    let (_, out) = accepted(&bob, &first);
    let shown = format!("{out:?}");
    assert!(shown.contains("plaintext_len: 5"), "{shown}");
    assert!(!shown.contains("102, 105, 114"), "{shown}"); // b"fir"
    assert!(!shown.contains("first"), "{shown}");
}
