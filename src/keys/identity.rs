//! The identity key: one Ed25519 key pair, also used in its X25519 form for PQXDH.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::x25519::KeyPair;
use crate::wire::{self, Kind, proto};

/// A peer's (or our own) public identity key `IK`: a validated Ed25519 public key.
///
/// Only canonical encodings of points that are not of small order are accepted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityKey {
    verifying: VerifyingKey,
}

impl IdentityKey {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 32;

    /// Parse and validate a 32-byte Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let verifying = verifying_key(bytes, "identity key")?;
        Ok(IdentityKey { verifying })
    }

    /// The 32-byte Ed25519 encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// The 32-byte Ed25519 encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.verifying.as_bytes()
    }

    /// The X25519 form (the birational map to Montgomery form). The protocol's DH with an
    /// identity key does not need it ([`KeyPair::dh_identity`] works on the Edwards point);
    /// the test-vector generator and tests compare with it.
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn dh_public(&self) -> crate::keys::PublicKey {
        crate::keys::PublicKey::from(self.verifying.to_montgomery().to_bytes())
    }

    /// The Edwards point, for Diffie-Hellman with its X25519 form
    /// ([`KeyPair::dh_identity`]).
    pub(crate) fn edwards(&self) -> curve25519_dalek::EdwardsPoint {
        self.verifying.to_edwards()
    }

    /// Verify `signature` over `context || parts...` with `verify_strict`.
    pub(crate) fn verify(
        &self,
        what: &'static str,
        context: &[u8],
        parts: &[&[u8]],
        signature: &[u8],
    ) -> Result<()> {
        let signature =
            Signature::from_slice(signature).map_err(|_| Error::InvalidSignature(what))?;
        let message = signed_message(context, parts);
        self.verifying
            .verify_strict(&message, &signature)
            .map_err(|_| Error::InvalidSignature(what))
    }
}

impl TryFrom<&[u8]> for IdentityKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("identity key (must be 32 bytes)"))?;
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", crate::hex::encode(self.as_bytes()))
    }
}

impl core::hash::Hash for IdentityKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// A validated Ed25519 public key: the canonical encoding of a point not of small order
/// (`what` names the key in the error).
pub(crate) fn verifying_key(bytes: &[u8; 32], what: &'static str) -> Result<VerifyingKey> {
    // `from_bytes` keeps the input bytes, so a second encoding of a point would be
    // accepted as is: canonicity is checked on the bytes first.
    if !is_canonical_edwards(bytes) {
        return Err(Error::InvalidKey(what));
    }
    let verifying = VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidKey(what))?;
    if verifying.is_weak() {
        return Err(Error::InvalidKey(what));
    }
    Ok(verifying)
}

/// Whether `bytes` is the one encoding of its point that RFC 8032 allows: the y-coordinate
/// (bit 255 cleared) below p = 2^255 - 19, and no sign bit for x = 0 (y = 1 or y = p - 1).
pub(crate) fn is_canonical_edwards(bytes: &[u8; 32]) -> bool {
    // p - 1 = 0x7fff..ffec little-endian: the y values >= p are 0x7fff..ffed ..= 0x7fff..ffff.
    let mut y = *bytes;
    let sign = y[31] >> 7;
    y[31] &= 0x7f;
    let top_all_ones = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff);
    let y_at_least_p = top_all_ones && y[0] >= 0xed;
    let y_is_p_minus_1 = top_all_ones && y[0] == 0xec;
    let y_is_1 = y[0] == 1 && y[1..].iter().all(|&b| b == 0);
    !(y_at_least_p || (sign == 1 && (y_is_1 || y_is_p_minus_1)))
}

pub(crate) fn signed_message(context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut message = context.to_vec();
    for part in parts {
        message.extend_from_slice(part);
    }
    message
}

/// This device's identity: an Ed25519 signing key, its X25519 form and its public half.
///
/// Create it once per device with [`IdentityKeyPair::generate`], persist it with
/// [`IdentityKeyPair::to_bytes`]. The secret zeroizes on drop and never appears in `Debug`.
pub struct IdentityKeyPair {
    signing: SigningKey,
    dh: KeyPair,
    public: IdentityKey,
}

