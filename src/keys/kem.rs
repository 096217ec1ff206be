//! ML-KEM-1024 (FIPS 203) keys for PQXDH, over libcrux-ml-kem (formally verified, with a
//! runtime-selected AVX2 implementation).
//!
//! KEM keys and ciphertexts are their own types with their own lengths (1568 bytes), so an
//! EC key can never be taken for a KEM key or the reverse.

use core::fmt;

use libcrux_ml_kem::mlkem1024::{
    self, MlKem1024Ciphertext, MlKem1024KeyPair, MlKem1024PrivateKey, MlKem1024PublicKey,
};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Length of an ML-KEM-1024 encapsulation (public) key.
pub const KEM_PUBLIC_KEY_LEN: usize = 1568;
/// Length of an ML-KEM-1024 ciphertext.
pub const KEM_CIPHERTEXT_LEN: usize = 1568;
/// Where the encapsulation key sits inside the decapsulation key (FIPS 203: `dk = dk_pke ||
/// ek || H(ek) || z`, with `dk_pke` 1536 bytes).
const EK_OFFSET: usize = 1536;

/// An ML-KEM-1024 encapsulation key, checked as FIPS 203 requires (every coefficient
/// reduced modulo q).
#[derive(Clone)]
pub struct KemPublicKey(Box<MlKem1024PublicKey>);

impl KemPublicKey {
    /// The 1568-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEM_PUBLIC_KEY_LEN] {
        self.0.as_slice()
    }

    fn validated(key: MlKem1024PublicKey) -> Result<Self> {
        if !mlkem1024::validate_public_key(&key) {
            return Err(Error::InvalidKey("ML-KEM-1024 public key"));
        }
        Ok(KemPublicKey(Box::new(key)))
    }

    /// Encapsulate a fresh shared secret to this key.
    pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
        let mut randomness = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(randomness.as_mut());
        self.encapsulate_with(&randomness)
    }

    /// Deterministic encapsulation with the FIPS 203 randomness `m`. libcrux takes `m` by
    /// value: that one copy is the only one made.
    pub(crate) fn encapsulate_with(&self, m: &[u8; 32]) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
        let (ct, ss) = mlkem1024::encapsulate(&self.0, *m);
        (KemCiphertext(Box::new(ct)), Zeroizing::new(ss))
    }
}

impl TryFrom<&[u8]> for KemPublicKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let key = MlKem1024PublicKey::try_from(bytes)
            .map_err(|_| Error::InvalidKey("ML-KEM-1024 public key (must be 1568 bytes)"))?;
        Self::validated(key)
    }
}

impl PartialEq for KemPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes()[..] == other.as_bytes()[..]
    }
}

impl Eq for KemPublicKey {}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.as_bytes().get(..8).unwrap_or_default();
        write!(f, "KemPublicKey({}..)", crate::hex::encode(prefix))
    }
}

/// An ML-KEM-1024 ciphertext, as carried in a PreKey message.
#[derive(Clone)]
pub struct KemCiphertext(Box<MlKem1024Ciphertext>);

impl KemCiphertext {
    /// The 1568-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEM_CIPHERTEXT_LEN] {
        self.0.as_slice()
    }
}

impl TryFrom<&[u8]> for KemCiphertext {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        MlKem1024Ciphertext::try_from(bytes)
            .map(|ct| KemCiphertext(Box::new(ct)))
            .map_err(|_| Error::Malformed("ML-KEM-1024 ciphertext (must be 1568 bytes)"))
    }
}

impl PartialEq for KemCiphertext {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes()[..] == other.as_bytes()[..]
    }
}

impl Eq for KemCiphertext {}

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.as_bytes().get(..8).unwrap_or_default();
        write!(f, "KemCiphertext({}..)", crate::hex::encode(prefix))
    }
}

/// A decapsulation key on the heap, built there in place (never moved through the stack
/// after it holds secret bytes) and zeroized on drop.
struct SecretKey(Box<MlKem1024PrivateKey>);

impl SecretKey {
    /// A copy of `bytes`, which must be exactly one decapsulation key long.
    fn copy_of(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != MlKem1024PrivateKey::len() {
            return None;
        }
        let mut key = SecretKey(Box::default());
        key.0[0..].copy_from_slice(bytes);
        Some(key)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0[0..].zeroize();
    }
}

/// An ML-KEM-1024 key pair. The decapsulation key zeroizes on drop.
pub(crate) struct KemKeyPair {
    secret: SecretKey,
    public: KemPublicKey,
}

