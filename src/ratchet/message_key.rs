//! Message keys and the AEAD that uses them:
//! `key (32) || nonce (12) = HKDF(0^32, mk, "keylink v1 message", 44)`, then AES-256-GCM with
//! `aad = AD || header`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::MESSAGE_INFO;
use crate::error::Result;
use crate::primitives;

/// One message key. Sending consumes it; a stored (skipped) key is only read until the
/// message it belongs to authenticated, then dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey {
    key: [u8; 32],
    index: u32,
}

impl MessageKey {
    pub(crate) fn new(key: [u8; 32], index: u32) -> Self {
        MessageKey { key, index }
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn expand(&self) -> Result<([u8; 32], [u8; 12])> {
        let okm = primitives::hkdf_zero_salt::<44>(&self.key, &[MESSAGE_INFO])?;
        let (key, nonce) = okm.split_at(32);
        let mut k = [0u8; 32];
        let mut n = [0u8; 12];
        k.copy_from_slice(key);
        n.copy_from_slice(nonce);
        Ok((k, n))
    }

    /// Encrypt one message; the key is consumed so it can never seal a second one.
    pub(crate) fn seal(self, ad: &[u8; 64], header: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let (mut key, nonce) = self.expand()?;
        let sealed = primitives::aead_seal(&key, &nonce, &[ad, header], plaintext);
        key.zeroize();
        sealed
    }

    /// Decrypt and authenticate one message.
    pub(crate) fn open(&self, ad: &[u8; 64], header: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        let (mut key, nonce) = self.expand()?;
        let opened = primitives::aead_open(&key, &nonce, &[ad, header], sealed);
        key.zeroize();
        opened
    }
}