impl IdentityKeyPair {
    /// Generate a new identity from a cryptographically secure RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_signing(SigningKey::generate(rng))
    }

    /// Rebuild an identity from its 32-byte Ed25519 seed. Reachable from outside only through
    /// [`hazmat::identity_from_seed`](crate::hazmat) (feature `hazmat`): a seed chosen by the
    /// caller is no secret.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_signing(SigningKey::from_bytes(seed))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let scalar = Zeroizing::new(signing.to_scalar_bytes());
        let dh = KeyPair::from_secret(StaticSecret::from(*scalar));
        let public = IdentityKey {
            verifying: signing.verifying_key(),
        };
        IdentityKeyPair {
            signing,
            dh,
            public,
        }
    }

    /// The public identity key.
    pub fn public(&self) -> &IdentityKey {
        &self.public
    }

    /// The X25519 form of the secret, for Diffie-Hellman.
    pub(crate) fn dh(&self) -> &KeyPair {
        &self.dh
    }

    /// Sign `context || parts...`.
    pub(crate) fn sign(&self, context: &[u8], parts: &[&[u8]]) -> [u8; 64] {
        self.signing
            .sign(&signed_message(context, parts))
            .to_bytes()
    }

    /// Serialize for the application's storage (versioned; holds the secret seed).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::IdentityRecord {
            seed: self.signing.as_bytes().to_vec(),
        };
        wire::encode_secret(Kind::IdentityRecord, &record)
    }

    /// Parse what [`IdentityKeyPair::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::IdentityRecord = wire::decode(Kind::IdentityRecord, bytes)?;
        let seed = Zeroizing::new(wire::array::<32>(&record.seed, "identity key record")?);
        Ok(Self::from_seed(&seed))
    }
}

