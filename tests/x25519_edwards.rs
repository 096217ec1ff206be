//! keylink's X25519 on Edwards arithmetic against x25519-dalek's Montgomery ladder (RFC 7748)
//! on random inputs: every public key on curve25519 gives the ladder's result (all zeros as
//! `NonContributoryKey`), every other one is rejected, and key generation and the identity
//! key's DH agree with the ladder too; and end to end, a signed prekey, one-time prekey or
//! base key on the twist is rejected with the twist error. The Wycheproof vectors are in
//! `wycheproof_primitives.rs`.
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;

use common::*;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::{MontgomeryPoint, Scalar};
use keylink::error::Error;
use keylink::hazmat::primitives::{x25519, x25519_identity, x25519_public_key};
use keylink::keys::IdentityKey;
use proptest::prelude::*;
use x25519_dalek::{PublicKey, StaticSecret, X25519_BASEPOINT_BYTES};

/// Per property; debug builds of curve25519-dalek are slow, so fewer there.
const CASES: u32 = if cfg!(debug_assertions) { 128 } else { 4096 };

/// RFC 7748 by the ladder, bit 255 ignored and `u` reduced as the RFC says.
fn ladder(secret: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(secret, u)
}

/// Whether `u` lies on curve25519 rather than its twist, by the ladder alone: `[8 l]P` is the
/// identity (u = 0) for every point of the curve (`8 l` points), and on the twist (`4 l'`
/// points, `l'` another prime) only for `u = 0` (on both) and `u = -1` (order 4 there).
fn on_curve(u: &[u8; 32]) -> bool {
    // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let l =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
    let l_bits = (0..256).rev().map(|i| (l[i / 8] >> (i % 8)) & 1 == 1);
    let eight_l = l_bits.chain([false; 3]);
    MontgomeryPoint(*u).mul_bits_be(eight_l) == MontgomeryPoint([0u8; 32]) && !is_minus_one(u)
}

fn is_minus_one(u: &[u8; 32]) -> bool {
    let mut masked = *u;
    masked[31] &= 0x7f;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    masked == minus_one
}

/// What keylink must give for `X25519(secret, u)`.
fn check(secret: [u8; 32], u: [u8; 32]) -> Result<(), TestCaseError> {
    let expected = ladder(secret, u);
    match x25519(secret, u) {
        Ok(out) => {
            prop_assert!(on_curve(&u), "accepted a twist point {}", hex::encode(u));
            prop_assert_eq!(out, expected);
            prop_assert_ne!(out, [0u8; 32]);
        }
        Err(Error::NonContributoryKey) => prop_assert_eq!(expected, [0u8; 32]),
        Err(Error::InvalidKey(what)) => {
            prop_assert!(!on_curve(&u), "rejected a curve point {}", hex::encode(u));
            prop_assert!(what.contains("twist"), "{}", what);
            prop_assert_ne!(expected, [0u8; 32]);
        }
        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
    }
    Ok(())
}

