//! Forged and malicious bundles: bad signatures, missing KEM prekeys, small-order and
//! non-canonical keys, re-encoded base keys.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::keys::{IdentityKey, IdentityKeyPair, KemPreKey, PreKeyBundle};

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
#[cfg(feature = "hazmat")]
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
#[test]
fn validly_signed_small_order_prekeys_are_non_contributory() {
    use keylink::keys::SignedPreKey;
    use keylink::store::Address;

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
    }
    // A ratchet message's ratchet key travels inside its encrypted header: a small-order or
    // non-canonical one under a genuine header key is the ratchet's unit test
    // `small_order_and_non_canonical_ratchet_keys_are_rejected_after_opening`.
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
    // The genuine copy is a replay: its keys were used (a duplicate, never a second plaintext).
    let e = rejected(&mut bob, &alice.addr, &genuine);
    assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
}
