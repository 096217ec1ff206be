//! keylink's X25519 on Edwards arithmetic against x25519-dalek's Montgomery ladder (RFC 7748)
//! on random inputs: every public key on curve25519 gives the ladder's result (all zeros as
//! `NonContributoryKey`), every other one is rejected, and key generation and the identity
//! key's DH agree with the ladder too. The Wycheproof vectors are in
//! `wycheproof_primitives.rs`.
#![cfg(feature = "hazmat")]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::{MontgomeryPoint, Scalar};
use keylink::error::Error;
use keylink::hazmat::primitives::{x25519, x25519_identity, x25519_public_key};
use keylink::keys::IdentityKey;
use proptest::prelude::*;
use x25519_dalek::{PublicKey, StaticSecret, X25519_BASEPOINT_BYTES};

const CASES: u32 = 4096;

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
