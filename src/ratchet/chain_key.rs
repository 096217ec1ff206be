//! Symmetric chains: `KDF_CK(ck) = (mk = HMAC(ck, 0x01), ck' = HMAC(ck, 0x02))`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::{CHAIN_KEY_SEED, MESSAGE_KEY_SEED};
use crate::primitives;
use crate::ratchet::message_key::MessageKey;

/// A chain key together with the index of the next message it produces.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey {
    key: [u8; 32],
    index: u32,
}

impl ChainKey {
    pub(crate) fn new(key: &[u8; 32], index: u32) -> Self {
        ChainKey { key: *key, index }
    }

    /// The same key built straight on the heap, for keys that are stored: moving the box
    /// moves a pointer, and dropping it zeroizes the key where it lives.
    pub(crate) fn boxed(key: &[u8; 32], index: u32) -> Box<Self> {
        let mut boxed = Box::new(ChainKey {
            key: [0; 32],
            index,
        });
        boxed.key.copy_from_slice(key);
        boxed
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The index of the message key this chain key yields next.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// The message key for message number `index()`, on the heap to be stored.
    pub(crate) fn boxed_message_key(&self) -> Box<MessageKey> {
        MessageKey::boxed(
            &primitives::hmac(&self.key, &[MESSAGE_KEY_SEED]),
            self.index,
        )
    }

    /// The message key for message number `index()`.
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn message_key(&self) -> MessageKey {
        MessageKey::new(
            &primitives::hmac(&self.key, &[MESSAGE_KEY_SEED]),
            self.index,
        )
    }

    /// Both outputs of `KDF_CK` at once, keying HMAC once: the message key for `index()` and
    /// the next chain key (`None` once the `u32` index space is exhausted).
    pub(crate) fn step(&self) -> (MessageKey, Option<ChainKey>) {
        derivations::count();
        let (mk, ck) = primitives::hmac_pair(&self.key, &[MESSAGE_KEY_SEED], &[CHAIN_KEY_SEED]);
        let next = self
            .index
            .checked_add(1)
            .map(|index| ChainKey::new(&ck, index));
        (MessageKey::new(&mk, self.index), next)
    }

    /// The chain key for the next message, or `None` once the `u32` index space is exhausted.
    pub(crate) fn next(&self) -> Option<ChainKey> {
        derivations::count();
        let index = self.index.checked_add(1)?;
        Some(ChainKey::new(
            &primitives::hmac(&self.key, &[CHAIN_KEY_SEED]),
            index,
        ))
    }
}

/// How many chain keys this thread derived (test builds only): a forged message must derive
/// none.
pub(crate) mod derivations {
    #[cfg(test)]
    thread_local! {
        static COUNT: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    }

    /// Count one chain-key derivation.
    #[inline(always)]
    pub(crate) fn count() {
        #[cfg(test)]
        COUNT.with(|c| c.set(c.get() + 1));
    }

    /// Chain keys derived by this thread so far.
    #[cfg(test)]
    pub(crate) fn so_far() -> u64 {
        COUNT.with(core::cell::Cell::get)
    }
}
