//! The keys of one chunked-encryption message: the AES-256-GCM key and the base nonce from
//! which every chunk's nonce is made. Shared by the reader and writer (`chunked.rs`) and the
//! failure diagnosis (`diagnose.rs`).

use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::error::BackupError;
use crate::primitives::{AeadKey, GcmTagProbe, TAG_LEN};

/// The per-message AEAD key and base nonce (both zeroized on drop).
pub(crate) struct MessageKeys {
    aead: AeadKey,
    base_nonce: Zeroizing<[u8; 12]>,
}

// `AeadKey` and `Zeroizing` clear themselves on drop.
impl ZeroizeOnDrop for MessageKeys {}

impl MessageKeys {
    pub(super) fn new(aead_key: &[u8; 32], base_nonce: Zeroizing<[u8; 12]>) -> Self {
        MessageKeys {
            aead: AeadKey::new(aead_key),
            base_nonce,
        }
    }

    /// The nonce of chunk `index`: the base nonce XOR `u96be(index)`.
    pub(super) fn nonce(&self, index: u64) -> [u8; 12] {
        let mut nonce = *self.base_nonce;
        let (_, low) = nonce.split_at_mut(4);
        for (n, c) in low.iter_mut().zip(index.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    /// Encrypts `chunk` in place as chunk `index`; returns its tag.
    pub(super) fn seal(&self, index: u64, chunk: &mut [u8]) -> Result<[u8; TAG_LEN], BackupError> {
        self.aead
            .seal_in_place(&self.nonce(index), &[], chunk)
            .map_err(|_| BackupError::TooLarge)
    }

    /// Decrypts `sealed` (ciphertext || tag) in place if it authenticates as chunk `index`;
    /// returns the plaintext length. On failure `sealed` is left as it was.
    pub(super) fn open(&self, index: u64, sealed: &mut [u8]) -> Option<usize> {
        let len = sealed.len().checked_sub(TAG_LEN)?;
        let (body, tag) = sealed.split_at_mut(len);
        let tag = <&[u8; TAG_LEN]>::try_from(&*tag).ok()?;
        let opened = self.aead.open_in_place(&self.nonce(index), &[], body, tag);
        opened.ok().map(|()| len)
    }

    /// The GCM tag probe of the failure diagnosis.
    pub(super) fn tag_probe(&self) -> GcmTagProbe<'_> {
        self.aead.tag_probe()
    }

    #[cfg(test)]
    pub(super) fn base_nonce(&self) -> [u8; 12] {
        *self.base_nonce
    }
}
