//! X25519 keys used for prekeys, base keys and ratchet keys.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::primitives;

/// An X25519 public key: a signed or one-time prekey, a base key, or a ratchet key.
///
/// Parsed keys must be canonical: bit 255 clear and `u < 2^255 - 19`. X25519 itself ignores
/// bit 255 and reduces `u`, so without this check one key would have several encodings, and a
/// replayed PreKey message with its base key re-encoded would look like a new one. A key of
/// small order is caught when it is used, because the Diffie-Hellman result would be all zeros
/// ([`Error::NonContributoryKey`]); so is a key on the twist of curve25519, which keylink's
/// X25519 (on Edwards arithmetic) has no point for ([`Error::InvalidKey`]).
///
/// Keys compare and hash as their 32 bytes (a public value needs no constant-time comparison;
/// comparing the inner Montgomery points would decode two field elements first).
#[derive(Clone, Copy)]
pub struct PublicKey(x25519_dalek::PublicKey);

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PublicKey {}

impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PublicKey {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 32;

    /// The 32-byte Montgomery u-coordinate.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32-byte Montgomery u-coordinate, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Parse a canonical encoding (see the type's docs).
    pub fn from_canonical(bytes: [u8; 32]) -> Result<Self> {
        if !is_canonical(&bytes) {
            return Err(Error::InvalidKey(
                "X25519 public key (non-canonical encoding)",
            ));
        }
        Ok(Self::from(bytes))
    }

    pub(crate) fn inner(&self) -> &x25519_dalek::PublicKey {
        &self.0
    }
}

/// Whether `u` (little-endian) is below `p = 2^255 - 19` with bit 255 clear.
fn is_canonical(u: &[u8; 32]) -> bool {
    let (low, rest) = u.split_at(1);
    let (middle, high) = rest.split_at(30);
    let at_least_p = high == [0x7F] && middle.iter().all(|&b| b == 0xFF) && low >= &[0xED][..];
    u[31] & 0x80 == 0 && !at_least_p
}

/// Any 32 bytes, unchecked: for keys keylink computed itself. Bytes from outside go through
/// [`PublicKey::from_canonical`] or `TryFrom<&[u8]>`.
impl From<[u8; 32]> for PublicKey {
    fn from(bytes: [u8; 32]) -> Self {
        PublicKey(x25519_dalek::PublicKey::from(bytes))
    }
}

impl TryFrom<&[u8]> for PublicKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("X25519 public key (must be 32 bytes)"))?;
        Self::from_canonical(bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", crate::hex::encode(self.as_bytes()))
    }
}

/// An X25519 key pair whose public half is computed once, from the secret, at creation.
pub(crate) struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rng))
    }

    pub(crate) fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey(primitives::public_key(&secret));
        KeyPair { secret, public }
    }

    /// Rebuild a key pair from our own storage, where the public half was saved beside the
    /// secret so that loading costs no scalar multiplication. Used only for session records.
    pub(crate) fn from_stored(secret: &[u8; 32], public: PublicKey) -> Self {
        KeyPair {
            secret: StaticSecret::from(*secret),
            public,
        }
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The secret, borrowed: no copy is made for the caller to forget to zeroize.
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }

    /// X25519 with the non-contributory check; a key on the twist is rejected
    /// ([`primitives::dh`]).
    pub(crate) fn dh(&self, their: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
        primitives::dh(&self.secret, their.inner())
    }

    /// X25519 with the X25519 form of an identity key, computed from its Edwards point
    /// without the round trip through the u-coordinate; equal to
    /// `self.dh(&their.dh_public())`.
    pub(crate) fn dh_identity(&self, their: &IdentityKey) -> Result<Zeroizing<[u8; 32]>> {
        primitives::dh_edwards(&self.secret, &their.edwards())
    }
}

impl Clone for KeyPair {
    fn clone(&self) -> Self {
        KeyPair {
            secret: self.secret.clone(),
            public: self.public,
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_encodings_parse() {
        let mut p_minus_one = [0xFFu8; 32];
        p_minus_one[0] = 0xEC;
        p_minus_one[31] = 0x7F;
        assert!(PublicKey::from_canonical(p_minus_one).is_ok());
        assert!(PublicKey::from_canonical([0u8; 32]).is_ok());
        for low in [0xED, 0xEE, 0xFF] {
            let mut at_least_p = p_minus_one;
            at_least_p[0] = low;
            assert!(PublicKey::from_canonical(at_least_p).is_err(), "{low:02x}");
        }
        let mut high_bit = [9u8; 32];
        high_bit[31] |= 0x80;
        assert!(matches!(
            PublicKey::try_from(&high_bit[..]),
            Err(Error::InvalidKey(_))
        ));
        // The same key, re-encoded with bit 255 set, would give the same DH results.
        let key = KeyPair::generate(&mut crate::os_rng());
        let mut reencoded = key.public().to_bytes();
        reencoded[31] |= 0x80;
        let other = KeyPair::generate(&mut crate::os_rng());
        assert_eq!(
            *other.dh(&PublicKey::from(reencoded)).unwrap_or_default(),
            *other.dh(key.public()).unwrap_or_default()
        );
        assert!(PublicKey::from_canonical(reencoded).is_err());
    }
}
