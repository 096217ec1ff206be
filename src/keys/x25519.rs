//! X25519 keys used for prekeys, base keys and ratchet keys.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::primitives;

/// An X25519 public key: a signed or one-time prekey, a base key, or a ratchet key.
///
/// Any 32 bytes are accepted here; a key that is of small order is caught when it is used,
/// because the Diffie-Hellman result would be all zeros ([`Error::NonContributoryKey`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(x25519_dalek::PublicKey);

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

    pub(crate) fn inner(&self) -> &x25519_dalek::PublicKey {
        &self.0
    }
}

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
        Ok(Self::from(bytes))
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
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret));
        KeyPair { secret, public }
    }

    /// Rebuild a key pair from our own storage, where the public half was saved beside the
    /// secret so that loading costs no scalar multiplication. Used only for session records.
    pub(crate) fn from_stored(secret: [u8; 32], public: PublicKey) -> Self {
        let secret = Zeroizing::new(secret);
        KeyPair {
            secret: StaticSecret::from(*secret),
            public,
        }
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519 with the non-contributory check.
    pub(crate) fn dh(&self, their: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
        primitives::dh(&self.secret, their.inner())
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