impl Clone for IdentityKeyPair {
    fn clone(&self) -> Self {
        IdentityKeyPair {
            signing: self.signing.clone(),
            dh: self.dh.clone(),
            public: self.public,
        }
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> IdentityKeyPair {
        IdentityKeyPair::from_seed(&[7u8; 32])
    }

    #[test]
    fn debug_redacts_the_secret() {
        let identity = seeded();
        let debug = format!("{identity:?}");
        assert_eq!(
            debug,
            format!(
                "IdentityKeyPair {{ public: IdentityKey({}), secret: \"<redacted>\" }}",
                crate::hex::encode(identity.public().as_bytes())
            )
        );
        assert!(!debug.contains(&crate::hex::encode(&[7u8; 32])));
    }

    #[test]
    fn record_round_trips() {
        let identity = seeded();
        let bytes = identity.to_bytes();
        let back = IdentityKeyPair::from_bytes(&bytes).unwrap();
        assert_eq!(back.public(), identity.public());
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn x25519_form_matches_the_birational_map() {
        // The X25519 public key of the identity's scalar equals the Montgomery form of IK.
        let identity = seeded();
        assert_eq!(identity.dh().public(), &identity.public().dh_public());
        let other = KeyPair::generate(&mut crate::os_rng());
        assert_eq!(
            *other.dh_identity(identity.public()).unwrap(),
            *other.dh(&identity.public().dh_public()).unwrap()
        );
    }

    /// The byte-level canonicity check agrees with decoding and re-encoding the point, for
    /// every y-coordinate at the edges of the field and for many others, with either sign.
    #[test]
    fn canonicity_on_the_bytes_agrees_with_recompression() {
        let by_recompression = |bytes: &[u8; 32]| {
            let point = curve25519_dalek::edwards::CompressedEdwardsY(*bytes).decompress();
            point.map(|p| p.compress().as_bytes() == bytes)
        };
        let mut cases = Vec::new();
        for low in 0..=255u8 {
            let mut near_p = [0xFFu8; 32];
            near_p[0] = low;
            near_p[31] = 0x7F;
            let mut small = [0u8; 32];
            small[0] = low;
            cases.extend([near_p, small]);
        }
        let mut state = [0x5Au8; 32];
        for _ in 0..4000 {
            state = <sha2::Sha256 as sha2::Digest>::digest(state).into();
            cases.push(state);
        }
        for mut case in cases {
            for sign in [0, 0x80] {
                case[31] = (case[31] & 0x7F) | sign;
                if let Some(canonical) = by_recompression(&case) {
                    assert_eq!(is_canonical_edwards(&case), canonical, "{case:02x?}");
                }
            }
        }
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_rejected() {
        // The identity point (y = 1) is of small order.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert!(matches!(
            IdentityKey::from_bytes(&identity_point),
            Err(Error::InvalidKey(_))
        ));
        // y = p + 1 (small order) and y = p + 3 (large order) are non-canonical encodings.
        for low in [0xEE, 0xF0] {
            let mut non_canonical = [0xFFu8; 32];
            non_canonical[0] = low;
            non_canonical[31] = 0x7F;
            assert!(matches!(
                IdentityKey::from_bytes(&non_canonical),
                Err(Error::InvalidKey(_))
            ));
        }
        // The canonical encoding of the y = 3 point is accepted, when y = 3 is on the curve
        // and of large order; its non-canonical twin (p + 3) above is not.
        let mut three = [0u8; 32];
        three[0] = 3;
        if let Ok(key) = IdentityKey::from_bytes(&three) {
            assert_eq!(key.as_bytes(), &three);
        }
        assert!(matches!(
            IdentityKey::try_from(&[1u8; 31][..]),
            Err(Error::InvalidKey(_))
        ));
    }

    /// A signature whose `R` is of small order verifies under ed25519-dalek's ordinary
    /// `verify` but must not under keylink's (strict) verification. Built from a mixed-order
    /// key `A = aB + T` with `T` of order 2 (such a key is accepted: it is not of small order),
    /// `S = k·a` and `R = T`, for a message whose `k = H(R || A || M) mod L` is odd, so that
    /// `[S]B - [k]A = -[k]T = T = R`.
    #[test]
    fn verification_is_strict_about_small_order_r() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use curve25519_dalek::scalar::Scalar;
        use ed25519_dalek::Verifier;
        use sha2::{Digest, Sha512};

        // y = -1: the point (0, -1) of order 2.
        let mut t_bytes = [0xFFu8; 32];
        t_bytes[0] = 0xEC;
        t_bytes[31] = 0x7F;
        let t = CompressedEdwardsY(t_bytes).decompress().unwrap();
        assert!(t.is_small_order());
        let a = Scalar::from_bytes_mod_order([7u8; 32]);
        let a_bytes = (ED25519_BASEPOINT_POINT * a + t).compress().to_bytes();
        let identity = IdentityKey::from_bytes(&a_bytes).unwrap();
        let (message, k) = (0u32..)
            .map(|i| {
                let message = i.to_be_bytes();
                let hash = Sha512::new()
                    .chain_update(t_bytes)
                    .chain_update(a_bytes)
                    .chain_update(message)
                    .finalize();
                let mut wide = [0u8; 64];
                wide.copy_from_slice(&hash);
                (message, Scalar::from_bytes_mod_order_wide(&wide))
            })
            .find(|(_, k)| k.as_bytes()[0] & 1 == 1)
            .unwrap();
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&t_bytes);
        signature[32..].copy_from_slice((k * a).as_bytes());
        // The construction is right: the ordinary, non-strict check accepts it ...
        let lenient = VerifyingKey::from_bytes(&a_bytes).unwrap();
        assert!(
            lenient
                .verify(&message, &Signature::from_bytes(&signature))
                .is_ok()
        );
        // ... and keylink refuses it.
        assert!(matches!(
            identity.verify("test", &[], &[&message], &signature),
            Err(Error::InvalidSignature("test"))
        ));
    }

    #[test]
    fn signatures_bind_context_and_message() {
        let identity = seeded();
        let sig = identity.sign(b"ctx", &[b"a", b"b"]);
        let public = identity.public();
        assert!(public.verify("test", b"ctx", &[b"ab"], &sig).is_ok());
        assert!(public.verify("test", b"ctx", &[b"ac"], &sig).is_err());
        assert!(public.verify("test", b"ctX", &[b"ab"], &sig).is_err());
        assert!(public.verify("test", b"ctx", &[b"ab"], &sig[..63]).is_err());
    }
}
