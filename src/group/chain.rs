//! The sender-key chain: `mk_i = HMAC(CK_i, 0x01)`, `CK_{i+1} = HMAC(CK_i, 0x02)`, and
//! `key (32) || nonce (12) = HKDF(0^32, mk_i, "keylink v1 sender key", 44)`.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::constants::{CHAIN_KEY_SEED, MESSAGE_KEY_SEED, SENDER_KEY_INFO};
use crate::error::{Error, Result};
use crate::primitives;

/// A chain key `CK_i` with its iteration `i`, the index of the message key it yields next.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SenderChainKey {
    key: [u8; 32],
    iteration: u32,
}

impl SenderChainKey {
    pub(crate) fn new(key: &[u8; 32], iteration: u32) -> Self {
        SenderChainKey {
            key: *key,
            iteration,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn iteration(&self) -> u32 {
        self.iteration
    }

    /// `(mk_i, CK_{i+1})`; the next chain key is `None` once the `u32` space is exhausted.
    pub(crate) fn step(&self) -> (SenderMessageKey, Option<SenderChainKey>) {
        crate::ratchet::derivations::count();
        let (mk, ck) = primitives::hmac_pair(&self.key, &[MESSAGE_KEY_SEED], &[CHAIN_KEY_SEED]);
        let next = self
            .iteration
            .checked_add(1)
            .map(|iteration| SenderChainKey::new(&ck, iteration));
        (SenderMessageKey::new(&mk, self.iteration), next)
    }
}

/// One message key `mk_i`: used once, by value.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SenderMessageKey {
    key: [u8; 32],
    iteration: u32,
}

impl SenderMessageKey {
    pub(crate) fn new(key: &[u8; 32], iteration: u32) -> Self {
        SenderMessageKey {
            key: *key,
            iteration,
        }
    }

    pub(crate) fn iteration(&self) -> u32 {
        self.iteration
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Run `f` on the AES-256-GCM key and nonce of this message key.
    fn with_expanded<T>(&self, f: impl FnOnce(&[u8; 32], &[u8; 12]) -> Result<T>) -> Result<T> {
        let okm = primitives::hkdf_zero_salt::<44>(&self.key, &[SENDER_KEY_INFO])?;
        match (okm.first_chunk::<32>(), okm.last_chunk::<12>()) {
            (Some(key), Some(nonce)) => f(key, nonce),
            _ => Err(Error::Internal("sender key expansion length")),
        }
    }

    /// `AES-256-GCM(key, nonce, plaintext, aad)`; the key is consumed.
    pub(crate) fn seal(self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.with_expanded(|key, nonce| primitives::aead_seal(key, nonce, &[aad], plaintext))
    }

    /// Open `ct`; nothing is released unless the tag verified.
    pub(crate) fn open(self, aad: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.with_expanded(|key, nonce| primitives::aead_open(key, nonce, &[aad], ct))
            .map(Zeroizing::new)
    }
}