/// A point of the curve with a small-order component: `[k]B + T` for a torsion point `T`,
/// as a u-coordinate.
fn mixed_order(k: [u8; 32], torsion: usize) -> [u8; 32] {
    let point = ED25519_BASEPOINT_POINT * Scalar::from_bytes_mod_order(k);
    let t = EIGHT_TORSION.get(torsion % 8).copied().unwrap_or_default();
    (point + t).to_montgomery().to_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Public keys made as X25519 public keys are: the ladder's result, bit for bit.
    #[test]
    fn dh_with_public_keys_equals_the_ladder(secret: [u8; 32], peer: [u8; 32]) {
        let public = PublicKey::from(&StaticSecret::from(peer)).to_bytes();
        prop_assert_eq!(x25519(secret, public).ok(), Some(ladder(secret, public)));
    }

    /// Arbitrary 32 bytes (bit 255 and non-canonical `u` included): about half lie on the
    /// twist. Accepted exactly when on the curve, with the ladder's result.
    #[test]
    fn dh_with_arbitrary_bytes_rejects_exactly_the_twist(secret: [u8; 32], u: [u8; 32]) {
        check(secret, u)?;
    }

    /// Curve points with a component of order 2, 4 or 8, which clamping's factor 8 kills.
    #[test]
    fn dh_with_mixed_order_points_equals_the_ladder(
        secret: [u8; 32], k: [u8; 32], torsion in 0usize..8,
    ) {
        let u = mixed_order(k, torsion);
        prop_assert!(on_curve(&u));
        check(secret, u)?;
    }

    /// `u` near 0 and near p (p itself, non-canonical, is 0; p - 1 is -1).
    #[test]
    fn dh_with_u_near_0_and_p_rejects_exactly_the_twist(
        secret: [u8; 32], small in 0u64..1 << 20, near_p: bool,
    ) {
        let u = if near_p { p_minus(small) } else { from_u64(small) };
        check(secret, u)?;
    }

    /// Key generation on the Edwards base-point table equals `X25519(secret, 9)` and
    /// x25519-dalek's public key.
    #[test]
    fn public_key_equals_the_ladder(secret: [u8; 32]) {
        let ours = x25519_public_key(secret);
        prop_assert_eq!(ours, ladder(secret, X25519_BASEPOINT_BYTES));
        prop_assert_eq!(ours, PublicKey::from(&StaticSecret::from(secret)).to_bytes());
    }

    /// The identity key's DH from its Edwards point equals the ladder on its Montgomery form.
    #[test]
    fn identity_dh_equals_the_ladder(secret: [u8; 32], seed: [u8; 32]) {
        let verifying = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let identity = IdentityKey::from_bytes(verifying.as_bytes()).unwrap();
        let u = verifying.to_montgomery().to_bytes();
        prop_assert_eq!(x25519_identity(secret, &identity).ok(), Some(ladder(secret, u)));
    }
}

fn from_u64(small: u64) -> [u8; 32] {
    let mut u = [0u8; 32];
    u[..8].copy_from_slice(&small.to_le_bytes());
    u
}

/// `p - small` for `small < 2^20`, little-endian: p's low 128 bits are `2^128 - 19`.
fn p_minus(small: u64) -> [u8; 32] {
    let mut u = [0xffu8; 32];
    u[31] = 0x7f;
    let low = u128::MAX - 18 - u128::from(small);
    u[..16].copy_from_slice(&low.to_le_bytes());
    u
}

/// Canonical u-coordinates on the twist: 2, 3, and one of large order (SHA-256("twist0"),
/// bit 255 cleared).
fn twist_keys() -> [[u8; 32]; 3] {
    let large =
        hex::decode("a01e020e65317c7444e47e5408a1668252258bb7bfcb350985780c1a0609ec6c").unwrap();
    let keys = [from_u64(2), from_u64(3), large.try_into().unwrap()];
    for u in &keys {
        assert!(!on_curve(u), "{}", hex::encode(u));
    }
    keys
}

fn is_twist_error(e: &Error) -> bool {
    matches!(e, Error::InvalidKey(what) if what.contains("twist"))
}

/// A validly signed signed prekey, or an (unsigned) one-time prekey, on the twist: setup
/// aborts with the twist error and nothing is stored.
#[test]
fn bundle_keys_on_the_twist_abort_setup() {
    let mut alice = Device::new("alice", 1);
    let genuine = PublicKey::from(&StaticSecret::from([5u8; 32])).to_bytes();
    for u in twist_keys() {
        let e = start_with_bundle(&mut alice, &bundle_with_signed_prekey(u, None));
        assert!(is_twist_error(&e), "signed {}: {e:?}", hex::encode(u));
        let e = start_with_bundle(
            &mut alice,
            &bundle_with_signed_prekey(genuine, Some((7, u))),
        );
        assert!(is_twist_error(&e), "one-time {}: {e:?}", hex::encode(u));
    }
}

/// A PreKey message whose base key is on the twist is rejected with the twist error, and the
/// responder's state (one-time and KEM prekeys included) is unchanged.
#[test]
fn base_key_on_the_twist_is_rejected() {
    let mut bob = Device::new("bob", 1);
    let mut dave = Device::new("dave", 1);
    dave.start(&bob, Some(FIRST_OTPK));
    let prekey = dave.send_bytes(&bob.addr, b"p");
    for u in twist_keys() {
        let mut m: proto::PreKeyMessage = proto::decode(&prekey);
        m.base_key = u.to_vec();
        let e = rejected(&mut bob, &dave.addr, &proto::encode(prekey[0], &m));
        assert!(is_twist_error(&e), "{}: {e:?}", hex::encode(u));
    }
    bob.recv_ok(&dave.addr, &prekey, b"p");
}
