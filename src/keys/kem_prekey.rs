//! KEM prekeys: ML-KEM-1024 key pairs with ids, signed by the identity key. One-time ones are
//! used once; a last-resort one is published when none remain and may be used again.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::KEM_PREKEY_CONTEXT;
use crate::error::Result;
use crate::keys::identity::{IdentityKey, IdentityKeyPair};
use crate::keys::ids::KemPreKeyId;
use crate::keys::kem::{KemKeyPair, KemPublicKey};
use crate::wire::{self, Kind, proto};

/// An ML-KEM-1024 prekey with its id and signature. Not `Clone`: a one-time KEM prekey is
/// used once; load it from storage ([`KemPreKey::from_bytes`]) where it is needed.
pub struct KemPreKey {
    id: KemPreKeyId,
    key: KemKeyPair,
    signature: [u8; 64],
    last_resort: bool,
}

impl KemPreKey {
    /// Generate a one-time KEM prekey with `id`, signed by `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: impl Into<KemPreKeyId>,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        Self::sign(id.into(), identity, KemKeyPair::generate(rng), false)
    }

    /// Generate the last-resort KEM prekey, published when no one-time KEM prekey is left.
    pub fn generate_last_resort<R: CryptoRng + ?Sized>(
        id: impl Into<KemPreKeyId>,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        Self::sign(id.into(), identity, KemKeyPair::generate(rng), true)
    }

    /// Generate `count` one-time KEM prekeys with consecutive ids from `first_id`.
    pub fn generate_batch<R: CryptoRng + ?Sized>(
        first_id: impl Into<KemPreKeyId>,
        count: u32,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Vec<Self> {
        let first_id = first_id.into();
        (0..count)
            .map(|i| Self::generate(first_id.wrapping_add(i), identity, rng))
            .collect()
    }

    pub(crate) fn sign(
        id: KemPreKeyId,
        identity: &IdentityKeyPair,
        key: KemKeyPair,
        last_resort: bool,
    ) -> Self {
        let signature = identity.sign(
            KEM_PREKEY_CONTEXT,
            &[&id.get().to_be_bytes(), key.public().as_bytes()],
        );
        KemPreKey {
            id,
            key,
            signature,
            last_resort,
        }
    }

    /// The prekey's id.
    pub fn id(&self) -> KemPreKeyId {
        self.id
    }

    /// Whether this is the last-resort key (reusable) rather than a one-time key.
    pub fn is_last_resort(&self) -> bool {
        self.last_resort
    }

    /// The encapsulation key that goes into bundles.
    pub fn public(&self) -> &KemPublicKey {
        self.key.public()
    }

    /// The identity key's signature over `"keylink v1 kem prekey" || u32be(id) || public`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub(crate) fn key_pair(&self) -> &KemKeyPair {
        &self.key
    }

    /// Check that the signature verifies under `identity`.
    pub fn verify(&self, identity: &IdentityKey) -> Result<()> {
        verify_kem_prekey(identity, self.id, self.public(), &self.signature)
    }

    /// Serialize for the application's storage (versioned; holds the secret).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::KemPreKeyRecord {
            id: self.id.get(),
            private_key: self.key.secret_bytes().to_vec(),
            signature: self.signature.to_vec(),
            last_resort: self.last_resort,
        };
        wire::encode_secret(Kind::KemPreKeyRecord, &record)
    }

    /// Parse what [`KemPreKey::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::KemPreKeyRecord = wire::decode(Kind::KemPreKeyRecord, bytes)?;
        Ok(KemPreKey {
            id: KemPreKeyId::new(record.id),
            key: KemKeyPair::from_secret_bytes(&record.private_key)?,
            signature: wire::array(&record.signature, "KEM prekey record")?,
            last_resort: record.last_resort,
        })
    }
}

/// Verify a KEM prekey's signature under `identity`.
pub(crate) fn verify_kem_prekey(
    identity: &IdentityKey,
    id: KemPreKeyId,
    public: &KemPublicKey,
    signature: &[u8],
) -> Result<()> {
    identity.verify(
        "KEM prekey",
        KEM_PREKEY_CONTEXT,
        &[&id.get().to_be_bytes(), public.as_bytes()],
        signature,
    )
}

impl fmt::Debug for KemPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPreKey")
            .field("id", &self.id)
            .field("last_resort", &self.last_resort)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_record_whose_key_hash_was_flipped_is_refused_clearly() {
        let mut rng = crate::os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let key = KemPreKey::generate(7, &identity, &mut rng);
        let bytes = key.to_bytes();
        assert_eq!(KemPreKey::from_bytes(&bytes).unwrap().id(), 7.into());
        // H(ek) sits after dk_pke (1536) and ek (1568) in the 3168-byte decapsulation key.
        let dk = key.key_pair().secret_bytes();
        let at = bytes.windows(dk.len()).position(|w| w == dk).unwrap();
        let mut corrupt = bytes.to_vec();
        corrupt[at + 1536 + 1568 + 5] ^= 0x40;
        let err = KemPreKey::from_bytes(&corrupt).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        assert!(
            err.to_string().contains("hash of the encapsulation key"),
            "{err}"
        );
    }
}
