//! Deterministic entry points for test vectors and interoperability checks. **Not for
//! production use**: everything here takes the randomness that the normal API draws from the
//! RNG, so misuse reuses keys. Only built with the `hazmat` feature.

#[cfg(feature = "backup")]
mod backup;
/// CPace (draft-irtf-cfrg-cpace, ristretto255 with SHA-512) as the typed-code way of linking
/// runs it, with deterministic entry points for the draft's test vectors.
pub mod cpace {
    pub use crate::link::cpace::vectors::{
        generator, generator_string, respond_with_scalar, scalar_mult_vfy, start_with_scalar,
    };
    pub use crate::link::cpace::{Initiator, Isk, Share, Sid, respond};
}
/// The link handshake's key schedule (PROTOCOL.md §12.3), for test vectors.
pub mod link {
    use zeroize::Zeroizing;

    use crate::error::Result;
    use crate::link::LinkSecret;
    use crate::link::handshake::LinkKeys;

    /// `k_pc || k_cp || conf_p || conf_c = HKDF(LS, dh || ss, "keylink v1 link" || th, 128)`.
    pub fn link_keys(
        link_secret: &[u8; 32],
        dh: &[u8; 32],
        ss: &[u8; 32],
        transcript: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 128]>> {
        let secret = LinkSecret::from_bytes(&Zeroizing::new(*link_secret));
        let keys = LinkKeys::derive(&secret, dh, ss, *transcript)?;
        Ok(Zeroizing::new(*keys.okm()))
    }
}
/// Sender keys from fixed bytes (PROTOCOL.md §13), for test vectors.
pub mod group {
    use crate::group::{DistributionId, GroupId, SenderKey};

    /// A sending state from a caller-chosen distribution id, chain key (at `iteration`) and
    /// Ed25519 signing seed, instead of random ones.
    pub fn sender_key_from_parts(
        distribution_id: [u8; 16],
        group: GroupId,
        chain_key: &[u8; 32],
        iteration: u32,
        signing_seed: &[u8; 32],
        list_version: u64,
    ) -> SenderKey {
        SenderKey::from_parts(
            DistributionId::from_bytes(distribution_id),
            group,
            chain_key,
            iteration,
            signing_seed,
            list_version,
        )
    }
}
pub mod kat;
pub mod primitives;

#[cfg(feature = "backup")]
pub use backup::{chunked_writer_with_salt, history_writer_with_salt, recovery_code_from_entropy};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{IdentityKeyPair, KemCiphertext, KemKeyPair, KemPublicKey};
use crate::link::HistoryKey;

/// A link's [`HistoryKey`] from a caller-chosen history key and transcript hash, instead of the
/// one a link handshake ends with (test vectors, tests, benches).
pub fn history_key(key: [u8; 32], transcript: [u8; 32]) -> HistoryKey {
    HistoryKey::new(Zeroizing::new(key), transcript)
}

/// An identity rebuilt from a caller-chosen 32-byte Ed25519 seed (test vectors, tests).
pub fn identity_from_seed(seed: &[u8; 32]) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(seed)
}

/// An ML-KEM-1024 key pair made from a caller-chosen seed.
pub struct KemSecretKey(KemKeyPair);

impl KemSecretKey {
    /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)` with `seed = d || z` (64 bytes).
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        let seed: &[u8; 64] = seed
            .try_into()
            .map_err(|_| Error::InvalidKey("ML-KEM-1024 seed (must be 64 bytes)"))?;
        Ok(KemSecretKey(KemKeyPair::from_seed(seed)))
    }

    /// The encapsulation key.
    pub fn public(&self) -> &KemPublicKey {
        self.0.public()
    }

    /// `ML-KEM.Decaps`.
    pub fn decapsulate(&self, ciphertext: &KemCiphertext) -> Zeroizing<[u8; 32]> {
        self.0.decapsulate(ciphertext)
    }
}

/// FIPS 203 `ML-KEM.Encaps_internal(ek, m)`.
pub fn kem_encapsulate(
    public: &KemPublicKey,
    m: &[u8; 32],
) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
    public.encapsulate_with(m)
}