impl KemKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Deterministic key generation from the FIPS 203 seed `d || z`. libcrux takes the seed
    /// by value and returns the key pair by value; the returned decapsulation key is copied
    /// to the heap and its stack copy zeroized.
    pub(crate) fn from_seed(seed: &[u8; 64]) -> Self {
        let pair: MlKem1024KeyPair = mlkem1024::generate_key_pair(*seed);
        let (mut secret, public) = pair.into_parts();
        let mut boxed = SecretKey(Box::default());
        boxed.0[0..].copy_from_slice(secret.as_slice());
        secret[0..].zeroize();
        KemKeyPair {
            secret: boxed,
            public: KemPublicKey(Box::new(public)),
        }
    }

    /// Rebuild from a stored decapsulation key `dk = dk_pke || ek || H(ek) || z`, with the
    /// checks FIPS 203 (section 7.3) asks of a decapsulation key: its length, and that the
    /// hash `H(ek)` it carries is the hash of the `ek` it carries. The encapsulation key is
    /// also checked as a public key (coefficients reduced modulo q).
    pub(crate) fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let secret = SecretKey::copy_of(bytes).ok_or(Error::Malformed(
            "ML-KEM-1024 private key (must be 3168 bytes)",
        ))?;
        if !mlkem1024::portable::validate_private_key_only(&secret.0) {
            return Err(Error::Malformed(
                "ML-KEM-1024 private key (its hash of the encapsulation key does not match)",
            ));
        }
        let ek = bytes
            .get(EK_OFFSET..EK_OFFSET + KEM_PUBLIC_KEY_LEN)
            .ok_or(Error::Malformed("ML-KEM-1024 private key"))?;
        let public = KemPublicKey::try_from(ek)?;
        Ok(KemKeyPair { secret, public })
    }

    pub(crate) fn public(&self) -> &KemPublicKey {
        &self.public
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.secret.0.as_slice()
    }

    /// Decapsulate. ML-KEM's implicit rejection returns a pseudorandom secret for a
    /// ciphertext that was not made for this key, so a wrong ciphertext surfaces later as a
    /// failed AEAD tag, never as an early, distinguishable error.
    pub(crate) fn decapsulate(&self, ciphertext: &KemCiphertext) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(mlkem1024::decapsulate(&self.secret.0, &ciphertext.0))
    }
}

impl Clone for KemKeyPair {
    fn clone(&self) -> Self {
        let mut secret = SecretKey(Box::default());
        secret.0[0..].copy_from_slice(self.secret.0.as_slice());
        KemKeyPair {
            secret,
            public: self.public.clone(),
        }
    }
}

impl fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Where `H(ek)` sits in the decapsulation key.
    const HASH_OFFSET: usize = EK_OFFSET + KEM_PUBLIC_KEY_LEN;

    #[test]
    fn stored_key_round_trips() {
        let pair = KemKeyPair::from_seed(&[4u8; 64]);
        let back = KemKeyPair::from_secret_bytes(pair.secret_bytes()).unwrap();
        assert_eq!(back.public(), pair.public());
        assert_eq!(back.secret_bytes(), pair.secret_bytes());
        assert_eq!(pair.clone().secret_bytes(), pair.secret_bytes());
    }

    #[test]
    fn a_flipped_hash_of_the_encapsulation_key_is_rejected() {
        let pair = KemKeyPair::from_seed(&[4u8; 64]);
        for bit in [0, 7 * 8 + 3, 31 * 8 + 7] {
            let mut bytes = pair.secret_bytes().to_vec();
            bytes[HASH_OFFSET + bit / 8] ^= 1 << (bit % 8);
            assert!(matches!(
                KemKeyPair::from_secret_bytes(&bytes),
                Err(Error::Malformed(what)) if what.contains("hash of the encapsulation key")
            ));
        }
    }

    #[test]
    fn a_changed_encapsulation_key_no_longer_matches_its_hash() {
        let pair = KemKeyPair::from_seed(&[4u8; 64]);
        let mut bytes = pair.secret_bytes().to_vec();
        bytes[EK_OFFSET + 100] ^= 0x10;
        assert!(matches!(
            KemKeyPair::from_secret_bytes(&bytes),
            Err(Error::Malformed(_))
        ));
        assert!(KemKeyPair::from_secret_bytes(&bytes[1..]).is_err());
    }
}
