//! Message keys and the AEAD that uses them:
//! `key (32) || nonce (12) = HKDF(0^32, mk, "keylink v1 message", 44)`, then AES-256-GCM with
//! `aad = AD || header`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::MESSAGE_INFO;
use crate::error::{Error, Result};
use crate::primitives;

/// One message key. Sending consumes it; a stored (skipped) key is only read until the
/// message it belongs to authenticated, then dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey {
    key: [u8; 32],
    index: u32,
}

impl MessageKey {
    pub(crate) fn new(key: &[u8; 32], index: u32) -> Self {
        MessageKey { key: *key, index }
    }

    /// The same key built straight on the heap, for keys that are stored: moving the box
    /// moves a pointer, and dropping it zeroizes the key where it lives.
    pub(crate) fn boxed(key: &[u8; 32], index: u32) -> Box<Self> {
        let mut boxed = Box::new(MessageKey {
            key: [0; 32],
            index,
        });
        boxed.key.copy_from_slice(key);
        boxed
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Run `f` on the AES-256-GCM key and nonce of this message key. They are borrowed from
    /// one zeroizing buffer, so no copy of them outlives the call.
    pub(crate) fn with_expanded<T>(
        &self,
        f: impl FnOnce(&[u8; 32], &[u8; 12]) -> Result<T>,
    ) -> Result<T> {
        let okm = primitives::hkdf_zero_salt::<44>(&self.key, &[MESSAGE_INFO])?;
        let key = okm.first_chunk::<32>();
        let nonce = okm.last_chunk::<12>();
        match (key, nonce) {
            (Some(key), Some(nonce)) => f(key, nonce),
            _ => Err(Error::Internal("message key expansion length")),
        }
    }

    /// Encrypt one message; the key is consumed so it can never seal a second one.
    pub(crate) fn seal(self, ad: &[u8; 64], header: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.with_expanded(|key, nonce| primitives::aead_seal(key, nonce, &[ad, header], plaintext))
    }

    /// Decrypt and authenticate one message.
    pub(crate) fn open(&self, ad: &[u8; 64], header: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        self.with_expanded(|key, nonce| primitives::aead_open(key, nonce, &[ad, header], sealed))
    }
}
