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
        self.encapsulate_with(*randomness)
    }

    /// Deterministic encapsulation with the FIPS 203 randomness `m`.
    pub(crate) fn encapsulate_with(&self, m: [u8; 32]) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
        let (ct, ss) = mlkem1024::encapsulate(&self.0, m);
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

/// An ML-KEM-1024 key pair. The decapsulation key zeroizes on drop.
pub(crate) struct KemKeyPair {
    secret: Box<MlKem1024PrivateKey>,
    public: KemPublicKey,
}

impl KemKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(*seed)
    }

    /// Deterministic key generation from the FIPS 203 seed `d || z`.
    pub(crate) fn from_seed(seed: [u8; 64]) -> Self {
        let pair: MlKem1024KeyPair = mlkem1024::generate_key_pair(seed);
        let (secret, public) = pair.into_parts();
        KemKeyPair {
            secret: Box::new(secret),
            public: KemPublicKey(Box::new(public)),
        }
    }

    /// Rebuild from a stored decapsulation key; the encapsulation key inside it is validated.
    pub(crate) fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "ML-KEM-1024 private key";
        let secret = MlKem1024PrivateKey::try_from(bytes).map_err(|_| Error::Malformed(what))?;
        let secret = Box::new(secret);
        let ek = bytes
            .get(EK_OFFSET..EK_OFFSET + KEM_PUBLIC_KEY_LEN)
            .ok_or(Error::Malformed(what))?;
        let public = KemPublicKey::try_from(ek)?;
        Ok(KemKeyPair { secret, public })
    }

    pub(crate) fn public(&self) -> &KemPublicKey {
        &self.public
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.secret.as_slice()
    }

    /// Decapsulate. ML-KEM's implicit rejection returns a pseudorandom secret for a
    /// ciphertext that was not made for this key, so a wrong ciphertext surfaces later as a
    /// failed AEAD tag, never as an early, distinguishable error.
    pub(crate) fn decapsulate(&self, ciphertext: &KemCiphertext) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(mlkem1024::decapsulate(&self.secret, &ciphertext.0))
    }
}

impl Clone for KemKeyPair {
    fn clone(&self) -> Self {
        let secret = MlKem1024PrivateKey::from(*self.secret.as_slice());
        KemKeyPair {
            secret: Box::new(secret),
            public: self.public.clone(),
        }
    }
}

impl Drop for KemKeyPair {
    fn drop(&mut self) {
        self.secret[0..].zeroize();
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
