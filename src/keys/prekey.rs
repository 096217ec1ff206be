//! Signed and one-time X25519 prekeys: the private records a device keeps, whose public halves
//! it publishes in bundles.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::constants::SIGNED_PREKEY_CONTEXT;
use crate::error::Result;
use crate::keys::identity::{IdentityKey, IdentityKeyPair};
use crate::keys::ids::{OneTimePreKeyId, SignedPreKeyId};
use crate::keys::x25519::{KeyPair, PublicKey};
use crate::wire::{self, Kind, proto};

/// A medium-term X25519 prekey, signed by the identity key.
///
/// Rotate it periodically (e.g. weekly) by generating a new one under a new id, publishing it,
/// and deleting the old one from the store some time later.
#[derive(Clone)]
pub struct SignedPreKey {
    id: SignedPreKeyId,
    key: KeyPair,
    signature: [u8; 64],
}

impl SignedPreKey {
    /// Generate a signed prekey with `id`, signed by `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: impl Into<SignedPreKeyId>,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let id = id.into();
        let key = KeyPair::generate(rng);
        let signature = identity.sign(
            SIGNED_PREKEY_CONTEXT,
            &[&id.get().to_be_bytes(), key.public().as_bytes()],
        );
        SignedPreKey { id, key, signature }
    }

    /// The prekey's id.
    pub fn id(&self) -> SignedPreKeyId {
        self.id
    }

    /// The public key that goes into bundles.
    pub fn public(&self) -> &PublicKey {
        self.key.public()
    }

    /// The identity key's signature over `"keylink v1 signed prekey" || u32be(id) || public`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key
    }

    /// Serialize for the application's storage (versioned; holds the secret).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::PreKeyRecord {
            id: self.id.get(),
            private_key: self.key.secret_bytes().to_vec(),
            signature: self.signature.to_vec(),
        };
        wire::encode_secret(Kind::SignedPreKeyRecord, &record)
    }

    /// Parse what [`SignedPreKey::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "signed prekey record";
        let record: proto::PreKeyRecord = wire::decode(Kind::SignedPreKeyRecord, bytes)?;
        let secret = Zeroizing::new(wire::array::<32>(&record.private_key, what)?);
        Ok(SignedPreKey {
            id: SignedPreKeyId::new(record.id),
            key: KeyPair::from_secret(StaticSecret::from(*secret)),
            signature: wire::array(&record.signature, what)?,
        })
    }

    /// Check that the signature verifies under `identity` (e.g. after loading from storage).
    pub fn verify(&self, identity: &IdentityKey) -> Result<()> {
        verify_signed_prekey(identity, self.id, self.public(), &self.signature)
    }
}

/// Verify a signed prekey's signature under `identity`.
pub(crate) fn verify_signed_prekey(
    identity: &IdentityKey,
    id: SignedPreKeyId,
    public: &PublicKey,
    signature: &[u8],
) -> Result<()> {
    identity.verify(
        "signed prekey",
        SIGNED_PREKEY_CONTEXT,
        &[&id.get().to_be_bytes(), public.as_bytes()],
        signature,
    )
}

impl fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A single-use X25519 prekey. Each is handed out in at most one bundle and deleted once a
/// session set up with it has authenticated its first message. It is neither `Clone` nor
/// serializable except to the device's own storage ([`OneTimePreKey::to_bytes`]).
pub struct OneTimePreKey {
    id: OneTimePreKeyId,
    key: KeyPair,
}

impl OneTimePreKey {
    /// Generate one one-time prekey with `id`.
    pub fn generate<R: CryptoRng + ?Sized>(id: impl Into<OneTimePreKeyId>, rng: &mut R) -> Self {
        OneTimePreKey {
            id: id.into(),
            key: KeyPair::generate(rng),
        }
    }

    /// Generate `count` one-time prekeys with consecutive ids starting at `first_id`
    /// (wrapping around after `u32::MAX`).
    pub fn generate_batch<R: CryptoRng + ?Sized>(
        first_id: impl Into<OneTimePreKeyId>,
        count: u32,
        rng: &mut R,
    ) -> Vec<Self> {
        let first_id = first_id.into();
        (0..count)
            .map(|i| Self::generate(first_id.wrapping_add(i), rng))
            .collect()
    }

    /// The prekey's id.
    pub fn id(&self) -> OneTimePreKeyId {
        self.id
    }

    /// The public key that goes into a bundle.
    pub fn public(&self) -> &PublicKey {
        self.key.public()
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key
    }

    /// Serialize for the application's storage (versioned; holds the secret).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::PreKeyRecord {
            id: self.id.get(),
            private_key: self.key.secret_bytes().to_vec(),
            signature: Vec::new(),
        };
        wire::encode_secret(Kind::OneTimePreKeyRecord, &record)
    }

    /// Parse what [`OneTimePreKey::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::PreKeyRecord = wire::decode(Kind::OneTimePreKeyRecord, bytes)?;
        let secret = Zeroizing::new(wire::array::<32>(
            &record.private_key,
            "one-time prekey record",
        )?);
        if !record.signature.is_empty() {
            return Err(crate::Error::Malformed("one-time prekey record"));
        }
        Ok(OneTimePreKey {
            id: OneTimePreKeyId::new(record.id),
            key: KeyPair::from_secret(StaticSecret::from(*secret)),
        })
    }
}

impl fmt::Debug for OneTimePreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimePreKey")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish()
    }
}
